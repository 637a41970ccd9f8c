#include "kiln/kernels/memory_port.h"

#include <algorithm>
#include <cstring>

namespace kiln::kernels {

void HostMemoryPort::add_region(const void* base, uint64_t bytes, bool writable) {
  uint64_t begin = reinterpret_cast<uint64_t>(base);
  Region r{begin, begin + bytes, writable};
  auto it = std::upper_bound(regions_.begin(), regions_.end(), r,
                             [](const Region& a, const Region& b) { return a.begin < b.begin; });
  regions_.insert(it, r);
}

const HostMemoryPort::Region* HostMemoryPort::find(uint64_t addr, uint64_t n) const {
  if (addr + n < addr) return nullptr;  // wraps around
  // The last region starting at or before addr; regions may overlap, so scan
  // back while earlier ones could still contain the range.
  auto it = std::upper_bound(regions_.begin(), regions_.end(), addr,
                             [](uint64_t a, const Region& r) { return a < r.begin; });
  while (it != regions_.begin()) {
    --it;
    if (addr >= it->begin && addr + n <= it->end) return &*it;
  }
  return nullptr;
}

bool HostMemoryPort::read(uint64_t addr, void* dst, uint64_t n) {
  if (n == 0) return true;
  if (find(addr, n) == nullptr) return false;
  std::memcpy(dst, reinterpret_cast<const void*>(addr), n);
  return true;
}

bool HostMemoryPort::write(uint64_t addr, const void* src, uint64_t n) {
  if (n == 0) return true;
  const Region* r = find(addr, n);
  if (r == nullptr || !r->writable) return false;
  std::memcpy(reinterpret_cast<void*>(addr), src, n);
  return true;
}

}  // namespace kiln::kernels
