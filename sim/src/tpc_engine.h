// The vector-core (TPC) cluster. A LAUNCH_TPC job runs a registered kernel
// (kiln/kernels/) over its index space, split among the requested cores.
// The slices really run — on TBB's host threads, through a memory port over
// the MMU — and each intrinsic counts its VLIW slot; a core's time is the
// longer of launch overhead + its issue-bound cycles and memory latency + its
// bytes through the shared-bandwidth model (all cores' traffic shares HBM).
// The job ends when its slowest core does.
//
// Jobs run one at a time in dispatch order. Simulation thread only, except
// the memory port, which the slices call from host threads.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include "engine_queue.h"
#include "kiln/common/fault.h"
#include "kiln/kernels/kernel_args.h"
#include "kiln/kernels/kernel_registry.h"
#include "systemc.h"

namespace kiln::sim {

class DeviceImpl;

struct TpcJob {
  const kernels::KernelDef* kernel = nullptr;
  kernels::KernelArgs args{};
  uint32_t cores = 0;
  uint32_t context = 0;
  uint32_t queue = 0;
  uint64_t sequence = 0;
  uint64_t packet_offset = 0;
  std::function<void(std::optional<FaultRecord>)> on_done;
};

class TpcEngine {
 public:
  explicit TpcEngine(DeviceImpl& device);
  void start();
  void enqueue(TpcJob job);

 private:
  std::optional<FaultRecord> execute(const TpcJob& job);

  DeviceImpl& device_;
  EngineQueue<TpcJob> jobs_;
};

}  // namespace kiln::sim
