// First-fit allocator over an address range, in units of a fixed granule.
// Backs physical HBM/SRAM allocation and the host-mapping virtual aperture.
// Not thread-safe: the Device serialises calls.
#pragma once

#include <cstdint>
#include <map>
#include <optional>

namespace kiln::driver {

class RangeAllocator {
 public:
  RangeAllocator(uint64_t base, uint64_t size, uint64_t granule);

  // Returns the start of a free block of `size` (rounded up to the granule).
  std::optional<uint64_t> allocate(uint64_t size);
  // Returns a block previously allocated with the same (rounded) size.
  void release(uint64_t start, uint64_t size);

  uint64_t round_up(uint64_t size) const { return (size + granule_ - 1) / granule_ * granule_; }
  uint64_t free_bytes() const { return free_bytes_; }
  uint64_t largest_free_block() const;

 private:
  uint64_t granule_;
  uint64_t free_bytes_;
  std::map<uint64_t, uint64_t> free_;  // start -> size, coalesced
};

}  // namespace kiln::driver
