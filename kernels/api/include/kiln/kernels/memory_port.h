// MemoryPort: how a kernel reaches device memory.
//
// The simulator implements it over its MMU and backing store; HostMemoryPort
// implements it over plain host memory for host-side runs and tests, where a
// "device address" is a host pointer value.
//
// Contract for implementations:
//  - read/write move exactly n bytes and return true, or return false when any
//    byte of the range is not accessible (a fault). After a false return the
//    contents of dst (read) or of the target range (write) are unspecified.
//  - They never throw and never crash on a bad address.
//  - They are called concurrently from several host threads (one per slice in
//    flight), so they must be thread-safe. Kernels never write the same bytes
//    from two slices.
// Kernels call the port once per vector (or once per contiguous run), never
// once per element, except for strided vector loads that cannot be read as one
// range (see KernelContext).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace kiln::kernels {

class MemoryPort {
 public:
  virtual ~MemoryPort() = default;
  virtual bool read(uint64_t addr, void* dst, uint64_t n) = 0;
  virtual bool write(uint64_t addr, const void* src, uint64_t n) = 0;
  // `count` elements of `element_bytes`, the i-th at addr + i * step_bytes,
  // packed into dst: a strided vector load too sparse to read as one range.
  // The same contract as read (false if any element is inaccessible). This
  // default reads element by element; an implementation that can see the
  // whole span at once overrides it. Declared after read/write so that the
  // slots of kernels built against the earlier interface stay where they were.
  virtual bool read_strided(uint64_t addr, int64_t step_bytes, int count, uint64_t element_bytes, void* dst) {
    auto* out = static_cast<uint8_t*>(dst);
    for (int i = 0; i < count; ++i) {
      const uint64_t at = addr + static_cast<uint64_t>(static_cast<int64_t>(i) * step_bytes);
      if (!read(at, out + static_cast<uint64_t>(i) * element_bytes, element_bytes)) return false;
    }
    return true;
  }
};

// Host memory, restricted to the regions added: an access outside every region
// (or a write to a read-only one) fails instead of touching the address.
// Add regions before the port is shared; after that read/write are const
// lookups and safe from any number of threads.
class HostMemoryPort final : public MemoryPort {
 public:
  void add_region(const void* base, uint64_t bytes, bool writable = true);
  template <typename T>
  void add_region(std::span<T> data, bool writable = true) {
    add_region(data.data(), data.size_bytes(), writable);
  }

  bool read(uint64_t addr, void* dst, uint64_t n) override;
  bool write(uint64_t addr, const void* src, uint64_t n) override;

 private:
  struct Region {
    uint64_t begin = 0;
    uint64_t end = 0;
    bool writable = true;
  };
  const Region* find(uint64_t addr, uint64_t n) const;

  std::vector<Region> regions_;  // sorted by begin
};

}  // namespace kiln::kernels
