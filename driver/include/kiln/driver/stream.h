// Streams: ordered queues of work, each bound to one hardware queue of the
// device. Work submitted to a stream runs in submission order; work on
// different streams may overlap, ordered only through events.
//
// Ownership: created and owned by the Device (Device::create_stream returns a
// non-owning pointer valid until destroy_stream or device close).
// Threading: every member is thread-safe; several host threads may submit to
// one stream (their submissions interleave in lock order).
// Errors: a malformed command buffer is rejected by submit() before the
// device sees it. A fault while the device executes a submission is returned
// by wait()/synchronize() for that submission (and by info()); the stream and
// the device stay usable.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

#include "kiln/common/fault.h"
#include "kiln/common/status.h"
#include "kiln/driver/command_buffer.h"

namespace kiln::driver {

class Device;
class Event;

constexpr std::chrono::nanoseconds kForever = std::chrono::nanoseconds::max();

struct SubmitOptions {
  // Skips submit-time validation so the device's own decoder sees the bytes:
  // for fault injection and driver tests.
  bool skip_validation = false;
  // Allows privileged packets (WREG32): the kernel-mode path.
  bool privileged = false;
};

// What the device reported for one retired submission.
struct SubmissionInfo {
  uint64_t sequence = 0;
  uint64_t start_ps = 0;  // simulated time since device open
  uint64_t end_ps = 0;
  std::optional<FaultRecord> fault;
};

class Stream {
 public:
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  uint32_t queue() const { return queue_; }

  // Submits a command buffer; returns its sequence number, which increases by
  // one per submission on this stream's hardware queue (the first submission
  // ever made on a queue is 1).
  Result<uint64_t> submit(const CommandBuffer& commands, const SubmitOptions& options = {});

  // Asynchronous copy / fill between device virtual addresses (device or
  // pinned host memory). Each is one submission.
  Result<uint64_t> copy(uint64_t dst, uint64_t src, uint64_t size);
  Result<uint64_t> memset(uint64_t dst, uint32_t pattern, uint64_t size);

  // Records `event` after all work submitted so far.
  Status record(Event& event);
  // Later work on this stream waits (on the device, through the sync manager)
  // until `event` completes. A never-recorded event is a no-op.
  Status wait_event(const Event& event);

  // Waits until submission `sequence` retired; returns its fault as an error.
  Status wait(uint64_t sequence, std::chrono::nanoseconds timeout = kForever);
  // Waits for everything submitted so far; returns the first fault among the
  // submissions since the previous synchronize().
  Status synchronize(std::chrono::nanoseconds timeout = kForever);
  // True once `sequence` retired (advances the simulation by at most a step).
  bool query(uint64_t sequence);
  // The device's record of a retired submission.
  Result<SubmissionInfo> info(uint64_t sequence) const;

  uint64_t last_sequence() const;

 private:
  friend class Device;
  Stream(Device& device, uint32_t queue, uint64_t first_sequence)
      : device_(device), queue_(queue), next_sequence_(first_sequence), synchronized_through_(first_sequence - 1) {}
  Result<uint64_t> submit_locked(const CommandBuffer& commands, bool privileged);
  void reclaim_monitors();

  Device& device_;
  const uint32_t queue_;
  mutable std::mutex mutex_;
  uint64_t next_sequence_;
  uint64_t synchronized_through_;
  // Monitors armed by wait_event, freed once the waiting submission retired.
  std::vector<std::pair<uint64_t, uint32_t>> monitors_in_use_;
};

}  // namespace kiln::driver
