// Command buffers: packets recorded once on the host and submitted any
// number of times to a stream (kiln/driver/stream.h).
//
// Relocation. Any address a packet, MME descriptor or kernel argument block
// holds may be a binding, bound(slot, offset), instead of a device virtual
// address; each submission supplies a BindingTable (kiln/driver/bindings.h)
// naming the range every slot stands for, and the device resolves bindings
// as it executes. Sync objects may be bound too (bound_sync(slot)), with a
// base value the submission binds: a buffer that waits for "base + k" of a
// timeline replays without re-patching. Recording notes the extent each slot
// must cover (binding_uses()), so a submission checks only its table, in
// O(slots); the packets are validated once per buffer and device, and never
// re-encoded.
//
// The arena. launch_mme(const mme::Descriptor&) records the descriptor into
// the buffer's own arena, which the driver writes to device memory once per
// device, at the first submission there (functional even in timing-only
// mode), and binds at kArenaSlot on every submission.
//
// Labels. label({"layer3.matmul"}) names the model op(s) the packets
// recorded from then on implement, until the next label() (an empty list:
// unlabelled). The labels live beside the packets (kiln/traces/op_labels.h),
// never in them; every submission hands the device a shared pointer to them,
// and each engine job and command-processor wait the labelled packets start
// is traced with its packet's ops (docs/traces.md). A fused job lists every
// op it implements.
//
// Ownership: a CommandBuffer owns its recording. Submission shares it with
// the device without copying; recording after a submission is allowed and
// makes a private copy, so earlier submissions keep what they saw.
// Threading: thread-compatible. Recording from two threads at once needs
// external locking; submitting one buffer from several threads is safe.
// Errors: recording never fails; what is wrong (an out-of-range sync object,
// a privileged packet in a user buffer, a misplaced signal_when_done) is
// reported when it is submitted.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "kiln/common/mme_descriptor.h"
#include "kiln/common/packets.h"
#include "kiln/common/status.h"
#include "kiln/kernels/kernel_args.h"
#include "kiln/traces/op_labels.h"

namespace kiln::driver {

// Barrier bits recorded by default: each packet waits for the queue's earlier
// engine work and messages, so a buffer executes strictly in order. Pass 0 to
// let consecutive DMA jobs overlap.
constexpr uint8_t kOrdered = packets::kEngineBarrier | packets::kMessageBarrier;

// An address that stands for `offset` bytes into whatever a submission binds
// at `slot` (slot < packets::kArenaSlot).
constexpr uint64_t bound(uint32_t slot, uint64_t offset = 0) { return packets::bound_address(slot, offset); }
// A sync object a submission binds at `slot`, with a base.
constexpr packets::SyncRef bound_sync(uint32_t slot) { return packets::kSyncBindingBit | slot; }

// What one slot must be bound to for a recorded buffer.
struct BindingUse {
  uint32_t slot = 0;
  packets::Binding::Kind kind = packets::Binding::Kind::kMemory;
  uint64_t extent = 0;     // kMemory: bytes from the start of the bound range the buffer may touch
  bool signalled = false;  // kSync: the buffer adds to it (not only waits on it)
};

// The device counts packets are checked against (packets::PacketLimits).
using ValidationLimits = packets::PacketLimits;

class CommandBuffer {
 public:
  // What a recording is, shared by submissions; immutable once shared.
  struct Recording : std::enable_shared_from_this<Recording> {
    std::vector<uint8_t> bytes;
    std::vector<uint8_t> arena;      // descriptors, bound at kArenaSlot
    std::vector<BindingUse> uses;    // by slot
    std::size_t packets = 0;
    std::string error;               // the first misuse while recording
    traces::OpLabels labels;         // the model ops of the packets, by offset
    // Caches filled by submissions (guarded by `mutex`): validation per
    // device, and the arena's address per device.
    struct Validated {
      uint64_t device = 0;
      bool privileged = false;
      bool checked = false;  // false: submitted with validation skipped
      Status status;
    };
    struct ArenaCopy {
      uint64_t device = 0;
      uint64_t address = 0;
    };
    mutable std::mutex mutex;
    mutable std::vector<Validated> validated;
    mutable std::vector<ArenaCopy> arenas;
  };

  CommandBuffer() : rec_(std::make_shared<Recording>()) {}

  // A buffer made from a saved recording (kiln/driver/command_buffer_io.h,
  // which says what is checked): untrusted packets and arena, restored only
  // if relocatable, with its binding uses and packet count recomputed from
  // them; `declared_uses` only add to what they touch.
  static Result<CommandBuffer> from_recording(std::vector<uint8_t> bytes, std::vector<uint8_t> arena,
                                              std::span<const BindingUse> declared_uses = {});

  CommandBuffer& nop(uint8_t flags = kOrdered);
  // Linear copy of `size` bytes between device addresses (or bindings).
  CommandBuffer& copy(uint64_t dst, uint64_t src, uint64_t size, uint8_t flags = kOrdered);
  // Fills `size` bytes at dst with the 32-bit `pattern` repeated.
  CommandBuffer& memset(uint64_t dst, uint32_t pattern, uint64_t size, uint8_t flags = kOrdered);
  // Sets or adds to a sync object (or a bound one).
  CommandBuffer& signal(packets::SyncRef sync_object, packets::SyncOp op, int32_t value, uint8_t flags = kOrdered);
  // Writes a 4- or 8-byte word to a device address.
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
  // Waits until sync object `sync` (a packets::SyncRef) reaches `value`
  // (timeline comparison; relative to the binding's base for a bound ref).
  CommandBuffer& wait_sync(packets::SyncRef sync, uint32_t value, uint8_t flags = kOrdered);
  // Runs the MME job described by the kiln::mme::Descriptor at device
  // address `descriptor` (8-byte aligned). The descriptor is read when the
  // packet executes, so it must stay in place until then. The job holds
  // `engines` matrix engines (0 = all of the device's, as does a number above
  // what it has), so jobs asking for fewer can run side by side.
  CommandBuffer& launch_mme(uint64_t descriptor, uint32_t engines = 0, uint8_t flags = kOrdered);
  // Runs the MME job `descriptor` describes, recorded into the buffer's
  // arena; its operand addresses may be bindings.
  CommandBuffer& launch_mme(const mme::Descriptor& descriptor, uint32_t engines = 0, uint8_t flags = kOrdered);
  // Runs vector-core kernel `kernel_id` (kiln::kernels::kernel_id(name)) with
  // the kernel argument block at device address `args` (8-byte aligned; made
  // by kiln::kernels::encode_kernel_args, kiln/kernels/kernel_arg_block.h),
  // split over `cores` vector cores (0 = all). The block is read when the
  // packet executes, so it must stay in place until then.
  CommandBuffer& launch_tpc(uint64_t kernel_id, uint64_t args, uint32_t cores = 0, uint8_t flags = kOrdered);
  // Runs vector-core kernel `kernel_id` with `args` encoded into the buffer's
  // arena; its tensor addresses may be bindings.
  CommandBuffer& launch_tpc(uint64_t kernel_id, const kernels::KernelArgs& args, uint32_t cores = 0,
                            uint8_t flags = kOrdered);
  // Makes the packet just recorded (LIN_DMA, LAUNCH_MME or LAUNCH_TPC) add
  // 1 to `sync` when its own job completes, without waiting for the queue's
  // other work. After any other packet, the buffer is invalid (submit says so).
  CommandBuffer& signal_when_done(packets::SyncRef sync);
  // Privileged: only privileged submissions may carry it.
  CommandBuffer& write_register(uint32_t offset, uint32_t value, uint8_t flags = 0);
  CommandBuffer& stop();
  // Appends arbitrary bytes: for tests, fault injection and tools.
  CommandBuffer& append_raw(std::span<const uint8_t> bytes);
  // Labels the packets recorded from now on with the model ops they
  // implement: one op, or each op of a fused job ({"fc1", "bias", "gelu"}).
  // An empty list (or only empty names) leaves them unlabelled. Costs nothing
  // per packet and nothing per submission beyond a pointer copy.
  CommandBuffer& label(std::vector<std::string> ops);
  // Labels the packets from byte `offset` on (restoring a saved buffer's
  // labels; offsets in increasing order, within the recorded bytes). Fails
  // on an offset out of order or past the end.
  Status label_at(uint64_t offset, std::vector<std::string> ops);
  // Declares that the buffer may touch `extent` bytes of what `slot` is bound
  // to (for bound addresses inside blocks the buffer does not record itself,
  // such as argument blocks written by the caller).
  CommandBuffer& uses_binding(uint32_t slot, uint64_t extent);

  std::span<const uint8_t> bytes() const { return rec_->bytes; }
  std::size_t size_bytes() const { return rec_->bytes.size(); }
  std::size_t packet_count() const { return rec_->packets; }
  bool empty() const { return rec_->bytes.empty(); }
  std::span<const BindingUse> binding_uses() const { return rec_->uses; }
  std::span<const uint8_t> arena() const { return rec_->arena; }
  // What was wrong while recording (submit fails with it), or empty.
  const std::string& recording_error() const { return rec_->error; }

  const traces::OpLabels& labels() const { return rec_->labels; }
  // What submissions hand the device: the recording's labels, shared; null
  // when nothing is labelled.
  std::shared_ptr<const traces::OpLabels> shared_labels() const {
    if (rec_->labels.empty()) return nullptr;
    return std::shared_ptr<const traces::OpLabels>(rec_, &rec_->labels);
  }

  // The shared, immutable recording that submissions hand to the device.
  std::shared_ptr<const Recording> recording() const { return rec_; }
  std::shared_ptr<const std::vector<uint8_t>> image() const {
    return std::shared_ptr<const std::vector<uint8_t>>(rec_, &rec_->bytes);
  }

 private:
  template <typename P>
  CommandBuffer& append(const P& packet);
  Recording& writable();
  void use_address(uint64_t address, uint64_t size);
  // Appends `bytes` to the arena, 8-byte aligned; returns their offset.
  uint64_t add_to_arena(const void* bytes, std::size_t size);
  void use_sync(packets::SyncRef ref, bool signalled);
  void use(uint32_t slot, packets::Binding::Kind kind, uint64_t extent, bool signalled = false);

  std::shared_ptr<Recording> rec_;
  std::size_t last_packet_ = SIZE_MAX;  // offset of the last packet recorded
};

// What the driver checks before a submission reaches the device: every packet
// complete and 8-byte aligned, opcode known and executable, size matching the
// opcode, reserved bits clear, indices in range, no privileged packet unless
// `privileged`. The error names the packet's byte offset and opcode.
Status validate_command_buffer(std::span<const uint8_t> bytes, const ValidationLimits& limits,
                               bool privileged);

}  // namespace kiln::driver
