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
      monitors_(device.config.sync_manager().monitors()),
      writes_(device.tracing() ? device.config.sync_manager().sync_objects() : 0) {}

void SyncManager::update(uint32_t sync_object, SyncOp op, int32_t value, std::vector<uint64_t> by) {
  int32_t& v = values_[sync_object];
  // Wrap like a hardware counter instead of overflowing.
  v = op == SyncOp::SET ? value
                        : static_cast<int32_t>(static_cast<uint32_t>(v) + static_cast<uint32_t>(value));
  static const std::vector<uint64_t> kNone;
  const std::vector<uint64_t>* written_by = &kNone;
  if (sync_object < writes_.size()) {
    // A SET starts a new history: what came before no longer counts.
    std::vector<Write>& writes = writes_[sync_object];
    if (op == SyncOp::SET) writes.clear();
    if (writes.size() == kKeptWrites) writes.erase(writes.begin());
    writes.push_back({static_cast<uint32_t>(v), std::move(by)});
    written_by = &writes.back().by;
  }
  for (Monitor& m : monitors_) {
    if (m.armed && m.arming.sync_object == sync_object && satisfied(m.arming)) fire(m, *written_by);
  }
  changed_.notify(sc_core::SC_ZERO_TIME);
}

std::vector<uint64_t> SyncManager::released_by(uint32_t sync_object, uint32_t target) const {
  if (sync_object >= writes_.size()) return {};
  for (const Write& w : writes_[sync_object]) {
    if (packets::sync_reached(w.value, target)) return w.by;
  }
  return {};
}

void SyncManager::add_after_message_latency(uint32_t sync_object, int32_t value, uint64_t job) {
  const uint64_t lands =
      device_.now_ps() + sc_core::sc_time(device_.config.sync_manager().message_latency_ns(), sc_core::SC_NS).value();
  pending_.push_back({lands, sync_object, value, job});
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
    update(p.sync_object, packets::SyncOp::ADD, p.value,
           p.job != 0 ? std::vector<uint64_t>{p.job} : std::vector<uint64_t>{});
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
  if (satisfied(arming)) {
    // Already satisfied: by the sync object's last write.
    const std::vector<Write>* writes = arming.sync_object < writes_.size() ? &writes_[arming.sync_object] : nullptr;
    fire(m, writes && !writes->empty() ? writes->back().by : std::vector<uint64_t>{});
  }
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

void SyncManager::fire(Monitor& m, const std::vector<uint64_t>& by) {
  m.armed = false;  // one-shot, as in hardware: re-arm to watch again
  const Arming& a = m.arming;
  device_.note_progress();
  const uint64_t now = device_.now_ps();
  if (a.payload_kind == MonitorPayload::FENCE) {
    const uint64_t id = device_.record({.track = "SYNC", .queue = static_cast<int32_t>(a.arming_queue),
                                        .name = "monitor " + std::to_string(a.monitor) + " -> fence",
                                        .start_ps = now, .end_ps = now,
                                        .detail = "queue " + std::to_string(a.target_queue) + " fence " +
                                                  std::to_string(a.fence_id) + " += " + std::to_string(a.payload_value),
                                        .waits_for = by});
    device_.queues[a.target_queue]->add_to_fence(a.fence_id, a.payload_value, id);
    return;
  }
  uint64_t fault_address = 0;
  const bool ok = device_.write_word(a.context, a.payload_addr, a.payload_value, 4, &fault_address);
  device_.record({.track = "SYNC", .queue = static_cast<int32_t>(a.arming_queue),
                  .name = "monitor " + std::to_string(a.monitor) + " -> memory",
                  .start_ps = now, .end_ps = now, .bytes = ok ? 4u : 0u,
                  .detail = ok ? "" : "page fault at payload address " + hex(fault_address) +
                                          " (unmapped after the monitor was armed)",
                  .waits_for = by});
}

}  // namespace kiln::sim
