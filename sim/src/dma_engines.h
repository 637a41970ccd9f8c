// The DMA engines: a pool shared by every queue. Command processors hand
// them LIN_DMA jobs; a free engine takes the oldest job. A job costs the
// engine's setup latency, the memories' first-byte latency, and its bytes
// through the shared-bandwidth model; then its bytes really move.
//
// Simulation thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include "engine_queue.h"
#include "kiln/common/fault.h"

namespace kiln::sim {

class DeviceImpl;

struct DmaJob {
  uint32_t context = 0;
  uint32_t queue = 0;
  uint64_t sequence = 0;
  uint64_t packet_offset = 0;
  uint64_t src = 0;
  uint64_t dst = 0;
  uint64_t size = 0;
  bool memset = false;
  uint32_t pattern = 0;
  // Called on the engine's process when the job ends, with its fault if any.
  std::function<void(std::optional<FaultRecord>)> on_done;
  JobTrace trace;  // what its trace events carry
};

class DmaEngines {
 public:
  explicit DmaEngines(DeviceImpl& device);

  // Spawns one process per engine.
  void start();
  void enqueue(DmaJob job);
  std::size_t queued() const { return jobs_.size(); }

 private:
  std::optional<FaultRecord> execute(int index, const DmaJob& job);

  DeviceImpl& device_;
  EngineQueue<DmaJob> jobs_;
};

}  // namespace kiln::sim
