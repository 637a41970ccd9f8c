// Fuzz target: the driver's submit-time command-buffer validator
// (kiln::driver::validate_command_buffer, which runs packets::check_packet
// on every packet) on arbitrary bytes, and packets::resolve_address, the
// binding arithmetic the device applies to every bound address.
//
// Input: byte 0 selects the mode (bit 0: a privileged submission; bit 1: the
// next 4 bytes are the device's counts -- sync objects, monitors, queues,
// fence counters -- instead of the tiny config's; bit 2: also read the rest
// as a binding table (44 bytes) and (address, size) pairs of 10 bytes, and
// resolve each pair); the rest is the command buffer.
//
// Beyond "no crash, no sanitizer report", it checks what callers rely on: an
// accepted buffer is a whole number of known, correctly sized packets up to
// its end or a STOP, with no privileged packet in a user buffer; a rejection
// names the packet's offset; a resolved binding lies inside its range.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>

#include "fuzz_input.h"
#include "kiln/common/packets.h"
#include "kiln/driver/command_buffer.h"

namespace {

using kiln::fuzz::ByteReader;
namespace packets = kiln::packets;

void fail(const char* what) {
  std::fprintf(stderr, "validator fuzz: %s\n", what);
  std::abort();
}

void check_accepted(std::span<const uint8_t> cb, const packets::PacketLimits& limits, bool privileged) {
  std::size_t offset = 0;
  while (offset < cb.size()) {
    if (cb.size() - offset < sizeof(packets::PacketHeader)) fail("accepted a truncated header");
    const auto h = packets::decode_packet<packets::PacketHeader>(cb.data() + offset);
    const auto op = static_cast<packets::Opcode>(h.opcode);
    const std::size_t size = packets::packet_size(op);
    if (size == 0) fail("accepted an unknown opcode");
    if (h.size_bytes != size || size > cb.size() - offset) fail("accepted a packet of the wrong size");
    if (packets::is_privileged(op) && !privileged) fail("accepted a privileged packet in a user buffer");
    if (!packets::reserved_fields_clear(op, cb.data() + offset)) fail("accepted set reserved bits");
    std::size_t checked = 0;
    if (packets::check_packet(cb.data() + offset, cb.size() - offset, limits, privileged, &checked) ||
        checked != size) {
      fail("accepted a packet check_packet refuses on its own");
    }
    if (op == packets::Opcode::STOP) return;
    offset += size;
  }
}

void check_resolve(ByteReader& in) {
  packets::BindingSet set;
  for (int i = 0; i < 4; ++i) {
    packets::Binding b;
    const uint8_t kind = in.u8();
    b.kind = static_cast<packets::Binding::Kind>(kind % 3);
    // Ranges of any position and size, but never wrapping past 2^64: the
    // driver binds only mapped ranges, which cannot wrap.
    b.address = in.u32() * uint64_t{4096};
    b.size = in.u32();
    b.sync_object = in.u16();
    i < 3 ? set.slots.push_back(b) : void(set.arena = b);
  }
  while (!in.rest().empty()) {
    const uint64_t address = in.u64();
    const uint64_t size = in.u16();
    uint64_t resolved = 0;
    if (packets::resolve_address(address, size, &set, &resolved)) continue;
    if (!packets::is_bound_address(address)) {
      if (resolved != address) fail("an unbound address changed");
      continue;
    }
    const packets::Binding* b = set.find(packets::binding_slot(address));
    if (b == nullptr || b->kind != packets::Binding::Kind::kMemory) fail("resolved through a non-memory slot");
    if (resolved < b->address || resolved - b->address > b->size || size > b->size - (resolved - b->address)) {
      fail("resolved outside the bound range");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  ByteReader in(std::span<const uint8_t>(data, size));
  const uint8_t mode = in.u8();
  const bool privileged = mode & 1;
  // The tiny config's counts unless the input picks its own (zero included).
  packets::PacketLimits limits{2048, 512, 8, 4};
  if (mode & 2) limits = {in.u8(), in.u8(), in.u8(), in.u8()};
  const std::span<const uint8_t> cb = in.rest();

  const kiln::Status s = kiln::driver::validate_command_buffer(cb, limits, privileged);
  if (s.ok()) {
    check_accepted(cb, limits, privileged);
  } else if (s.message().rfind("command buffer rejected: ", 0) != 0) {
    fail("a rejection that does not say so");
  } else if (!cb.empty() && s.message().find("packet at offset 0x") == std::string::npos) {
    fail("a rejection that names no offset");
  }

  if (mode & 4) check_resolve(in);
  return 0;
}
