// What a kernel slice costs: instruction counters, the cost model that prices
// them, and the resulting slice cost.
//
// A TPC core is a VLIW machine with four issue slots per bundle: load, scalar,
// vector and store. Every intrinsic adds one instruction of a class
// (OpClass) to the slice's SliceCounters; each class belongs to one slot. The
// counters are plain counts and do not depend on the cost model, so one run
// can be priced under several models.
//
// SliceCounters::cost(model):
//   slot_cycles[s] = sum over classes c in slot s of count[c] * issue_cycles[c]
//   issue_cycles   = max over slots of slot_cycles      (the VLIW issue bound)
//   stall_cycles   = sum over classes of count[c] * stall_cycles[c] + extra stalls
//   cycles         = issue_cycles + stall_cycles
// Bytes loaded and stored are reported beside the cycles; comparing them with
// the memory bandwidth (shared among engines) is the simulator's job, as is the
// launch overhead.
//
// All types here are thread-compatible values.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "kiln/common/status.h"

namespace kiln::proto {
class TpcConfig;
}

namespace kiln::kernels {

enum class Slot : uint8_t { kLoad = 0, kScalar, kVector, kStore };
inline constexpr int kSlotCount = 4;
std::string_view slot_name(Slot s);  // "load", "scalar", "vector", "store"

enum class OpClass : uint8_t {
  kVectorLoad = 0,        // load slot: one vector (or partial vector) load
  kScalarLoad,            // load slot: one scalar load
  kVectorStore,           // store slot
  kScalarStore,           // store slot
  kVectorAlu,             // vector slot: add/sub/mul/fma/min/max/abs/neg/compare/select/
                          //   broadcast/iota/mask ops/dtype conversion (per 64 lanes)
  kVectorDivSqrt,         // vector slot: div, sqrt, rsqrt, reciprocal
  kVectorTranscendental,  // vector slot: exp, log, tanh, erf, sigmoid, trigonometric/hyperbolic
  kVectorReduce,          // vector slot: a cross-lane reduction (sum/max/min/prod of 64 lanes)
  kScalarAlu,             // scalar slot: scalar arithmetic, address and loop bookkeeping
};
inline constexpr int kOpClassCount = 9;
std::string_view op_class_name(OpClass c);

constexpr Slot slot_of(OpClass c) {
  switch (c) {
    case OpClass::kVectorLoad:
    case OpClass::kScalarLoad: return Slot::kLoad;
    case OpClass::kVectorStore:
    case OpClass::kScalarStore: return Slot::kStore;
    case OpClass::kScalarAlu: return Slot::kScalar;
    default: return Slot::kVector;
  }
}

// Prices per instruction class. A device's figures come from its config
// (tpc.instruction_costs); the defaults here are those of the shipped configs
// (configs/gaudi2.textproto, where they are explained; a test keeps the two
// equal) and serve host runs without a config. None is public: Habana does not
// publish TPC latencies, so they describe a plausible in-order VLIW core.
struct TpcCostModel {
  double clock_mhz = 1000.0;          // TPC clock (config: tpc.clock_mhz)
  double launch_overhead_ns = 500.0;  // per-launch cost on a core (config: tpc.launch_overhead_ns)

  // Cycles an instruction of each class occupies its slot, indexed by OpClass
  // (config: tpc.instruction_costs.<class>.issue_cycles).
  std::array<uint32_t, kOpClassCount> issue_cycles = {1, 1, 1, 1, 1, 4, 8, 6, 1};
  // Cycles each instruction of a class exposes as a stall that VLIW scheduling
  // cannot hide (config: tpc.instruction_costs.<class>.stall_cycles).
  std::array<uint32_t, kOpClassCount> stall_cycles = {0, 4, 0, 0, 0, 0, 0, 4, 0};

  TpcCostModel() = default;
  // Takes the clock, launch overhead and instruction costs from the device
  // config; a field left 0 or a class left out keeps its default (a validated
  // config has them all).
  explicit TpcCostModel(const proto::TpcConfig& config);

  uint32_t issue(OpClass c) const { return issue_cycles[static_cast<int>(c)]; }
  uint32_t stall(OpClass c) const { return stall_cycles[static_cast<int>(c)]; }
  double cycles_to_ns(uint64_t cycles) const { return static_cast<double>(cycles) * 1000.0 / clock_mhz; }
};

// The kernel API is built for 256-byte vectors; a config describing another
// width cannot run these kernels. Returns kInvalidArgument naming the field.
Status check_tpc_config_for_kernels(const proto::TpcConfig& config);

struct SliceCost {
  std::array<uint64_t, kSlotCount> slot_cycles{};  // busy cycles per slot
  Slot busiest_slot = Slot::kVector;                 // the first slot with the most cycles
  uint64_t issue_cycles = 0;                         // max of slot_cycles
  uint64_t stall_cycles = 0;
  uint64_t cycles = 0;  // issue_cycles + stall_cycles
  uint64_t bytes_loaded = 0;
  uint64_t bytes_stored = 0;

  // slot_cycles[s] / cycles, 0 for an empty slice.
  double utilisation(Slot s) const;
};

struct SliceCounters {
  std::array<uint64_t, kOpClassCount> ops{};  // instructions issued per class
  uint64_t bytes_loaded = 0;
  uint64_t bytes_stored = 0;
  uint64_t extra_stall_cycles = 0;  // stalls a kernel declared itself (KernelContext::add_stall_cycles)

  uint64_t count(OpClass c) const { return ops[static_cast<int>(c)]; }
  // Instructions issued in one slot (sum over its classes).
  uint64_t instructions(Slot s) const;
  uint64_t total_instructions() const;

  SliceCost cost(const TpcCostModel& model) const;

  SliceCounters& operator+=(const SliceCounters& other);
  friend bool operator==(const SliceCounters&, const SliceCounters&) = default;
};

}  // namespace kiln::kernels
