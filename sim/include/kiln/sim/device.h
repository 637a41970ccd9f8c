// A simulated device: command processors, sync manager, DMA engines, HBM,
// SRAM, host link and MMU, built from a DeviceConfig, living in the process's
// one simulation (see sim_host.h).
//
// This is the simulator's face to the driver's in-process transport. Users
// program the driver (kiln/driver/), never this header.
//
// Ownership: the creator owns the SimDevice; destroying it stops its
// processes. The TraceRecorder is shared with the driver.
// Threading: every member is safe to call from any host thread.
// Errors: problems visible at the call (bad queue index, bad mapping) are
// returned; problems found while executing a submission are delivered in its
// Completion as a FaultRecord.
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
#include "kiln/common/packets.h"
#include "kiln/common/status.h"
#include "kiln/sim/sim_host.h"
#include "kiln/traces/op_labels.h"
#include "kiln/traces/recorder.h"

namespace kiln::sim {

struct SimOptions {
  // When false, copies take their simulated time but move no bytes: for
  // transfers too large to hold on the host.
  bool functional = true;
  // Kernel plugin libraries (.so) or directories of them to load, in order.
  // SimDevice::create also loads everything in $KILN_KERNEL_PATH
  // (colon-separated, directories or files) after these.
  std::vector<std::string> kernel_paths;
};

// A wait a submission makes before its first packet: until `sync_object`
// reaches `target` (timeline comparison, packets::sync_reached).
struct SyncWait {
  uint32_t sync_object = 0;
  uint32_t target = 0;
};

struct Submission {
  uint32_t context = 0;
  uint64_t sequence = 0;  // must increase by one per submission on a queue
  std::shared_ptr<const std::vector<uint8_t>> commands;
  bool privileged = false;  // may contain privileged packets (kernel-mode path)
  std::vector<SyncWait> waits;  // each costs one packet's decode time
  // What the buffer's bound addresses and sync objects stand for (null: none).
  std::shared_ptr<const packets::BindingSet> bindings;
  // The model ops of its packets (null: none), traced with each job.
  std::shared_ptr<const traces::OpLabels> labels;
  // Trace id of the host call that submitted it (0: none): its work waits for it.
  uint64_t submitted_by = 0;
};

struct Completion {
  uint64_t sequence = 0;
  uint64_t start_ps = 0;  // simulated time the queue began it (since device open)
  uint64_t end_ps = 0;    // simulated time it retired
  std::optional<FaultRecord> fault;
  // Trace ids of the jobs and waits the submission ended with: what a host
  // call waiting for it waited for.
  std::vector<uint64_t> last_events;
};

class DeviceImpl;

class SimDevice {
 public:
  static Result<std::unique_ptr<SimDevice>> create(const DeviceConfig& config,
                                                   std::shared_ptr<traces::TraceRecorder> trace,
                                                   SimOptions options = {});
  ~SimDevice();
  SimDevice(const SimDevice&) = delete;
  SimDevice& operator=(const SimDevice&) = delete;

  const DeviceConfig& config() const;
  uint32_t queue_count() const;

  // ---- Host clocks (sim_host.h), in picoseconds since this device opened.
  // Registers a host thread's clock at `at_ps` (or later: never behind what
  // the simulation has committed to).
  HostClockId add_host_clock(uint64_t at_ps, std::chrono::nanoseconds idle_after);
  void remove_host_clock(HostClockId clock);
  ClockReading advance_host_clock(HostClockId clock, uint64_t ps);
  uint64_t host_clock_ps(HostClockId clock) const;
  void block_host_clock(HostClockId clock);
  ClockReading unblock_host_clock(HostClockId clock, uint64_t at_least_ps);
  // Simulated time the simulation has reached or is stepping to.
  uint64_t committed_ps() const;

  // Rings queue `queue`'s doorbell from a host thread: the thread's clock
  // moves on by `cost_ps` and the submission reaches the command processor
  // at that time. Non-blocking. `*reading` (if given) gets the clock before
  // and after.
  Status submit(uint32_t queue, Submission submission, HostClockId clock, uint64_t cost_ps,
                ClockReading* reading = nullptr);

  // Highest sequence number retired on `queue` (all lower ones retired too).
  uint64_t completed_sequence(uint32_t queue) const;

  // Waits (advancing the simulation) until `queue` retired `sequence`. With
  // a clock, the thread resumes at the simulated time it retired (or its own
  // time, if later).
  WaitOutcome wait(uint32_t queue, uint64_t sequence, std::chrono::nanoseconds timeout,
                   HostClockId clock = kNoClock);

  // Simulates everything before the clock's time, so a query at that time
  // sees what has completed by then.
  void catch_up(HostClockId clock);

  // The completion record of a retired submission, if still kept (the most
  // recent 65536 per queue are).
  std::optional<Completion> completion(uint32_t queue, uint64_t sequence) const;

  // MMU programming for `context`. Host mappings take a host pointer as phys.
  Status map(uint32_t context, uint64_t va, MemoryKind kind, uint64_t phys, uint64_t size);
  Status unmap(uint32_t context, uint64_t va);
  // Writes control data (descriptors, argument blocks) at a device virtual
  // address now, even in timing-only mode.
  Status write_control(uint32_t context, uint64_t va, const void* data, uint64_t size);
  uint64_t page_bytes() const;

  // Simulated picoseconds since the device was created.
  uint64_t now_ps() const;

  // Loads a kernel plugin library; returns the names of the kernels it added.
  Result<std::vector<std::string>> load_kernel_plugin(const std::string& path);
  // Names of every kernel the vector cores can run.
  std::vector<std::string> kernel_names() const;

  // Fails engine jobs on purpose (see FaultInjection); checked against the
  // device's engines.
  Status inject_fault(const FaultInjection& injection);
  // The fatal fault, once one happened: from then on every submission is
  // refused (submit fails) or completes with kDeviceNeedsReset.
  std::optional<FaultRecord> fatal_fault() const;

  // Sync-object value (for tests and debugging).
  int32_t sync_object_value(uint32_t index) const;

 private:
  explicit SimDevice(std::unique_ptr<DeviceImpl> impl);
  uint64_t absolute(uint64_t device_ps) const { return device_ps + epoch_ps_; }
  uint64_t relative(uint64_t absolute_ps) const { return absolute_ps > epoch_ps_ ? absolute_ps - epoch_ps_ : 0; }
  ClockReading relative(ClockReading r) const {
    return {relative(r.before_ps), relative(r.after_ps), r.caught_up_ps};
  }

  std::unique_ptr<DeviceImpl> impl_;
  uint64_t epoch_ps_ = 0;  // absolute simulated time the device opened at
};

}  // namespace kiln::sim
