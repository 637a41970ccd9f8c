// Binding tables: what the slots of a relocatable command buffer stand for in
// one submission (kiln/driver/command_buffer.h).
//
//   CommandBuffer cb;                                   // recorded once
//   cb.copy(bound(1), bound(0), 4096).signal_when_done(bound_sync(2));
//   BindingTable t;
//   t.bind(0, src).bind(1, dst).bind_sync(2, timeline, base);
//   stream->submit(cb, t);                              // any number of times
//
// A memory slot names a range of device memory (an allocation or part of
// one, device or pinned host); a sync slot names a sync object and the base
// its waits count from. At submission the driver checks each slot the buffer
// uses: bound, of the right kind, mapped, and at least as large as the extent
// recorded for it. Slot packets::kArenaSlot belongs to the driver.
//
// Plain value type; thread-compatible.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "kiln/common/packets.h"
#include "kiln/driver/memory.h"

namespace kiln::driver {

class BindingTable {
 public:
  BindingTable& bind(uint32_t slot, const DeviceBuffer& buffer) { return bind_range(slot, buffer.address, buffer.size); }
  BindingTable& bind(uint32_t slot, const HostBuffer& buffer) { return bind_range(slot, buffer.address, buffer.size); }
  // `size` bytes from device address `address`.
  BindingTable& bind_range(uint32_t slot, uint64_t address, uint64_t size) {
    packets::Binding& b = at(slot);
    b = {packets::Binding::Kind::kMemory, address, size, 0, 0};
    return *this;
  }
  // Sync object `sync_object`; a bound WAIT_SYNC for `value` waits for base + value.
  BindingTable& bind_sync(uint32_t slot, uint32_t sync_object, uint32_t base) {
    packets::Binding& b = at(slot);
    b = {packets::Binding::Kind::kSync, 0, 0, sync_object, base};
    return *this;
  }
  void clear() {
    entries_.clear();
    invalid_slot_ = 0;
  }

  std::span<const packets::Binding> entries() const { return entries_; }
  // A slot the caller tried to bind that no table may hold (0 if none).
  uint32_t invalid_slot() const { return invalid_slot_; }

 private:
  packets::Binding& at(uint32_t slot) {
    if (slot >= packets::kArenaSlot) {
      // Kept aside, so submit can name the mistake.
      invalid_slot_ = slot;
      return scratch_;
    }
    if (slot >= entries_.size()) entries_.resize(static_cast<std::size_t>(slot) + 1);
    return entries_[slot];
  }
  std::vector<packets::Binding> entries_;
  packets::Binding scratch_;
  uint32_t invalid_slot_ = 0;
};

}  // namespace kiln::driver
