// What the matrix engine derives from a descriptor (mme_descriptor.h) before
// it runs one: the GEMM on the array, each operand's address range and
// traffic, the FLOPs, the host memory that computing the values takes, and
// the checks that make all of it safe to compute. A descriptor comes from
// device memory, so it is hostile until validate_mme_descriptor accepts it.
//
// Ceilings on one job, so nothing derived from a descriptor overflows 64 bits
// or takes the host down (docs/packets.md, LAUNCH_MME):
//   - an operand spans at most kMaxMmeOperandBytes = 2^48 bytes: device
//     virtual addresses are 48 bits wide, so no mapping is larger;
//   - the job moves at most kMaxMmeTrafficBytes = 2^52 bytes through memory
//     and computes for at most kMaxMmeComputePs = 2^60 ps (~13 simulated
//     days), so its times stay far inside the 64-bit picosecond clock;
//   - in functional mode, computing its values takes at most
//     kMaxMmeHostBytes = 8 GiB of host buffers (an allocation that size is
//     touched at once: far more would end the process). Timing-only mode
//     computes no values, so larger GEMMs still run there.
// Every product on the way (batch, m, n, k, strides, element sizes, the
// convolution geometry) is overflow-checked; a descriptor past a ceiling is
// rejected naming the field, like any malformed one.
//
// Pure functions: thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kiln/common/mme_descriptor.h"
#include "kiln/common/status.h"
#include "kiln/proto/device_config.pb.h"
#include "mme_timing.h"

namespace kiln::sim {

inline constexpr uint64_t kMaxMmeOperandBytes = uint64_t{1} << 48;
inline constexpr uint64_t kMaxMmeTrafficBytes = uint64_t{1} << 52;
inline constexpr uint64_t kMaxMmeComputePs = uint64_t{1} << 60;
inline constexpr uint64_t kMaxMmeHostBytes = uint64_t{8} << 30;

// What a device enforces beyond the descriptor's own consistency.
struct MmeLimits {
  // The device's MMEs, for the traffic (column folds) and compute-time
  // ceilings; null checks traffic as if there were one fold and skips time.
  const proto::MmeConfig* config = nullptr;
  // Values will be computed: the host-memory ceiling applies.
  bool functional = false;
};

// The GEMM a descriptor runs on the array.
struct MmeProblem {
  GemmShape shape;                // conv: the implicit GEMM of one group, batch = groups
  uint32_t out_h = 0, out_w = 0;  // conv output extent
};

struct MmeOperand {
  const char* name;        // "A", "B", "C", "bias", "R"
  uint64_t addr;
  uint64_t span_bytes;     // first to last byte touched
  uint64_t traffic_bytes;  // bytes it moves through memory
  bool is_output;
};

struct MmePlan {
  MmeProblem problem;
  std::vector<MmeOperand> operands;  // A, B, C, then bias and R if there are
  uint64_t flops = 0;                // 2 * batch * m * n * k
  uint64_t traffic_bytes = 0;        // all operands
  uint64_t host_bytes = 0;           // host buffers to compute the values
};

// The plan, or kInvalidArgument naming the field that is wrong
// ("MME descriptor field 'lda' is ...").
Result<MmePlan> plan_mme_job(const mme::Descriptor& d, const MmeLimits& limits = {});

// What is wrong with a descriptor (naming the field), or nothing.
std::optional<std::string> validate_mme_descriptor(const mme::Descriptor& d, const MmeLimits& limits = {});

// Precondition: the descriptor was validated.
MmeProblem mme_problem(const mme::Descriptor& d);

// The array's rate for this descriptor's inputs, in MACs per cell per cycle
// (mme_macs_per_cell_per_cycle: the slower of A and B, f32 as TF32 with
// kTf32). Precondition: the descriptor's dtypes were validated.
double mme_job_rate(const proto::MmeConfig& config, const mme::Descriptor& d);

}  // namespace kiln::sim
