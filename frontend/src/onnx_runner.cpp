// run_onnx: inputs, the model in the chosen mode, timing, checks.
#include "kiln/frontend/onnx_runner.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>
#include <sstream>

#include "kiln/proto/trace.pb.h"
#include "run_profile.h"

namespace kiln::frontend {
namespace fs = std::filesystem;
using runtime::Tensor;

namespace {

runtime::Shape to_shape(const std::vector<int64_t>& dims) {
  runtime::Shape s;
  for (int64_t d : dims) s.push_back(d);
  return s;
}

HostTensor random_input(const ValueSpec& spec, std::mt19937_64& rng) {
  HostTensor h;
  h.name = spec.name;
  h.dtype = spec.dtype;
  h.shape = spec.shape;
  h.data.assign(static_cast<std::size_t>(h.numel()) * dtype_size(h.dtype), std::byte{0});
  if (spec.dtype == DType::kF32) {
    std::normal_distribution<float> dist(0.0f, 1.0f);
    for (int64_t i = 0; i < h.numel(); ++i) {
      const float v = dist(rng);
      std::memcpy(h.data.data() + 4 * i, &v, 4);
    }
  }
  return h;  // other dtypes: zeros (valid indices, false masks)
}

Result<HostTensor> read_output(const Tensor& t, const std::string& name) {
  HostTensor h;
  h.name = name;
  h.dtype = t.dtype();
  for (int64_t d : t.shape()) h.shape.push_back(d);
  h.data.resize(static_cast<std::size_t>(h.numel()) * dtype_size(h.dtype));
  KILN_RETURN_IF_ERROR(t.to_host(h.data.data(), h.data.size()));
  return h;
}

}  // namespace

Result<RunReport> run_onnx(runtime::Runtime& rt, const RunOptions& options) {
  // The model is checked first (unsupported nodes, non-tensor inputs) so a
  // file it could never read is not what the error names; then the input
  // files, whose shapes bind the symbolic dims the caller left open.
  LoadOptions load;
  load.bindings = options.bindings;
  load.allow_unbound = !options.inputs_dir.empty();
  load.timing_only = !rt.options().device.functional;
  load.autocast = options.precision;
  const auto load_start = std::chrono::steady_clock::now();
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<OnnxModel> model, OnnxModel::load(options.model_path, load));
  std::vector<HostTensor> files;
  if (!options.inputs_dir.empty()) {
    for (int i = 0;; ++i) {
      const fs::path p = fs::path(options.inputs_dir) / ("input_" + std::to_string(i) + ".pb");
      if (!fs::exists(p)) break;
      KILN_ASSIGN_OR_RETURN(HostTensor h, read_tensor_file(p.string()));
      files.push_back(std::move(h));
    }
    bool unbound = false;
    for (const auto& spec : model->inputs())
      unbound = unbound || std::count(spec.shape.begin(), spec.shape.end(), -1) > 0;
    if (unbound && files.size() == model->inputs().size()) {
      // Re-load with every symbolic dim bound from the files (shape inference then sees them).
      KILN_ASSIGN_OR_RETURN(model, OnnxModel::load(options.model_path, load, files));
    }
  }
  const auto& specs = model->inputs();
  if (!files.empty() && files.size() != specs.size())
    return invalid_argument("'" + options.inputs_dir + "' has " + std::to_string(files.size()) + " input files, the model takes " +
                            std::to_string(specs.size()));
  std::vector<HostTensor> host_inputs;
  std::mt19937_64 rng(options.seed);
  for (std::size_t i = 0; i < specs.size(); ++i) {
    if (!files.empty()) {
      if (files[i].dtype != specs[i].dtype)
        return invalid_argument("input " + std::to_string(i) + " ('" + specs[i].name + "'): file holds " + describe(files[i]) +
                                ", the model takes " + std::string(dtype_name(specs[i].dtype)));
      host_inputs.push_back(files[i]);
    } else {
      if (std::count(specs[i].shape.begin(), specs[i].shape.end(), -1))
        return invalid_argument("input '" + specs[i].name + "' has an unbound dim: --bind it or give --inputs");
      host_inputs.push_back(random_input(specs[i], rng));
    }
  }

  RunReport report;
  report.load_wall_ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - load_start).count();
  report.mapped_weight_bytes = model->mapped_weight_bytes();
  std::vector<Tensor> outputs;
  std::vector<double> starts;
  driver::Device& dev = rt.device();
  const int iterations = std::max(1, options.iterations);

  auto upload = [&](std::vector<Tensor>& dst) -> Status {
    dst.clear();
    for (const auto& h : host_inputs) {
      KILN_ASSIGN_OR_RETURN(Tensor t, rt.from_host(h.data.data(), h.data.size(), to_shape(h.shape), h.dtype));
      dst.push_back(t);
    }
    return {};
  };

  runtime::CapturedGraph graph;
  std::vector<Tensor> static_inputs;
  for (int it = 0; it < iterations; ++it) {
    const uint64_t compiles_before = rt.stats().compilations;
    const double t0 = dev.now_ns();
    const auto w0 = std::chrono::steady_clock::now();
    starts.push_back(t0);
    if (options.mode == RunMode::kGraph) {
      if (it == 0) {
        // Static inputs, written in place before every replay (as a serving loop would).
        for (const auto& h : host_inputs) {
          KILN_ASSIGN_OR_RETURN(Tensor t, rt.empty(to_shape(h.shape), h.dtype));
          static_inputs.push_back(t);
        }
        KILN_RETURN_IF_ERROR(rt.capture_begin());
        auto outs = model->run(rt, static_inputs, host_inputs);
        if (!outs.ok()) {
          rt.capture_discard();
          return outs.status();
        }
        outputs = std::move(outs).value();
        KILN_ASSIGN_OR_RETURN(graph, rt.capture_end());
      }
      for (std::size_t i = 0; i < host_inputs.size(); ++i)
        KILN_RETURN_IF_ERROR(rt.copy_from_host(static_inputs[i], host_inputs[i].data.data(), host_inputs[i].data.size()));
      KILN_RETURN_IF_ERROR(graph.replay());
    } else {
      std::optional<runtime::ModeScope> scope;
      scope.emplace(rt, options.mode == RunMode::kEager ? runtime::Mode::kEager : runtime::Mode::kLazy);
      std::vector<Tensor> inputs;
      KILN_RETURN_IF_ERROR(upload(inputs));
      KILN_ASSIGN_OR_RETURN(outputs, model->run(rt, inputs, host_inputs));
      KILN_RETURN_IF_ERROR(rt.mark_step());
    }
    KILN_RETURN_IF_ERROR(rt.synchronize());
    IterationTime t;
    t.simulated_ns = dev.now_ns() - t0;
    t.wall_ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - w0).count();
    t.compilations = rt.stats().compilations - compiles_before;
    report.iterations.push_back(t);
    if (options.on_iteration) options.on_iteration(it + 1, iterations);
  }

  if (options.measure_device) {
    const proto::Trace trace = dev.trace_proto();
    for (std::size_t i = 0; i < report.iterations.size(); ++i) {
      const double lo = starts[i], hi = starts[i] + report.iterations[i].simulated_ns;
      std::vector<std::pair<double, double>> spans;
      for (const auto& e : trace.events()) {
        if (e.clock() != proto::DEVICE_SIMULATED) continue;
        const double s = std::max(lo, e.start_ps() / 1e3), f = std::min(hi, e.end_ps() / 1e3);
        if (f > s) spans.emplace_back(s, f);
      }
      std::sort(spans.begin(), spans.end());
      double busy = 0, cur_s = -1, cur_f = -1;
      for (auto [s, f] : spans) {
        if (s > cur_f) { busy += cur_f - cur_s; cur_s = s; cur_f = f; } else cur_f = std::max(cur_f, f);
      }
      busy += cur_f - cur_s;
      report.iterations[i].device_busy_ns = busy;
    }
    report.profile = detail::profile_window(trace, starts.back(), starts.back() + report.iterations.back().simulated_ns,
                                            options.top_ops);
  }

  if (rt.options().device.functional) {
    for (std::size_t i = 0; i < outputs.size(); ++i) {
      KILN_ASSIGN_OR_RETURN(HostTensor h, read_output(outputs[i], model->outputs()[i].name));
      report.outputs.push_back(std::move(h));
    }
  }
  if (!options.check_dir.empty() && rt.options().device.functional) {
    report.checked = true;
    report.passed = true;
    if (fs::exists(fs::path(options.check_dir) / ("output_" + std::to_string(report.outputs.size()) + ".pb")) ||
        (!report.outputs.empty() && !fs::exists(fs::path(options.check_dir) / ("output_" + std::to_string(report.outputs.size() - 1) + ".pb"))))
      return invalid_argument("'" + options.check_dir + "' does not hold one output_<i>.pb per model output (" +
                              std::to_string(report.outputs.size()) + ")");
    for (std::size_t i = 0; i < report.outputs.size(); ++i) {
      const fs::path p = fs::path(options.check_dir) / ("output_" + std::to_string(i) + ".pb");
      KILN_ASSIGN_OR_RETURN(HostTensor expected, read_tensor_file(p.string()));
      Comparison c = compare(expected, report.outputs[i], compare_tolerance(expected, options.precision));
      report.passed = report.passed && c.ok;
      report.checks.push_back({report.outputs[i].name, c});
    }
  }
  report.stats = rt.stats();
  return report;
}

Tolerance compare_tolerance(const HostTensor& expected, std::optional<DType> precision) {
  const bool floating = expected.dtype == DType::kF32 || expected.dtype == DType::kF16 || expected.dtype == DType::kBF16;
  if (!floating) return tolerance_for(expected.dtype);
  Tolerance t = tolerance_for(precision && expected.dtype == DType::kF32 ? *precision : expected.dtype);
  double largest = 1;
  for (int64_t i = 0; i < expected.numel(); ++i) largest = std::max(largest, std::abs(expected.at(i)));
  t.atol *= largest;
  return t;
}

}  // namespace kiln::frontend
