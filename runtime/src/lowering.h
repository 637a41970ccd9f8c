// Lowering: one graph node becomes one engine job — a vector-core kernel
// launch (kiln_kernels' library), a matrix-engine job, or a DMA copy — with
// every tensor address a binding into the launch (the workspace, an input
// or an output), so the recipe it goes into replays over any tensors.
//
// Internal to kiln_runtime. Pure functions of their inputs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "graph.h"
#include "kiln/common/mme_descriptor.h"
#include "kiln/kernels/kernel_args.h"

namespace kiln::runtime {

// Where a value lives in a launch: a binding slot and an offset into it.
struct Placement {
  uint32_t slot = 0;
  uint64_t offset = 0;
};

// Binding slots of a recipe launch.
inline constexpr uint32_t kWorkspaceSlot = 0;
inline constexpr uint32_t kTimelineSlot = 1;  // + queue: that queue's timeline sync object
inline constexpr uint32_t kConstantSlot = kTimelineSlot + kQueueCount;  // the constant section's values
inline constexpr uint32_t kSramSlot = kConstantSlot + 1;  // on-die SRAM scratch (fused attention's tiles)
inline constexpr uint32_t kFirstTensorSlot = kSramSlot + 1;

struct Job {
  enum class Kind { kTpc, kMme, kDma };
  Kind kind = Kind::kTpc;
  Queue queue = kTpcQueue;
  int node = -1;
  // kTpc
  uint64_t kernel_id = 0;
  kernels::KernelArgs args;
  // kMme
  mme::Descriptor descriptor{};
  // kDma
  uint64_t dst = 0, src = 0, bytes = 0;
};

struct LowerOptions {
  bool allow_tf32 = false;
  uint64_t sram_budget = 0;  // SRAM scratch a node may plan for (kSramSlot)
};

// How the matrix engine reads a matmul operand in place: row-major, or
// transposed (kTransposeA / kTransposeB: the operand is the transpose of a
// matrix stored row-major), `ld` elements between stored rows.
struct MmeOperandRead {
  bool transposed = false;
  uint64_t ld = 0;
};

// How the matrix engine can read `v` (an operand [..., rows, cols]) in
// place, if it can: row-major with unit stride along its rows (preferred),
// or, if `transposed_ok`, transposed with unit stride down its columns and
// its columns at least `rows` apart (the view x.transpose(-1, -2) of a dense
// x, such as linear's W^T); in either case its batch dims (those before the
// last two) collapsing to a single stride, or absent, or all broadcast.
std::optional<MmeOperandRead> mme_operand_read(const View& v, const Shape& out_batch, bool transposed_ok = true);

// The address of `v` in a launch (a binding).
uint64_t view_address(const View& v, const std::vector<Placement>& placement);

// The job of node `n`. Errors name the op and what it cannot lower.
Result<Job> lower_node(const Graph& g, const Node& n, const std::vector<Placement>& placement,
                       const LowerOptions& options);

}  // namespace kiln::runtime
