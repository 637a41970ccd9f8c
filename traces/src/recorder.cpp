#include "kiln/traces/recorder.h"

namespace kiln::traces {

void TraceRecorder::record(TraceEvent event) {
  std::lock_guard lock(mutex_);
  events_.push_back(std::move(event));
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
