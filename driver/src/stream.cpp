#include "kiln/driver/stream.h"

#include "kiln/driver/device.h"
#include "kiln/driver/event.h"
#include "transport.h"

namespace kiln::driver {

namespace {
// Event waits use this fence counter of the waiting queue; hand-written
// command buffers should use the others.
constexpr uint32_t kEventFence = 0;
}  // namespace

uint64_t Stream::last_sequence() const {
  std::lock_guard lock(mutex_);
  return next_sequence_ - 1;
}

Result<uint64_t> Stream::submit(const CommandBuffer& commands, const SubmitOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  if (!options.skip_validation) {
    KILN_RETURN_IF_ERROR(
        validate_command_buffer(commands.bytes(), device_.validation_limits(), options.privileged)
            .with_context("queue " + std::to_string(queue_)));
  } else if (commands.empty()) {
    return invalid_argument("submit: the command buffer is empty");
  }
  std::lock_guard lock(mutex_);
  auto seq = submit_locked(commands, options.privileged);
  if (seq.ok()) device_.record_host_call("submit", start, commands.size_bytes(), *seq);
  return seq;
}

Result<uint64_t> Stream::submit_locked(const CommandBuffer& commands, bool privileged) {
  reclaim_monitors();
  const uint64_t seq = next_sequence_;
  KILN_RETURN_IF_ERROR(device_.transport().submit(queue_, device_.context_, seq, commands.image(), privileged));
  ++next_sequence_;
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
  CommandBuffer cb;
  cb.signal(event.sync_object_, packets::SyncOp::ADD, 1);
  std::lock_guard lock(mutex_);
  KILN_ASSIGN_OR_RETURN(uint64_t seq, submit_locked(cb, false));
  event.records_ += 1;
  event.queue_ = queue_;
  event.sequence_ = seq;
  device_.record_host_call("event_record", start, 0, seq);
  return {};
}

Status Stream::wait_event(const Event& event) {
  const auto start = std::chrono::steady_clock::now();
  if (!event.recorded() || event.queue_ == queue_) return {};  // nothing to wait for, or already ordered
  KILN_ASSIGN_OR_RETURN(uint32_t monitor, device_.allocate_monitor());
  CommandBuffer cb;
  cb.arm_monitor(monitor, event.sync_object_, event.records_, queue_, kEventFence, 1);
  cb.fence(kEventFence, 1);
  std::lock_guard lock(mutex_);
  auto seq = submit_locked(cb, false);
  if (!seq.ok()) {
    (void)device_.free_monitor(monitor);
    return seq.status();
  }
  monitors_in_use_.emplace_back(*seq, monitor);
  device_.record_host_call("stream_wait_event", start, 0, *seq);
  return {};
}

void Stream::reclaim_monitors() {
  const uint64_t done = device_.transport().completed_sequence(queue_);
  std::erase_if(monitors_in_use_, [&](const auto& entry) {
    if (entry.first > done) return false;
    (void)device_.free_monitor(entry.second);
    return true;
  });
}

Status Stream::wait(uint64_t sequence, std::chrono::nanoseconds timeout) {
  const auto start = std::chrono::steady_clock::now();
  if (sequence == 0 || sequence > last_sequence()) {
    return invalid_argument("wait: submission " + std::to_string(sequence) + " was never made on queue " +
                            std::to_string(queue_));
  }
  KILN_RETURN_IF_ERROR(device_.transport().wait(queue_, sequence, timeout));
  device_.record_host_call("wait", start, 0, sequence);
  auto done = device_.transport().completion(queue_, sequence);
  if (done && done->fault) return done->fault->to_status();
  return {};
}

Status Stream::synchronize(std::chrono::nanoseconds timeout) {
  const auto start = std::chrono::steady_clock::now();
  uint64_t last = 0, from = 0;
  {
    std::lock_guard lock(mutex_);
    last = next_sequence_ - 1;
    from = synchronized_through_ + 1;
  }
  if (last < from) return {};  // nothing new since the last synchronize
  KILN_RETURN_IF_ERROR(device_.transport().wait(queue_, last, timeout));
  Status first;
  for (uint64_t seq = from; seq <= last && first.ok(); ++seq) {
    auto done = device_.transport().completion(queue_, seq);
    if (done && done->fault) first = done->fault->to_status();
  }
  {
    std::lock_guard lock(mutex_);
    synchronized_through_ = std::max(synchronized_through_, last);
    reclaim_monitors();
  }
  device_.record_host_call("synchronize", start);
  return first;
}

bool Stream::query(uint64_t sequence) {
  auto& t = device_.transport();
  if (t.completed_sequence(queue_) >= sequence) return true;
  t.poll();
  return t.completed_sequence(queue_) >= sequence;
}

Result<SubmissionInfo> Stream::info(uint64_t sequence) const {
  if (device_.transport().completed_sequence(queue_) < sequence) {
    return failed_precondition("submission " + std::to_string(sequence) + " on queue " + std::to_string(queue_) +
                               " has not retired");
  }
  auto done = device_.transport().completion(queue_, sequence);
  if (!done) return not_found("the record of submission " + std::to_string(sequence) + " is no longer kept");
  return *done;
}

}  // namespace kiln::driver
