// A command processor: one per hardware queue. Takes submissions in order,
// decodes their packets, dispatches DMA jobs, posts messages to the sync
// manager, waits on fences, honours engine and message barriers, and retires
// each submission with a Completion (carrying a FaultRecord if it failed).
//
// A fault ends the faulting submission only: its remaining packets are
// skipped, its in-flight jobs drain, and the queue goes on with the next one.
//
// Runs on the simulation thread, except completed_sequence() and
// completion(), which host threads may call.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "kiln/common/packets.h"
#include "kiln/kernels/kernel_args.h"
#include "kiln/sim/device.h"
#include "queue_dependencies.h"
#include "systemc.h"

namespace kiln::sim {

class DeviceImpl;

class CommandProcessor {
 public:
  static constexpr std::size_t kKeptCompletions = 65536;

  CommandProcessor(DeviceImpl& device, uint32_t index);

  void start();
  void enqueue(Submission submission);

  uint64_t completed_sequence() const { return completed_.load(std::memory_order_acquire); }
  std::optional<Completion> completion(uint64_t sequence) const;

  // Fence counters, written by sync-manager monitors; `by` is the trace id
  // of the monitor's event (what a FENCE it releases waited for).
  void add_to_fence(uint32_t fence_id, uint32_t value, uint64_t by = 0);

 private:
  struct Message {
    uint64_t lands_at_ps;
    std::function<void()> apply;
  };

  void run();
  void deliver_messages();
  // Executes one submission; returns its fault, if any.
  std::optional<FaultRecord> execute(const Submission& s);
  // Executes one decoded packet. Returns false when the buffer ends (STOP).
  bool dispatch(const Submission& s, const uint8_t* packet, packets::Opcode op, uint64_t offset);
  std::function<void(std::optional<FaultRecord>)> job_completion(std::optional<uint32_t> signal, uint64_t job);
  // The model ops of the packet at `offset` (null: unlabelled).
  static std::shared_ptr<const std::vector<std::string>> ops_at(const Submission& s, uint64_t offset);
  // The sync object a packet's reference names (and its timeline base);
  // faults the submission and returns nothing if it names none.
  std::optional<uint32_t> resolve_sync(const Submission& s, packets::SyncRef ref, uint64_t offset, uint32_t* base);
  // Resolves a possibly bound address for an access of `size` bytes;
  // faults the submission (naming `what`) if the binding does not cover it.
  bool resolve(const Submission& s, uint64_t offset, uint64_t address, uint64_t size, const char* what,
               uint64_t* resolved);
  // Resolves the bound addresses of a launch's tensors, each over every byte
  // it may touch; faults the submission naming the tensor otherwise.
  bool resolve_tensors(const Submission& s, uint64_t offset, kernels::KernelArgs* args);
  // Waits until `sync_object` reaches `target` (timeline comparison), with
  // the fence watchdog.
  // Traced (with the ops of the packet at `offset`) if it took time.
  void wait_sync(const Submission& s, uint32_t sync_object, uint32_t target, uint64_t offset, const char* what);
  // Reads the 8-byte aligned block a launch packet points to; faults the
  // submission (naming `what`) if it is unaligned or unmapped.
  bool read_launch_block(const Submission& s, uint64_t offset, uint64_t addr, void* dst, std::size_t size,
                         const std::string& what);
  // Fills the bookkeeping every engine job carries (its trace id, ops and
  // dependencies too) and counts it as outstanding; the caller enqueues the
  // result.
  template <typename Job>
  Job stamp(Job job, const Submission& s, uint64_t offset, std::optional<uint32_t> signal) {
    job.context = s.context;
    job.queue = index_;
    job.sequence = s.sequence;
    job.packet_offset = offset;
    if (device_tracing()) {
      job.trace.job = reserve_trace_id();
      job.trace.ops = ops_at(s, offset);
      job.trace.waits_for = deps_.dispatch(job.trace.job);
    }
    job.on_done = job_completion(signal, job.trace.job);
    ++jobs_outstanding_;
    return job;
  }
  bool device_tracing() const;
  uint64_t reserve_trace_id();
  // Waits for the queue's engine jobs at an engine barrier.
  void engine_barrier();
  void wait_for_jobs();
  void wait_for_messages();
  void wait_fence(const Submission& s, const packets::FencePacket& p, uint64_t offset);
  void post_message(std::function<void()> apply);
  void fault(FaultCause cause, const Submission& s, uint64_t offset, uint64_t address, std::string detail);
  void retire(const Submission& s, uint64_t start_ps, std::optional<FaultRecord> fault);

  DeviceImpl& device_;
  const uint32_t index_;
  const std::string name_;
  const packets::PacketLimits limits_;
  const sc_core::sc_time decode_time_;
  std::deque<Submission> pending_;
  sc_core::sc_event submitted_;

  int jobs_outstanding_ = 0;
  sc_core::sc_event job_done_;
  std::deque<Message> messages_;
  sc_core::sc_event message_posted_;
  sc_core::sc_event message_landed_;

  std::vector<uint32_t> fences_;
  std::vector<std::vector<uint64_t>> fence_writers_;  // per fence: trace ids of the monitors that added to it
  sc_core::sc_event fence_changed_;

  // The trace ids the queue's work waits for (queue_dependencies.h).
  QueueDependencies deps_;

  // The first fault of the submission being executed (from the decoder, a
  // job or a message).
  std::optional<FaultRecord> current_fault_;

  std::atomic<uint64_t> completed_{0};
  mutable std::mutex completions_mutex_;
  std::deque<Completion> completions_;
};

}  // namespace kiln::sim
