#include "kiln/traces/recorder.h"

namespace kiln::traces {

uint64_t TraceRecorder::record(TraceEvent event) {
  std::lock_guard lock(mutex_);
  if (event.id == 0) event.id = make_event_id(kDeviceEventSource, ++device_events_);
  const uint64_t id = event.id;
  events_.push_back(std::move(event));
  return id;
}

uint64_t TraceRecorder::reserve_id() {
  std::lock_guard lock(mutex_);
  return make_event_id(kDeviceEventSource, ++device_events_);
}

std::vector<TraceEvent> TraceRecorder::events() const {
  std::lock_guard lock(mutex_);
  return events_;
}

std::size_t TraceRecorder::size() const {
  std::lock_guard lock(mutex_);
  return events_.size();
}

void TraceRecorder::clear() {
  std::lock_guard lock(mutex_);
  events_.clear();
}

}  // namespace kiln::traces
