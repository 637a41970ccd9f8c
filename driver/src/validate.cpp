// Submit-time validation of user command buffers. Errors recognisable at
// enqueue time are returned here, before the device sees anything.
#include <cstdio>
#include <string>

#include "kiln/driver/command_buffer.h"

namespace kiln::driver {

using packets::Opcode;

namespace {

Status reject(uint64_t offset, std::string_view what, const std::string& why) {
  char where[64];
  std::snprintf(where, sizeof where, "packet at offset 0x%llx", static_cast<unsigned long long>(offset));
  std::string m = "command buffer rejected: ";
  m += where;
  if (!what.empty()) {
    m += " (";
    m += what;
    m += ")";
  }
  m += ": ";
  m += why;
  return invalid_argument(std::move(m));
}

std::string range(uint64_t value, uint64_t limit, std::string_view noun) {
  return std::string(noun) + " " + std::to_string(value) + " is out of range (device has " +
         std::to_string(limit) + ")";
}

Status check_fields(Opcode op, const uint8_t* bytes, uint64_t offset, const ValidationLimits& lim) {
  const auto name = packets::opcode_name(op);
  switch (op) {
    case Opcode::LIN_DMA: {
      const auto p = packets::decode_packet<packets::LinDmaPacket>(bytes);
      if (p.dma_flags & ~packets::kKnownDmaFlags) return reject(offset, name, "unknown DMA flags");
      return {};
    }
    case Opcode::MSG_SHORT: {
      const auto p = packets::decode_packet<packets::MsgShortPacket>(bytes);
      if (p.sync_object >= lim.sync_objects) return reject(offset, name, range(p.sync_object, lim.sync_objects, "sync object"));
      if (p.op > static_cast<uint8_t>(packets::SyncOp::ADD)) return reject(offset, name, "unknown sync op " + std::to_string(p.op));
      return {};
    }
    case Opcode::MSG_LONG: {
      const auto p = packets::decode_packet<packets::MsgLongPacket>(bytes);
      if (p.width_bytes != 4 && p.width_bytes != 8) return reject(offset, name, "width must be 4 or 8, got " + std::to_string(p.width_bytes));
      if (p.addr % p.width_bytes != 0) return reject(offset, name, "address is not aligned to its width");
      return {};
    }
    case Opcode::MONITOR_ARM: {
      const auto p = packets::decode_packet<packets::MonitorArmPacket>(bytes);
      if (p.monitor >= lim.monitors) return reject(offset, name, range(p.monitor, lim.monitors, "monitor"));
      if (p.sync_object >= lim.sync_objects) return reject(offset, name, range(p.sync_object, lim.sync_objects, "sync object"));
      if (p.condition > static_cast<uint8_t>(packets::MonitorCondition::EQUAL)) return reject(offset, name, "unknown condition");
      if (p.payload_kind > static_cast<uint8_t>(packets::MonitorPayload::MEMORY)) return reject(offset, name, "unknown payload kind");
      if (p.payload_kind == static_cast<uint8_t>(packets::MonitorPayload::MEMORY) && p.payload_addr % 4 != 0) {
        return reject(offset, name, "memory payload address is not 4-byte aligned");
      }
      if (p.payload_kind == static_cast<uint8_t>(packets::MonitorPayload::FENCE)) {
        if (p.target_queue >= lim.queues) return reject(offset, name, range(p.target_queue, lim.queues, "target queue"));
        if (p.fence_id >= lim.fence_counters) return reject(offset, name, range(p.fence_id, lim.fence_counters, "fence counter"));
      }
      return {};
    }
    case Opcode::LAUNCH_MME: {
      const auto p = packets::decode_packet<packets::LaunchMmePacket>(bytes);
      if (p.descriptor_addr % 8 != 0) return reject(offset, name, "descriptor address is not 8-byte aligned");
      return {};
    }
    case Opcode::LAUNCH_TPC: {
      const auto p = packets::decode_packet<packets::LaunchTpcPacket>(bytes);
      if (p.args_addr % 8 != 0) return reject(offset, name, "kernel arguments address is not 8-byte aligned");
      return {};
    }
    case Opcode::FENCE: {
      const auto p = packets::decode_packet<packets::FencePacket>(bytes);
      if (p.fence_id >= lim.fence_counters) return reject(offset, name, range(p.fence_id, lim.fence_counters, "fence counter"));
      return {};
    }
    default:
      return {};
  }
}

}  // namespace

Status validate_command_buffer(std::span<const uint8_t> bytes, const ValidationLimits& limits, bool privileged) {
  if (bytes.empty()) return invalid_argument("command buffer rejected: it is empty");
  uint64_t offset = 0;
  while (offset < bytes.size()) {
    const uint64_t left = bytes.size() - offset;
    if (left < sizeof(packets::PacketHeader)) {
      return reject(offset, "", "truncated: " + std::to_string(left) + " bytes left, a header needs 8");
    }
    const auto h = packets::decode_packet<packets::PacketHeader>(bytes.data() + offset);
    const auto op = static_cast<Opcode>(h.opcode);
    const std::size_t expected = packets::packet_size(op);
    if (expected == 0) {
      return reject(offset, "", "unknown opcode " + std::to_string(h.opcode));
    }
    const auto name = packets::opcode_name(op);
    if (h.size_bytes % packets::kPacketAlignment != 0) {
      return reject(offset, name, "size " + std::to_string(h.size_bytes) + " is not a multiple of 8 (misaligned)");
    }
    if (h.size_bytes != expected) {
      return reject(offset, name, "size " + std::to_string(h.size_bytes) + " but the opcode needs " + std::to_string(expected));
    }
    if (expected > left) {
      return reject(offset, name, "truncated: needs " + std::to_string(expected) + " bytes, " + std::to_string(left) + " left");
    }
    if (!packets::reserved_fields_clear(op, bytes.data() + offset)) {
      return reject(offset, name, "reserved bits are set");
    }
    if (packets::is_privileged(op) && !privileged) {
      return reject(offset, name, "privileged packet in a user command buffer");
    }
    KILN_RETURN_IF_ERROR(check_fields(op, bytes.data() + offset, offset, limits));
    if (op == Opcode::STOP) break;
    offset += expected;
  }
  return {};
}

}  // namespace kiln::driver
