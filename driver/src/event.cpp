#include "kiln/driver/event.h"

#include "device_impl.h"

namespace kiln::driver {

bool Event::query() {
  if (!recorded_) return true;
  Device::Impl& d = *device_.impl_;
  const auto start = std::chrono::steady_clock::now();
  const bool retired = sequence_ == 0 || d.query_retired(queue_, sequence_, start);
  if (!retired) return false;
  const HostTimeline::Thread& t = d.host->current();
  if (sequence_ == 0) (void)d.host->charge("query", d.host->costs().query, start);
  return d.transport->host_clock_ps(t.clock) > record_ps_;
}

Status Event::synchronize(std::chrono::nanoseconds timeout) {
  if (!recorded_) return {};
  Device::Impl& d = *device_.impl_;
  const auto start = std::chrono::steady_clock::now();
  if (sequence_ != 0) KILN_RETURN_IF_ERROR(d.wait_retired(queue_, sequence_, timeout, "event_synchronize", start));
  // Recorded later on another thread's clock than this thread has reached:
  // the event happens then.
  const HostTimeline::Thread& t = d.host->current();
  const uint64_t now = d.transport->host_clock_ps(t.clock);
  if (now < record_ps_) d.host->charge("event_synchronize", record_ps_ - now, start);
  return {};
}

std::optional<uint64_t> Event::completion_time_ps() const {
  if (!recorded_) return std::nullopt;
  if (sequence_ == 0) return record_ps_;
  Transport& t = *device_.impl_->transport;
  if (t.completed_sequence(queue_) < sequence_) return std::nullopt;
  auto c = t.completion(queue_, sequence_);
  if (!c) return std::nullopt;
  return std::max(c->end_ps, record_ps_);
}

Result<double> Event::elapsed_ns(const Event& start, const Event& end) {
  if (!start.recorded() || !end.recorded()) return failed_precondition("elapsed_ns: an event was never recorded");
  const auto a = start.completion_time_ps();
  const auto b = end.completion_time_ps();
  if (!a || !b) return failed_precondition("elapsed_ns: an event has not completed (synchronize it first)");
  return (static_cast<double>(*b) - static_cast<double>(*a)) / 1000.0;
}

}  // namespace kiln::driver
