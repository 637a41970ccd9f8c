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
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "kiln/common/fault.h"
#include "kiln/common/status.h"
#include "kiln/driver/bindings.h"
#include "kiln/driver/command_buffer.h"
#include "kiln/traces/op_labels.h"

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
  // The op labels the device reports for this submission's packets, instead
  // of the command buffer's own (null: its own). For one recording launched
  // on behalf of different model ops: a cached recipe run for another op of
  // the same signature. Offsets are into the same bytes.
  std::shared_ptr<const traces::OpLabels> labels;
};

// What the device reported for one retired submission.
struct SubmissionInfo {
  uint64_t sequence = 0;
  uint64_t start_ps = 0;  // simulated time since device open
  uint64_t end_ps = 0;
  std::optional<FaultRecord> fault;
  // Trace ids of the jobs and waits it ended with (TraceEvent::id / job).
  std::vector<uint64_t> last_events;
};

class Stream;

// A submission checked and bound but not yet made (Stream::prepare). A launch
// that spans several queues prepares every part first and submits only when
// all passed, so a failed check submits nothing: no queue is left waiting on
// a signal from a part that was never submitted. Holds the command buffer by
// reference (keep it alive until submitted); move-only; submit it on the
// stream that prepared it. Dropping it unsubmitted is safe (the buffer stays
// validated, its recording cost unpaid).
class PreparedSubmission {
 public:
  PreparedSubmission() = default;
  // A moved-from submission is empty: submitting it fails.
  PreparedSubmission(PreparedSubmission&& other) noexcept { *this = std::move(other); }
  PreparedSubmission& operator=(PreparedSubmission&& other) noexcept {
    stream_ = std::exchange(other.stream_, nullptr);
    commands_ = std::exchange(other.commands_, nullptr);
    bindings_ = std::move(other.bindings_);
    cost_ps_ = other.cost_ps_;
    privileged_ = other.privileged_;
    start_ = other.start_;
    labels_ = std::move(other.labels_);
    return *this;
  }

 private:
  friend class Stream;
  const Stream* stream_ = nullptr;
  const CommandBuffer* commands_ = nullptr;
  std::shared_ptr<const packets::BindingSet> bindings_;
  uint64_t cost_ps_ = 0;
  bool privileged_ = false;
  std::chrono::steady_clock::time_point start_{};
  std::shared_ptr<const traces::OpLabels> labels_;
};

class Stream {
 public:
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  uint32_t queue() const { return queue_; }

  // Submits a command buffer; returns its sequence number, which increases by
  // one per submission on this stream's hardware queue (the first submission
  // ever made on a queue is 1). The buffer's packets are validated at its
  // first submission on this device (which also pays their recording cost);
  // later submissions check only `bindings`, against what the buffer uses.
  Result<uint64_t> submit(const CommandBuffer& commands, const SubmitOptions& options = {});
  Result<uint64_t> submit(const CommandBuffer& commands, const BindingTable& bindings,
                          const SubmitOptions& options = {});
  // submit() in two halves: every check a submission makes (the buffer's
  // validation, its bindings' ranges and mappings), then the submission,
  // which can fail only if the device needs a reset after a fatal fault.
  Result<PreparedSubmission> prepare(const CommandBuffer& commands, const BindingTable& bindings,
                                     const SubmitOptions& options = {});
  Result<uint64_t> submit(PreparedSubmission prepared);

  // Asynchronous copy / fill between device virtual addresses (device or
  // pinned host memory). Each is one submission.
  Result<uint64_t> copy(uint64_t dst, uint64_t src, uint64_t size);
  Result<uint64_t> memset(uint64_t dst, uint32_t pattern, uint64_t size);

  // Records `event` after all work submitted so far. Costs the device nothing.
  Status record(Event& event);
  // Later work on this stream waits, on the device, until `event`'s work
  // has retired: one wait on its queue's retirement counter, made by this
  // stream's next submission (or by synchronize()). A never-recorded event,
  // or one recorded on this stream, needs no wait.
  Status wait_event(const Event& event);

  // Waits until submission `sequence` retired; returns its fault as an error.
  Status wait(uint64_t sequence, std::chrono::nanoseconds timeout = kForever);
  // Waits for everything submitted so far; returns the first fault among the
  // submissions since the previous synchronize().
  Status synchronize(std::chrono::nanoseconds timeout = kForever);
  // True if `sequence` had retired by the calling thread's simulated time
  // (after charging the query's cost): a polling loop makes progress and
  // sees the same answers on every run.
  bool query(uint64_t sequence);
  // The device's record of a retired submission.
  Result<SubmissionInfo> info(uint64_t sequence) const;

  uint64_t last_sequence() const;

 private:
  friend class Device;
  Stream(Device& device, uint32_t queue, uint64_t first_sequence)
      : device_(device), queue_(queue), next_sequence_(first_sequence), synchronized_through_(first_sequence - 1) {}
  // Submits `commands`, charging `cost_ps` to the calling thread's clock and
  // recording the call as `name`; `labels` null: the buffer's own.
  Result<uint64_t> submit_as(const char* name, const CommandBuffer& commands, bool privileged, uint64_t cost_ps,
                             std::chrono::steady_clock::time_point wall_start,
                             std::shared_ptr<const packets::BindingSet> bindings = nullptr,
                             std::shared_ptr<const traces::OpLabels> labels = nullptr);

  struct PendingWait {
    uint32_t sync_object;
    uint32_t target;
  };

  Device& device_;
  const uint32_t queue_;
  mutable std::mutex mutex_;
  uint64_t next_sequence_;
  uint64_t synchronized_through_;
  // Waits from wait_event, made by the next submission.
  std::vector<PendingWait> pending_waits_;
};

}  // namespace kiln::driver
