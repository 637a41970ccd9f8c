// Device fault records: what the device reports when a submission fails while
// it executes. Faults are data: the submission completes with this record and
// the device stays usable.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "kiln/common/status.h"

namespace kiln {

enum class FaultCause {
  kInvalidOpcode,     // the decoder met an opcode it does not know
  kMalformedPacket,   // bad size, alignment, reserved bits or field values
  kPrivilegedPacket,  // a privileged packet in an unprivileged submission
  kPageFault,         // an access outside every mapping of the context
  kFenceTimeout,      // a FENCE waited with no progress on any queue for the watchdog period
  kInvalidRegister,   // WREG32 to an offset with no register
  kInvalidDescriptor, // an engine job descriptor in memory is malformed
  kInjected,          // a fault injected on purpose (FaultInjection): the job fails, the device stays usable
  kUncorrectableMemoryError,  // fatal: a double-bit ECC error; the device needs a reset
  kDeviceNeedsReset,  // refused: an earlier fatal fault left the device unusable until reopened
  kEngineError,       // an engine, kernel or plugin threw while running a job; the job fails, the device stays usable
};

std::string_view fault_cause_name(FaultCause cause);

// Whether a fault of this cause leaves the device unusable until it is reset
// (closed and reopened). Every other fault fails only its own submission.
constexpr bool is_fatal(FaultCause cause) { return cause == FaultCause::kUncorrectableMemoryError; }

struct FaultRecord {
  FaultCause cause = FaultCause::kInvalidOpcode;
  std::string engine;          // "CP3", "DMA1", "SYNC"
  uint32_t queue = 0;          // hardware queue of the failed submission
  uint64_t sequence = 0;       // submission sequence number on that queue
  uint64_t packet_offset = 0;  // byte offset of the packet in its command buffer
  uint64_t address = 0;        // faulting address (0 when the cause has none)
  uint64_t time_ps = 0;        // simulated time of the fault since device open
  std::string detail;          // human-readable specifics

  // One line: "page fault on DMA1 (queue 2, submission 7, packet offset 0x40,
  // address 0x...): <detail>".
  std::string describe() const;
  Status to_status() const { return device_fault(describe()); }
};

// Makes engine jobs fail on purpose, so programs can test how they handle
// device faults. Counting is in engine jobs, so the same program with the
// same injections always fails at the same job.
struct FaultInjection {
  // Which engine: "DMA" (any DMA engine) or "DMA<n>", "MME" (the matrix
  // engines), "TPC" (the vector-core cluster).
  std::string engine;
  uint64_t after_jobs = 0;  // let this many of its jobs run first
  uint32_t count = 1;       // then fail this many in a row (a fatal fault: the first only)
  // false: the job fails with kInjected and the device stays usable.
  // true: an uncorrectable memory error; the device refuses all further work
  // (kDeviceNeedsReset) until it is closed and reopened.
  bool fatal = false;
};

}  // namespace kiln
