// `kiln run` on real architectures (docs/performance.md, "Models"):
//
// - ResNet50Values: host wall time of what `kiln run resnet50_224.onnx --check`
//   does (load, check, lower, compile, simulate with values, read back) on a
//   fresh gaudi2 runtime, one iteration, for torchvision's ResNet-50 at
//   data/real's 1x3x224x224. Against it, in the same run,
//   ResNet50BareGemms: the model's convolutions and matmuls as plain OpenBLAS
//   sgemm calls of their im2col shapes on all cores — the arithmetic alone.
//   The ratio of the two is the simulator's whole overhead on top of it.
// - LoadModel_resnet50_224: OnnxModel::load alone (read, ONNX's checker and
//   shape inference, Kiln's support check) of the same file, for values:
//   the part of the first that does not depend on the device.
// - Gpt2Prompt1024TimingOnly (the figure), Decoder7bDecodeTimingOnly (and the other
//   generated decoder graphs): host wall time of a timing-only run.
//
// The models are generated, not committed: tests/models/export_models.py
// writes them (the models ctest does so into the build tree). A missing
// model skips its benchmark with a message naming the command.
#include <benchmark/benchmark.h>
#include <cblas.h>
#include <onnx/onnx_pb.h>
#include <onnx/shape_inference/implementation.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "kiln/frontend/onnx_model.h"
#include "kiln/frontend/onnx_runner.h"

namespace {

namespace fs = std::filesystem;

fs::path models_dir() {
  const char* env = std::getenv("KILN_BENCH_MODELS");
  return env ? fs::path(env) : fs::path(KILN_BENCH_MODELS_DEFAULT);
}

bool require(benchmark::State& state, const fs::path& model) {
  if (fs::exists(model)) return true;
  std::string m = model.string();
  m += " is missing: generate it with /usr/bin/python3 tests/models/export_models.py --out ";
  m += models_dir().string();
  m += " (and --bench for resnet50_224 and gpt2_124m_prompt1024), or set KILN_BENCH_MODELS";
  state.SkipWithError(m.c_str());
  return false;
}

void run_model(benchmark::State& state, const fs::path& dir, bool timing_only) {
  const fs::path model = dir / "model.onnx";
  if (!require(state, model)) return;
  for (auto _ : state) {
    kiln::runtime::RuntimeOptions ro;
    ro.device.functional = !timing_only;
    auto rt = kiln::runtime::Runtime::open("gaudi2", ro);
    if (!rt.ok()) {
      state.SkipWithError(rt.status().to_string().c_str());
      return;
    }
    kiln::frontend::RunOptions o;
    o.model_path = model.string();
    if (!timing_only && fs::exists(dir / "test_data_set_0")) o.inputs_dir = o.check_dir = (dir / "test_data_set_0").string();
    auto report = kiln::frontend::run_onnx(**rt, o);
    if (!report.ok() || (report->checked && !report->passed)) {
      state.SkipWithError((report.ok() ? report->summary() : report.status().to_string()).c_str());
      return;
    }
    state.counters["simulated_us"] = report->iterations[0].simulated_ns / 1e3;
  }
}

struct Gemm {
  int64_t batch, m, k, n;
};

// The GEMMs of a model's Conv (im2col, per group), MatMul and Gemm nodes,
// from ONNX's shape inference.
std::vector<Gemm> model_gemms(const fs::path& path) {
  onnx::ModelProto model;
  std::ifstream in(path, std::ios::binary);
  if (!model.ParseFromIstream(&in)) return {};
  onnx::shape_inference::InferShapes(model);
  std::map<std::string, std::vector<int64_t>> shapes;
  auto note = [&](const onnx::ValueInfoProto& v) {
    std::vector<int64_t> dims;
    for (const auto& d : v.type().tensor_type().shape().dim()) dims.push_back(d.dim_value());
    shapes[v.name()] = dims;
  };
  const auto& g = model.graph();
  for (const auto& v : g.input()) note(v);
  for (const auto& v : g.value_info()) note(v);
  for (const auto& v : g.output()) note(v);
  for (const auto& t : g.initializer()) shapes[t.name()] = {t.dims().begin(), t.dims().end()};
  std::vector<Gemm> gemms;
  for (const auto& node : g.node()) {
    if (node.op_type() == "Conv") {
      const auto& w = shapes[node.input(1)];
      const auto& y = shapes[node.output(0)];
      if (w.size() != 4 || y.size() != 4) continue;
      int64_t groups = 1;
      for (const auto& a : node.attribute())
        if (a.name() == "group") groups = a.i();
      for (int64_t i = 0; i < groups; ++i) gemms.push_back({1, y[0] * y[2] * y[3], w[1] * w[2] * w[3], w[0] / groups});
    } else if (node.op_type() == "MatMul" || node.op_type() == "Gemm") {
      const auto& a = shapes[node.input(0)];
      const auto& y = shapes[node.output(0)];
      if (a.size() < 2 || y.size() < 2) continue;
      int64_t batch = 1;
      for (std::size_t i = 0; i + 2 < y.size(); ++i) batch *= y[i];
      const bool trans_a = node.op_type() == "Gemm" && [&] {
        for (const auto& at : node.attribute())
          if (at.name() == "transA") return at.i() != 0;
        return false;
      }();
      gemms.push_back({batch, y[y.size() - 2], trans_a ? a[a.size() - 2] : a.back(), y.back()});
    }
  }
  return gemms;
}

// ResNet-50 at data/real's input size, 1x3x224x224 (export_models.py --bench).
const char* const kResNet50 = "resnet50_224";

// The machine's noise (other processes, fresh-page costs that vary run to
// run) moves single runs by +-20%: the two sides of the ratio are each
// repeated, and their medians and minimums reported.
void with_repetitions(benchmark::internal::Benchmark* b) {
  b->Unit(benchmark::kMillisecond)->Iterations(1)->Repetitions(7)->ReportAggregatesOnly(true);
  b->ComputeStatistics("min", [](const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); });
}

void BM_ResNet50Values(benchmark::State& state) { run_model(state, models_dir() / kResNet50, false); }
BENCHMARK(BM_ResNet50Values)->Apply(with_repetitions);

void BM_ResNet50BareGemms(benchmark::State& state) {
  const fs::path model = models_dir() / kResNet50 / "model.onnx";
  if (!require(state, model)) return;
  const std::vector<Gemm> gemms = model_gemms(model);
  if (gemms.empty()) {
    state.SkipWithError("no Conv/MatMul/Gemm shapes found");
    return;
  }
  std::size_t a_max = 0, b_max = 0, c_max = 0;
  double flops = 0;
  for (const auto& g : gemms) {
    a_max = std::max<std::size_t>(a_max, static_cast<std::size_t>(g.m * g.k));
    b_max = std::max<std::size_t>(b_max, static_cast<std::size_t>(g.k * g.n));
    c_max = std::max<std::size_t>(c_max, static_cast<std::size_t>(g.m * g.n));
    flops += 2.0 * static_cast<double>(g.batch * g.m * g.k * g.n);
  }
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1, 1);
  std::vector<float> a(a_max), b(b_max), c(c_max);
  for (auto& v : a) v = dist(rng);
  for (auto& v : b) v = dist(rng);
  // OpenBLAS on every core, as a program that only multiplies would run it
  // (Kiln keeps it single-threaded and splits its tiles over TBB's threads).
  const int kiln_threads = openblas_get_num_threads();
  openblas_set_num_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  for (auto _ : state) {
    for (const auto& g : gemms)
      for (int64_t i = 0; i < g.batch; ++i)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<blasint>(g.m), static_cast<blasint>(g.n),
                    static_cast<blasint>(g.k), 1.0f, a.data(), static_cast<blasint>(g.k), b.data(), static_cast<blasint>(g.n),
                    0.0f, c.data(), static_cast<blasint>(g.n));
    benchmark::DoNotOptimize(c.data());
  }
  openblas_set_num_threads(kiln_threads);
  state.counters["threads"] = static_cast<double>(std::max(1u, std::thread::hardware_concurrency()));
  state.counters["gemms"] = static_cast<double>(gemms.size());
  state.counters["GFLOP"] = flops / 1e9;
}
BENCHMARK(BM_ResNet50BareGemms)->Apply(with_repetitions);

void BM_LoadModel_resnet50_224(benchmark::State& state) {
  const fs::path model = models_dir() / kResNet50 / "model.onnx";
  if (!require(state, model)) return;
  uint64_t in_place = 0;
  for (auto _ : state) {
    auto loaded = kiln::frontend::OnnxModel::load(model.string());
    if (!loaded.ok()) {
      state.SkipWithError(loaded.status().to_string().c_str());
      return;
    }
    in_place = (*loaded)->mapped_weight_bytes();
  }
  state.counters["weights_MB_in_place"] = static_cast<double>(in_place) / 1e6;
}
BENCHMARK(BM_LoadModel_resnet50_224)->Unit(benchmark::kMillisecond)->Iterations(5)->Repetitions(5)->ReportAggregatesOnly(true);

void BM_Gpt2PromptTimingOnly(benchmark::State& state) { run_model(state, models_dir() / "gpt2_124m_prompt", true); }
BENCHMARK(BM_Gpt2PromptTimingOnly)->Unit(benchmark::kMillisecond)->Iterations(2);

void BM_Gpt2Prompt1024TimingOnly(benchmark::State& state) {
  run_model(state, models_dir() / "gpt2_124m_prompt1024", true);
}
BENCHMARK(BM_Gpt2Prompt1024TimingOnly)->Unit(benchmark::kMillisecond)->Iterations(2);

void BM_Gpt2DecodeTimingOnly(benchmark::State& state) { run_model(state, models_dir() / "gpt2_124m_decode", true); }
BENCHMARK(BM_Gpt2DecodeTimingOnly)->Unit(benchmark::kMillisecond)->Iterations(2);

void BM_Decoder7bDecodeTimingOnly(benchmark::State& state) { run_model(state, models_dir() / "decoder_7b_decode", true); }
BENCHMARK(BM_Decoder7bDecodeTimingOnly)->Unit(benchmark::kMillisecond)->Iterations(2);

void BM_Decoder7bPromptTimingOnly(benchmark::State& state) { run_model(state, models_dir() / "decoder_7b_prompt", true); }
BENCHMARK(BM_Decoder7bPromptTimingOnly)->Unit(benchmark::kMillisecond)->Iterations(1);

}  // namespace
