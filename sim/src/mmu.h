// The device MMU: one translation table per context (address space).
//
// Mappings are page-aligned ranges of device virtual addresses, each backed
// by a physically contiguous range of one memory kind. The table is kept as
// an ordered map of ranges rather than one entry per page: translation of a
// range then costs one lookup per mapping it crosses, not per page, which
// matters for GiB-sized copies. Semantics are those of a page table with the
// configured granule: map/unmap work on whole pages, and an access to any
// byte no mapping covers is a page fault at that byte's address.
//
// Thread-safe: map/unmap come from host threads, translation from the
// simulation thread.
#pragma once

#include <cstdint>
#include <map>
#include <shared_mutex>
#include <vector>

#include "kiln/common/memory_kind.h"
#include "kiln/common/status.h"

namespace kiln::sim {

struct Segment {
  MemoryKind kind;
  uint64_t phys;  // physical address (host pointer value for kHost)
  uint64_t size;
};

class Mmu {
 public:
  Mmu(uint32_t contexts, uint64_t page_bytes) : tables_(contexts), page_bytes_(page_bytes) {}

  uint64_t page_bytes() const { return page_bytes_; }
  uint32_t contexts() const { return static_cast<uint32_t>(tables_.size()); }

  // Maps [va, va+size) to [phys, phys+size) of `kind`. For device memory va,
  // phys and size must be page-aligned; host memory is mapped to the byte.
  // The range must be free.
  Status map(uint32_t context, uint64_t va, MemoryKind kind, uint64_t phys, uint64_t size);
  // Removes the mapping that starts exactly at va.
  Status unmap(uint32_t context, uint64_t va);

  // Translates [va, va+size) into physical segments. On a hole, returns false
  // and sets *fault_address to the first unmapped byte.
  bool translate(uint32_t context, uint64_t va, uint64_t size, std::vector<Segment>* out,
                 uint64_t* fault_address) const;

  // The whole mapping that holds byte `va`: its first virtual address in
  // *start and its physical range as a segment; false if `va` is unmapped.
  bool mapping_at(uint32_t context, uint64_t va, uint64_t* start, Segment* mapping) const;

 private:
  struct Mapping {
    uint64_t size;
    MemoryKind kind;
    uint64_t phys;
  };
  using Table = std::map<uint64_t, Mapping>;  // keyed by start va

  mutable std::shared_mutex mutex_;
  std::vector<Table> tables_;
  uint64_t page_bytes_;
};

}  // namespace kiln::sim
