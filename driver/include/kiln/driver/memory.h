// Memory handles of the driver. Plain values: copying a handle does not copy
// or own the memory; Device::free / free_host release it.
#pragma once

#include <cstdint>

#include "kiln/common/memory_kind.h"

namespace kiln::driver {

// The one memory-kind enum (kiln/common/memory_kind.h), under the driver's
// names too. Device memory is kHbm or kSram; kHost is what allocate_host and
// pin_host map.
using kiln::MemoryKind;
using kiln::memory_kind_name;

// Device memory mapped at a device virtual address of the device's context.
struct DeviceBuffer {
  uint64_t address = 0;  // device virtual address of the first byte
  uint64_t size = 0;     // bytes requested (the mapping is rounded up to pages)
  MemoryKind kind = MemoryKind::kHbm;  // kHbm or kSram

  uint64_t at(uint64_t offset) const { return address + offset; }
};

// Pinned host memory, mapped so that DMA engines can reach it.
struct HostBuffer {
  void* data = nullptr;      // host pointer
  uint64_t size = 0;         // bytes
  uint64_t address = 0;      // device virtual address of data[0]
  bool owned = false;        // allocated by the driver (allocate_host) rather than pinned user memory

  uint64_t at(uint64_t offset) const { return address + offset; }
};

}  // namespace kiln::driver
