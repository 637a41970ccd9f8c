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
    case Opcode::MAX_COUNT: break;
  }
  return "UNKNOWN";
}

bool reserved_fields_clear(Opcode op, const uint8_t* bytes) {
  const auto h = decode_packet<PacketHeader>(bytes);
  if (h.reserved != 0 || (h.flags & ~kKnownHeaderFlags) != 0) return false;
  switch (op) {
    case Opcode::MSG_SHORT: {
      const auto p = decode_packet<MsgShortPacket>(bytes);
      return p.reserved[0] == 0 && p.reserved[1] == 0 && p.reserved[2] == 0 && p.reserved2 == 0;
    }
    case Opcode::MSG_LONG:
      return decode_packet<MsgLongPacket>(bytes).reserved == 0;
    case Opcode::LAUNCH_TPC:
      return decode_packet<LaunchTpcPacket>(bytes).reserved == 0;
    default:
      return true;
  }
}

}  // namespace kiln::packets
