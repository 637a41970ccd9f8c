// The profile `kiln run` prints for its last iteration. Internal to kiln_onnx.
#pragma once

#include <cstddef>

#include "kiln/frontend/onnx_runner.h"
#include "kiln/proto/trace.pb.h"

namespace kiln::frontend::detail {

// The events of `trace` that start in [from_ns, to_ns) on the simulated
// timeline, analysed; at most `top_ops` rows in each table.
RunProfile profile_window(const proto::Trace& trace, double from_ns, double to_ns, std::size_t top_ops);

}  // namespace kiln::frontend::detail
