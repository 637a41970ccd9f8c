// Saving a command buffer's recording and restoring it, in another process
// or run: what the runtime's on-disk recipe cache stores.
//
//   std::string blob = save_command_buffer(cb).value();   // to a file
//   CommandBuffer again = restore_command_buffer(blob).value();
//   stream->submit(again, table);                          // like cb
//
// A saved buffer must be relocatable: every memory address a packet, an MME
// descriptor or a kernel argument block holds is a binding, every sync
// object a packet names is a bound one, descriptors and argument blocks live
// in the buffer's arena, and no packet arms a monitor (its sync object and
// monitor are absolute) or writes a register. Only such a buffer means the
// same thing in another process, and only its accesses can be bounded by
// what a submission binds. save_command_buffer refuses any other buffer, and
// one that recorded an error.
//
// A restored buffer is untrusted input (a file anyone may have written):
//   - restore checks every packet's structure (complete, known opcode, its
//     size, reserved bits clear, flags known) and the relocation rules
//     above, decoding each descriptor and argument block from the arena;
//   - its binding uses are recomputed from the packets and the arena, as
//     recording computes them, never taken from the blob (uses the blob
//     declares only add to them), so a submission checks its bindings
//     against what the buffer really touches; the packet count is recounted;
//   - it is a fresh recording: its first submission on each device runs the
//     full validation (validate_command_buffer, against that device's
//     counts) like any other buffer's, and every bound access is checked
//     against its bound range again by the device as it executes.
// So a forged blob can fail to restore, fail its submission, or fault, but
// cannot make the device touch memory outside what the submission binds.
//
// Errors name what is wrong ("restoring a command buffer: packet at offset
// 0x28 (LIN_DMA): destination 0x1000 is not a binding ..."). Pure functions:
// thread-safe.
//
// The format (kiln/proto/command_buffer.proto) is defined here and nowhere
// else: whatever else a recording comes to hold is saved by these two.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "kiln/common/status.h"
#include "kiln/driver/command_buffer.h"

namespace kiln::driver {

// The format version save_command_buffer writes and restore accepts.
inline constexpr uint32_t kSavedCommandBufferVersion = 1;

Result<std::string> save_command_buffer(const CommandBuffer& commands);
Result<CommandBuffer> restore_command_buffer(std::string_view saved);

}  // namespace kiln::driver
