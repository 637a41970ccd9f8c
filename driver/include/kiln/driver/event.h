// Events mark a point in a stream. record() on a stream captures "all work
// submitted to it so far"; the event completes when that work has retired
// and the device has reached the simulated time of the record.
//
// An event costs the device nothing: it names a submission of a queue, and
// every queue keeps a retirement counter (sync object q, see packets.h) that
// other queues wait on with one WAIT per dependency (Stream::wait_event). So
// destroying or re-recording an event while its work is pending is safe, and
// a wait never passes on an older record.
//
// Ownership: created by Device::create_event, owned by the caller; must not
// outlive its Device. Threading: thread-compatible (one thread records it at
// a time; query/synchronize may run concurrently with other streams' work).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

#include "kiln/common/status.h"

namespace kiln::driver {

class Device;
class Stream;

class Event {
 public:
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  bool recorded() const { return recorded_; }
  // True if the event had completed by the calling thread's simulated time
  // (after charging the query's cost), so a polling loop makes progress.
  bool query();
  // Waits until the recorded work has completed (immediately if never
  // recorded); the calling thread's clock moves to the event's time.
  Status synchronize(std::chrono::nanoseconds timeout = std::chrono::nanoseconds::max());

  // Simulated time between two completed events, in nanoseconds (negative if
  // `end` completed before `start`). Fails if either is unrecorded or pending.
  static Result<double> elapsed_ns(const Event& start, const Event& end);

  // Simulated completion time since device open, once complete: the later
  // of the retirement of the work it follows and the time it was recorded.
  std::optional<uint64_t> completion_time_ps() const;

 private:
  friend class Device;
  friend class Stream;
  explicit Event(Device& device) : device_(device) {}

  Device& device_;
  bool recorded_ = false;
  uint32_t queue_ = 0;      // queue of the last record
  uint64_t sequence_ = 0;   // last submission on that queue at the record; 0 = none
  uint64_t record_ps_ = 0;  // the recording thread's clock after the record
};

}  // namespace kiln::driver
