// The runtime's caching allocator over the driver's device memory, as
// PyTorch's caching allocator is over cudaMalloc: a tensor's memory comes
// back to the pool when its last handle goes, and the next tensor of that
// size reuses it without a driver call. A reused block carries the events
// after which its previous users' work is done (Storage::last_uses): the
// launch that writes it first waits for them on the device, so reuse never
// races with work still reading or writing the block, and the host never
// blocks for it.
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>

#include "graph.h"
#include "kiln/driver/device.h"

namespace kiln::runtime {

class MemoryPool {
 public:
  // Blocks of `kind` memory (HBM; SRAM for on-die scratch).
  explicit MemoryPool(driver::Device& device, MemoryKind kind = MemoryKind::kHbm) : device_(device), kind_(kind) {}
  ~MemoryPool();
  MemoryPool(const MemoryPool&) = delete;
  MemoryPool& operator=(const MemoryPool&) = delete;

  // A block of at least `bytes` bytes (one page if 0). Out of device memory,
  // it first returns every cached block to the driver and tries again; the
  // error then names the bytes asked and free.
  Result<std::shared_ptr<Storage>> allocate(uint64_t bytes);
  // Called by ~Storage.
  void give_back(const driver::DeviceBuffer& buffer, uint64_t bytes, LastUses last_uses);
  // Returns every cached block to the driver.
  void trim();
  // trim(), and from now on blocks given back are dropped (the device is
  // closing; its memory goes with it).
  void close();
  uint64_t cached_bytes() const;

 private:
  struct Cached {
    driver::DeviceBuffer buffer;
    LastUses last_uses;
  };
  uint64_t size_class(uint64_t bytes) const;

  driver::Device& device_;
  MemoryKind kind_;
  mutable std::mutex mutex_;
  std::multimap<uint64_t, Cached> free_;  // by size class
  uint64_t cached_ = 0;
  bool closed_ = false;
};

}  // namespace kiln::runtime
