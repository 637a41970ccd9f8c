// The inside of a SimDevice: the parts every engine shares (clock origin,
// memories, bandwidth model, MMU, registers, progress watchdog, trace) and
// the engines themselves. Lives on the simulation thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backing_store.h"
#include "bandwidth_model.h"
#include "fault_injector.h"
#include "host_worker.h"
#include "job_trace.h"
#include "kiln/common/device_config.h"
#include "kiln/common/packets.h"
#include "kiln/sim/device.h"
#include "kiln/kernels/kernel_registry.h"
#include "kiln/traces/recorder.h"
#include "mmu.h"
#include "traffic.h"
#include "systemc.h"

namespace kiln::sim {

class CommandProcessor;
class DmaEngines;
class MmeEngine;
class TpcEngine;
class SyncManager;

class DeviceImpl {
 public:
  DeviceImpl(const DeviceConfig& config, std::shared_ptr<traces::TraceRecorder> trace,
             SimOptions options);
  DeviceImpl(const DeviceConfig& config, std::shared_ptr<traces::TraceRecorder> trace,
             SimOptions options, uint64_t number);
  ~DeviceImpl();

  // Spawns every engine process (simulation thread only).
  void start();
  // Kills every engine process (simulation thread only).
  void stop();

  // Spawns a thread process owned by this device (dies with it).
  template <typename F>
  void spawn(const std::string& name, F&& body) {
    processes_.push_back(sc_core::sc_spawn(std::forward<F>(body), (name_prefix_ + name).c_str()));
  }

  uint64_t now_ps() const { return to_ps(sc_core::sc_time_stamp() - epoch_); }
  uint64_t epoch_ps() const { return epoch_.value(); }
  // Identifies this device's host clocks in the SimHost (sim_host.h).
  uint64_t group() const { return group_; }

  // Bandwidth resource and latency for reading (or writing) a memory kind.
  int resource_for(MemoryKind kind, bool is_destination) const;
  double latency_ns(MemoryKind kind) const;
  // One flow moving a job's traffic through the memories it touches
  // (traffic.h), and the slowest first-byte latency among them.
  BandwidthModel::FlowPtr start_traffic(const Traffic& traffic);
  double first_byte_latency_ns(const Traffic& traffic) const;

  // Functional access to physical memory. Chunks never cross a backing-store
  // frame, so callers may memcpy through the returned pointer for `*avail`
  // bytes.
  uint8_t* physical_pointer(MemoryKind kind, uint64_t phys, bool for_write, uint64_t* avail);
  // Large copies and fills run in pieces on the host's cores (run_in_parallel). A zero
  // fill of device memory releases what it covers rather than writing it.
  void copy(const std::vector<Segment>& dst, const std::vector<Segment>& src);
  void fill(const std::vector<Segment>& dst, uint32_t pattern);
  // Calls fn(pointer, bytes) for each frame-contiguous chunk of `segments`.
  void for_each_chunk(const std::vector<Segment>& segments, bool for_write,
                      const std::function<void(uint8_t*, uint64_t)>& fn);
  // Functional reads and writes at device virtual addresses of `context`.
  // Return false and set *fault_address on a page fault (nothing is written
  // then). Always functional: timing-only mode skips bulk data (DMA payloads,
  // engine results) at its source, never control writes.
  bool read_virtual(uint32_t context, uint64_t va, void* dst, uint64_t size, uint64_t* fault_address);
  bool write_virtual(uint32_t context, uint64_t va, const void* src, uint64_t size, uint64_t* fault_address);
  // [va, va + size) of `context` as one host range when it is mapped to one
  // physically contiguous run of resident device memory (or of pinned host
  // memory), for an engine to read in place; else null (unmapped bytes
  // included: the caller's read_virtual reports the fault).
  uint8_t* resident_bytes(uint32_t context, uint64_t va, uint64_t size);
  // The same for writing: untouched frames of the run are made resident
  // (zeros) first. Null if the range is unmapped or not one run.
  uint8_t* writable_bytes(uint32_t context, uint64_t va, uint64_t size);
  // Writes a 4- or 8-byte word at a device virtual address. Returns false
  // and sets *fault_address on a page fault.
  bool write_word(uint32_t context, uint64_t va, uint64_t value, uint32_t width,
                  uint64_t* fault_address);

  uint64_t physical_capacity(MemoryKind kind) const;

  // Runs item(i) for every i in [0, count) on the host worker's thread and
  // TBB's, and returns when all have run; simulated time does not move.
  void run_in_parallel(std::size_t count, const std::function<void(std::size_t)>& item);
  // The backing store of a device memory; null for host memory.
  BackingStore* store(MemoryKind kind);

  // Watchdog bookkeeping: progress is any retired packet, finished job or
  // landed message; an engine job in flight counts as progress throughout,
  // and so does host time: a host thread of this device whose clock is at or
  // past now may still submit (docs/host-timeline.md).
  void note_progress() { last_progress_ps_ = now_ps(); }
  void job_started() { ++jobs_in_flight_; }
  void job_finished() {
    --jobs_in_flight_;
    note_progress();
  }
  // The simulated time (since open) the watchdog's period runs from, or
  // nullopt while a job is in flight.
  std::optional<uint64_t> quiet_since_ps() const;
  bool stalled_for(uint64_t period_ps) const {
    const auto since = quiet_since_ps();
    return since && now_ps() - *since >= period_ps;
  }
  uint64_t watchdog_ps() const { return watchdog_ps_; }
  // Returns false if no register lives at `offset`.
  bool write_register(uint32_t offset, uint32_t value);

  // Records `event`; returns its id (0: no trace is kept).
  uint64_t record(traces::TraceEvent event) { return trace_ ? trace_->record(std::move(event)) : 0; }
  // Records an event of an engine job: with its job id, ops and waits_for.
  uint64_t record_job(const JobTrace& job, traces::TraceEvent event) {
    if (!trace_) return 0;
    event.job = job.job;
    if (job.ops) event.ops = *job.ops;
    event.waits_for = job.waits_for;
    return trace_->record(std::move(event));
  }
  bool tracing() const { return trace_ != nullptr; }
  // A trace id for an engine job (0: no trace is kept).
  uint64_t reserve_trace_id() { return trace_ ? trace_->reserve_id() : 0; }

  const DeviceConfig config;
  const SimOptions options;
  BandwidthModel bandwidth;
  Mmu mmu;
  // Runs the engines' heavy host work (kernel slices, MME math) off the
  // simulation's coroutine stacks (host_worker.h).
  HostWorker host_worker;
  std::unique_ptr<SyncManager> sync;
  std::unique_ptr<DmaEngines> dma;
  std::unique_ptr<MmeEngine> mme;
  std::unique_ptr<TpcEngine> tpc;
  FaultInjector faults;
  // Kernels the vector cores can run: the built-in library plus plugins.
  kernels::KernelRegistry kernels;
  std::vector<std::unique_ptr<CommandProcessor>> queues;

 private:
  // resident_bytes and writable_bytes (which makes the run's frames resident).
  uint8_t* contiguous_bytes(uint32_t context, uint64_t va, uint64_t size, bool for_write);

  std::shared_ptr<traces::TraceRecorder> trace_;
  std::string name_prefix_;
  sc_core::sc_time epoch_;
  uint64_t group_;
  BackingStore hbm_;
  BackingStore sram_;
  int hbm_resource_, sram_resource_, h2d_resource_, d2h_resource_;
  uint64_t last_progress_ps_ = 0;
  int jobs_in_flight_ = 0;
  uint64_t watchdog_ps_;
  uint32_t scratch_[packets::kRegScratchCount] = {};
  std::vector<sc_core::sc_process_handle> processes_;
};

}  // namespace kiln::sim
