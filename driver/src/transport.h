// The driver's link to a device. The in-process simulator is the one
// transport today; a socket + shared-memory transport to a kiln-simd server
// will implement the same interface. Nothing above this file knows which.
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
#include "kiln/traces/recorder.h"

namespace kiln::driver {

class Transport {
 public:
  virtual ~Transport() = default;

  virtual Status submit(uint32_t queue, uint32_t context, uint64_t sequence,
                        std::shared_ptr<const std::vector<uint8_t>> commands, bool privileged) = 0;
  virtual uint64_t completed_sequence(uint32_t queue) = 0;
  // kTimeout when the wall-clock timeout expires first.
  virtual Status wait(uint32_t queue, uint64_t sequence, std::chrono::nanoseconds timeout) = 0;
  virtual void poll() = 0;
  virtual std::optional<SubmissionInfo> completion(uint32_t queue, uint64_t sequence) = 0;
  // Maps [va, va + size) of a context to physical memory of `kind` at `phys`
  // (for kHost, `phys` is the page-aligned host pointer's value).
  virtual Status map(uint32_t context, uint64_t va, MemoryKind kind, uint64_t phys, uint64_t size) = 0;
  virtual Status unmap(uint32_t context, uint64_t va) = 0;
  virtual uint64_t now_ps() = 0;
  virtual int32_t sync_object_value(uint32_t index) = 0;
  virtual Status inject_fault(const FaultInjection& injection) = 0;
  virtual std::optional<FaultRecord> fatal_fault() = 0;
};

Result<std::unique_ptr<Transport>> make_in_process_transport(const DeviceConfig& config,
                                                             std::shared_ptr<traces::TraceRecorder> trace,
                                                             bool functional,
                                                             const std::vector<std::string>& kernel_paths);

}  // namespace kiln::driver
