// Functional contents of a device memory (HBM or SRAM): what copies really
// move. Sparse: the store reserves host address space for the whole
// capacity up front (no memory, no commit charge: PROT_NONE) and makes it
// usable a frame at a time on first write, so a 96 GB HBM costs host memory
// only for what a program touches; untouched bytes read as zero.
//
// One reservation, so device-physically contiguous bytes are host-contiguous
// too: an engine can read a resident multi-MB operand in place
// (resident_range) instead of copying it frame by frame.
//
// Frames are 2 MiB, aligned to 2 MiB and advised as huge pages: the kernel
// hands them over zeroed, and one fault maps a whole frame where 4 KiB pages
// would take 512 (page faults dominated copy time before).
//
// Thread-safe: vector-core slices read and write it from TBB's threads.
// Addresses never move; a zero() that releases a frame makes its pages read
// as zero again (and inaccessible until the next write makes it resident).
// Engines take pointers only for the length of one job on the simulation
// thread, and a memset job is one too, so no engine holds a pointer into a
// frame that zero() releases.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>

namespace kiln::sim {

class BackingStore {
 public:
  static constexpr uint64_t kFrameBytes = 2ull << 20;

  // Throws std::bad_alloc if the host cannot reserve `capacity_bytes` of
  // address space (SimDevice::create reports it as out of memory).
  explicit BackingStore(uint64_t capacity_bytes);
  ~BackingStore();
  BackingStore(const BackingStore&) = delete;
  BackingStore& operator=(const BackingStore&) = delete;

  uint64_t capacity() const { return capacity_; }

  // A pointer to `phys` valid for the rest of its frame, making the frame
  // resident if `for_write`. For reads of an untouched frame, returns a zero
  // page. Throws std::bad_alloc if the host cannot back a new frame.
  uint8_t* frame_pointer(uint64_t phys, bool for_write);
  // A pointer to `phys` valid for the rest of its frame if that frame is
  // resident, else null (nothing is allocated).
  uint8_t* resident_pointer(uint64_t phys) const;
  // [phys, phys + size) as one host range if every frame it touches is
  // resident, else null: for reading (or rewriting) it in place.
  uint8_t* resident_range(uint64_t phys, uint64_t size) const;
  // The largest range within [lo, hi) around `phys` whose frames are all
  // resident, as [first, last); empty (first == last) if phys's is not.
  std::pair<uint64_t, uint64_t> resident_run(uint64_t phys, uint64_t lo, uint64_t hi) const;
  // Bytes from `phys` to the end of its frame.
  static uint64_t frame_remaining(uint64_t phys) { return kFrameBytes - phys % kFrameBytes; }

  void read(uint64_t phys, void* dst, uint64_t size);
  void write(uint64_t phys, const void* src, uint64_t size);
  // Makes [phys, phys+size) read as zero without making it resident: frames
  // the range covers completely are released (an untouched frame reads as
  // zero), untouched ones stay untouched, and only the resident frames at
  // its two ends are written. Afterwards no more frames are resident than
  // before, so clearing 64 GiB of HBM costs no host memory.
  void zero(uint64_t phys, uint64_t size);

  std::size_t resident_frames() const;

 private:
  bool resident(uint64_t frame) const {
    return (resident_[frame / 64].load(std::memory_order_acquire) >> (frame % 64)) & 1;
  }
  void make_resident(uint64_t frame);
  void release(uint64_t frame);

  uint64_t capacity_;
  uint64_t frames_;
  uint8_t* mapping_ = nullptr;  // the reservation, over-sized to align base_
  uint64_t mapping_bytes_ = 0;
  uint8_t* base_ = nullptr;     // physical address 0, frame-aligned
  // One bit per frame: resident (readable and writable, counted). Set under
  // grow_ after the frame is made accessible; read without the lock.
  std::unique_ptr<std::atomic<uint64_t>[]> resident_;
  std::mutex grow_;
};

}  // namespace kiln::sim
