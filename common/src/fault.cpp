#include "kiln/common/fault.h"

#include <cstdio>

namespace kiln {

std::string_view fault_cause_name(FaultCause cause) {
  switch (cause) {
    case FaultCause::kInvalidOpcode: return "invalid opcode";
    case FaultCause::kMalformedPacket: return "malformed packet";
    case FaultCause::kPrivilegedPacket: return "privileged packet";
    case FaultCause::kPageFault: return "page fault";
    case FaultCause::kFenceTimeout: return "fence timeout";
    case FaultCause::kInvalidRegister: return "invalid register";
    case FaultCause::kInvalidDescriptor: return "invalid descriptor";
    case FaultCause::kInjected: return "injected fault";
    case FaultCause::kUncorrectableMemoryError: return "uncorrectable memory error";
    case FaultCause::kDeviceNeedsReset: return "device needs reset";
    case FaultCause::kEngineError: return "engine error";
  }
  return "unknown fault";
}

std::string FaultRecord::describe() const {
  char where[160];
  std::snprintf(where, sizeof where,
                " on %s (queue %u, submission %llu, packet offset 0x%llx, address 0x%llx)",
                engine.c_str(), queue, static_cast<unsigned long long>(sequence),
                static_cast<unsigned long long>(packet_offset),
                static_cast<unsigned long long>(address));
  std::string out(fault_cause_name(cause));
  out += where;
  if (!detail.empty()) {
    out += ": ";
    out += detail;
  }
  return out;
}

}  // namespace kiln
