#include "kiln/driver/command_buffer.h"

#include <algorithm>
#include <cstring>

#include "kiln/kernels/kernel_arg_block.h"

namespace kiln::driver {

using packets::Opcode;

CommandBuffer::Recording& CommandBuffer::writable() {
  // A submitted recording may still be executing, and its caches belong to
  // what it was: recording more makes a fresh copy.
  if (rec_.use_count() > 1 || !rec_->validated.empty() || !rec_->arenas.empty()) {
    auto copy = std::make_shared<Recording>();
    copy->bytes = rec_->bytes;
    copy->arena = rec_->arena;
    copy->uses = rec_->uses;
    copy->packets = rec_->packets;
    copy->error = rec_->error;
    copy->labels = rec_->labels;
    rec_ = std::move(copy);
  }
  return *rec_;
}

template <typename P>
CommandBuffer& CommandBuffer::append(const P& packet) {
  auto& out = writable().bytes;
  const std::size_t at = out.size();
  out.resize(at + sizeof(P));
  std::memcpy(out.data() + at, &packet, sizeof(P));
  last_packet_ = at;
  ++rec_->packets;
  return *this;
}

void CommandBuffer::use(uint32_t slot, packets::Binding::Kind kind, uint64_t extent, bool signalled) {
  auto& uses = writable().uses;
  auto it = std::lower_bound(uses.begin(), uses.end(), slot,
                             [](const BindingUse& u, uint32_t s) { return u.slot < s; });
  if (it == uses.end() || it->slot != slot) {
    uses.insert(it, {slot, kind, extent, signalled});
    return;
  }
  if (it->kind != kind && rec_->error.empty()) {
    rec_->error = "binding slot " + std::to_string(slot) + " is used both as memory and as a sync object";
  }
  it->extent = std::max(it->extent, extent);
  it->signalled = it->signalled || signalled;
}

void CommandBuffer::use_address(uint64_t address, uint64_t size) {
  if (!packets::is_bound_address(address)) return;
  const uint64_t offset = packets::binding_offset(address);
  // An extent past 2^48 cannot be bound; saturate so the check at submit fails.
  const uint64_t end = size > UINT64_MAX - offset ? UINT64_MAX : offset + size;
  use(packets::binding_slot(address), packets::Binding::Kind::kMemory, end);
}

void CommandBuffer::use_sync(packets::SyncRef ref, bool signalled) {
  if (packets::is_bound(ref)) use(packets::sync_ref_index(ref), packets::Binding::Kind::kSync, 0, signalled);
}

CommandBuffer& CommandBuffer::uses_binding(uint32_t slot, uint64_t extent) {
  use(slot, packets::Binding::Kind::kMemory, extent);
  return *this;
}

CommandBuffer& CommandBuffer::label(std::vector<std::string> ops) {
  // Unlabelled stays unlabelled without touching a shared recording.
  if (rec_->labels.empty() && std::all_of(ops.begin(), ops.end(), [](const std::string& op) { return op.empty(); })) {
    return *this;
  }
  Recording& rec = writable();
  rec.labels.add(rec.bytes.size(), std::move(ops));
  return *this;
}

Status CommandBuffer::label_at(uint64_t offset, std::vector<std::string> ops) {
  if (offset > rec_->bytes.size() || (!rec_->labels.runs.empty() && offset < rec_->labels.runs.back().offset)) {
    return invalid_argument("label at byte " + std::to_string(offset) + ": out of order or past the " +
                            std::to_string(rec_->bytes.size()) + " recorded bytes");
  }
  writable().labels.add(offset, std::move(ops));
  return {};
}

CommandBuffer& CommandBuffer::nop(uint8_t flags) {
  return append(packets::make_packet<packets::NopPacket>(Opcode::NOP, flags));
}

CommandBuffer& CommandBuffer::copy(uint64_t dst, uint64_t src, uint64_t size, uint8_t flags) {
  auto p = packets::make_packet<packets::LinDmaPacket>(Opcode::LIN_DMA, flags);
  p.src_addr = src;
  p.dst_addr = dst;
  p.size_bytes = size;
  use_address(dst, size);
  use_address(src, size);
  return append(p);
}

CommandBuffer& CommandBuffer::memset(uint64_t dst, uint32_t pattern, uint64_t size, uint8_t flags) {
  auto p = packets::make_packet<packets::LinDmaPacket>(Opcode::LIN_DMA, flags);
  p.dst_addr = dst;
  p.size_bytes = size;
  p.dma_flags = packets::kDmaMemset;
  p.pattern = pattern;
  use_address(dst, size);
  return append(p);
}

CommandBuffer& CommandBuffer::signal(packets::SyncRef sync_object, packets::SyncOp op, int32_t value, uint8_t flags) {
  auto p = packets::make_packet<packets::MsgShortPacket>(Opcode::MSG_SHORT, flags);
  p.sync_object = sync_object;
  p.op = static_cast<uint8_t>(op);
  p.value = value;
  use_sync(sync_object, /*signalled=*/true);
  return append(p);
}

CommandBuffer& CommandBuffer::write_memory(uint64_t addr, uint64_t value, uint32_t width_bytes, uint8_t flags) {
  auto p = packets::make_packet<packets::MsgLongPacket>(Opcode::MSG_LONG, flags);
  p.addr = addr;
  p.value = value;
  p.width_bytes = width_bytes;
  use_address(addr, width_bytes);
  return append(p);
}

CommandBuffer& CommandBuffer::arm_monitor(uint32_t monitor, uint32_t sync_object, int32_t threshold,
                                          uint32_t target_queue, uint32_t fence_id, uint32_t fence_value,
                                          packets::MonitorCondition condition, uint8_t flags) {
  auto p = packets::make_packet<packets::MonitorArmPacket>(Opcode::MONITOR_ARM, flags);
  p.monitor = monitor;
  p.sync_object = sync_object;
  p.threshold = threshold;
  p.condition = static_cast<uint8_t>(condition);
  p.payload_kind = static_cast<uint8_t>(packets::MonitorPayload::FENCE);
  // The field is 16 bits: an index that does not fit is encoded as the
  // largest one, which validation then rejects rather than wrapping to a
  // queue that exists.
  p.target_queue = static_cast<uint16_t>(std::min<uint32_t>(target_queue, UINT16_MAX));
  p.fence_id = fence_id;
  p.payload_value = fence_value;
  return append(p);
}

CommandBuffer& CommandBuffer::arm_monitor_memory(uint32_t monitor, uint32_t sync_object, int32_t threshold,
                                                 uint64_t addr, uint32_t value,
                                                 packets::MonitorCondition condition, uint8_t flags) {
  auto p = packets::make_packet<packets::MonitorArmPacket>(Opcode::MONITOR_ARM, flags);
  p.monitor = monitor;
  p.sync_object = sync_object;
  p.threshold = threshold;
  p.condition = static_cast<uint8_t>(condition);
  p.payload_kind = static_cast<uint8_t>(packets::MonitorPayload::MEMORY);
  p.payload_addr = addr;
  p.payload_value = value;
  use_address(addr, 4);
  return append(p);
}

CommandBuffer& CommandBuffer::fence(uint32_t fence_id, uint32_t target, uint8_t flags) {
  auto p = packets::make_packet<packets::FencePacket>(Opcode::FENCE, flags);
  p.fence_id = fence_id;
  p.target = target;
  return append(p);
}

CommandBuffer& CommandBuffer::wait_sync(packets::SyncRef sync, uint32_t value, uint8_t flags) {
  auto p = packets::make_packet<packets::WaitSyncPacket>(Opcode::WAIT_SYNC, flags);
  p.sync = sync;
  p.value = value;
  use_sync(sync, /*signalled=*/false);
  return append(p);
}

CommandBuffer& CommandBuffer::write_register(uint32_t offset, uint32_t value, uint8_t flags) {
  auto p = packets::make_packet<packets::Wreg32Packet>(Opcode::WREG32, flags);
  p.reg_offset = offset;
  p.value = value;
  return append(p);
}

CommandBuffer& CommandBuffer::launch_mme(uint64_t descriptor, uint32_t engines, uint8_t flags) {
  auto p = packets::make_packet<packets::LaunchMmePacket>(Opcode::LAUNCH_MME, flags);
  p.descriptor_addr = descriptor;
  p.engines = engines;
  use_address(descriptor, sizeof(mme::Descriptor));
  return append(p);
}

uint64_t CommandBuffer::add_to_arena(const void* bytes, std::size_t size) {
  auto& arena = writable().arena;
  const uint64_t at = (arena.size() + 7) / 8 * 8;
  arena.resize(at + size);
  std::memcpy(arena.data() + at, bytes, size);
  return at;
}

CommandBuffer& CommandBuffer::launch_mme(const mme::Descriptor& descriptor, uint32_t engines, uint8_t flags) {
  const uint64_t at = add_to_arena(&descriptor, sizeof descriptor);
  // The extents its bound operands need; a descriptor whose spans overflow
  // is invalid, and the device says so when it reads it.
  mme::OperandSpans spans;
  if (mme::operand_spans(descriptor, &spans)) {
    use_address(descriptor.a_addr, spans.a);
    use_address(descriptor.b_addr, spans.b);
    use_address(descriptor.c_addr, spans.c);
    if (spans.bias) use_address(descriptor.bias_addr, spans.bias);
    if (spans.r) use_address(descriptor.r_addr, spans.r);
  }
  return launch_mme(packets::bound_address(packets::kArenaSlot, at), engines, flags);
}

CommandBuffer& CommandBuffer::launch_tpc(uint64_t kernel_id, uint64_t args, uint32_t cores, uint8_t flags) {
  auto p = packets::make_packet<packets::LaunchTpcPacket>(Opcode::LAUNCH_TPC, flags);
  p.kernel_id = kernel_id;
  p.args_addr = args;
  p.cores = cores;
  use_address(args, 8);
  return append(p);
}

CommandBuffer& CommandBuffer::launch_tpc(uint64_t kernel_id, const kernels::KernelArgs& args, uint32_t cores,
                                         uint8_t flags) {
  auto block = kernels::encode_kernel_args(args);
  if (!block.ok()) {
    if (writable().error.empty()) rec_->error = "launch_tpc: " + block.status().message();
    return *this;
  }
  const uint64_t at = add_to_arena(block->data(), block->size());
  for (int i = 0; i < args.num_tensors; ++i) {
    const kernels::TensorDesc& t = args.tensors[static_cast<std::size_t>(i)];
    if (!packets::is_bound_address(t.address)) continue;
    const kernels::TensorSpan span = kernels::tensor_span(t);
    if (span.before > packets::binding_offset(t.address)) {
      if (rec_->error.empty()) {
        rec_->error = "launch_tpc: tensor " + std::to_string(i) + " reaches before the start of binding slot " +
                      std::to_string(packets::binding_slot(t.address));
      }
      continue;
    }
    use_address(t.address - span.before, span.bytes);
  }
  auto p = packets::make_packet<packets::LaunchTpcPacket>(Opcode::LAUNCH_TPC, flags);
  p.kernel_id = kernel_id;
  p.args_addr = packets::bound_address(packets::kArenaSlot, at);
  p.cores = cores;
  return append(p);
}

CommandBuffer& CommandBuffer::signal_when_done(packets::SyncRef sync) {
  auto& out = writable().bytes;
  const auto op = last_packet_ < out.size() ? static_cast<Opcode>(out[last_packet_]) : Opcode::INVALID;
  if (!packets::is_engine_job(op)) {
    if (rec_->error.empty()) {
      rec_->error = "signal_when_done after " +
                    (op == Opcode::INVALID ? std::string("no packet") : std::string(packets::opcode_name(op))) +
                    ": only LIN_DMA, LAUNCH_MME and LAUNCH_TPC packets signal their completion";
    }
    return *this;
  }
  auto h = packets::decode_packet<packets::PacketHeader>(out.data() + last_packet_);
  h.flags |= packets::kSignalOnCompletion;
  h.completion_signal = sync;
  std::memcpy(out.data() + last_packet_, &h, sizeof h);
  use_sync(sync, /*signalled=*/true);
  return *this;
}

CommandBuffer& CommandBuffer::stop() {
  return append(packets::make_packet<packets::StopPacket>(Opcode::STOP, 0));
}

CommandBuffer& CommandBuffer::append_raw(std::span<const uint8_t> bytes) {
  auto& out = writable().bytes;
  last_packet_ = SIZE_MAX;
  out.insert(out.end(), bytes.begin(), bytes.end());
  return *this;
}

}  // namespace kiln::driver
