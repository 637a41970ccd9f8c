// Timing-only launches whose cost is already known. In timing-only mode a
// kernel runs on zeros only to count its instructions and its traffic; a
// second launch of the same kernel with the same shapes, dtypes, strides,
// scalar arguments, core count and memory placement would count the same, so
// it reuses what the first one found instead of executing every instruction
// again (a transformer's repeated layers then cost host time once). A kernel
// whose counts depend on its data says so (KernelDef::cost_depends_on_data)
// and always runs. Launches that faulted are never remembered.
//
// Simulation thread only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "kiln/kernels/host_runner.h"
#include "traffic.h"

namespace kiln::sim {

class DeviceImpl;
struct TpcJob;

class TpcCostCache {
 public:
  struct Entry {
    std::vector<kernels::SliceResult> slices;  // per core
    std::vector<Traffic> traffic;              // per core
  };

  // The key of a launch, or nullopt if it may not be cached (functional
  // mode, a data-dependent kernel, a tensor whose memory cannot be named).
  static std::optional<std::string> key(DeviceImpl& device, const TpcJob& job, int cores);

  const Entry* find(const std::string& key) const {
    auto it = entries_.find(key);
    return it == entries_.end() ? nullptr : &it->second;
  }
  void store(std::string key, Entry entry) { entries_.emplace(std::move(key), std::move(entry)); }

 private:
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace kiln::sim
