// The command-packet format: the one definition shared by the driver's encoder
// and the simulator's decoder. docs/packets.md documents every field.
//
// A command buffer is a sequence of packets, each starting with an 8-byte
// PacketHeader and 8-byte aligned. `size_bytes` is the whole packet including
// its header, so a decoder can check it against the opcode's fixed size and
// find the next packet; a packet it cannot execute is an error, never skipped.
// All fields are little-endian. Structs are packed and must be read with
// memcpy (decode_packet) rather than by casting an unaligned pointer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::packets {

enum class Opcode : uint8_t {
  INVALID = 0,      // never valid; zero-filled memory decodes to a fault
  NOP = 1,          // does nothing (but honours its barrier bits)
  LIN_DMA = 2,      // linear copy or memset through a DMA engine
  MSG_SHORT = 3,    // set or add a sync object
  MSG_LONG = 4,     // write a 32- or 64-bit word to device memory
  MONITOR_ARM = 5,  // arm a one-shot sync-manager monitor
  FENCE = 6,        // wait until a fence counter of this queue reaches a target
  WREG32 = 7,       // write a device register (privileged)
  STOP = 8,         // end of this command buffer; later bytes are ignored
  LAUNCH_MME = 9,   // run the MME job described in device memory (mme_descriptor.h)
  LAUNCH_TPC = 10,  // run a registered vector-core kernel over its index space
  WAIT_SYNC = 11,   // wait until a sync object reaches a (timeline) value
  MAX_COUNT
};

std::string_view opcode_name(Opcode op);

// Header flag bits.
enum HeaderFlags : uint8_t {
  // Before this packet executes, every engine job this queue dispatched earlier
  // has completed.
  kEngineBarrier = 1u << 0,
  // Before this packet executes, every message (MSG_SHORT, MSG_LONG and
  // MONITOR_ARM, which all travel to the sync manager or memory) this
  // queue posted earlier has landed.
  kMessageBarrier = 1u << 1,
  // When this packet's own engine job completes (LIN_DMA, LAUNCH_MME,
  // LAUNCH_TPC only), add 1 to the sync object named by the header's
  // `completion_signal` (a SyncRef). Unrelated jobs of the queue do not wait.
  kSignalOnCompletion = 1u << 2,
  kKnownHeaderFlags = kEngineBarrier | kMessageBarrier | kSignalOnCompletion,
};

// A reference to a sync object inside a packet: its index, or, with
// kSyncBindingBit set, a slot of the submission's binding table whose entry
// names the sync object and a base value (timeline semantics: a buffer
// recorded once waits for "base + k", the base bound at each submission).
using SyncRef = uint32_t;
constexpr SyncRef kSyncBindingBit = 1u << 31;
constexpr bool is_bound(SyncRef ref) { return (ref & kSyncBindingBit) != 0; }
constexpr uint32_t sync_ref_index(SyncRef ref) { return ref & ~kSyncBindingBit; }

// A device address inside a packet, an MME descriptor or a kernel argument
// block: a virtual address, or, with kAddressBindingBit set, an offset into
// the range a binding slot of the submission names (bits 48..62 the slot,
// bits 0..47 the offset). Adding to a bound address moves its offset, so
// bound addresses take part in address arithmetic like plain ones. One
// recorded buffer then serves every submission: each supplies its table.
constexpr uint64_t kAddressBindingBit = 1ull << 63;
constexpr unsigned kBindingSlotShift = 48;
constexpr uint32_t kMaxBindingSlots = 1u << 15;
constexpr uint64_t kBindingOffsetMask = (1ull << kBindingSlotShift) - 1;
// The last slot is the command buffer's own arena (descriptors and argument
// blocks recorded into it); the driver binds it.
constexpr uint32_t kArenaSlot = kMaxBindingSlots - 1;
constexpr uint64_t bound_address(uint32_t slot, uint64_t offset) {
  return kAddressBindingBit | (static_cast<uint64_t>(slot % kMaxBindingSlots) << kBindingSlotShift) |
         (offset & kBindingOffsetMask);
}
constexpr bool is_bound_address(uint64_t address) { return (address & kAddressBindingBit) != 0; }
constexpr uint32_t binding_slot(uint64_t address) {
  return static_cast<uint32_t>((address >> kBindingSlotShift) % kMaxBindingSlots);
}
constexpr uint64_t binding_offset(uint64_t address) { return address & kBindingOffsetMask; }

// One entry of a submission's binding table.
struct Binding {
  enum class Kind : uint8_t { kEmpty, kMemory, kSync };
  Kind kind = Kind::kEmpty;
  uint64_t address = 0;      // kMemory: device virtual address of the range
  uint64_t size = 0;         // kMemory: its bytes
  uint32_t sync_object = 0;  // kSync: the sync object
  uint32_t base = 0;         // kSync: what a wait's value is relative to
};

// A submission's binding table: its slots, and the command buffer's arena
// (slot kArenaSlot), kept apart so the table stays as short as the slots used.
struct BindingSet {
  std::vector<Binding> slots;
  Binding arena;
  const Binding* find(uint32_t slot) const {
    if (slot == kArenaSlot) return &arena;
    return slot < slots.size() ? &slots[slot] : nullptr;
  }
};

// Resolves `address` for an access of `size` bytes: itself if unbound, else
// the bound range's address plus the offset. Returns what is wrong (an
// empty or sync slot, or an access outside the bound range) instead.
// `bindings` may be null (a submission without a table).
std::optional<std::string> resolve_address(uint64_t address, uint64_t size, const BindingSet* bindings,
                                           uint64_t* resolved);

// Timeline comparison: value has reached target, counting modulo 2^32 (valid
// while the two are less than 2^31 apart).
constexpr bool sync_reached(uint32_t value, uint32_t target) {
  return static_cast<int32_t>(value - target) >= 0;
}

constexpr std::size_t kPacketAlignment = 8;

#pragma pack(push, 1)

struct PacketHeader {
  uint8_t opcode;      // Opcode
  uint8_t flags;       // HeaderFlags
  uint16_t size_bytes; // whole packet, header included; multiple of 8
  uint32_t completion_signal;  // SyncRef with kSignalOnCompletion; otherwise zero
};
static_assert(sizeof(PacketHeader) == 8);

struct NopPacket {
  PacketHeader header;
};
static_assert(sizeof(NopPacket) == 8);

enum LinDmaFlags : uint32_t {
  kDmaMemset = 1u << 0,  // fill dst with the 32-bit `pattern`; src is ignored
  kKnownDmaFlags = kDmaMemset,
};

struct LinDmaPacket {
  PacketHeader header;
  uint64_t src_addr;   // device virtual address (ignored for memset)
  uint64_t dst_addr;   // device virtual address
  uint64_t size_bytes; // bytes to copy or fill; may be zero
  uint32_t dma_flags;  // LinDmaFlags
  uint32_t pattern;    // memset pattern, repeated little-endian; the tail is truncated
};
static_assert(sizeof(LinDmaPacket) == 40);

enum class SyncOp : uint8_t { SET = 0, ADD = 1 };

struct MsgShortPacket {
  PacketHeader header;
  uint32_t sync_object; // sync object index
  uint8_t op;           // SyncOp
  uint8_t reserved[3];
  int32_t value;        // new value (SET) or increment (ADD, may be negative)
  uint32_t reserved2;
};
static_assert(sizeof(MsgShortPacket) == 24);

struct MsgLongPacket {
  PacketHeader header;
  uint64_t addr;        // device virtual address, aligned to width
  uint64_t value;
  uint32_t width_bytes; // 4 or 8
  uint32_t reserved;
};
static_assert(sizeof(MsgLongPacket) == 32);

enum class MonitorCondition : uint8_t { GREATER_EQUAL = 0, EQUAL = 1 };
enum class MonitorPayload : uint8_t {
  FENCE = 0,   // add payload_value to fence counter `fence_id` of queue `target_queue`
  MEMORY = 1,  // write payload_value (32-bit) to device virtual address payload_addr
};

struct MonitorArmPacket {
  PacketHeader header;
  uint32_t monitor;        // monitor index
  uint32_t sync_object;    // watched sync object
  int32_t threshold;       // compared with the sync object's value
  uint8_t condition;       // MonitorCondition
  uint8_t payload_kind;    // MonitorPayload
  uint16_t target_queue;   // FENCE payload: queue whose fence counter is written
  uint32_t fence_id;       // FENCE payload: which fence counter of that queue
  uint32_t payload_value;  // added to the fence counter, or written to memory
  uint64_t payload_addr;   // MEMORY payload: device virtual address
};
static_assert(sizeof(MonitorArmPacket) == 40);
static_assert(offsetof(MonitorArmPacket, payload_addr) % 8 == 0);  // every field naturally aligned

struct FencePacket {
  PacketHeader header;
  uint32_t fence_id;  // fence counter of the executing queue
  uint32_t target;    // wait until counter >= target, then subtract target
};
static_assert(sizeof(FencePacket) == 16);

// Waits until sync object `sync` reaches target = base + value (timeline
// comparison, sync_reached), where base is its binding's base for a bound
// reference and 0 for an index. The fence watchdog applies.
struct WaitSyncPacket {
  PacketHeader header;
  uint32_t sync;   // SyncRef
  uint32_t value;  // relative to the binding's base
};
static_assert(sizeof(WaitSyncPacket) == 16);

struct Wreg32Packet {
  PacketHeader header;
  uint32_t reg_offset;  // register offset (see DeviceRegister)
  uint32_t value;
};
static_assert(sizeof(Wreg32Packet) == 16);

struct StopPacket {
  PacketHeader header;
};
static_assert(sizeof(StopPacket) == 8);

struct LaunchMmePacket {
  PacketHeader header;
  uint64_t descriptor_addr;  // device virtual address of a kiln::mme::Descriptor, 8-byte aligned
  uint32_t engines;          // matrix engines to split the job's folds over; 0 (or more than exist) = all
  uint32_t reserved;         // must be zero
};
static_assert(sizeof(LaunchMmePacket) == 24);

struct LaunchTpcPacket {
  PacketHeader header;
  uint64_t kernel_id;  // kiln::kernels::kernel_id(name): FNV-1a 64 of the kernel's name
  uint64_t args_addr;  // device virtual address of a kernel argument block (kiln/kernels/kernel_arg_block.h), 8-byte aligned
  uint32_t cores;      // vector cores to split the index space over; 0 = all of them
  uint32_t reserved;   // must be zero
};
static_assert(sizeof(LaunchTpcPacket) == 32);

#pragma pack(pop)

// Device registers reachable by WREG32.
enum DeviceRegister : uint32_t {
  kRegWatchdogNs = 0x000,    // watchdog period in simulated ns (0 = config default)
  kRegScratchBase = 0x100,   // 16 scratch registers, 4 bytes apart
  kRegScratchCount = 16,
};

// Packets a user command buffer may not contain (the driver rejects them at
// submit time; the kernel-mode path may use them).
constexpr bool is_privileged(Opcode op) { return op == Opcode::WREG32; }

// Packets whose engine job may signal its own completion.
constexpr bool is_engine_job(Opcode op) {
  return op == Opcode::LIN_DMA || op == Opcode::LAUNCH_MME || op == Opcode::LAUNCH_TPC;
}

// Sync objects 0 .. queues-1 are the queues' retirement counters: the
// command processor of queue q sets sync object q to the low 32 bits of each
// submission's sequence number as it retires. Packets may wait on them and
// monitors watch them, but only the command processors write them.
constexpr bool is_retirement_counter(uint32_t sync_object, uint32_t queues) { return sync_object < queues; }

// Size every packet of `op` must have, or 0 for INVALID/unknown opcodes.
constexpr std::size_t packet_size(Opcode op) {
  switch (op) {
    case Opcode::NOP: return sizeof(NopPacket);
    case Opcode::LIN_DMA: return sizeof(LinDmaPacket);
    case Opcode::MSG_SHORT: return sizeof(MsgShortPacket);
    case Opcode::MSG_LONG: return sizeof(MsgLongPacket);
    case Opcode::MONITOR_ARM: return sizeof(MonitorArmPacket);
    case Opcode::FENCE: return sizeof(FencePacket);
    case Opcode::WREG32: return sizeof(Wreg32Packet);
    case Opcode::STOP: return sizeof(StopPacket);
    case Opcode::LAUNCH_MME: return sizeof(LaunchMmePacket);
    case Opcode::LAUNCH_TPC: return sizeof(LaunchTpcPacket);
    case Opcode::WAIT_SYNC: return sizeof(WaitSyncPacket);
    default: return 0;  // INVALID, unknown
  }
}

// Copies a packet out of a byte stream; `bytes` must hold sizeof(P).
template <typename P>
P decode_packet(const uint8_t* bytes) {
  P p;
  std::memcpy(&p, bytes, sizeof(P));
  return p;
}

// True if every reserved field of the packet (header and body) is zero.
// `bytes` must hold packet_size(op) bytes.
bool reserved_fields_clear(Opcode op, const uint8_t* bytes);

// The device's counts a packet's fields are checked against.
struct PacketLimits {
  uint32_t sync_objects = 0;
  uint32_t monitors = 0;
  uint32_t queues = 0;
  uint32_t fence_counters = 0;
};

struct PacketProblem {
  enum Kind { kInvalidOpcode, kMalformed, kPrivileged } kind = kMalformed;
  std::string what;  // names the field and the value
};

// The one legality check of a packet, shared by the driver's submit-time
// validation and the command processor's decoder: a complete header, a known
// opcode, the opcode's size, clear reserved bits, no privileged packet unless
// `privileged`, every field with a fixed range in range (sync objects,
// monitors, queues, fence counters, flags, widths, alignment), and no packet
// writing a retirement counter. Bound references (bindings) are checked
// against the submission's binding table elsewhere. `bytes` holds the
// `left` bytes from the packet to the end of the buffer; on success
// `*size` is the packet's size.
std::optional<PacketProblem> check_packet(const uint8_t* bytes, std::size_t left, const PacketLimits& limits,
                                          bool privileged, std::size_t* size);

template <typename P>
P make_packet(Opcode op, uint8_t flags) {
  P p{};
  p.header.opcode = static_cast<uint8_t>(op);
  p.header.flags = flags;
  p.header.size_bytes = static_cast<uint16_t>(sizeof(P));
  return p;
}

}  // namespace kiln::packets
