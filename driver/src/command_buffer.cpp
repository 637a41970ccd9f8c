#include "kiln/driver/command_buffer.h"

#include <algorithm>
#include <cstring>

namespace kiln::driver {

using packets::Opcode;

std::vector<uint8_t>& CommandBuffer::writable() {
  // A submitted image may still be executing: copy on write.
  if (bytes_.use_count() > 1) bytes_ = std::make_shared<std::vector<uint8_t>>(*bytes_);
  return *bytes_;
}

template <typename P>
CommandBuffer& CommandBuffer::append(const P& packet) {
  auto& out = writable();
  const std::size_t at = out.size();
  out.resize(at + sizeof(P));
  std::memcpy(out.data() + at, &packet, sizeof(P));
  last_packet_ = at;
  ++packets_;
  return *this;
}

CommandBuffer& CommandBuffer::nop(uint8_t flags) {
  return append(packets::make_packet<packets::NopPacket>(Opcode::NOP, flags));
}

CommandBuffer& CommandBuffer::copy(uint64_t dst, uint64_t src, uint64_t size, uint8_t flags) {
  auto p = packets::make_packet<packets::LinDmaPacket>(Opcode::LIN_DMA, flags);
  p.src_addr = src;
  p.dst_addr = dst;
  p.size_bytes = size;
  return append(p);
}

CommandBuffer& CommandBuffer::memset(uint64_t dst, uint32_t pattern, uint64_t size, uint8_t flags) {
  auto p = packets::make_packet<packets::LinDmaPacket>(Opcode::LIN_DMA, flags);
  p.dst_addr = dst;
  p.size_bytes = size;
  p.dma_flags = packets::kDmaMemset;
  p.pattern = pattern;
  return append(p);
}

CommandBuffer& CommandBuffer::signal(uint32_t sync_object, packets::SyncOp op, int32_t value, uint8_t flags) {
  auto p = packets::make_packet<packets::MsgShortPacket>(Opcode::MSG_SHORT, flags);
  p.sync_object = sync_object;
  p.op = static_cast<uint8_t>(op);
  p.value = value;
  return append(p);
}

CommandBuffer& CommandBuffer::write_memory(uint64_t addr, uint64_t value, uint32_t width_bytes, uint8_t flags) {
  auto p = packets::make_packet<packets::MsgLongPacket>(Opcode::MSG_LONG, flags);
  p.addr = addr;
  p.value = value;
  p.width_bytes = width_bytes;
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
  return append(p);
}

CommandBuffer& CommandBuffer::fence(uint32_t fence_id, uint32_t target, uint8_t flags) {
  auto p = packets::make_packet<packets::FencePacket>(Opcode::FENCE, flags);
  p.fence_id = fence_id;
  p.target = target;
  return append(p);
}

CommandBuffer& CommandBuffer::write_register(uint32_t offset, uint32_t value, uint8_t flags) {
  auto p = packets::make_packet<packets::Wreg32Packet>(Opcode::WREG32, flags);
  p.reg_offset = offset;
  p.value = value;
  return append(p);
}

CommandBuffer& CommandBuffer::launch_mme(uint64_t descriptor, uint8_t flags) {
  auto p = packets::make_packet<packets::LaunchMmePacket>(Opcode::LAUNCH_MME, flags);
  p.descriptor_addr = descriptor;
  return append(p);
}

CommandBuffer& CommandBuffer::launch_tpc(uint64_t kernel_id, uint64_t args, uint32_t cores, uint8_t flags) {
  auto p = packets::make_packet<packets::LaunchTpcPacket>(Opcode::LAUNCH_TPC, flags);
  p.kernel_id = kernel_id;
  p.args_addr = args;
  p.cores = cores;
  return append(p);
}

CommandBuffer& CommandBuffer::wait_sync(packets::SyncRef sync, uint32_t value, uint8_t flags) {
  auto p = packets::make_packet<packets::WaitSyncPacket>(Opcode::WAIT_SYNC, flags);
  p.sync = sync;
  p.value = value;
  return append(p);
}

CommandBuffer& CommandBuffer::signal_when_done(packets::SyncRef sync) {
  auto& out = writable();
  const auto op = last_packet_ < out.size() ? static_cast<Opcode>(out[last_packet_]) : Opcode::INVALID;
  if (!packets::is_engine_job(op)) {
    if (recording_error_.empty()) {
      recording_error_ = "signal_when_done after " +
                         (op == Opcode::INVALID ? std::string("no packet") : std::string(packets::opcode_name(op))) +
                         ": only LIN_DMA, LAUNCH_MME and LAUNCH_TPC packets signal their completion";
    }
    return *this;
  }
  auto h = packets::decode_packet<packets::PacketHeader>(out.data() + last_packet_);
  h.flags |= packets::kSignalOnCompletion;
  h.completion_signal = sync;
  std::memcpy(out.data() + last_packet_, &h, sizeof h);
  return *this;
}

CommandBuffer& CommandBuffer::stop() {
  return append(packets::make_packet<packets::StopPacket>(Opcode::STOP, 0));
}

CommandBuffer& CommandBuffer::append_raw(std::span<const uint8_t> bytes) {
  auto& out = writable();
  last_packet_ = SIZE_MAX;
  out.insert(out.end(), bytes.begin(), bytes.end());
  return *this;
}

}  // namespace kiln::driver
