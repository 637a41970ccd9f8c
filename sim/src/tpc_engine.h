// The vector-core (TPC) cluster. A LAUNCH_TPC job runs a registered kernel
// (kiln/kernels/) over its index space, split among the requested cores.
// The slices really run — on TBB's host threads, handed over through the
// device's host worker so none runs on a coroutine stack, through a memory
// port over the MMU — and each intrinsic counts its VLIW slot; a core's time is the
// longer of launch overhead + its issue-bound cycles and memory latency + its
// bytes through the shared-bandwidth model (all cores' traffic shares HBM).
// The job ends when its slowest core does.
//
// A launch takes the cores it asks for (0 = all) for its whole duration, the
// lowest-numbered free ones. Launches get their cores in dispatch order: one
// that cannot start yet (too few cores free) holds back those after it, so
// the schedule is deterministic. Launches on disjoint cores run at the same
// time, their traffic sharing the memories.
//
// Faults: an access outside every mapping is kPageFault on TPCn; a kernel
// that throws (it is user code) is kEngineError "kernel 'x' threw: ...".
//
// Simulation thread only, except the memory port, which the slices call from
// host threads.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "engine_queue.h"
#include "tpc_cost_cache.h"
#include "unit_pool.h"
#include "kiln/common/fault.h"
#include "kiln/kernels/index_space.h"
#include "kiln/kernels/kernel_args.h"
#include "kiln/kernels/kernel_registry.h"
#include "systemc.h"

namespace kiln::sim {

class DeviceImpl;

struct TpcJob {
  const kernels::KernelDef* kernel = nullptr;
  kernels::KernelArgs args{};     // decoded and validated (kernel_arg_block.h)
  kernels::IndexSpace space{};    // the kernel's index space for `args`, computed once when validated
  uint32_t cores = 0;
  uint32_t context = 0;
  uint32_t queue = 0;
  uint64_t sequence = 0;
  uint64_t packet_offset = 0;
  std::function<void(std::optional<FaultRecord>)> on_done;
  JobTrace trace;  // what its trace events carry
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
  UnitPool cores_;
  TpcCostCache cost_cache_;  // timing-only mode
};

}  // namespace kiln::sim
