#include "command_processor.h"
#include "kiln/common/format.h"

#include <cstdio>
#include <utility>

#include "device_impl.h"
#include "dma_engines.h"
#include "kiln/kernels/host_runner.h"
#include "kiln/kernels/kernel_arg_block.h"
#include "mme_engine.h"
#include "tpc_engine.h"
#include "sync_manager.h"

namespace kiln::sim {

using namespace sc_core;
using packets::Opcode;

CommandProcessor::CommandProcessor(DeviceImpl& device, uint32_t index)
    : device_(device),
      index_(index),
      name_("CP" + std::to_string(index)),
      limits_{device.config.sync_manager().sync_objects(), device.config.sync_manager().monitors(),
              device.config.command_processor().queues(), device.config.command_processor().fence_counters()},
      decode_time_(from_ns(device.config.command_processor().packet_cycles() * 1e3 / device.config.clocks().core_mhz())),
      fences_(device.config.command_processor().fence_counters(), 0),
      fence_writers_(device.config.command_processor().fence_counters()) {}

void CommandProcessor::start() {
  device_.spawn(name_ + "_run", [this] { run(); });
  device_.spawn(name_ + "_messages", [this] { deliver_messages(); });
}

void CommandProcessor::enqueue(Submission submission) {
  pending_.push_back(std::move(submission));
  submitted_.notify(SC_ZERO_TIME);
}

std::optional<Completion> CommandProcessor::completion(uint64_t sequence) const {
  std::lock_guard lock(completions_mutex_);
  if (completions_.empty() || sequence < completions_.front().sequence ||
      sequence > completions_.back().sequence) {
    return std::nullopt;
  }
  return completions_[sequence - completions_.front().sequence];
}

void CommandProcessor::add_to_fence(uint32_t fence_id, uint32_t value, uint64_t by) {
  fences_[fence_id] += value;
  if (by != 0) fence_writers_[fence_id].push_back(by);
  fence_changed_.notify(SC_ZERO_TIME);
}

void CommandProcessor::run() {
  for (;;) {
    while (pending_.empty()) wait(submitted_);
    Submission s = std::move(pending_.front());
    pending_.pop_front();
    const uint64_t start_ps = device_.now_ps();
    wait(from_ns(device_.config.command_processor().submit_latency_ns()));
    current_fault_.reset();
    std::optional<FaultRecord> fault = execute(s);
    retire(s, start_ps, std::move(fault));
  }
}

bool CommandProcessor::device_tracing() const { return device_.tracing(); }
uint64_t CommandProcessor::reserve_trace_id() { return device_.reserve_trace_id(); }

std::shared_ptr<const std::vector<std::string>> CommandProcessor::ops_at(const Submission& s, uint64_t offset) {
  if (!s.labels) return nullptr;
  const std::vector<std::string>* ops = s.labels->at(offset);
  // Shares the labels' ownership: no copy.
  return ops ? std::shared_ptr<const std::vector<std::string>>(s.labels, ops) : nullptr;
}

void CommandProcessor::engine_barrier() {
  wait_for_jobs();
  deps_.barrier_passed();
}

std::optional<FaultRecord> CommandProcessor::execute(const Submission& s) {
  const std::vector<uint8_t>& cb = *s.commands;
  deps_.begin_submission(s.submitted_by);
  // The submission's own waits come first, each decoded like a packet.
  for (const SyncWait& w : s.waits) {
    wait(decode_time_);
    if (w.sync_object >= device_.sync->sync_object_count()) {
      fault(FaultCause::kMalformedPacket, s, 0, 0,
            "submission wait on sync object " + std::to_string(w.sync_object) + " (device has " +
                std::to_string(device_.sync->sync_object_count()) + ")");
      break;
    }
    wait_sync(s, w.sync_object, w.target, 0, "submission wait");
    if (current_fault_) break;
  }
  uint64_t offset = 0;
  while (offset < cb.size() && !current_fault_) {
    wait(decode_time_);
    if (const std::optional<FaultRecord> fatal = device_.faults.fatal()) {
      // After a fatal fault the device runs nothing more until it is reset.
      fault(FaultCause::kDeviceNeedsReset, s, offset, 0, "after " + fatal->describe());
      break;
    }
    std::size_t size = 0;
    if (const auto problem = packets::check_packet(cb.data() + offset, cb.size() - offset, limits_, s.privileged, &size)) {
      const FaultCause cause = problem->kind == packets::PacketProblem::kInvalidOpcode ? FaultCause::kInvalidOpcode
                               : problem->kind == packets::PacketProblem::kPrivileged  ? FaultCause::kPrivilegedPacket
                                                                                       : FaultCause::kMalformedPacket;
      const std::string name = cb.size() - offset >= sizeof(packets::PacketHeader) && cause != FaultCause::kInvalidOpcode
                                   ? std::string(packets::opcode_name(static_cast<Opcode>(cb[offset]))) + ": "
                                   : std::string();
      fault(cause, s, offset, 0, name + problem->what);
      break;
    }
    const auto header = packets::decode_packet<packets::PacketHeader>(cb.data() + offset);
    const auto op = static_cast<Opcode>(header.opcode);
    if (header.flags & packets::kEngineBarrier) engine_barrier();
    if (header.flags & packets::kMessageBarrier) wait_for_messages();
    if (current_fault_) break;  // a job or message of this submission faulted meanwhile
    if (!dispatch(s, cb.data() + offset, op, offset)) break;
    device_.note_progress();
    offset += size;
  }
  // A submission retires only once all its work has finished.
  wait_for_jobs();
  wait_for_messages();
  return current_fault_;
}

std::optional<uint32_t> CommandProcessor::resolve_sync(const Submission& s, packets::SyncRef ref, uint64_t offset,
                                                       uint32_t* base) {
  *base = 0;
  if (!packets::is_bound(ref)) return ref;
  const uint32_t slot = packets::sync_ref_index(ref);
  const packets::Binding* b = s.bindings ? s.bindings->find(slot) : nullptr;
  if (b == nullptr || b->kind != packets::Binding::Kind::kSync) {
    fault(FaultCause::kMalformedPacket, s, offset, 0,
          "binding slot " + std::to_string(slot) + (b && b->kind == packets::Binding::Kind::kMemory
                                                        ? " holds memory, not a sync object"
                                                        : " is not bound by this submission"));
    return std::nullopt;
  }
  if (b->sync_object >= device_.sync->sync_object_count()) {
    fault(FaultCause::kMalformedPacket, s, offset, 0,
          "binding slot " + std::to_string(slot) + " names sync object " + std::to_string(b->sync_object) +
              " (device has " + std::to_string(device_.sync->sync_object_count()) + ")");
    return std::nullopt;
  }
  *base = b->base;
  return b->sync_object;
}

bool CommandProcessor::resolve(const Submission& s, uint64_t offset, uint64_t address, uint64_t size, const char* what,
                               uint64_t* resolved) {
  if (auto error = packets::resolve_address(address, size, s.bindings.get(), resolved)) {
    fault(FaultCause::kPageFault, s, offset, address, std::string(what) + ": " + *error);
    return false;
  }
  return true;
}

bool CommandProcessor::dispatch(const Submission& s, const uint8_t* bytes, Opcode op, uint64_t offset) {
  // Field ranges were checked by packets::check_packet; what is left here
  // depends on device state (mappings, registers, kernels, descriptors).
  std::optional<uint32_t> signal;
  const auto header = packets::decode_packet<packets::PacketHeader>(bytes);
  if (header.flags & packets::kSignalOnCompletion) {
    uint32_t unused_base = 0;
    signal = resolve_sync(s, header.completion_signal, offset, &unused_base);
    if (!signal) return false;
  }
  switch (op) {
    case Opcode::NOP:
      return true;
    case Opcode::STOP:
      return false;
    case Opcode::LIN_DMA: {
      const auto p = packets::decode_packet<packets::LinDmaPacket>(bytes);
      const bool memset = (p.dma_flags & packets::kDmaMemset) != 0;
      uint64_t src = p.src_addr, dst = 0;
      if (!resolve(s, offset, p.dst_addr, p.size_bytes, "LIN_DMA destination", &dst)) return false;
      if (!memset && !resolve(s, offset, p.src_addr, p.size_bytes, "LIN_DMA source", &src)) return false;
      DmaJob job{s.context, index_, s.sequence, offset, src, dst, p.size_bytes, memset, p.pattern, {}, {}};
      device_.dma->enqueue(stamp(std::move(job), s, offset, signal));
      return true;
    }
    case Opcode::MSG_SHORT: {
      const auto p = packets::decode_packet<packets::MsgShortPacket>(bytes);
      uint32_t base = 0;
      const auto sob = resolve_sync(s, p.sync_object, offset, &base);
      if (!sob) return false;
      // The signal stands for what the queue is ordered after when it is sent.
      post_message([this, p, sob = *sob, by = deps_.frontier()] {
        device_.sync->update(sob, static_cast<packets::SyncOp>(p.op), p.value, by);
      });
      return true;
    }
    case Opcode::MSG_LONG: {
      auto p = packets::decode_packet<packets::MsgLongPacket>(bytes);
      if (!resolve(s, offset, p.addr, p.width_bytes, "MSG_LONG address", &p.addr)) return false;
      const uint32_t context = s.context;
      const uint64_t sequence = s.sequence;
      post_message([this, p, context, sequence, offset] {
        uint64_t fault_address = 0;
        if (!device_.write_word(context, p.addr, p.value, p.width_bytes, &fault_address) && !current_fault_) {
          current_fault_ = FaultRecord{FaultCause::kPageFault, name_, index_, sequence, offset, fault_address,
                                       device_.now_ps(), "MSG_LONG write to unmapped address"};
        }
      });
      return true;
    }
    case Opcode::MONITOR_ARM: {
      auto p = packets::decode_packet<packets::MonitorArmPacket>(bytes);
      if (p.payload_kind == static_cast<uint8_t>(packets::MonitorPayload::MEMORY) &&
          !resolve(s, offset, p.payload_addr, 4, "MONITOR_ARM payload address", &p.payload_addr)) {
        return false;
      }
      SyncManager::Arming a{p.monitor,
                            p.sync_object,
                            p.threshold,
                            static_cast<packets::MonitorCondition>(p.condition),
                            static_cast<packets::MonitorPayload>(p.payload_kind),
                            p.target_queue,
                            p.fence_id,
                            p.payload_value,
                            p.payload_addr,
                            s.context,
                            index_};
      const uint64_t sequence = s.sequence;
      if (a.payload_kind == packets::MonitorPayload::MEMORY) {
        // Check the payload address now, while there is a submission to
        // fault; a write that faults later, when the monitor fires, can
        // only be recorded in the trace.
        std::vector<Segment> unused;
        uint64_t fault_address = 0;
        if (!device_.mmu.translate(s.context, p.payload_addr, 4, &unused, &fault_address)) {
          fault(FaultCause::kPageFault, s, offset, fault_address, "MONITOR_ARM memory payload address is unmapped");
          return false;
        }
      }
      post_message([this, a, sequence, offset] {
        if (auto error = device_.sync->arm(a); error && !current_fault_) {
          current_fault_ = FaultRecord{FaultCause::kMalformedPacket, "SYNC", index_, sequence, offset, 0,
                                       device_.now_ps(), *error};
        }
      });
      return true;
    }
    case Opcode::LAUNCH_MME: {
      const auto p = packets::decode_packet<packets::LaunchMmePacket>(bytes);
      MmeJob job;
      uint64_t descriptor_addr = 0;
      if (!resolve(s, offset, p.descriptor_addr, sizeof job.descriptor, "LAUNCH_MME descriptor", &descriptor_addr) ||
          !read_launch_block(s, offset, descriptor_addr, &job.descriptor, sizeof job.descriptor, "LAUNCH_MME descriptor")) {
        return false;
      }
      if (auto error = validate_mme_descriptor(job.descriptor, device_.mme->limits())) {
        fault(FaultCause::kInvalidDescriptor, s, offset, descriptor_addr, *error);
        return false;
      }
      // Bound operands: each must lie inside its binding for its whole span
      // (validation bounded every span).
      mme::Descriptor& d = job.descriptor;
      mme::OperandSpans spans;
      if (!mme::operand_spans(d, &spans)) {
        fault(FaultCause::kInvalidDescriptor, s, offset, descriptor_addr, "MME descriptor operand spans overflow 64 bits");
        return false;
      }
      if (!resolve(s, offset, d.a_addr, spans.a, "MME operand A", &d.a_addr) ||
          !resolve(s, offset, d.b_addr, spans.b, "MME operand B", &d.b_addr) ||
          !resolve(s, offset, d.c_addr, spans.c, "MME operand C", &d.c_addr) ||
          ((d.flags & mme::kHasBias) && !resolve(s, offset, d.bias_addr, spans.bias, "MME bias", &d.bias_addr)) ||
          ((d.flags & mme::kHasResidual) && !resolve(s, offset, d.r_addr, spans.r, "MME operand R", &d.r_addr))) {
        return false;
      }
      job.engines = p.engines;
      device_.mme->enqueue(stamp(std::move(job), s, offset, signal));
      return true;
    }
    case Opcode::LAUNCH_TPC: {
      const auto p = packets::decode_packet<packets::LaunchTpcPacket>(bytes);
      // The argument block is hostile until decoded: read its fixed header,
      // bound the size it claims (kMaxKernelArgBlockBytes), then read the rest.
      std::vector<uint8_t> block(sizeof(kernels::KernelArgBlockHeader));
      uint64_t args_addr = 0;
      if (!resolve(s, offset, p.args_addr, block.size(), "LAUNCH_TPC argument block", &args_addr) ||
          !read_launch_block(s, offset, args_addr, block.data(), block.size(), "LAUNCH_TPC argument block")) {
        return false;
      }
      const Result<uint32_t> total = kernels::check_kernel_arg_block_header(block);
      if (!total.ok()) {
        fault(FaultCause::kInvalidDescriptor, s, offset, args_addr, total.status().message());
        return false;
      }
      block.resize(*total);
      if (!resolve(s, offset, p.args_addr, block.size(), "LAUNCH_TPC argument block", &args_addr) ||
          !read_launch_block(s, offset, args_addr, block.data(), block.size(), "LAUNCH_TPC argument block")) {
        return false;
      }
      Result<kernels::KernelArgs> args = kernels::decode_kernel_args(block);
      if (!args.ok()) {
        fault(FaultCause::kInvalidDescriptor, s, offset, args_addr, args.status().message());
        return false;
      }
      if (!resolve_tensors(s, offset, &*args)) {
        return false;
      }
      auto kernel = device_.kernels.lookup(p.kernel_id);
      if (!kernel.ok()) {
        fault(FaultCause::kInvalidDescriptor, s, offset, args_addr, kernel.status().message());
        return false;
      }
      TpcJob job;
      job.args = std::move(args).value();
      // Runs the kernel's own validation and index space (plugin code: a
      // throw comes back as kInternal, "kernel 'x' threw: ...").
      if (Status valid = kernels::validate_kernel_launch(**kernel, job.args, &job.space); !valid.ok()) {
        const FaultCause cause =
            valid.code() == ErrorCode::kInternal ? FaultCause::kEngineError : FaultCause::kInvalidDescriptor;
        fault(cause, s, offset, args_addr, valid.message());
        return false;
      }
      job.kernel = *kernel;
      job.cores = p.cores;
      device_.tpc->enqueue(stamp(std::move(job), s, offset, signal));
      return true;
    }
    case Opcode::FENCE: {
      const auto p = packets::decode_packet<packets::FencePacket>(bytes);
      wait_fence(s, p, offset);
      return !current_fault_;
    }
    case Opcode::WAIT_SYNC: {
      const auto p = packets::decode_packet<packets::WaitSyncPacket>(bytes);
      uint32_t base = 0;
      const auto sob = resolve_sync(s, p.sync, offset, &base);
      if (!sob) return false;
      wait_sync(s, *sob, base + p.value, offset, "WAIT_SYNC");
      return !current_fault_;
    }
    case Opcode::WREG32: {
      const auto p = packets::decode_packet<packets::Wreg32Packet>(bytes);
      if (!device_.write_register(p.reg_offset, p.value)) {
        fault(FaultCause::kInvalidRegister, s, offset, p.reg_offset, "no register at offset " + hex(p.reg_offset));
        return false;
      }
      return true;
    }
    default:
      fault(FaultCause::kInvalidOpcode, s, offset, 0,
            std::string("opcode ") + std::string(packets::opcode_name(op)) + " is not executable on this device");
      return false;
  }
}

bool CommandProcessor::resolve_tensors(const Submission& s, uint64_t offset, kernels::KernelArgs* args) {
  for (int i = 0; i < args->num_tensors; ++i) {
    kernels::TensorDesc& t = args->tensors[static_cast<std::size_t>(i)];
    if (!packets::is_bound_address(t.address)) continue;
    // Decoding validated the tensor, so its span is bounded by 2^48 bytes.
    const kernels::TensorSpan span = kernels::tensor_span(t);
    const std::string what = "LAUNCH_TPC tensor " + std::to_string(i);
    if (span.before > packets::binding_offset(t.address)) {
      fault(FaultCause::kPageFault, s, offset, t.address,
            what + ": its strides reach " + std::to_string(span.before) + " bytes before its binding's start");
      return false;
    }
    uint64_t first = 0;
    if (!resolve(s, offset, t.address - span.before, span.bytes, what.c_str(), &first)) return false;
    t.address = first + span.before;
  }
  return true;
}

bool CommandProcessor::read_launch_block(const Submission& s, uint64_t offset, uint64_t addr, void* dst,
                                         std::size_t size, const std::string& what) {
  if (addr % 8 != 0) {
    fault(FaultCause::kMalformedPacket, s, offset, addr, what + " is not 8-byte aligned");
    return false;
  }
  uint64_t fault_address = 0;
  if (!device_.read_virtual(s.context, addr, dst, size, &fault_address)) {
    fault(FaultCause::kPageFault, s, offset, fault_address, what + " is not mapped");
    return false;
  }
  return true;
}

std::function<void(std::optional<FaultRecord>)> CommandProcessor::job_completion(std::optional<uint32_t> signal,
                                                                                 uint64_t job) {
  // Engine jobs of a submission always end before it retires, so a job's
  // fault belongs to the submission being executed.
  return [this, signal, job](std::optional<FaultRecord> f) {
    // The job's own completion signal travels to the sync manager; a job
    // that failed does not signal.
    if (signal && !f) device_.sync->add_after_message_latency(*signal, 1, job);
    if (f && !current_fault_) current_fault_ = std::move(f);
    --jobs_outstanding_;
    job_done_.notify(SC_ZERO_TIME);
  };
}

void CommandProcessor::wait_for_jobs() {
  while (jobs_outstanding_ > 0) wait(job_done_);
}

void CommandProcessor::wait_for_messages() {
  while (!messages_.empty()) wait(message_landed_);
}

void CommandProcessor::wait_sync(const Submission& s, uint32_t sync_object, uint32_t target, uint64_t offset,
                                 const char* what) {
  const uint64_t start_ps = device_.now_ps();
  SyncManager& sm = *device_.sync;
  while (!packets::sync_reached(static_cast<uint32_t>(sm.value(sync_object)), target)) {
    const uint64_t period = device_.watchdog_ps();
    const std::optional<uint64_t> quiet = device_.quiet_since_ps();
    const uint64_t now = device_.now_ps();
    if (!quiet || now - *quiet < period) {
      wait(from_ps(quiet ? *quiet + period - now : period), sm.changed());
      continue;
    }
    fault(FaultCause::kFenceTimeout, s, offset, 0,
          std::string(what) + " on sync object " + std::to_string(sync_object) + " waited for " +
              std::to_string(target) + " but it stayed at " + std::to_string(static_cast<uint32_t>(sm.value(sync_object))) +
              " with no progress on any queue or host thread for " + std::to_string(period / 1000) + " ns");
    return;
  }
  if (!device_.tracing()) return;
  const std::vector<uint64_t> released_by = sm.released_by(sync_object, target);
  uint64_t id = 0;
  if (device_.now_ps() > start_ps) {
    const auto ops = ops_at(s, offset);
    id = device_.record({.track = name_, .queue = static_cast<int32_t>(index_), .name = "sync wait",
                         .start_ps = start_ps, .end_ps = device_.now_ps(), .sequence = s.sequence,
                         .detail = "sync object " + std::to_string(sync_object) + " >= " + std::to_string(target),
                         .ops = ops ? *ops : std::vector<std::string>{},
                         .waits_for = deps_.wait_deps(released_by)});
  }
  deps_.waited(id, released_by);
}

void CommandProcessor::wait_fence(const Submission& s, const packets::FencePacket& p, uint64_t offset) {
  const uint64_t start_ps = device_.now_ps();
  while (fences_[p.fence_id] < p.target) {
    // The period runs from the last progress of the device or of its host
    // threads: a thread that may still submit the signal keeps it alive.
    const uint64_t period = device_.watchdog_ps();
    const std::optional<uint64_t> quiet = device_.quiet_since_ps();
    const uint64_t now = device_.now_ps();
    if (!quiet || now - *quiet < period) {
      wait(from_ps(quiet ? *quiet + period - now : period), fence_changed_);
      continue;
    }
    fault(FaultCause::kFenceTimeout, s, offset, 0,
          "FENCE on fence counter " + std::to_string(p.fence_id) + " waited for " + std::to_string(p.target) +
              " but the counter stayed at " + std::to_string(fences_[p.fence_id]) +
              " with no progress on any queue or host thread for " + std::to_string(period / 1000) + " ns");
    // Nothing will come for this fence; leave it clean for later work.
    device_.sync->disarm_fence_monitors(index_, p.fence_id);
    fences_[p.fence_id] = 0;
    fence_writers_[p.fence_id].clear();
    return;
  }
  fences_[p.fence_id] -= p.target;
  // What released it: the monitors that added to the counter.
  const std::vector<uint64_t> released_by = std::exchange(fence_writers_[p.fence_id], {});
  if (!device_.tracing()) return;
  uint64_t id = 0;
  if (device_.now_ps() > start_ps) {
    const auto ops = ops_at(s, offset);
    id = device_.record({.track = name_, .queue = static_cast<int32_t>(index_), .name = "fence wait",
                         .start_ps = start_ps, .end_ps = device_.now_ps(), .sequence = s.sequence,
                         .detail = "fence " + std::to_string(p.fence_id) + " >= " + std::to_string(p.target),
                         .ops = ops ? *ops : std::vector<std::string>{},
                         .waits_for = deps_.wait_deps(released_by)});
  }
  deps_.waited(id, released_by);
}

void CommandProcessor::post_message(std::function<void()> apply) {
  const uint64_t lands = device_.now_ps() + to_ps(from_ns(device_.config.sync_manager().message_latency_ns()));
  messages_.push_back({lands, std::move(apply)});
  message_posted_.notify(SC_ZERO_TIME);
}

void CommandProcessor::deliver_messages() {
  for (;;) {
    while (messages_.empty()) wait(message_posted_);
    const uint64_t now = device_.now_ps();
    if (messages_.front().lands_at_ps > now) wait(from_ps(messages_.front().lands_at_ps - now));
    // Messages land in the order they were posted (constant latency).
    auto apply = std::move(messages_.front().apply);
    apply();
    messages_.pop_front();
    device_.note_progress();
    message_landed_.notify(SC_ZERO_TIME);
  }
}

void CommandProcessor::fault(FaultCause cause, const Submission& s, uint64_t offset, uint64_t address,
                             std::string detail) {
  if (current_fault_) return;
  current_fault_ = FaultRecord{cause, name_, index_, s.sequence, offset, address, device_.now_ps(), std::move(detail)};
}

void CommandProcessor::retire(const Submission& s, uint64_t start_ps, std::optional<FaultRecord> fault) {
  // Every job ended (execute waited for them): what the submission ended
  // with is what waiting for its retirement waits for.
  std::vector<uint64_t> last = deps_.end_submission();
  Completion c{s.sequence, start_ps, device_.now_ps(), std::move(fault), last};
  // The queue's retirement counter (packets.h) is how other queues wait for it.
  device_.sync->update(index_, packets::SyncOp::SET, static_cast<int32_t>(static_cast<uint32_t>(s.sequence)),
                       std::move(last));
  device_.record({.track = name_, .queue = static_cast<int32_t>(index_),
                  .name = c.fault ? "submission (faulted)" : "submission", .start_ps = c.start_ps,
                  .end_ps = c.end_ps, .sequence = s.sequence,
                  .detail = c.fault ? c.fault->describe() : ""});
  device_.note_progress();
  {
    std::lock_guard lock(completions_mutex_);
    completions_.push_back(std::move(c));
    if (completions_.size() > kKeptCompletions) completions_.pop_front();
  }
  completed_.store(s.sequence, std::memory_order_release);
}

}  // namespace kiln::sim
