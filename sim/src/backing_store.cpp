#include "backing_store.h"

#include <algorithm>
#include <cstring>

namespace kiln::sim {

namespace {
const uint8_t* zero_frame() {
  static const auto* zeros = new uint8_t[BackingStore::kFrameBytes]();
  return zeros;
}
}  // namespace

uint8_t* BackingStore::frame_pointer(uint64_t phys, bool for_write) {
  const uint64_t frame = phys / kFrameBytes;
  auto it = frames_.find(frame);
  if (it == frames_.end()) {
    // Reads of untouched memory see zeros without allocating; callers only
    // read through the returned pointer when !for_write.
    if (!for_write) return const_cast<uint8_t*>(zero_frame()) + phys % kFrameBytes;
    it = frames_.emplace(frame, std::make_unique<uint8_t[]>(kFrameBytes)).first;
  }
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

}  // namespace kiln::sim
