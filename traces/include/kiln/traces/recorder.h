// In-memory trace recording. The simulator records one event per engine job
// (simulated picoseconds since device open); the driver records each host API
// call twice: on its thread's simulated clock and in wall picoseconds since
// device open.
//
// TraceRecorder is thread-safe: record() may be called from the simulation
// thread and any number of host threads at once.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace kiln::traces {

// kHostSimulated: a host call on its thread's simulated clock, the same time
// base as the device's (docs/host-timeline.md).
enum class TraceClock { kDeviceSimulated, kHostWall, kHostSimulated };

constexpr bool is_host_clock(TraceClock c) { return c != TraceClock::kDeviceSimulated; }

struct TraceEvent {
  std::string track;      // engine ("DMA0", "CP2", "SYNC") or "host"
  int32_t queue = -1;     // hardware queue that issued the job, -1 if none
  std::string name;       // packet / op / kernel / API call
  uint64_t start_ps = 0;
  uint64_t end_ps = 0;
  uint64_t bytes = 0;
  uint64_t flops = 0;
  uint64_t sequence = 0;  // submission sequence number, 0 if none
  TraceClock clock = TraceClock::kDeviceSimulated;
  std::string detail;     // free text: addresses, fault cause
};

class TraceRecorder {
 public:
  explicit TraceRecorder(std::string device_name = {}) : device_name_(std::move(device_name)) {}

  void record(TraceEvent event);
  // A copy of every event recorded so far, in recording order.
  std::vector<TraceEvent> events() const;
  std::size_t size() const;
  void clear();

  const std::string& device_name() const { return device_name_; }

 private:
  std::string device_name_;
  mutable std::mutex mutex_;
  std::vector<TraceEvent> events_;
};

}  // namespace kiln::traces
