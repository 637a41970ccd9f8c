#include "sync_manager.h"
#include "kiln/common/format.h"

#include <cstdio>

#include "command_processor.h"
#include "device_impl.h"

namespace kiln::sim {

using packets::MonitorCondition;
using packets::MonitorPayload;
using packets::SyncOp;

SyncManager::SyncManager(DeviceImpl& device)
    : device_(device),
      values_(device.config.sync_manager().sync_objects(), 0),
      monitors_(device.config.sync_manager().monitors()) {}

void SyncManager::update(uint32_t sync_object, SyncOp op, int32_t value) {
  int32_t& v = values_[sync_object];
  // Wrap like a hardware counter instead of overflowing.
  v = op == SyncOp::SET ? value
                        : static_cast<int32_t>(static_cast<uint32_t>(v) + static_cast<uint32_t>(value));
  for (Monitor& m : monitors_) {
    if (m.armed && m.arming.sync_object == sync_object && satisfied(m.arming)) fire(m);
  }
  changed_.notify(sc_core::SC_ZERO_TIME);
}

void SyncManager::add_after_message_latency(uint32_t sync_object, int32_t value) {
  const uint64_t lands =
      device_.now_ps() + sc_core::sc_time(device_.config.sync_manager().message_latency_ns(), sc_core::SC_NS).value();
  pending_.push_back({lands, sync_object, value});
  pending_posted_.notify(sc_core::SC_ZERO_TIME);
}

void SyncManager::run() {
  for (;;) {
    while (pending_.empty()) sc_core::wait(pending_posted_);
    const uint64_t now = device_.now_ps();
    if (pending_.front().lands_at_ps > now) {
      sc_core::wait(sc_core::sc_time::from_value(pending_.front().lands_at_ps - now));
    }
    const Pending p = pending_.front();
    pending_.pop_front();
    update(p.sync_object, packets::SyncOp::ADD, p.value);
    device_.note_progress();
  }
}

std::optional<std::string> SyncManager::arm(const Arming& arming) {
  Monitor& m = monitors_[arming.monitor];
  if (m.armed) {
    return "monitor " + std::to_string(arming.monitor) + " is already armed (watching sync object " +
           std::to_string(m.arming.sync_object) + ")";
  }
  m.armed = true;
  m.arming = arming;
  if (satisfied(arming)) fire(m);
  return std::nullopt;
}

void SyncManager::disarm_fence_monitors(uint32_t queue, uint32_t fence_id) {
  for (Monitor& m : monitors_) {
    if (m.armed && m.arming.payload_kind == MonitorPayload::FENCE && m.arming.target_queue == queue &&
        m.arming.fence_id == fence_id) {
      m.armed = false;
    }
  }
}

bool SyncManager::satisfied(const Arming& a) const {
  const int32_t v = values_[a.sync_object];
  return a.condition == MonitorCondition::EQUAL ? v == a.threshold : v >= a.threshold;
}

void SyncManager::fire(Monitor& m) {
  m.armed = false;  // one-shot, as in hardware: re-arm to watch again
  const Arming& a = m.arming;
  device_.note_progress();
  const uint64_t now = device_.now_ps();
  if (a.payload_kind == MonitorPayload::FENCE) {
    device_.queues[a.target_queue]->add_to_fence(a.fence_id, a.payload_value);
    device_.record({.track = "SYNC", .queue = static_cast<int32_t>(a.arming_queue),
                    .name = "monitor " + std::to_string(a.monitor) + " -> fence",
                    .start_ps = now, .end_ps = now,
                    .detail = "queue " + std::to_string(a.target_queue) + " fence " +
                              std::to_string(a.fence_id) + " += " + std::to_string(a.payload_value)});
    return;
  }
  uint64_t fault_address = 0;
  const bool ok = device_.write_word(a.context, a.payload_addr, a.payload_value, 4, &fault_address);
  device_.record({.track = "SYNC", .queue = static_cast<int32_t>(a.arming_queue),
                  .name = "monitor " + std::to_string(a.monitor) + " -> memory",
                  .start_ps = now, .end_ps = now, .bytes = ok ? 4u : 0u,
                  .detail = ok ? "" : "page fault at payload address " + hex(fault_address) +
                                          " (unmapped after the monitor was armed)"});
}

}  // namespace kiln::sim
