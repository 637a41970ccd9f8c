#include "kiln/driver/event.h"

#include "kiln/driver/device.h"
#include "transport.h"

namespace kiln::driver {

Event::~Event() { (void)device_.free_sync_object(sync_object_); }

bool Event::query() {
  if (!recorded()) return true;
  auto& t = device_.transport();
  if (t.completed_sequence(queue_) >= sequence_) return true;
  t.poll();
  return t.completed_sequence(queue_) >= sequence_;
}

Status Event::synchronize(std::chrono::nanoseconds timeout) {
  if (!recorded()) return {};
  return device_.transport().wait(queue_, sequence_, timeout);
}

std::optional<uint64_t> Event::completion_time_ps() const {
  if (!recorded()) return std::nullopt;
  auto& t = device_.transport();
  if (t.completed_sequence(queue_) < sequence_) return std::nullopt;
  auto c = t.completion(queue_, sequence_);
  if (!c) return std::nullopt;
  return c->end_ps;
}

Result<double> Event::elapsed_ns(const Event& start, const Event& end) {
  if (!start.recorded() || !end.recorded()) return failed_precondition("elapsed_ns: an event was never recorded");
  const auto a = start.completion_time_ps();
  const auto b = end.completion_time_ps();
  if (!a || !b) return failed_precondition("elapsed_ns: an event has not completed (synchronize it first)");
  return (static_cast<double>(*b) - static_cast<double>(*a)) / 1000.0;
}

}  // namespace kiln::driver
