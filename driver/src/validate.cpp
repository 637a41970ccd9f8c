// Submit-time validation of user command buffers. Errors recognisable at
// enqueue time are returned here, before the device sees anything; the
// legality of each packet is packets::check_packet, the same check the
// device's decoder makes.
#include <cstdio>
#include <string>

#include "kiln/driver/command_buffer.h"

namespace kiln::driver {

using packets::Opcode;

Status validate_command_buffer(std::span<const uint8_t> bytes, const ValidationLimits& limits, bool privileged) {
  if (bytes.empty()) return invalid_argument("command buffer rejected: it is empty");
  uint64_t offset = 0;
  while (offset < bytes.size()) {
    std::size_t size = 0;
    const auto problem =
        packets::check_packet(bytes.data() + offset, bytes.size() - offset, limits, privileged, &size);
    if (problem) {
      char where[64];
      std::snprintf(where, sizeof where, "packet at offset 0x%llx", static_cast<unsigned long long>(offset));
      std::string m = std::string("command buffer rejected: ") + where;
      if (bytes.size() - offset >= sizeof(packets::PacketHeader) &&
          problem->kind != packets::PacketProblem::kInvalidOpcode) {
        m += " (";
        m += packets::opcode_name(static_cast<Opcode>(bytes[offset]));
        m += ")";
      }
      return invalid_argument(m + ": " + problem->what);
    }
    if (static_cast<Opcode>(bytes[offset]) == Opcode::STOP) break;
    offset += size;
  }
  return {};
}

}  // namespace kiln::driver
