// The matrix engines. A LAUNCH_MME job uses every MME of the device: the
// folds of its GEMM are split among them (mme_timing.h). A job takes the
// longer of its compute time (from the systolic tiling) and its operand and
// result traffic through HBM/SRAM under the shared-bandwidth model, so it is
// never faster than either bound. Then its values are computed (mme_math.h).
//
// Jobs run one at a time, in the order queues dispatch them.
// Simulation thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "engine_queue.h"
#include "kiln/common/fault.h"
#include "kiln/common/mme_descriptor.h"
#include "mme_timing.h"
#include "systemc.h"

namespace kiln::sim {

class DeviceImpl;

struct MmeJob {
  mme::Descriptor descriptor{};
  uint32_t context = 0;
  uint32_t queue = 0;
  uint64_t sequence = 0;
  uint64_t packet_offset = 0;
  std::function<void(std::optional<FaultRecord>)> on_done;
};

// What the engine derives from a descriptor.
struct MmeProblem {
  GemmShape shape;          // the GEMM that runs on the array (conv: implicit GEMM)
  uint32_t out_h = 0, out_w = 0;  // conv output extent
};

// Checks a descriptor; returns what is wrong (naming the field) or nothing.
std::optional<std::string> validate_mme_descriptor(const mme::Descriptor& d);
MmeProblem mme_problem(const mme::Descriptor& d);

class MmeEngine {
 public:
  explicit MmeEngine(DeviceImpl& device);
  void start();
  void enqueue(MmeJob job);

 private:
  struct Operand {
    uint64_t addr, span_bytes, traffic_bytes;
    bool is_output;
  };
  std::optional<FaultRecord> execute(const MmeJob& job);
  void compute_values(const MmeJob& job, const MmeProblem& problem);

  DeviceImpl& device_;
  EngineQueue<MmeJob> jobs_;
};

}  // namespace kiln::sim
