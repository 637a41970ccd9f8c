// What a submission checks before it reaches the device: its packets once
// per recorded buffer and device, and its bindings every time.
#include "device_impl.h"
#include "kiln/common/format.h"

namespace kiln::driver {

using packets::Binding;

Result<bool> Device::Impl::validate_once(const CommandBuffer::Recording& rec, bool privileged, bool skip_validation) {
  std::lock_guard lock(rec.mutex);
  bool first_here = true;
  for (const auto& v : rec.validated) {
    if (v.device != serial) continue;
    first_here = false;
    if (skip_validation) return false;
    if (v.checked && v.privileged == privileged) {
      KILN_RETURN_IF_ERROR(v.status);
      return false;
    }
  }
  if (skip_validation) {
    rec.validated.push_back({serial, privileged, false, {}});
    return first_here;
  }
  Status s = validate_command_buffer(rec.bytes, limits, privileged);
  rec.validated.push_back({serial, privileged, true, s});
  KILN_RETURN_IF_ERROR(s);
  return first_here;
}

Result<std::shared_ptr<const packets::BindingSet>> Device::Impl::bind(const CommandBuffer::Recording& rec,
                                                                      const BindingTable& table) {
  if (table.invalid_slot() != 0) {
    return invalid_argument("binding slot " + std::to_string(table.invalid_slot()) +
                            " cannot be bound: slots are 0.." + std::to_string(packets::kArenaSlot - 1));
  }
  if (rec.uses.empty() && rec.arena.empty() && table.entries().empty()) {
    return std::shared_ptr<const packets::BindingSet>();
  }
  auto set = std::make_shared<packets::BindingSet>();
  set->slots.assign(table.entries().begin(), table.entries().end());
  for (const BindingUse& use : rec.uses) {
    if (use.slot == packets::kArenaSlot) continue;
    const std::string slot = "binding slot " + std::to_string(use.slot);
    const Binding* b = use.slot < set->slots.size() ? &set->slots[use.slot] : nullptr;
    if (b == nullptr || b->kind == Binding::Kind::kEmpty) {
      return invalid_argument(slot + " is used by the command buffer but not bound by this submission");
    }
    if (b->kind != use.kind) {
      return invalid_argument(slot + (use.kind == Binding::Kind::kMemory
                                          ? " is bound to a sync object, but the command buffer addresses memory through it"
                                          : " is bound to memory, but the command buffer uses it as a sync object"));
    }
    if (use.kind == Binding::Kind::kSync) {
      if (b->sync_object >= properties.sync_objects) {
        return invalid_argument(slot + ": sync object " + std::to_string(b->sync_object) + " is out of range (device has " +
                                std::to_string(properties.sync_objects) + ")");
      }
      if (use.signalled && packets::is_retirement_counter(b->sync_object, properties.queues)) {
        return invalid_argument(slot + ": sync object " + std::to_string(b->sync_object) +
                                " is a queue's retirement counter, which the command buffer may not signal");
      }
      continue;
    }
    if (b->size < use.extent) {
      return invalid_argument(slot + ": the command buffer touches " + std::to_string(use.extent) +
                              " bytes of it, but the bound range has " + std::to_string(b->size));
    }
    if (!mapped(b->address, b->size)) {
      return invalid_argument(slot + ": " + std::to_string(b->size) + " bytes at " + hex(b->address) +
                              " are not inside one live allocation");
    }
  }
  if (!rec.arena.empty()) {
    uint64_t address = 0;
    {
      std::lock_guard lock(rec.mutex);
      for (const auto& a : rec.arenas) {
        if (a.device == serial) address = a.address;
      }
    }
    if (address == 0) {
      // The first submission here writes the arena, once; the device then
      // reads descriptors from it on every replay.
      KILN_ASSIGN_OR_RETURN(DeviceBuffer arena, allocate_device(rec.arena.size(), MemoryKind::kHbm));
      KILN_RETURN_IF_ERROR(transport->write_control(context, arena.address, rec.arena.data(), rec.arena.size()));
      address = arena.address;
      {
        std::lock_guard lock(rec.mutex);
        rec.arenas.push_back({serial, address});
      }
      // An arena lives as long as its recording: submissions in flight hold
      // the recording, so once it is gone nothing can still read the arena.
      std::vector<DeviceBuffer> gone;
      {
        std::lock_guard lock(mutex);
        std::erase_if(arena_allocations, [&](const ArenaAllocation& a) {
          if (!a.recording.expired()) return false;
          gone.push_back(a.buffer);
          return true;
        });
        arena_allocations.push_back({rec.weak_from_this(), arena});
      }
      for (const DeviceBuffer& b : gone) (void)free_device(b);
    }
    set->arena = {Binding::Kind::kMemory, address, rec.arena.size(), 0, 0};
  }
  return std::shared_ptr<const packets::BindingSet>(std::move(set));
}

}  // namespace kiln::driver
