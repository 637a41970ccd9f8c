// What an engine job's trace events carry besides its timing
// (docs/traces.md): the job's trace id, shared by every event it records
// (one per MME or vector core it ran on), the model ops of the packet that
// started it, and the ids it waited for (queue_dependencies.h).
//
// Simulation thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace kiln::sim {

struct JobTrace {
  uint64_t job = 0;  // 0: the device keeps no trace
  std::shared_ptr<const std::vector<std::string>> ops;  // null: unlabelled
  std::vector<uint64_t> waits_for;
};

}  // namespace kiln::sim
