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
