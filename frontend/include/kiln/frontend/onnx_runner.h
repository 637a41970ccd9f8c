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
#include <map>
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
  // engine jobs within each iteration). Off by default: a long run's trace is large.
  bool measure_device = false;
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
  std::vector<HostTensor> outputs;
  std::vector<IterationTime> iterations;
  bool checked = false;
  bool passed = false;
  std::vector<OutputCheck> checks;
  runtime::RuntimeStats stats;
  // Human-readable: latency per iteration (first vs steady), host vs device,
  // compilations, and the per-output diff summary.
  std::string summary() const;
};

// Loads options.model_path and runs it on `runtime`. Values are read back
// unless the runtime's device is timing-only.
Result<RunReport> run_onnx(runtime::Runtime& runtime, const RunOptions& options);

}  // namespace kiln::frontend
