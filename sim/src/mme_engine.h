// The matrix engines. A LAUNCH_MME job holds the MMEs it asks for (all of
// them by default) and splits the folds of its GEMM among them
// (mme_timing.h). Jobs get their engines in dispatch order (unit_pool.h), so
// two GEMMs from two queues that ask for one engine each run side by side,
// sharing the memories' bandwidth. A job takes the
// longer of its compute time (from the systolic tiling) and its operand and
// result traffic through HBM/SRAM under the shared-bandwidth model, so it is
// never faster than either bound. Then its values are computed (mme_math.h),
// on the device's host worker: OpenBLAS and TBB need a real thread's stack.
//
// Descriptors are checked against the ceilings of mme_plan.h before a job is
// queued (limits()). Faults: an operand range with a hole is kPageFault on
// `MME` naming the operand; a read or write that fails while the values are
// computed (the memory was unmapped meanwhile) is the same; anything the math
// throws (std::bad_alloc...) is kEngineError.
//
// Jobs run one at a time, in the order queues dispatch them.
// Simulation thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "engine_queue.h"
#include "unit_pool.h"
#include "kiln/common/fault.h"
#include "kiln/common/mme_descriptor.h"
#include "mme_math.h"
#include "mme_plan.h"
#include "systemc.h"

namespace kiln::sim {

class DeviceImpl;

struct MmeJob {
  mme::Descriptor descriptor{};
  uint32_t context = 0;
  uint32_t queue = 0;
  uint64_t sequence = 0;
  uint64_t packet_offset = 0;
  uint32_t engines = 0;  // MMEs to hold; 0 = all
  std::function<void(std::optional<FaultRecord>)> on_done;
  JobTrace trace;  // what its trace events carry
};

class MmeEngine {
 public:
  explicit MmeEngine(DeviceImpl& device);
  void start();
  void enqueue(MmeJob job);
  // What this device enforces on a descriptor: its MMEs, and the host-memory
  // ceiling when values are computed.
  MmeLimits limits() const;

 private:
  // A read or write of an operand that failed while computing values.
  struct AccessFault {
    uint64_t address;
    std::string what;
  };
  std::optional<FaultRecord> execute(const MmeJob& job);
  // Runs on the host worker: no SystemC calls in here.
  std::optional<AccessFault> compute_values(const MmeJob& job, const MmeProblem& problem);
  std::optional<AccessFault> compute_values_in_scratch(const MmeJob& job, const MmeProblem& problem);

  // Host buffers of compute_values, kept between jobs (one job at a time);
  // above this size they are given back after the job.
  static constexpr uint64_t kScratchKeepBytes = 64ull << 20;
  struct Scratch {
    ScratchBuffer a, b, c, r, raw, bias, stored;
  };
  Scratch scratch_;

  DeviceImpl& device_;
  EngineQueue<MmeJob> jobs_;
  UnitPool engines_;
};

}  // namespace kiln::sim
