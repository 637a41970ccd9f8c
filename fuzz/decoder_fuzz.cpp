// Fuzz target: the device's command-processor decoder, with the driver's
// validation skipped (SubmitOptions::skip_validation), so the simulated
// device sees whatever bytes the input holds: every opcode's execution,
// barriers, fences and waits with the watchdog, messages, monitors, DMA,
// MME and TPC launches reading whatever memory the packets point to.
//
// Input: byte 0 (bit 0: a privileged submission, so WREG32 executes); a
// binding table (FuzzDevice::read_bindings), so bound addresses in the
// packets reach the fuzz buffers; the rest is the command buffer.
//
// Beyond "no crash, no sanitizer report, no hang" and the device staying
// usable (FuzzDevice::run), it checks the decoder against the validator,
// which share packets::check_packet: where the validator would reject a
// packet, the device faults there or earlier; a buffer the validator accepts
// never faults as an unknown opcode or a privileged packet.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <span>

#include "fuzz_device.h"
#include "kiln/common/packets.h"

namespace {

using kiln::FaultCause;
using kiln::fuzz::ByteReader;
using kiln::fuzz::FuzzDevice;
namespace packets = kiln::packets;

void fail(const std::string& what) {
  std::fprintf(stderr, "decoder fuzz: %s\n", what.c_str());
  std::abort();
}

// Offset of the first packet the validator refuses, as it walks (up to the
// end or a STOP); nullopt if it accepts the buffer.
std::optional<std::size_t> first_rejected(std::span<const uint8_t> cb, const packets::PacketLimits& limits,
                                          bool privileged) {
  std::size_t offset = 0;
  while (offset < cb.size()) {
    std::size_t size = 0;
    if (packets::check_packet(cb.data() + offset, cb.size() - offset, limits, privileged, &size)) return offset;
    if (cb[offset] == static_cast<uint8_t>(packets::Opcode::STOP)) break;
    offset += size;
  }
  return std::nullopt;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  FuzzDevice& fd = FuzzDevice::get();
  ByteReader in(std::span<const uint8_t>(data, size));
  const bool privileged = in.u8() & 1;
  const kiln::driver::BindingTable bindings = fd.read_bindings(in);
  const std::span<const uint8_t> bytes = in.rest();
  if (bytes.empty()) return 0;  // the driver refuses an empty buffer before the device sees it

  kiln::driver::CommandBuffer cb;
  cb.append_raw(bytes);
  auto info = fd.run(cb, bindings, {.skip_validation = true, .privileged = privileged});
  if (!info.ok()) fail("the driver refused a submission with validation skipped: " + info.status().message());

  const auto rejected = first_rejected(bytes, fd.device().validation_limits(), privileged);
  const auto& fault = info->fault;
  if (rejected) {
    if (!fault) fail("the device ran a packet the validator rejects, at offset " + std::to_string(*rejected));
    if (fault->packet_offset > *rejected) {
      fail("the device faulted past the packet the validator rejects: " + fault->describe());
    }
  } else if (fault && (fault->cause == FaultCause::kInvalidOpcode || fault->cause == FaultCause::kPrivilegedPacket)) {
    fail("the device refused a packet the validator accepts: " + fault->describe());
  }
  return 0;
}
