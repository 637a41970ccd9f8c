#include "kiln/driver/stream.h"

#include "device_impl.h"
#include "kiln/driver/event.h"

namespace kiln::driver {

uint64_t Stream::last_sequence() const {
  std::lock_guard lock(mutex_);
  return next_sequence_ - 1;
}

Result<uint64_t> Stream::submit(const CommandBuffer& commands, const SubmitOptions& options) {
  static const BindingTable kNoBindings;
  return submit(commands, kNoBindings, options);
}

Result<uint64_t> Stream::submit(const CommandBuffer& commands, const BindingTable& bindings,
                                const SubmitOptions& options) {
  KILN_ASSIGN_OR_RETURN(PreparedSubmission prepared, prepare(commands, bindings, options));
  return submit(std::move(prepared));
}

Result<PreparedSubmission> Stream::prepare(const CommandBuffer& commands, const BindingTable& bindings,
                                           const SubmitOptions& options) {
  PreparedSubmission p;
  p.start_ = std::chrono::steady_clock::now();
  Device::Impl& d = *device_.impl_;
  const CommandBuffer::Recording& rec = *commands.recording();
  if (!rec.error.empty()) return invalid_argument("command buffer rejected: " + rec.error);
  if (options.skip_validation && rec.bytes.empty()) return invalid_argument("submit: the command buffer is empty");
  KILN_ASSIGN_OR_RETURN(const bool first_here, d.validate_once(rec, options.privileged, options.skip_validation));
  KILN_ASSIGN_OR_RETURN(p.bindings_, d.bind(rec, bindings));
  const HostCosts& costs = d.host->costs();
  // Recording a buffer is paid once, by its first submission on the device.
  p.cost_ps_ = costs.submit + (first_here ? costs.packet_record * rec.packets : 0);
  p.stream_ = this;
  p.commands_ = &commands;
  p.privileged_ = options.privileged;
  p.labels_ = options.labels;
  return p;
}

Result<uint64_t> Stream::submit(PreparedSubmission prepared) {
  if (prepared.stream_ != this || prepared.commands_ == nullptr) {
    return invalid_argument("submit: the prepared submission belongs to another stream or was already submitted");
  }
  const CommandBuffer& commands = *prepared.commands_;
  prepared.commands_ = nullptr;
  return submit_as("submit", commands, prepared.privileged_, prepared.cost_ps_, prepared.start_,
                   std::move(prepared.bindings_), std::move(prepared.labels_));
}

Result<uint64_t> Stream::submit_as(const char* name, const CommandBuffer& commands, bool privileged, uint64_t cost_ps,
                                   std::chrono::steady_clock::time_point wall_start,
                                   std::shared_ptr<const packets::BindingSet> bindings,
                                   std::shared_ptr<const traces::OpLabels> labels) {
  Device::Impl& d = *device_.impl_;
  const HostTimeline::Thread& thread = d.host->current();
  ClockUpdate update;
  uint64_t seq = 0;
  // The submitted work waits for this call: its trace id goes along.
  const uint64_t id = d.host->reserve_id(thread);
  {
    std::lock_guard lock(mutex_);
    seq = next_sequence_;
    SubmitRequest request{d.context, seq, commands.image(), privileged, {}, std::move(bindings),
                          labels ? std::move(labels) : commands.shared_labels(), id};
    for (const PendingWait& w : pending_waits_) request.waits.push_back({w.sync_object, w.target});
    KILN_RETURN_IF_ERROR(d.transport->submit(queue_, std::move(request), thread.clock, cost_ps, &update));
    d.queue_submitted[queue_].store(seq, std::memory_order_release);
    pending_waits_.clear();
    ++next_sequence_;
  }
  d.host->record(thread, name, update, wall_start, commands.size_bytes(), seq, {}, id);
  return seq;
}

Result<uint64_t> Stream::copy(uint64_t dst, uint64_t src, uint64_t size) {
  CommandBuffer cb;
  cb.copy(dst, src, size);
  return submit(cb);
}

Result<uint64_t> Stream::memset(uint64_t dst, uint32_t pattern, uint64_t size) {
  CommandBuffer cb;
  cb.memset(dst, pattern, size);
  return submit(cb);
}

Status Stream::record(Event& event) {
  const auto start = std::chrono::steady_clock::now();
  Device::Impl& d = *device_.impl_;
  const HostTimeline::Thread& thread = d.host->current();
  const ClockUpdate u = d.transport->advance_host_clock(thread.clock, d.host->costs().event_record);
  uint64_t last = 0;
  {
    std::lock_guard lock(mutex_);
    last = next_sequence_ - 1;
  }
  event.recorded_ = true;
  event.queue_ = queue_;
  event.sequence_ = last;
  event.record_ps_ = u.after_ps;
  d.host->record(thread, "event_record", u, start, 0, last);
  return {};
}

Status Stream::wait_event(const Event& event) {
  const auto start = std::chrono::steady_clock::now();
  Device::Impl& d = *device_.impl_;
  const HostTimeline::Thread& thread = d.host->current();
  const ClockUpdate u = d.transport->advance_host_clock(thread.clock, d.host->costs().event_wait);
  if (event.recorded() && event.queue_ != queue_ && event.sequence_ != 0) {
    std::lock_guard lock(mutex_);
    // The queue's retirement counter holds the low 32 bits of its last
    // retired sequence number.
    pending_waits_.push_back({event.queue_, static_cast<uint32_t>(event.sequence_)});
  }
  d.host->record(thread, "stream_wait_event", u, start, 0, event.sequence_);
  return {};
}

Status Stream::wait(uint64_t sequence, std::chrono::nanoseconds timeout) {
  const auto start = std::chrono::steady_clock::now();
  if (sequence == 0 || sequence > last_sequence()) {
    return invalid_argument("wait: submission " + std::to_string(sequence) + " was never made on queue " +
                            std::to_string(queue_));
  }
  return device_.impl_->wait_retired(queue_, sequence, timeout, "wait", start);
}

Status Stream::synchronize(std::chrono::nanoseconds timeout) {
  const auto start = std::chrono::steady_clock::now();
  uint64_t last = 0, from = 0;
  bool flush = false;
  {
    std::lock_guard lock(mutex_);
    flush = !pending_waits_.empty();
  }
  if (flush) {
    // Waits made by wait_event belong to this stream's order even when no
    // work follows them.
    CommandBuffer nop;
    nop.nop();
    KILN_RETURN_IF_ERROR(submit_as("synchronize", nop, false, device_.impl_->host->costs().submit, start).status());
  }
  {
    std::lock_guard lock(mutex_);
    last = next_sequence_ - 1;
    from = synchronized_through_ + 1;
  }
  if (last < from) return {};  // nothing new since the last synchronize
  Device::Impl& d = *device_.impl_;
  const Status waited = d.wait_retired(queue_, last, timeout, "synchronize", start);
  if (!waited.ok() && waited.code() != ErrorCode::kDeviceFault) return waited;
  Status first;
  for (uint64_t seq = from; seq <= last && first.ok(); ++seq) {
    auto done = d.transport->completion(queue_, seq);
    if (done && done->fault) first = done->fault->to_status();
  }
  {
    std::lock_guard lock(mutex_);
    synchronized_through_ = std::max(synchronized_through_, last);
  }
  return first;
}

bool Stream::query(uint64_t sequence) {
  return device_.impl_->query_retired(queue_, sequence, std::chrono::steady_clock::now());
}

Result<SubmissionInfo> Stream::info(uint64_t sequence) const {
  Transport& t = *device_.impl_->transport;
  if (t.completed_sequence(queue_) < sequence) {
    return failed_precondition("submission " + std::to_string(sequence) + " on queue " + std::to_string(queue_) +
                               " has not retired");
  }
  auto done = t.completion(queue_, sequence);
  if (!done) return not_found("the record of submission " + std::to_string(sequence) + " is no longer kept");
  return *done;
}

}  // namespace kiln::driver
