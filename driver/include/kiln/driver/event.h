// Events mark a point in a stream. record() on a stream captures "all work
// submitted to it so far"; the event completes when that work has.
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
  ~Event();
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  bool recorded() const { return sequence_ != 0; }
  // True once the recorded work has completed. Advances the simulation by at
  // most one step, so a polling loop makes progress.
  bool query();
  // Waits until the recorded work has completed (immediately if never recorded).
  Status synchronize(std::chrono::nanoseconds timeout = std::chrono::nanoseconds::max());

  // Simulated time between two completed events, in nanoseconds (negative if
  // `end` completed before `start`). Fails if either is unrecorded or pending.
  static Result<double> elapsed_ns(const Event& start, const Event& end);

  // Simulated completion time since device open, once complete.
  std::optional<uint64_t> completion_time_ps() const;

 private:
  friend class Device;
  friend class Stream;
  Event(Device& device, uint32_t sync_object) : device_(device), sync_object_(sync_object) {}

  Device& device_;
  const uint32_t sync_object_;  // counts this event's records
  int32_t records_ = 0;         // value the sync object reaches when the last record completes
  uint32_t queue_ = 0;          // queue of the last record
  uint64_t sequence_ = 0;       // submission of the last record; 0 = never recorded
};

}  // namespace kiln::driver
