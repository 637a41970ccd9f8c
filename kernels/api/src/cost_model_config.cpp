// The TpcConfig-dependent part of the cost model, kept in its own object file:
// a kernel plugin that links the static kiln_kernel_api and never calls these
// does not pull in the generated protobuf code (whose registration would
// clash with the host's copy when the plugin is loaded).
#include "kiln/kernels/cost_model.h"

#include "kiln/kernels/vector.h"
#include "kiln/proto/device_config.pb.h"

namespace kiln::kernels {

TpcCostModel::TpcCostModel(const proto::TpcConfig& config) {
  if (config.clock_mhz() > 0) clock_mhz = config.clock_mhz();
  if (config.launch_overhead_ns() > 0) launch_overhead_ns = config.launch_overhead_ns();
  if (!config.has_instruction_costs()) return;
  const proto::TpcInstructionCosts& costs = config.instruction_costs();
  const auto take = [&](OpClass c, bool has, const proto::TpcInstructionCost& cost) {
    if (!has) return;
    issue_cycles[static_cast<int>(c)] = cost.issue_cycles();
    stall_cycles[static_cast<int>(c)] = cost.stall_cycles();
  };
  take(OpClass::kVectorLoad, costs.has_vector_load(), costs.vector_load());
  take(OpClass::kScalarLoad, costs.has_scalar_load(), costs.scalar_load());
  take(OpClass::kVectorStore, costs.has_vector_store(), costs.vector_store());
  take(OpClass::kScalarStore, costs.has_scalar_store(), costs.scalar_store());
  take(OpClass::kVectorAlu, costs.has_vector_alu(), costs.vector_alu());
  take(OpClass::kVectorDivSqrt, costs.has_vector_div_sqrt(), costs.vector_div_sqrt());
  take(OpClass::kVectorTranscendental, costs.has_vector_transcendental(), costs.vector_transcendental());
  take(OpClass::kVectorReduce, costs.has_vector_reduce(), costs.vector_reduce());
  take(OpClass::kScalarAlu, costs.has_scalar_alu(), costs.scalar_alu());
  static_assert(kOpClassCount == 9, "a new OpClass needs a TpcInstructionCosts field and a line here");
}

Status check_tpc_config_for_kernels(const proto::TpcConfig& config) {
  if (config.vector_width_bytes() != static_cast<uint32_t>(kVectorBytes)) {
    return invalid_argument("tpc.vector_width_bytes = " + std::to_string(config.vector_width_bytes()) +
                            ": the kernel API is built for " + std::to_string(kVectorBytes) +
                            "-byte vectors");
  }
  return Status::ok_status();
}

}  // namespace kiln::kernels
