#include "backing_store.h"

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <new>

namespace kiln::sim {

namespace {
const uint8_t* zero_frame() {
  static const auto* zeros = new uint8_t[BackingStore::kFrameBytes]();
  return zeros;
}
}  // namespace

BackingStore::BackingStore(uint64_t capacity_bytes)
    : capacity_(capacity_bytes), frames_((capacity_bytes + kFrameBytes - 1) / kFrameBytes) {
  if (frames_ > 0) {
    // Address space only: PROT_NONE and MAP_NORESERVE take no memory and no
    // commit charge; one frame more than needed, so base_ can be aligned for
    // huge pages.
    mapping_bytes_ = (frames_ + 1) * kFrameBytes;
    void* raw = mmap(nullptr, mapping_bytes_, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw == MAP_FAILED) throw std::bad_alloc();
    mapping_ = static_cast<uint8_t*>(raw);
    const auto start = reinterpret_cast<uintptr_t>(raw);
    base_ = reinterpret_cast<uint8_t*>((start + kFrameBytes - 1) & ~(uintptr_t{kFrameBytes} - 1));
    madvise(base_, frames_ * kFrameBytes, MADV_HUGEPAGE);
  }
  resident_ = std::make_unique<std::atomic<uint64_t>[]>((frames_ + 63) / 64);
}

BackingStore::~BackingStore() {
  if (mapping_) munmap(mapping_, mapping_bytes_);
}

void BackingStore::make_resident(uint64_t frame) {
  std::lock_guard lock(grow_);
  if (resident(frame)) return;  // another thread made it meanwhile
  if (mprotect(base_ + frame * kFrameBytes, kFrameBytes, PROT_READ | PROT_WRITE) != 0) throw std::bad_alloc();
  resident_[frame / 64].fetch_or(uint64_t{1} << (frame % 64), std::memory_order_release);
}

void BackingStore::release(uint64_t frame) {
  // Its pages go back to the system and read as zero; inaccessible until
  // written again, as an untouched frame is.
  uint8_t* at = base_ + frame * kFrameBytes;
  madvise(at, kFrameBytes, MADV_DONTNEED);
  mprotect(at, kFrameBytes, PROT_NONE);
  resident_[frame / 64].fetch_and(~(uint64_t{1} << (frame % 64)), std::memory_order_release);
}

uint8_t* BackingStore::resident_pointer(uint64_t phys) const {
  const uint64_t frame = phys / kFrameBytes;
  return frame < frames_ && resident(frame) ? base_ + phys : nullptr;
}

uint8_t* BackingStore::resident_range(uint64_t phys, uint64_t size) const {
  if (size == 0 || phys >= capacity_ || size > capacity_ - phys) return nullptr;
  for (uint64_t f = phys / kFrameBytes, last = (phys + size - 1) / kFrameBytes; f <= last; ++f) {
    if (!resident(f)) return nullptr;
  }
  return base_ + phys;
}

std::pair<uint64_t, uint64_t> BackingStore::resident_run(uint64_t phys, uint64_t lo, uint64_t hi) const {
  hi = std::min(hi, capacity_);
  if (phys < lo || phys >= hi || !resident(phys / kFrameBytes)) return {phys, phys};
  uint64_t first = phys / kFrameBytes, last = first;  // frames [first, last]
  while (first > lo / kFrameBytes && resident(first - 1)) --first;
  while (last < (hi - 1) / kFrameBytes && resident(last + 1)) ++last;
  return {std::max(lo, first * kFrameBytes), std::min(hi, (last + 1) * kFrameBytes)};
}

uint8_t* BackingStore::frame_pointer(uint64_t phys, bool for_write) {
  const uint64_t frame = phys / kFrameBytes;
  if (frame >= frames_) throw std::bad_alloc();  // the MMU maps nothing past the capacity
  if (resident(frame)) return base_ + phys;
  // Reads of untouched memory see zeros without making it resident; callers
  // only read through the returned pointer when !for_write.
  if (!for_write) return const_cast<uint8_t*>(zero_frame()) + phys % kFrameBytes;
  make_resident(frame);
  return base_ + phys;
}

void BackingStore::read(uint64_t phys, void* dst, uint64_t size) {
  auto* out = static_cast<uint8_t*>(dst);
  while (size > 0) {
    const uint64_t n = std::min(size, frame_remaining(phys));
    std::memcpy(out, frame_pointer(phys, false), n);
    out += n;
    phys += n;
    size -= n;
  }
}

void BackingStore::write(uint64_t phys, const void* src, uint64_t size) {
  const auto* in = static_cast<const uint8_t*>(src);
  while (size > 0) {
    const uint64_t n = std::min(size, frame_remaining(phys));
    std::memcpy(frame_pointer(phys, true), in, n);
    in += n;
    phys += n;
    size -= n;
  }
}

void BackingStore::zero(uint64_t phys, uint64_t size) {
  if (size == 0 || phys >= capacity_) return;
  size = std::min(size, capacity_ - phys);
  const uint64_t end = phys + size;
  std::lock_guard lock(grow_);
  // Only resident frames hold anything: walk the bitmap a word (64 frames)
  // at a time, so clearing 64 GiB of untouched HBM is a short scan.
  const uint64_t first = phys / kFrameBytes, last = (end - 1) / kFrameBytes;
  for (uint64_t word = first / 64; word <= last / 64; ++word) {
    uint64_t bits = resident_[word].load(std::memory_order_acquire);
    while (bits != 0) {
      const uint64_t frame = word * 64 + static_cast<uint64_t>(std::countr_zero(bits));
      bits &= bits - 1;
      if (frame < first || frame > last) continue;
      const uint64_t start = frame * kFrameBytes;
      const uint64_t from = std::max(start, phys), to = std::min(start + kFrameBytes, end);
      if (to - from == kFrameBytes) {
        release(frame);
      } else {
        std::memset(base_ + from, 0, to - from);
      }
    }
  }
}

std::size_t BackingStore::resident_frames() const {
  std::size_t n = 0;
  for (uint64_t word = 0; word < (frames_ + 63) / 64; ++word) {
    n += static_cast<std::size_t>(std::popcount(resident_[word].load(std::memory_order_acquire)));
  }
  return n;
}

}  // namespace kiln::sim
