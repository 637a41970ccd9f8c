#include "backing_store.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <new>
#include <vector>

namespace kiln::sim {

namespace {
const uint8_t* zero_frame() {
  static const auto* zeros = new uint8_t[BackingStore::kFrameBytes]();
  return zeros;
}
}  // namespace

void BackingStore::FrameDeleter::operator()(uint8_t* frame) const { munmap(frame, kFrameBytes); }

BackingStore::Frame BackingStore::allocate_frame() {
  // Over-map by a frame, then trim to a frame-aligned window, so the frame
  // can be backed by one huge page.
  const std::size_t span = 2 * kFrameBytes;
  void* raw = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  const auto start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (start + kFrameBytes - 1) & ~(uintptr_t{kFrameBytes} - 1);
  if (aligned > start) munmap(raw, aligned - start);
  const uintptr_t tail = aligned + kFrameBytes;
  if (start + span > tail) munmap(reinterpret_cast<void*>(tail), start + span - tail);
  madvise(reinterpret_cast<void*>(aligned), kFrameBytes, MADV_HUGEPAGE);
  return Frame(reinterpret_cast<uint8_t*>(aligned));
}

uint8_t* BackingStore::resident_pointer(uint64_t phys) const {
  std::shared_lock lock(mutex_);
  auto it = frames_.find(phys / kFrameBytes);
  return it == frames_.end() ? nullptr : it->second.get() + phys % kFrameBytes;
}

uint8_t* BackingStore::frame_pointer(uint64_t phys, bool for_write) {
  const uint64_t frame = phys / kFrameBytes;
  {
    std::shared_lock lock(mutex_);
    auto it = frames_.find(frame);
    if (it != frames_.end()) return it->second.get() + phys % kFrameBytes;
  }
  // Reads of untouched memory see zeros without allocating; callers only
  // read through the returned pointer when !for_write.
  if (!for_write) return const_cast<uint8_t*>(zero_frame()) + phys % kFrameBytes;
  std::unique_lock lock(mutex_);
  auto it = frames_.find(frame);  // another thread may have made it meanwhile
  if (it == frames_.end()) it = frames_.emplace(frame, allocate_frame()).first;
  return it->second.get() + phys % kFrameBytes;
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
  std::vector<Frame> released;  // unmapped once the lock is dropped
  std::unique_lock lock(mutex_);
  // Walk whichever is shorter: the range's frames or the resident ones.
  if (size / kFrameBytes > frames_.size()) {
    const uint64_t end = phys + size;
    for (auto it = frames_.begin(); it != frames_.end();) {
      const uint64_t start = it->first * kFrameBytes;
      const uint64_t from = std::max(start, phys);
      const uint64_t to = std::min(start + kFrameBytes, end);
      if (from >= to) {
        ++it;
      } else if (to - from == kFrameBytes) {
        released.push_back(std::move(it->second));
        it = frames_.erase(it);
      } else {
        std::memset(it->second.get() + (from - start), 0, to - from);
        ++it;
      }
    }
  } else {
    while (size > 0) {
      const uint64_t n = std::min(size, frame_remaining(phys));
      auto it = frames_.find(phys / kFrameBytes);
      if (it != frames_.end()) {
        if (n == kFrameBytes) {
          released.push_back(std::move(it->second));
          frames_.erase(it);
        } else {
          std::memset(it->second.get() + phys % kFrameBytes, 0, n);
        }
      }
      phys += n;
      size -= n;
    }
  }
  lock.unlock();
}

}  // namespace kiln::sim
