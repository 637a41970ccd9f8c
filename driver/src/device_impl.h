// The inside of a driver Device: its transport, host timeline, allocators,
// hardware-index pools and the bookkeeping its streams and events share.
//
// Thread-safe where the Device is: `mutex` guards the allocators, pools,
// mappings and stream list; the transport and host timeline are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "host_timeline.h"
#include "kiln/common/device_config.h"
#include "kiln/driver/device.h"
#include "range_allocator.h"
#include "transport.h"

namespace kiln::driver {

// Device virtual address layout of a context. HBM and SRAM are mapped at a
// fixed offset from their physical address; pinned host memory gets
// addresses from an aperture of its own. Address 0 is never mapped.
constexpr uint64_t kHbmBase = 0x0000'1000'0000'0000ull;
constexpr uint64_t kSramBase = 0x0000'2000'0000'0000ull;
constexpr uint64_t kHostApertureBase = 0x0000'4000'0000'0000ull;
constexpr uint64_t kHostApertureBytes = 0x0000'1000'0000'0000ull;  // 16 TiB

// A pool of hardware indices (sync objects, monitors). Tracks which were
// ever handed out, since a reused sync object must be reset before use.
class IndexPool {
 public:
  // The first `reserved` indices are never handed out.
  explicit IndexPool(uint32_t count, uint32_t reserved = 0);
  std::optional<uint32_t> take(bool* was_dirty);
  bool give_back(uint32_t k);
  // Marks a taken index as on its way back (a deferred give_back); false if
  // it is not taken or already on its way.
  bool begin_release(uint32_t k);
  uint32_t size() const { return static_cast<uint32_t>(used_.size()); }

 private:
  std::vector<bool> used_;
  std::vector<bool> dirty_;
  std::vector<bool> releasing_;
  uint32_t next_ = 0;
};

struct Device::Impl {
  Impl(DeviceConfig config, const DeviceOptions& options);
  ~Impl();
  Status init();

  // Blocks the calling thread until `sequence` retired on `queue`. Its clock
  // moves to the retirement plus the wake-up cost (or on by a query's cost
  // if the work had retired by the time it asked); the call is recorded as
  // `name`. Returns the submission's fault, if it had one.
  Status wait_retired(uint32_t queue, uint64_t sequence, std::chrono::nanoseconds timeout, const char* name,
                      std::chrono::steady_clock::time_point wall_start);
  // Whether `sequence` had retired on `queue` by the calling thread's clock,
  // after the query's cost: the simulation first catches up to that time.
  bool query_retired(uint32_t queue, uint64_t sequence, std::chrono::steady_clock::time_point wall_start);

  const DeviceConfig config;
  DeviceOptions options;
  DeviceProperties properties;
  ValidationLimits limits;
  const std::shared_ptr<traces::TraceRecorder> trace;
  const std::chrono::steady_clock::time_point opened_at;
  const uint32_t context = 1;  // context 0 is the kernel's; user programs run in 1
  const uint64_t serial;       // tells devices apart in command buffers' caches
  std::unique_ptr<Transport> transport;
  std::unique_ptr<HostTimeline> host;

  mutable std::mutex mutex;
  std::unique_ptr<RangeAllocator> hbm, sram, host_va;
  std::unique_ptr<IndexPool> sync_objects, monitors;
  std::vector<bool> queue_taken;
  // Next sequence number per hardware queue: it keeps counting when a queue
  // passes from a destroyed stream to a new one.
  std::vector<uint64_t> queue_next_sequence;
  std::vector<std::unique_ptr<Stream>> streams;
  Stream* default_stream = nullptr;
  // Live allocations and pinned ranges by the device address the caller got.
  struct Mapping {
    uint64_t bytes;      // what the caller asked for: what a binding may name
    uint64_t mapped;     // bytes mapped from `address` (page-rounded device memory; exact host ranges)
    uint64_t physical;   // offset in HBM/SRAM, or the host pointer
    MemoryKind kind;
    uint64_t aperture = 0;        // host: the page-rounded aperture range the address lies in
    uint64_t aperture_bytes = 0;
    void* owned_host = nullptr;   // allocate_host memory to unmap once released
    uint64_t owned_bytes = 0;
  };
  std::map<uint64_t, Mapping> mappings;

  // Memory, sync objects and monitors freed while queued work may still use
  // them: released once every submission made before the free has retired
  // (by the simulated time of the thread that looks), so nothing the device
  // writes lands in a later allocation.
  struct PendingRelease {
    std::vector<uint64_t> after;  // per queue: the last submission made before the free (0: none)
    std::function<void()> release;
    MemoryKind kind = MemoryKind::kHbm;  // what it gives back (kHost: not device memory)
    uint64_t bytes = 0;
  };
  std::deque<PendingRelease> pending;  // guarded by `mutex`
  // Last submission made on each queue (what a free must wait for).
  std::unique_ptr<std::atomic<uint64_t>[]> queue_submitted;
  std::vector<uint64_t> submitted_snapshot() const;
  // Defers `release` until the work submitted so far has retired.
  void release_later(std::function<void()> release, MemoryKind kind, uint64_t bytes);
  // Releases what the calling thread's clock shows no queued work can touch;
  // with `wait`, first waits for the oldest pending release's work.
  void reclaim(bool wait);
  bool has_pending() const;
  // Command-buffer arenas written to this device, freed once their recording is gone.
  struct ArenaAllocation {
    std::weak_ptr<const CommandBuffer::Recording> recording;
    DeviceBuffer buffer;
  };
  std::vector<ArenaAllocation> arena_allocations;

  // Validates `rec` for this device once (cached in the recording); returns
  // whether this was its first submission here.
  Result<bool> validate_once(const CommandBuffer::Recording& rec, bool privileged, bool skip_validation);
  // The binding set a submission of `rec` with `table` hands the device:
  // every slot the buffer uses bound, of the right kind, mapped and large
  // enough; the arena (written to this device on first use) at kArenaSlot.
  // Null when the buffer uses no bindings.
  Result<std::shared_ptr<const packets::BindingSet>> bind(const CommandBuffer::Recording& rec,
                                                          const BindingTable& table);
  // Whether [address, address + size) lies inside the bytes of one live
  // allocation or pinned range.
  bool mapped(uint64_t address, uint64_t size) const;
  // Device memory without charging the host clock.
  Result<DeviceBuffer> allocate_device(uint64_t size, MemoryKind kind);
  Status free_device(const DeviceBuffer& buffer);

  Result<uint32_t> take_queue();
  // Pin/unpin without charging the host clock (callers charge their own cost).
  Result<HostBuffer> pin(void* data, uint64_t size);
  // Pinned user memory is unmapped once the work queued before now retired
  // (the caller may reuse it at once); allocate_host memory is released later.
  Status unpin(const HostBuffer& buffer, bool wait_for_queued_work = true);
  Status copy_host_sync(void* host_ptr, uint64_t device_addr, uint64_t size, bool to_device);
};

}  // namespace kiln::driver
