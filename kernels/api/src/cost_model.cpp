#include "kiln/kernels/cost_model.h"

namespace kiln::kernels {

std::string_view slot_name(Slot s) {
  switch (s) {
    case Slot::kLoad: return "load";
    case Slot::kScalar: return "scalar";
    case Slot::kVector: return "vector";
    case Slot::kStore: return "store";
  }
  return "invalid";
}

std::string_view op_class_name(OpClass c) {
  switch (c) {
    case OpClass::kVectorLoad: return "vector_load";
    case OpClass::kScalarLoad: return "scalar_load";
    case OpClass::kVectorStore: return "vector_store";
    case OpClass::kScalarStore: return "scalar_store";
    case OpClass::kVectorAlu: return "vector_alu";
    case OpClass::kVectorDivSqrt: return "vector_div_sqrt";
    case OpClass::kVectorTranscendental: return "vector_transcendental";
    case OpClass::kVectorReduce: return "vector_reduce";
    case OpClass::kScalarAlu: return "scalar_alu";
  }
  return "invalid";
}

double SliceCost::utilisation(Slot s) const {
  if (cycles == 0) return 0.0;
  return static_cast<double>(slot_cycles[static_cast<int>(s)]) / static_cast<double>(cycles);
}

uint64_t SliceCounters::instructions(Slot s) const {
  uint64_t n = 0;
  for (int c = 0; c < kOpClassCount; ++c) {
    if (slot_of(static_cast<OpClass>(c)) == s) n += ops[c];
  }
  return n;
}

uint64_t SliceCounters::total_instructions() const {
  uint64_t n = 0;
  for (uint64_t v : ops) n += v;
  return n;
}

SliceCost SliceCounters::cost(const TpcCostModel& model) const {
  SliceCost cost;
  for (int c = 0; c < kOpClassCount; ++c) {
    auto cls = static_cast<OpClass>(c);
    cost.slot_cycles[static_cast<int>(slot_of(cls))] += ops[c] * model.issue(cls);
    cost.stall_cycles += ops[c] * model.stall(cls);
  }
  cost.stall_cycles += extra_stall_cycles;
  for (int s = 0; s < kSlotCount; ++s) {
    if (cost.slot_cycles[s] > cost.issue_cycles) {
      cost.issue_cycles = cost.slot_cycles[s];
      cost.busiest_slot = static_cast<Slot>(s);
    }
  }
  cost.cycles = cost.issue_cycles + cost.stall_cycles;
  cost.bytes_loaded = bytes_loaded;
  cost.bytes_stored = bytes_stored;
  return cost;
}

SliceCounters& SliceCounters::operator+=(const SliceCounters& other) {
  for (int c = 0; c < kOpClassCount; ++c) ops[c] += other.ops[c];
  bytes_loaded += other.bytes_loaded;
  bytes_stored += other.bytes_stored;
  extra_stall_cycles += other.extra_stall_cycles;
  return *this;
}

}  // namespace kiln::kernels
