#include "range_allocator.h"

#include <algorithm>
#include <iterator>

namespace kiln::driver {

RangeAllocator::RangeAllocator(uint64_t base, uint64_t size, uint64_t granule)
    : granule_(granule), free_bytes_(size / granule * granule) {
  if (free_bytes_ > 0) free_[base] = free_bytes_;
}

std::optional<uint64_t> RangeAllocator::allocate(uint64_t size) {
  if (size == 0) size = 1;
  if (size > UINT64_MAX - granule_) return std::nullopt;
  const uint64_t want = round_up(size);
  for (auto it = free_.begin(); it != free_.end(); ++it) {
    if (it->second < want) continue;
    const uint64_t start = it->first;
    const uint64_t rest = it->second - want;
    free_.erase(it);
    if (rest > 0) free_[start + want] = rest;
    free_bytes_ -= want;
    return start;
  }
  return std::nullopt;
}

void RangeAllocator::release(uint64_t start, uint64_t size) {
  const uint64_t len = round_up(size == 0 ? 1 : size);
  free_bytes_ += len;
  auto [it, inserted] = free_.emplace(start, len);
  // Coalesce with the following and preceding blocks.
  auto next = std::next(it);
  if (next != free_.end() && it->first + it->second == next->first) {
    it->second += next->second;
    free_.erase(next);
  }
  if (it != free_.begin()) {
    auto prev = std::prev(it);
    if (prev->first + prev->second == it->first) {
      prev->second += it->second;
      free_.erase(it);
    }
  }
}

uint64_t RangeAllocator::largest_free_block() const {
  uint64_t best = 0;
  for (const auto& [start, size] : free_) best = std::max(best, size);
  return best;
}

}  // namespace kiln::driver
