// The sync manager: sync objects (counters that message packets set or add
// to) and one-shot monitors that, once their sync object meets a condition,
// write a payload to a queue's fence counter or to memory. This is how
// engines and queues wait for each other without the host.
//
// Simulation thread only.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "kiln/common/packets.h"
#include "systemc.h"

namespace kiln::sim {

class DeviceImpl;

class SyncManager {
 public:
  struct Arming {
    uint32_t monitor;
    uint32_t sync_object;
    int32_t threshold;
    packets::MonitorCondition condition;
    packets::MonitorPayload payload_kind;
    uint32_t target_queue;
    uint32_t fence_id;
    uint32_t payload_value;
    uint64_t payload_addr;
    uint32_t context;       // address space for a MEMORY payload
    uint32_t arming_queue;  // for fault attribution
  };

  explicit SyncManager(DeviceImpl& device);

  uint32_t sync_object_count() const { return static_cast<uint32_t>(values_.size()); }
  uint32_t monitor_count() const { return static_cast<uint32_t>(monitors_.size()); }
  int32_t value(uint32_t sync_object) const { return values_[sync_object]; }

  // Applies a MSG_SHORT and fires every armed monitor it satisfies. `by`:
  // the trace ids of what the write stands for (what a wait it releases
  // waited for).
  void update(uint32_t sync_object, packets::SyncOp op, int32_t value, std::vector<uint64_t> by = {});
  // An engine's completion signal: adds `value` once a message from the
  // engine would have landed (sync_manager.message_latency_ns). `job`: the
  // job's trace id.
  void add_after_message_latency(uint32_t sync_object, int32_t value, uint64_t job = 0);
  // The trace ids of the write that first brought `sync_object` to
  // `target` (timeline comparison), among the last kKeptWrites writes since
  // it was last SET; empty if unknown.
  std::vector<uint64_t> released_by(uint32_t sync_object, uint32_t target) const;
  static constexpr std::size_t kKeptWrites = 16;
  // Notified whenever any sync object changes.
  const sc_core::sc_event& changed() const { return changed_; }
  // The process that lands engines' completion signals (spawned by the device).
  void run();

  // Arms a monitor (fires at once if the condition already holds). Returns
  // an error text if the monitor is already armed.
  std::optional<std::string> arm(const Arming& arming);

  // Disarms monitors whose payload targets fence `fence_id` of `queue`
  // (after that queue's fence faulted, nothing is left to wake).
  void disarm_fence_monitors(uint32_t queue, uint32_t fence_id);

 private:
  struct Monitor {
    bool armed = false;
    Arming arming{};
  };
  bool satisfied(const Arming& a) const;
  // `by`: what the write that satisfied it stands for.
  void fire(Monitor& m, const std::vector<uint64_t>& by);

  struct Pending {
    uint64_t lands_at_ps;
    uint32_t sync_object;
    int32_t value;
    uint64_t job;
  };
  // A write to a sync object, for released_by: the value after it and the
  // trace ids it stands for.
  struct Write {
    uint32_t value;
    std::vector<uint64_t> by;
  };

  DeviceImpl& device_;
  std::vector<int32_t> values_;
  std::vector<Monitor> monitors_;
  std::vector<std::vector<Write>> writes_;  // per sync object, oldest first (only while tracing)
  sc_core::sc_event changed_;
  std::deque<Pending> pending_;  // in landing order: the latency is constant
  sc_core::sc_event pending_posted_;
};

}  // namespace kiln::sim
