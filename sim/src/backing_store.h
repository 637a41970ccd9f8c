// Functional contents of a device memory (HBM or SRAM): what copies really
// move. Sparse: storage is allocated a frame at a time on first write, so a
// 96 GB HBM costs host memory only for what a program touches; untouched
// bytes read as zero.
//
// Frames are 2 MiB anonymous mappings aligned to 2 MiB and advised as huge
// pages: the kernel hands them over zeroed, and one fault maps a whole frame
// where 4 KiB pages would take 512 (page faults dominated copy time before).
//
// Thread-safe: vector-core slices read and write it from TBB's threads.
// Frames never move once allocated, so returned pointers stay valid until a
// zero() releases their frame. Engines take pointers only for the length of
// one job on the simulation thread, and a memset job is one too, so no
// engine holds a pointer into a frame that zero() releases.
#pragma once

#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <unordered_map>

namespace kiln::sim {

class BackingStore {
 public:
  static constexpr uint64_t kFrameBytes = 2ull << 20;

  explicit BackingStore(uint64_t capacity_bytes) : capacity_(capacity_bytes) {}

  uint64_t capacity() const { return capacity_; }

  // A pointer to `phys` valid for the rest of its frame, allocating the frame
  // if `for_write`. For reads of an untouched frame, returns a zero page.
  uint8_t* frame_pointer(uint64_t phys, bool for_write);
  // A pointer to `phys` valid for the rest of its frame if that frame is
  // resident, else null (nothing is allocated).
  uint8_t* resident_pointer(uint64_t phys) const;
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

  std::size_t resident_frames() const {
    std::shared_lock lock(mutex_);
    return frames_.size();
  }

 private:
  struct FrameDeleter {
    void operator()(uint8_t* frame) const;
  };
  using Frame = std::unique_ptr<uint8_t, FrameDeleter>;
  static Frame allocate_frame();

  uint64_t capacity_;
  mutable std::shared_mutex mutex_;
  std::unordered_map<uint64_t, Frame> frames_;
};

}  // namespace kiln::sim
