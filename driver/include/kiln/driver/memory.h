// Memory handles of the driver. Plain values: copying a handle does not copy
// or own the memory; Device::free / free_host release it.
#pragma once

#include <cstdint>
#include <string_view>

namespace kiln::driver {

enum class MemoryKind { kHbm, kSram };

std::string_view memory_kind_name(MemoryKind kind);

// Device memory mapped at a device virtual address of the device's context.
struct DeviceBuffer {
  uint64_t address = 0;  // device virtual address of the first byte
  uint64_t size = 0;     // bytes requested (the mapping is rounded up to pages)
  MemoryKind kind = MemoryKind::kHbm;

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
