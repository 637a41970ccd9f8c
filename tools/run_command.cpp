// `kiln run MODEL.onnx`: the model engineer's entry point. Loads an ONNX
// model (every unsupported node reported at once, before anything runs),
// runs it in eager, lazy or graph-replay mode on the simulated device, and
// prints latency per iteration, host vs device time, engine utilisation, the
// top ops and the critical path, compilations; with --check DIR, compares the
// outputs with DIR/output_*.pb (exit 1 on a diff). --json prints the same as
// one JSON object.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "commands.h"
#include "numbers.h"
#include "kiln/frontend/onnx_runner.h"

namespace kiln::tools {
namespace {

void print_run_usage(std::FILE* out) {
  std::fprintf(out,
               "usage: kiln run MODEL.onnx [--config NAME|PATH] [--mode eager|lazy|graph] [--inputs DIR]\n"
               "                [--check DIR] [--iterations N] [--bind NAME=SIZE]... [--seed S]\n"
               "                [--precision fp32|bf16|fp16] [--trace FILE] [--timing-only] [--json] [--top N]\n"
               "  --inputs DIR   input_<i>.pb TensorProto files (ONNX's test_data_set_N layout); else seeded random\n"
               "  --check DIR    compare the outputs with DIR/output_<i>.pb; exit 1 with a per-output diff on mismatch\n"
               "  --mode         lazy (default), eager, or graph (captured once, replayed per iteration)\n"
               "  --bind N=SIZE  the size of a symbolic input dim\n"
               "  --precision P  bf16|fp16: matmuls and convolutions in that dtype, as autocast would (fp32: the model's own)\n"
               "  --timing-only  simulated time only, no values (no --check); external weights may be absent\n"
               "                 (only their shapes are read), so a graph file alone times a large model\n"
               "  --json         the report as one JSON object on stdout\n"
               "  --top N        rows in the top-ops and critical-path tables (default 10)\n"
               "kiln run --list-ops: the ONNX op types the frontend lowers, one per line\n");
}

int run_failed(const std::string& m) { return command_failed("run", m, 2); }

}  // namespace

int run_run(const Args& args) {
  frontend::RunOptions options;
  std::string config = "gaudi2", trace;
  bool timing_only = false, json = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= args.size()) return false;
      *out = args[++i];
      return true;
    };
    std::string v;
    if (a == "-h" || a == "--help") {
      print_run_usage(stdout);
      return 0;
    } else if (a == "--list-ops") {
      for (const auto& op : frontend::supported_op_types()) std::printf("%s\n", op.c_str());
      return 0;
    } else if (a == "--config") {
      if (!value(&config)) return run_failed("--config needs a value");
    } else if (a == "--mode") {
      if (!value(&v)) return run_failed("--mode needs a value");
      if (v == "eager") options.mode = frontend::RunMode::kEager;
      else if (v == "lazy") options.mode = frontend::RunMode::kLazy;
      else if (v == "graph") options.mode = frontend::RunMode::kGraph;
      else return run_failed("--mode must be eager, lazy or graph, not '" + v + "'");
    } else if (a == "--inputs") {
      if (!value(&options.inputs_dir)) return run_failed("--inputs needs a directory");
    } else if (a == "--check") {
      if (!value(&options.check_dir)) return run_failed("--check needs a directory");
    } else if (a == "--iterations") {
      if (!value(&v)) return run_failed("--iterations needs a value");
      uint64_t n = 0;
      if (!parse_whole(v, 1, 1000000, &n)) return run_failed("--iterations must be a positive integer, not '" + v + "'");
      options.iterations = static_cast<int>(n);
    } else if (a == "--seed") {
      if (!value(&v)) return run_failed("--seed needs a value");
      uint64_t seed = 0;
      if (!parse_whole(v, 0, UINT64_MAX, &seed)) return run_failed("--seed must be a non-negative integer, not '" + v + "'");
      options.seed = seed;
    } else if (a == "--bind") {
      if (!value(&v)) return run_failed("--bind needs NAME=SIZE");
      const auto eq = v.find('=');
      uint64_t n = 0;
      if (eq == std::string::npos || eq == 0 || !parse_whole(v.substr(eq + 1), 0, INT64_MAX, &n))
        return run_failed("--bind needs NAME=SIZE, not '" + v + "'");
      options.bindings[v.substr(0, eq)] = static_cast<int64_t>(n);
    } else if (a == "--trace") {
      if (!value(&trace)) return run_failed("--trace needs a file");
    } else if (a == "--timing-only") {
      timing_only = true;
    } else if (a == "--precision") {
      if (!value(&v)) return run_failed("--precision needs fp32, bf16 or fp16");
      if (v == "fp32") options.precision.reset();
      else if (v == "bf16") options.precision = DType::kBF16;
      else if (v == "fp16") options.precision = DType::kF16;
      else return run_failed("--precision must be fp32, bf16 or fp16, not '" + v + "'");
    } else if (a == "--json") {
      json = true;
    } else if (a == "--top") {
      if (!value(&v)) return run_failed("--top needs a value");
      uint64_t n = 0;
      if (!parse_whole(v, 0, 10000, &n)) return run_failed("--top must be a count, not '" + v + "'");
      options.top_ops = static_cast<std::size_t>(n);
    } else if (!a.empty() && a[0] == '-') {
      print_run_usage(stderr);
      return run_failed("unknown option '" + a + "'");
    } else if (options.model_path.empty()) {
      options.model_path = a;
    } else {
      return run_failed("one model at a time ('" + a + "')");
    }
  }
  if (options.model_path.empty()) {
    print_run_usage(stderr);
    return 2;
  }
  if (timing_only && !options.check_dir.empty()) return run_failed("--check needs values: drop --timing-only");
  runtime::RuntimeOptions ro;
  ro.device.functional = !timing_only;
  options.measure_device = true;
  // A progress bar on a terminal, on stderr (stdout stays the report).
  const bool progress = isatty(STDERR_FILENO) && options.iterations > 1 && !json;
  if (progress) {
    options.on_iteration = [](int done, int total) {
      constexpr int kWidth = 30;
      const int filled = done * kWidth / total;
      std::fprintf(stderr, "\r[%s%s] %d/%d iterations", std::string(static_cast<std::size_t>(filled), '#').c_str(),
                   std::string(static_cast<std::size_t>(kWidth - filled), ' ').c_str(), done, total);
      if (done == total) std::fprintf(stderr, "\r%*s\r", kWidth + 32, "");
      std::fflush(stderr);
    };
  }
  auto rt = runtime::Runtime::open(config, ro);
  if (!rt.ok()) return run_failed(rt.status().to_string());
  auto report = frontend::run_onnx(**rt, options);
  if (!report.ok()) {
    return command_failed("run", report.status().to_string(), report.status().code() == ErrorCode::kUnimplemented ? 3 : 1);
  }
  if (json) {
    std::printf("%s", report->to_json().c_str());
  } else {
    std::printf("%s", report->summary().c_str());
  }
  if (options.check_dir.empty() && !json) {
    for (const auto& o : report->outputs) std::printf("output '%s': %s\n", o.name.c_str(), frontend::describe(o).c_str());
  }
  if (!trace.empty()) {
    Status s = (*rt)->device().write_trace(trace);
    if (!s.ok()) return run_failed(s.to_string());
    std::fprintf(json ? stderr : stdout, "trace: %s\n", trace.c_str());
  }
  return report->checked && !report->passed ? 1 : 0;
}

}  // namespace kiln::tools
