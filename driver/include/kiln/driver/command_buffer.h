// Command buffers: packets recorded once on the host and submitted any
// number of times to a stream (kiln/driver/stream.h).
//
// Ownership: a CommandBuffer owns its bytes. Submission shares them with the
// device without copying; recording after the first submission is allowed
// and makes a private copy, so earlier submissions keep what they saw.
// Threading: thread-compatible. Recording from two threads at once needs
// external locking; submitting one buffer from several threads is safe.
// Errors: recording never fails; what is wrong (an out-of-range sync object,
// a privileged packet in a user buffer) is reported when it is submitted.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "kiln/common/packets.h"
#include "kiln/common/status.h"

namespace kiln::driver {

// Barrier bits recorded by default: each packet waits for the queue's earlier
// engine work and messages, so a buffer executes strictly in order. Pass 0 to
// let consecutive DMA jobs overlap.
constexpr uint8_t kOrdered = packets::kEngineBarrier | packets::kMessageBarrier;

class CommandBuffer {
 public:
  CommandBuffer() : bytes_(std::make_shared<std::vector<uint8_t>>()) {}

  CommandBuffer& nop(uint8_t flags = kOrdered);
  // Linear copy of `size` bytes between device virtual addresses.
  CommandBuffer& copy(uint64_t dst, uint64_t src, uint64_t size, uint8_t flags = kOrdered);
  // Fills `size` bytes at dst with the 32-bit `pattern` repeated.
  CommandBuffer& memset(uint64_t dst, uint32_t pattern, uint64_t size, uint8_t flags = kOrdered);
  // Sets or adds to a sync object.
  CommandBuffer& signal(uint32_t sync_object, packets::SyncOp op, int32_t value, uint8_t flags = kOrdered);
  // Writes a 4- or 8-byte word to a device virtual address.
  CommandBuffer& write_memory(uint64_t addr, uint64_t value, uint32_t width_bytes = 4,
                              uint8_t flags = kOrdered);
  // Arms `monitor` to add `fence_value` to fence `fence_id` of `target_queue`
  // once `sync_object` >= threshold (or == with EQUAL).
  CommandBuffer& arm_monitor(uint32_t monitor, uint32_t sync_object, int32_t threshold,
                             uint32_t target_queue, uint32_t fence_id, uint32_t fence_value = 1,
                             packets::MonitorCondition condition = packets::MonitorCondition::GREATER_EQUAL,
                             uint8_t flags = kOrdered);
  // Arms `monitor` to write `value` to `addr` once the condition holds.
  CommandBuffer& arm_monitor_memory(uint32_t monitor, uint32_t sync_object, int32_t threshold,
                                    uint64_t addr, uint32_t value,
                                    packets::MonitorCondition condition = packets::MonitorCondition::GREATER_EQUAL,
                                    uint8_t flags = kOrdered);
  // Waits until this queue's fence counter `fence_id` reaches `target`, then
  // subtracts `target` from it.
  CommandBuffer& fence(uint32_t fence_id, uint32_t target, uint8_t flags = kOrdered);
  // Runs the MME job described by the kiln::mme::Descriptor at device
  // address `descriptor` (8-byte aligned). The descriptor is read when the
  // packet executes, so it must stay in place until then.
  CommandBuffer& launch_mme(uint64_t descriptor, uint8_t flags = kOrdered);
  // Runs vector-core kernel `kernel_id` (kiln::kernels::kernel_id(name)) with
  // the kernel argument block at device address `args` (8-byte aligned; made
  // by kiln::kernels::encode_kernel_args, kiln/kernels/kernel_arg_block.h),
  // split over `cores` vector cores (0 = all). The block is read when the
  // packet executes, so it must stay in place until then.
  CommandBuffer& launch_tpc(uint64_t kernel_id, uint64_t args, uint32_t cores = 0, uint8_t flags = kOrdered);
  // Waits until sync object `sync` (a packets::SyncRef) reaches `value`
  // (timeline comparison; relative to the binding's base for a bound ref).
  CommandBuffer& wait_sync(packets::SyncRef sync, uint32_t value, uint8_t flags = kOrdered);
  // Makes the packet just recorded (LIN_DMA, LAUNCH_MME or LAUNCH_TPC) add
  // 1 to `sync` when its own job completes, without waiting for the queue's
  // other work. Recording it after any other packet makes the buffer invalid
  // (submit rejects it).
  CommandBuffer& signal_when_done(packets::SyncRef sync);
  // Privileged: only privileged submissions may carry it.
  CommandBuffer& write_register(uint32_t offset, uint32_t value, uint8_t flags = 0);
  CommandBuffer& stop();
  // Appends arbitrary bytes: for tests, fault injection and tools.
  CommandBuffer& append_raw(std::span<const uint8_t> bytes);

  // What was wrong while recording (submit fails with it), or empty.
  const std::string& recording_error() const { return recording_error_; }

  std::span<const uint8_t> bytes() const { return *bytes_; }
  std::size_t size_bytes() const { return bytes_->size(); }
  std::size_t packet_count() const { return packets_; }
  bool empty() const { return bytes_->empty(); }

  // The shared, immutable image that submissions hand to the device.
  std::shared_ptr<const std::vector<uint8_t>> image() const { return bytes_; }

 private:
  template <typename P>
  CommandBuffer& append(const P& packet);
  std::vector<uint8_t>& writable();

  std::shared_ptr<std::vector<uint8_t>> bytes_;
  std::size_t packets_ = 0;
  std::size_t last_packet_ = SIZE_MAX;  // offset of the last packet recorded
  std::string recording_error_;         // the first misuse while recording
};

// The device counts packets are checked against (packets::PacketLimits).
using ValidationLimits = packets::PacketLimits;

// What the driver checks before a submission reaches the device: every packet
// complete and 8-byte aligned, opcode known and executable, size matching the
// opcode, reserved bits clear, indices in range, no privileged packet unless
// `privileged`. The error names the packet's byte offset and opcode.
Status validate_command_buffer(std::span<const uint8_t> bytes, const ValidationLimits& limits,
                               bool privileged);

}  // namespace kiln::driver
