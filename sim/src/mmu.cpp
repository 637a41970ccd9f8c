#include "mmu.h"
#include "kiln/common/format.h"

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <string>

namespace kiln::sim {

Status Mmu::map(uint32_t context, uint64_t va, MemoryKind kind, uint64_t phys, uint64_t size) {
  if (context >= tables_.size()) {
    return out_of_range("MMU context " + std::to_string(context) + " does not exist (device has " +
                        std::to_string(tables_.size()) + ")");
  }
  // Device memory is mapped in whole pages; pinned host memory is mapped to
  // the byte, so the device reaches exactly what the host pinned.
  if (size == 0 || (kind != MemoryKind::kHost &&
                    (va % page_bytes_ != 0 || size % page_bytes_ != 0 || phys % page_bytes_ != 0))) {
    return invalid_argument("MMU map of " + hex(va) + " size " + std::to_string(size) +
                            " is not aligned to the " + std::to_string(page_bytes_) + "-byte page");
  }
  if (size > UINT64_MAX - va) return invalid_argument("MMU map of " + hex(va) + " size " + std::to_string(size) + " wraps");
  std::unique_lock lock(mutex_);
  Table& table = tables_[context];
  auto next = table.lower_bound(va);
  if (next != table.end() && next->first < va + size) {
    return invalid_argument("MMU map of " + hex(va) + " overlaps the mapping at " + hex(next->first));
  }
  if (next != table.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second.size > va) {
      return invalid_argument("MMU map of " + hex(va) + " overlaps the mapping at " + hex(prev->first));
    }
  }
  table.emplace(va, Mapping{size, kind, phys});
  return {};
}

Status Mmu::unmap(uint32_t context, uint64_t va) {
  if (context >= tables_.size()) return out_of_range("MMU context " + std::to_string(context) + " does not exist");
  std::unique_lock lock(mutex_);
  if (tables_[context].erase(va) == 0) {
    return not_found("no mapping starts at " + hex(va) + " in context " + std::to_string(context));
  }
  return {};
}

bool Mmu::translate(uint32_t context, uint64_t va, uint64_t size, std::vector<Segment>* out,
                    uint64_t* fault_address) const {
  out->clear();
  if (context >= tables_.size()) {
    *fault_address = va;
    return false;
  }
  if (size > UINT64_MAX - va) {  // the range wraps around the address space
    *fault_address = va;
    return false;
  }
  std::shared_lock lock(mutex_);
  const Table& table = tables_[context];
  uint64_t cursor = va;
  uint64_t left = size;
  while (left > 0) {
    auto it = table.upper_bound(cursor);
    if (it == table.begin()) {
      *fault_address = cursor;
      return false;
    }
    --it;
    const uint64_t start = it->first;
    const Mapping& m = it->second;
    if (cursor >= start + m.size) {
      *fault_address = cursor;
      return false;
    }
    const uint64_t offset = cursor - start;
    const uint64_t n = std::min(left, m.size - offset);
    out->push_back({m.kind, m.phys + offset, n});
    cursor += n;
    left -= n;
  }
  return true;
}

bool Mmu::mapping_at(uint32_t context, uint64_t va, uint64_t* start, Segment* mapping) const {
  if (context >= tables_.size()) return false;
  std::shared_lock lock(mutex_);
  const Table& table = tables_[context];
  auto it = table.upper_bound(va);
  if (it == table.begin()) return false;
  --it;
  if (va - it->first >= it->second.size) return false;
  *start = it->first;
  *mapping = {it->second.kind, it->second.phys, it->second.size};
  return true;
}

}  // namespace kiln::sim
