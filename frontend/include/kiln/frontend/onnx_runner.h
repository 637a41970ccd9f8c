// Running an ONNX model end to end: what `kiln run MODEL.onnx` does and
// what the conformance tests call (the one code path both share).
//
// Inputs come from DIR/input_<i>.pb (ONNX's test_data_set_N layout) or are
// seeded random (floats normal(0, 1), integers and bools zero); symbolic
// dims not bound by the caller are bound from the input files' shapes. The
// model runs `iterations` times in the chosen mode; each iteration is
// timed on the simulated timeline and in host wall time. With a check dir,
// the outputs are compared with DIR/output_<i>.pb (kiln::frontend::compare,
// per-dtype tolerances).
//
// Threading: one call at a time per runtime. Errors: load errors come back
// as the Result's Status (kUnimplemented: the model has unsupported nodes,
// listed in one message); a failed comparison is a report with passed false.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "kiln/frontend/host_tensor.h"
#include "kiln/frontend/onnx_model.h"
#include "kiln/runtime/runtime.h"

namespace kiln::frontend {

enum class RunMode { kEager, kLazy, kGraph };  // graph: captured once, replayed per iteration

struct RunOptions {
  std::string model_path;
  std::map<std::string, int64_t> bindings;
  std::string inputs_dir;  // empty: seeded random inputs
  std::string check_dir;   // empty: no comparison
  RunMode mode = RunMode::kLazy;
  int iterations = 1;
  uint64_t seed = 1;
  // Fill IterationTime::device_busy_ns from the device's trace (the union of
  // engine jobs within each iteration) and RunReport::profile from the last
  // iteration's part of it. Off by default: a long run's trace is large.
  bool measure_device = false;
  // Autocast (LoadOptions::autocast): matrix ops in bf16 or f16. The check
  // then uses that dtype's tolerance (compare_tolerance).
  std::optional<DType> precision;
  // Rows of RunProfile::top_ops.
  std::size_t top_ops = 10;
  // Called after each iteration (done, total), on the calling thread.
  std::function<void(int, int)> on_iteration;
};

// The tolerance `--check` applies to an output whose reference has
// `expected` dtype: tolerance_for(expected), or under autocast of an fp32
// model to a lower precision that precision's; for floating outputs its atol
// scaled by the reference's largest magnitude (max(1, max |e|)): a product's
// rounding error grows with its operands, not with the one element compared
// (ResNet-50's small logits sit beside logits of ~10^4, whose sums' rounding
// they inherit).
Tolerance compare_tolerance(const HostTensor& expected, std::optional<DType> precision);

// One model op (an ONNX node, by its name) in the profiled iteration.
struct OpTime {
  std::string op;
  double time_ns = 0;   // its part of the engine jobs it ran in (traces::model_op_table)
  double share = 0;     // of all jobs' time, 0..1
  std::string engines;  // "MME:2 TPC:24"
  uint64_t jobs = 0;
};

// Where the last iteration's simulated time went, from the device trace
// (kiln/traces/analysis.h over that iteration's window).
struct RunProfile {
  double window_ns = 0;                          // the iteration's simulated span
  std::map<std::string, double> utilisation;     // engine class (MME, TPC, DMA) -> busy / window
  std::vector<OpTime> top_ops;                   // by time, largest first
  double critical_path_ns = 0;                   // the longest dependency chain's length
  std::vector<std::pair<std::string, double>> critical_ops;  // model ops on it, by ns on it, largest first
  std::size_t critical_steps = 0;
};

struct IterationTime {
  double simulated_ns = 0;  // the host's simulated clock across the iteration (it ends with a synchronize)
  double device_busy_ns = 0;  // simulated time some engine was busy within it (0 unless measured)
  double wall_ns = 0;       // host wall time
  uint64_t compilations = 0;
};

struct OutputCheck {
  std::string name;
  Comparison comparison;
};

struct RunReport {
  // Host wall time of loading the model (read, ONNX's checker and shape
  // inference, Kiln's support check; a second load when input files bind
  // symbolic dims is included), and the initializer bytes it read in place
  // from a mapping of their file (OnnxModel::mapped_weight_bytes).
  double load_wall_ns = 0;
  uint64_t mapped_weight_bytes = 0;
  std::vector<HostTensor> outputs;
  std::vector<IterationTime> iterations;
  bool checked = false;
  bool passed = false;
  std::vector<OutputCheck> checks;
  runtime::RuntimeStats stats;
  std::optional<RunProfile> profile;  // with RunOptions::measure_device
  // Human-readable: latency per iteration (first vs steady), host vs device,
  // compilations, engine utilisation, the top ops, the critical path, and
  // the per-output diff summary.
  std::string summary() const;
  // The same as one JSON object (docs/onnx.md lists its fields).
  std::string to_json() const;
};

// Loads options.model_path and runs it on `runtime`. Values are read back
// unless the runtime's device is timing-only.
Result<RunReport> run_onnx(runtime::Runtime& runtime, const RunOptions& options);

}  // namespace kiln::frontend
