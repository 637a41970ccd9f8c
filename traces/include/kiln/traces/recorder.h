// In-memory trace recording. The simulator records one event per engine job
// (simulated picoseconds since device open); the driver records each host API
// call twice: on its thread's simulated clock and in wall picoseconds since
// device open.
//
// Every event has an id, unique within the trace, and may list the ids of
// the events or jobs it waited for (waits_for), the engine job it belongs to
// (job) and the model ops its work implements (ops): what the critical path
// and the per-op table are built from (kiln/traces/analysis.h,
// docs/traces.md).
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

// Event and job ids: source << kEventIdSourceShift | n, n = 1, 2, ...
// counting the source's own ids. Source 0 is the device (the simulation thread, which
// records in simulation order); source 1 + k is host thread k of the device
// (each records its own calls in program order). So ids are unique without a
// shared counter, a deterministic program gets the same ids on every run,
// and ids below 2^53 stay exact as JSON numbers (2^21 sources of 2^32 events).
constexpr unsigned kEventIdSourceShift = 32;
constexpr uint64_t kDeviceEventSource = 0;
constexpr uint64_t kMaxEventSource = (uint64_t{1} << 21) - 1;
constexpr uint64_t make_event_id(uint64_t source, uint64_t n) {
  return (source << kEventIdSourceShift) | (n & ((uint64_t{1} << kEventIdSourceShift) - 1));
}

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
  uint64_t id = 0;        // unique within the trace; 0 when recorded: the recorder assigns a device id
  std::vector<std::string> ops;     // model ops the work implements (CommandBuffer::label)
  std::vector<uint64_t> waits_for;  // ids of the events or jobs it waited for
  uint64_t job = 0;                 // the engine job it belongs to (reserve_id), 0 if none
  uint64_t hbm_bytes = 0;           // of `bytes`, those through HBM
};

class TraceRecorder {
 public:
  explicit TraceRecorder(std::string device_name = {}) : device_name_(std::move(device_name)) {}

  // Records `event` and returns its id: event.id, or if that is 0 the
  // device's next id (make_event_id(kDeviceEventSource, n)). Host threads
  // give their events ids of their own sources.
  uint64_t record(TraceEvent event);
  // The device's next id, for something that is not an event: an engine job
  // whose events (recorded later) name it as their `job`.
  uint64_t reserve_id();
  // A copy of every event recorded so far, in recording order.
  std::vector<TraceEvent> events() const;
  std::size_t size() const;
  // Forgets the events; ids keep counting, so an id is never reused and a
  // waits_for entry naming a forgotten event names nothing.
  void clear();

  const std::string& device_name() const { return device_name_; }

 private:
  std::string device_name_;
  mutable std::mutex mutex_;
  std::vector<TraceEvent> events_;
  uint64_t device_events_ = 0;  // device ids handed out
};

}  // namespace kiln::traces
