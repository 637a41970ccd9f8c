// Memory planning by liveness: the intermediate values of a graph share one
// workspace. A value occupies its bytes from the job that writes it to the
// last job that reads it (through any view); bytes freed by one value are
// given to later ones, first fit by offset, 256-byte aligned (a vector
// register's width, and the matrix engine's preferred alignment).
//
// Internal to kiln_runtime. Pure function of its inputs.
#pragma once

#include <cstdint>
#include <vector>

namespace kiln::runtime {

struct PlannedValue {
  uint64_t bytes = 0;
  int first = 0;  // position of the job that writes it
  int last = 0;   // position of the last job that reads it (>= first)
};

struct MemoryPlan {
  std::vector<uint64_t> offset;             // per planned value
  std::vector<std::vector<int>> reuses;     // per value: earlier values whose bytes it takes over
  uint64_t size = 0;                        // the workspace: the peak
  uint64_t sum_of_values = 0;               // what one buffer per value would need
};

inline constexpr uint64_t kWorkspaceAlignment = 256;
// The workspace bytes a value of `bytes` takes (at least one alignment unit).
inline uint64_t workspace_aligned(uint64_t bytes) {
  return ((bytes == 0 ? 1 : bytes) + kWorkspaceAlignment - 1) / kWorkspaceAlignment * kWorkspaceAlignment;
}

MemoryPlan plan_memory(const std::vector<PlannedValue>& values);

}  // namespace kiln::runtime
