// The driver's link to a device. The in-process simulator is the one
// transport today; a socket + shared-memory transport to a kiln-simd server
// will implement the same interface. Nothing above this file knows which.
//
// Times are simulated picoseconds since the device opened. Host clocks are
// the host threads' positions on the simulated timeline
// (kiln/sim/sim_host.h, docs/host-timeline.md).
//
// Thread-safe: every member may be called from any host thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kiln/common/device_config.h"
#include "kiln/common/fault.h"
#include "kiln/common/memory_kind.h"
#include "kiln/common/status.h"
#include "kiln/driver/stream.h"
#include "kiln/traces/op_labels.h"
#include "kiln/traces/recorder.h"

namespace kiln::driver {

using HostClockId = uint64_t;

// A host clock before and after an update.
struct ClockUpdate {
  uint64_t before_ps = 0;
  uint64_t after_ps = 0;
  uint64_t caught_up_ps = 0;  // an idle clock jumped this far to the committed time first
};

// A wait a submission makes before its first packet: until `sync_object`
// reaches `target` (timeline comparison).
struct SyncWait {
  uint32_t sync_object = 0;
  uint32_t target = 0;
};

// What a submission carries to the device besides its sequence number.
struct SubmitRequest {
  uint32_t context = 0;
  uint64_t sequence = 0;
  std::shared_ptr<const std::vector<uint8_t>> commands;
  bool privileged = false;
  std::vector<SyncWait> waits;
  std::shared_ptr<const packets::BindingSet> bindings;
  std::shared_ptr<const traces::OpLabels> labels;  // the buffer's (null: none)
  uint64_t submitted_by = 0;  // trace id of the host call that submits it (0: none)
};

class Transport {
 public:
  virtual ~Transport() = default;

  // ---- host clocks
  virtual HostClockId add_host_clock(uint64_t at_ps, std::chrono::nanoseconds idle_after) = 0;
  virtual void remove_host_clock(HostClockId clock) = 0;
  virtual ClockUpdate advance_host_clock(HostClockId clock, uint64_t ps) = 0;
  virtual uint64_t host_clock_ps(HostClockId clock) = 0;
  virtual void block_host_clock(HostClockId clock) = 0;
  virtual ClockUpdate unblock_host_clock(HostClockId clock, uint64_t at_least_ps) = 0;
  virtual uint64_t committed_ps() = 0;
  // Simulates every instant before the clock's time.
  virtual void catch_up(HostClockId clock) = 0;

  // ---- work
  // The clock moves on by `cost_ps`; the submission reaches the device then.
  virtual Status submit(uint32_t queue, SubmitRequest request, HostClockId clock, uint64_t cost_ps,
                        ClockUpdate* update) = 0;
  virtual uint64_t completed_sequence(uint32_t queue) = 0;
  // Blocks the clock until `sequence` retired on `queue`; kTimeout when the
  // wall-clock timeout expires first.
  virtual Status wait(uint32_t queue, uint64_t sequence, std::chrono::nanoseconds timeout, HostClockId clock) = 0;
  virtual std::optional<SubmissionInfo> completion(uint32_t queue, uint64_t sequence) = 0;

  // ---- memory and control
  virtual Status map(uint32_t context, uint64_t va, MemoryKind kind, uint64_t phys, uint64_t size) = 0;
  virtual Status unmap(uint32_t context, uint64_t va) = 0;
  // Writes control data (descriptors) into device memory now, even in
  // timing-only mode.
  virtual Status write_control(uint32_t context, uint64_t va, const void* data, uint64_t size) = 0;
  virtual int32_t sync_object_value(uint32_t index) = 0;
  virtual Status inject_fault(const FaultInjection& injection) = 0;
  virtual std::optional<FaultRecord> fatal_fault() = 0;
};

Result<std::unique_ptr<Transport>> make_in_process_transport(const DeviceConfig& config,
                                                             std::shared_ptr<traces::TraceRecorder> trace,
                                                             bool functional,
                                                             const std::vector<std::string>& kernel_paths);

}  // namespace kiln::driver
