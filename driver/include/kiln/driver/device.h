// The userspace driver's device: what programs open to use a (simulated)
// card. Modelled on Habana's driver and on Vulkan / Level Zero.
//
//   auto dev = kiln::driver::Device::open("gaudi2");          // or a path
//   auto buf = dev.value()->allocate(1 << 20);                // HBM
//   auto* s  = dev.value()->create_stream().value();
//   s->copy(buf->address, host.address, 1 << 20);
//   s->synchronize();
//
// Host timeline (docs/host-timeline.md): every host thread that calls the
// driver has a simulated clock. Each call moves it forward by its modelled
// cost (config section `host`), a submission reaches the device at its
// thread's clock, and a wait moves the clock to the completion it waited for.
// So host overheads are part of every simulated time the driver reports, and
// the same program gives the same simulated times on every run.
//
// Ownership: open() returns the sole owner. Streams and the default stream
// are owned by the Device; events and buffers must not outlive it. Closing
// (destroying) the device waits for submitted work to finish.
// Threading: every member is thread-safe.
// Errors: returned as Status/Result with a message naming what and where.
// An allocation that does not fit names the requested and free sizes.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/common/fault.h"
#include "kiln/common/status.h"
#include "kiln/driver/command_buffer.h"
#include "kiln/driver/event.h"
#include "kiln/driver/host_thread.h"
#include "kiln/driver/memory.h"
#include "kiln/driver/stream.h"
#include "kiln/traces/recorder.h"

namespace kiln::proto {
class DeviceConfig;
class Trace;
}  // namespace kiln::proto

namespace kiln {
using DeviceConfig = proto::DeviceConfig;  // kiln/common/device_config.h has the full type
}  // namespace kiln

namespace kiln::driver {

struct DeviceOptions {
  // When false (timing-only), DMA copies and engine results take their
  // simulated time but move no bytes, so models too large for the host still
  // run. Control data stays real: message and monitor writes happen, and
  // descriptors read from pinned host memory are read. Put descriptors in
  // allocate_host() memory in this mode (a copy to HBM would move nothing).
  bool functional = true;
  // Record each driver API call on the trace's host tracks.
  bool trace_host_calls = true;
  // When set, the protobuf trace is written here when the device closes.
  // Device::open fills it from $KILN_TRACE if the caller leaves it empty.
  std::string trace_path;
  // Kernel plugin libraries (or directories of them) the vector cores can
  // run, loaded at open in addition to the built-in library and
  // $KILN_KERNEL_PATH.
  std::vector<std::string> kernel_paths;
  // Wall time a host thread may spend outside every driver call (host work,
  // sleeping, joining a plain std::thread) before its clock stops holding
  // the simulation back for other threads. Threads that call the driver more
  // often than this get the same simulated times on every run.
  std::chrono::nanoseconds host_idle_after = std::chrono::milliseconds(100);
};

struct DeviceProperties {
  std::string name;
  std::string description;
  uint64_t hbm_bytes = 0;
  uint64_t sram_bytes = 0;
  double hbm_bandwidth_gb_per_s = 0;
  double sram_bandwidth_gb_per_s = 0;
  double host_link_gb_per_s = 0;  // per direction
  uint32_t queues = 0;
  uint32_t dma_engines = 0;
  uint32_t mme_count = 0;
  uint32_t tpc_count = 0;
  uint32_t sync_objects = 0;
  uint32_t monitors = 0;
  uint64_t page_bytes = 0;
  double peak_matrix_flops = 0;
  double peak_vector_flops = 0;
};

struct HostTimelineStats {
  uint32_t threads = 0;    // host threads currently registered on the device
  uint64_t catch_ups = 0;  // times an idle thread resumed behind the simulation (a non-deterministic point)
};

class Device {
 public:
  // Opens a device described by a config name ("gaudi2") or .textproto path,
  // backed by the in-process simulator.
  static Result<std::unique_ptr<Device>> open(std::string_view config, const DeviceOptions& options = {});
  // Opens a device from a description already in memory (e.g. a loaded
  // config with apply_config_overrides); it is validated first.
  static Result<std::unique_ptr<Device>> open(const DeviceConfig& config, const DeviceOptions& options = {});
  ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  const DeviceProperties& properties() const;
  // The full description (include kiln/common/device_config.h to read it).
  const DeviceConfig& config() const;

  // --- Memory ---------------------------------------------------------
  // Allocates device memory (kHbm or kSram) and maps it at a device virtual
  // address. kHost is invalid_argument: host memory comes from allocate_host.
  Result<DeviceBuffer> allocate(uint64_t size, MemoryKind kind = MemoryKind::kHbm);
  // The buffer is gone for the caller at once; its memory goes back to the
  // device when the work submitted before the free has retired, so no queued
  // copy or kernel writes into a later allocation. An allocation that does
  // not fit meanwhile waits for such memory to come back.
  Status free(const DeviceBuffer& buffer);
  // Free bytes of HBM or SRAM; 0 for kHost (host memory is not the device's).
  // Memory whose free waits for queued work counts once it is back.
  uint64_t free_bytes(MemoryKind kind) const;
  // Allocates pinned, device-mapped host memory (zeroed).
  Result<HostBuffer> allocate_host(uint64_t size);
  // Pins and maps caller-owned host memory; it must stay valid until unpinned.
  // The device reaches exactly [data, data + size): an access to any other
  // byte faults.
  Result<HostBuffer> pin_host(void* data, uint64_t size);
  // Frees an allocate_host buffer (released once queued work retired, like
  // free) or unpins a pin_host one (waiting for the work queued so far first,
  // since the caller may reuse its memory as soon as this returns).
  Status free_host(const HostBuffer& buffer);

  // --- Synchronous helpers (on the default stream) --------------------
  Status copy_to_device(uint64_t dst, const void* src, uint64_t size);
  Status copy_to_host(void* dst, uint64_t src, uint64_t size);
  Status copy_on_device(uint64_t dst, uint64_t src, uint64_t size);
  Status memset(uint64_t dst, uint32_t pattern, uint64_t size);

  // --- Streams, events, sync objects -----------------------------------
  // Each stream takes a hardware queue of its own; fails when none is free.
  Result<Stream*> create_stream();
  Status destroy_stream(Stream* stream);
  Stream& default_stream();
  Result<std::unique_ptr<Event>> create_event();
  // Sync objects and monitors for hand-written command buffers.
  Result<uint32_t> allocate_sync_object();
  Status free_sync_object(uint32_t index);
  Result<uint32_t> allocate_monitor();
  Status free_monitor(uint32_t index);
  // Current value of a sync object (for tests and debugging).
  int32_t sync_object_value(uint32_t index) const;

  // Waits for every stream.
  Status synchronize(std::chrono::nanoseconds timeout = kForever);

  // --- Host timeline (docs/host-timeline.md) ---------------------------
  // The calling thread's simulated clock, in nanoseconds since open.
  double now_ns() const;
  // Charges `ns` of modelled host work (an op dispatch, a graph compile) to
  // the calling thread's clock, recorded on its host track as `what`.
  void charge_host(double ns, std::string_view what);
  // Runs `body` on a new host thread whose clock starts at the caller's, and
  // which the caller joins on the timeline (HostThread::join): the
  // deterministic way for a program to use several host threads.
  Result<HostThread> spawn_host_thread(std::function<void()> body);
  HostTimelineStats host_timeline_stats() const;

  // --- Traces ---------------------------------------------------------
  std::shared_ptr<traces::TraceRecorder> trace() const;
  // Everything recorded so far as a protobuf trace, with this device's peaks
  // (for the roofline in kiln/traces/analysis.h). Include
  // kiln/proto/trace.pb.h to use it.
  proto::Trace trace_proto() const;
  // Writes trace_proto() to `path`.
  Status write_trace(const std::string& path) const;

  // --- Faults ---------------------------------------------------------
  // Makes engine jobs fail on purpose, to test how a program handles device
  // faults: e.g. {.engine = "DMA", .after_jobs = 2} fails the third DMA job
  // from now with kInjected (its submission faults; the device stays usable);
  // {.engine = "TPC", .fatal = true} makes the next vector-core job an
  // uncorrectable memory error, after which the device needs a reset.
  // Fails with kInvalidArgument naming an unknown engine or a zero count.
  Status inject_fault(const FaultInjection& injection);
  // Set once the device has had a fatal fault. From then on submissions are
  // refused with kFailedPrecondition (and any still queued complete with
  // kDeviceNeedsReset) until the device is closed and opened again.
  std::optional<FaultRecord> fatal_fault() const;

  // Limits used by submit-time validation.
  const ValidationLimits& validation_limits() const;

 private:
  friend class Stream;
  friend class Event;
  friend class HostThread;
  struct Impl;
  explicit Device(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kiln::driver
