#include "kiln/common/packets.h"

namespace kiln::packets {

std::string_view opcode_name(Opcode op) {
  switch (op) {
    case Opcode::INVALID: return "INVALID";
    case Opcode::NOP: return "NOP";
    case Opcode::LIN_DMA: return "LIN_DMA";
    case Opcode::MSG_SHORT: return "MSG_SHORT";
    case Opcode::MSG_LONG: return "MSG_LONG";
    case Opcode::MONITOR_ARM: return "MONITOR_ARM";
    case Opcode::FENCE: return "FENCE";
    case Opcode::WREG32: return "WREG32";
    case Opcode::STOP: return "STOP";
    case Opcode::LAUNCH_MME: return "LAUNCH_MME";
    case Opcode::LAUNCH_TPC: return "LAUNCH_TPC";
    case Opcode::WAIT_SYNC: return "WAIT_SYNC";
    case Opcode::MAX_COUNT: break;
  }
  return "UNKNOWN";
}

bool reserved_fields_clear(Opcode op, const uint8_t* bytes) {
  const auto h = decode_packet<PacketHeader>(bytes);
  if ((h.flags & ~kKnownHeaderFlags) != 0) return false;
  // The completion signal field is meaningful only with its flag, and only
  // on packets that start an engine job.
  if ((h.flags & kSignalOnCompletion) ? !is_engine_job(op) : h.completion_signal != 0) return false;
  switch (op) {
    case Opcode::MSG_SHORT: {
      const auto p = decode_packet<MsgShortPacket>(bytes);
      return p.reserved[0] == 0 && p.reserved[1] == 0 && p.reserved[2] == 0 && p.reserved2 == 0;
    }
    case Opcode::MSG_LONG:
      return decode_packet<MsgLongPacket>(bytes).reserved == 0;
    case Opcode::LAUNCH_TPC:
      return decode_packet<LaunchTpcPacket>(bytes).reserved == 0;
    case Opcode::LAUNCH_MME:
      return decode_packet<LaunchMmePacket>(bytes).reserved == 0;
    default:
      return true;
  }
}

namespace {

std::string range_text(uint64_t value, uint64_t limit, std::string_view noun) {
  return std::string(noun) + " " + std::to_string(value) + " is out of range (device has " + std::to_string(limit) + ")";
}

std::optional<PacketProblem> malformed(std::string what) { return PacketProblem{PacketProblem::kMalformed, std::move(what)}; }

// An unbound sync reference must name a sync object of the device.
std::optional<PacketProblem> check_sync_ref(SyncRef ref, const PacketLimits& lim, std::string_view field) {
  if (is_bound(ref)) return std::nullopt;
  if (ref >= lim.sync_objects) return malformed(std::string(field) + ": " + range_text(ref, lim.sync_objects, "sync object"));
  return std::nullopt;
}

std::optional<PacketProblem> check_signalled(SyncRef ref, const PacketLimits& lim, std::string_view field) {
  if (auto p = check_sync_ref(ref, lim, field)) return p;
  if (!is_bound(ref) && is_retirement_counter(ref, lim.queues)) {
    return malformed(std::string(field) + ": sync object " + std::to_string(ref) + " is queue " + std::to_string(ref) +
                     "'s retirement counter; only its command processor writes it");
  }
  return std::nullopt;
}

std::optional<PacketProblem> check_fields(Opcode op, const uint8_t* bytes, const PacketLimits& lim) {
  const auto h = decode_packet<PacketHeader>(bytes);
  if (h.flags & kSignalOnCompletion) {
    if (auto p = check_signalled(h.completion_signal, lim, "completion signal")) return p;
  }
  switch (op) {
    case Opcode::LIN_DMA: {
      const auto p = decode_packet<LinDmaPacket>(bytes);
      if (p.dma_flags & ~kKnownDmaFlags) return malformed("unknown DMA flags " + std::to_string(p.dma_flags));
      return std::nullopt;
    }
    case Opcode::MSG_SHORT: {
      const auto p = decode_packet<MsgShortPacket>(bytes);
      if (p.op > static_cast<uint8_t>(SyncOp::ADD)) return malformed("unknown sync op " + std::to_string(p.op));
      return check_signalled(p.sync_object, lim, "sync object");
    }
    case Opcode::MSG_LONG: {
      const auto p = decode_packet<MsgLongPacket>(bytes);
      if (p.width_bytes != 4 && p.width_bytes != 8) return malformed("width must be 4 or 8, got " + std::to_string(p.width_bytes));
      if (p.addr % p.width_bytes != 0) return malformed("address is not aligned to its width");
      return std::nullopt;
    }
    case Opcode::MONITOR_ARM: {
      const auto p = decode_packet<MonitorArmPacket>(bytes);
      if (p.monitor >= lim.monitors) return malformed(range_text(p.monitor, lim.monitors, "monitor"));
      if (p.sync_object >= lim.sync_objects) return malformed(range_text(p.sync_object, lim.sync_objects, "sync object"));
      if (p.condition > static_cast<uint8_t>(MonitorCondition::EQUAL)) return malformed("unknown condition " + std::to_string(p.condition));
      if (p.payload_kind > static_cast<uint8_t>(MonitorPayload::MEMORY)) return malformed("unknown payload kind " + std::to_string(p.payload_kind));
      if (p.payload_kind == static_cast<uint8_t>(MonitorPayload::MEMORY) && p.payload_addr % 4 != 0) {
        return malformed("memory payload address is not 4-byte aligned");
      }
      if (p.payload_kind == static_cast<uint8_t>(MonitorPayload::FENCE)) {
        if (p.target_queue >= lim.queues) return malformed(range_text(p.target_queue, lim.queues, "target queue"));
        if (p.fence_id >= lim.fence_counters) return malformed(range_text(p.fence_id, lim.fence_counters, "fence counter"));
      }
      return std::nullopt;
    }
    case Opcode::LAUNCH_MME: {
      const auto p = decode_packet<LaunchMmePacket>(bytes);
      if (p.descriptor_addr % 8 != 0) return malformed("descriptor address is not 8-byte aligned");
      return std::nullopt;
    }
    case Opcode::LAUNCH_TPC: {
      const auto p = decode_packet<LaunchTpcPacket>(bytes);
      if (p.args_addr % 8 != 0) return malformed("kernel arguments address is not 8-byte aligned");
      return std::nullopt;
    }
    case Opcode::FENCE: {
      const auto p = decode_packet<FencePacket>(bytes);
      if (p.fence_id >= lim.fence_counters) return malformed(range_text(p.fence_id, lim.fence_counters, "fence counter"));
      return std::nullopt;
    }
    case Opcode::WAIT_SYNC:
      return check_sync_ref(decode_packet<WaitSyncPacket>(bytes).sync, lim, "sync object");
    default:
      return std::nullopt;
  }
}

}  // namespace

std::optional<std::string> resolve_address(uint64_t address, uint64_t size, const BindingSet* bindings,
                                           uint64_t* resolved) {
  if (!is_bound_address(address)) {
    *resolved = address;
    return std::nullopt;
  }
  const uint32_t slot = binding_slot(address);
  const uint64_t offset = binding_offset(address);
  const Binding* found = bindings ? bindings->find(slot) : nullptr;
  if (found == nullptr || found->kind == Binding::Kind::kEmpty) {
    return "binding slot " + std::to_string(slot) + " is not bound by this submission";
  }
  const Binding& b = *found;
  if (b.kind != Binding::Kind::kMemory) return "binding slot " + std::to_string(slot) + " holds a sync object, not memory";
  if (offset > b.size || size > b.size - offset) {
    return "binding slot " + std::to_string(slot) + ": " + std::to_string(size) + " bytes at offset " +
           std::to_string(offset) + " fall outside its " + std::to_string(b.size) + "-byte range";
  }
  *resolved = b.address + offset;
  return std::nullopt;
}

std::optional<PacketProblem> check_packet(const uint8_t* bytes, std::size_t left, const PacketLimits& limits,
                                          bool privileged, std::size_t* size) {
  if (left < sizeof(PacketHeader)) {
    return malformed("truncated: " + std::to_string(left) + " bytes left, a header needs 8");
  }
  const auto h = decode_packet<PacketHeader>(bytes);
  const auto op = static_cast<Opcode>(h.opcode);
  const std::size_t expected = packet_size(op);
  if (expected == 0) return PacketProblem{PacketProblem::kInvalidOpcode, "unknown opcode " + std::to_string(h.opcode)};
  if (h.size_bytes % kPacketAlignment != 0) {
    return malformed("size " + std::to_string(h.size_bytes) + " is not a multiple of 8 (misaligned)");
  }
  if (h.size_bytes != expected) {
    return malformed("size " + std::to_string(h.size_bytes) + " but the opcode needs " + std::to_string(expected));
  }
  if (expected > left) {
    return malformed("truncated: needs " + std::to_string(expected) + " bytes, " + std::to_string(left) + " left");
  }
  if (!reserved_fields_clear(op, bytes)) return malformed("reserved bits are set");
  if (is_privileged(op) && !privileged) {
    return PacketProblem{PacketProblem::kPrivileged, "privileged packet in a user command buffer"};
  }
  if (auto p = check_fields(op, bytes, limits)) return p;
  *size = expected;
  return std::nullopt;
}

}  // namespace kiln::packets
