// constant_fold: the compiler pass that finds the values of a step that
// depend on no input — made by factories (full, arange, seeded random) and
// computed only from them: a causal mask from arange, compare and where,
// position ids, a scale factor computed from constants — and moves the nodes
// computing them into the recipe's constant section.
//
// The host never computes them. The section is compiled like the step (its
// own command buffers, one per queue) and runs on the device once per
// runtime, at the recipe's first launch, writing the folded values into a
// buffer the runtime keeps with the recipe and binds at kConstantSlot; every
// launch reads them from there and runs only what is left.
//
// Left alone, because folding would not pay:
//   - a fill, or a copy or cast of one, with nothing computed on it: writing
//     it costs no more than reading it back, and a scalar one is folded into
//     its reader's kernel by fuse_elementwise anyway;
//   - a value larger than kMaxFoldedValueBytes, or past kMaxConstantBytes of
//     the recipe: it would stay in device memory for as long as the recipe
//     is cached. Its inputs may still fold.
//   - values the step keeps (a tensor refers to them): each launch writes its
//     outputs into fresh memory.
//
// Internal to kiln_runtime. Pure function of its inputs.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "graph.h"

namespace kiln::runtime {

// A recipe's cache holds up to RuntimeOptions::recipe_cache_entries (512 by
// default) recipes, each keeping its folded values in device memory while it
// is cached: 4 MiB holds a 1024 x 1024 f32 mask (2048 x 2048 in bf16), and
// 512 recipes at the recipe limit below stay far under a gaudi2's HBM.
inline constexpr uint64_t kMaxFoldedValueBytes = uint64_t{4} << 20;
inline constexpr uint64_t kMaxConstantBytes = uint64_t{16} << 20;

struct ConstantSection {
  std::vector<int> order;   // nodes computing the folded values, in recorded order
  std::vector<int> values;  // the folded values the step reads, in placement order
  std::vector<uint64_t> offsets;  // of each in the constant buffer (workspace-aligned)
  uint64_t bytes = 0;             // the constant buffer
  bool empty() const { return values.empty(); }
};

// Takes the folded nodes out of `order` (a node the step still needs, such as
// a fill also read by an unfolded op, stays in both); `outputs`: the values
// the step keeps. Appends what it did to `log`.
ConstantSection constant_fold(const Graph& g, std::vector<int>& order, const std::set<int>& outputs,
                              std::vector<std::string>& log);

}  // namespace kiln::runtime
