// Runs a small MLP and a GPT-style transformer block through the runtime in
// eager mode, in lazy mode and as a captured graph's replays, three steps
// each, and prints what a step costs in simulated time — on the host
// (dispatch, recording, compilation, launch) and on the device — with the
// compile counts and cache hits.
//
//   runtime_steps [config] [trace-prefix] [--values]
//
// config defaults to "gaudi2". The device runs timing-only (every op takes
// its simulated time, no values are computed: the figures are the same);
// --values computes them too, which takes the host much longer. With a trace prefix, each run's trace is
// written to <prefix>-<model>-<mode>.pb for `kiln trace summary`.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "kiln/proto/trace.pb.h"
#include "kiln/runtime/graph_capture.h"
#include "kiln/runtime/ops.h"
#include "kiln/runtime/runtime.h"

using namespace kiln;
using namespace kiln::runtime;

namespace {

template <typename T>
T must(Result<T> r, const char* what) {
  if (!r.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, r.status().to_string().c_str());
    std::exit(1);
  }
  return std::move(r).value();
}

Tensor weight(Runtime& rt, Shape shape, uint64_t seed) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(shape.back()));
  return must(rt.rand_uniform(std::move(shape), DType::kBF16, seed, -scale, scale), "weight");
}

struct Model {
  const char* name;
  std::function<void(Runtime&)> setup;  // makes the weights
  std::function<Tensor(Runtime&)> step; // one forward pass
  std::function<void()> teardown;       // drops the weights (tensors must not outlive their runtime)
};

// Host time and device time of the trace events in [from, to).
struct StepTimes {
  double host_ns = 0, device_ns = 0;
};

StepTimes times_between(const proto::Trace& trace, int first_event) {
  StepTimes t;
  uint64_t device_start = UINT64_MAX, device_end = 0;
  for (int i = first_event; i < trace.events_size(); ++i) {
    const auto& e = trace.events(i);
    if (e.clock() == proto::HOST_SIMULATED) t.host_ns += static_cast<double>(e.end_ps() - e.start_ps()) / 1e3;
    const std::string& track = e.track();
    const bool engine = track.rfind("MME", 0) == 0 || track.rfind("TPC", 0) == 0 || track.rfind("DMA", 0) == 0;
    if (e.clock() == proto::DEVICE_SIMULATED && engine) {
      device_start = std::min<uint64_t>(device_start, e.start_ps());
      device_end = std::max<uint64_t>(device_end, e.end_ps());
    }
  }
  if (device_end > device_start) t.device_ns = static_cast<double>(device_end - device_start) / 1e3;
  return t;
}

bool with_values = false;

enum class StepMode { kEager, kLazy, kReplay };

void run(const std::string& config, const Model& model, StepMode mode, const std::string& trace_prefix) {
  RuntimeOptions options;
  options.mode = mode == StepMode::kEager ? Mode::kEager : Mode::kLazy;
  options.device.functional = with_values;
  auto rt = must(Runtime::open(config, options), "open");
  model.setup(*rt);
  if (!rt->synchronize().ok()) std::exit(1);
  const char* mode_name = mode == StepMode::kEager ? "eager" : mode == StepMode::kLazy ? "lazy" : "replay";
  CapturedGraph graph;
  Tensor y;
  for (int step = 1; step <= 3; ++step) {
    const int first = rt->device().trace_proto().events_size();
    const double start = rt->device().now_ns();
    const RuntimeStats before = rt->stats();
    if (mode != StepMode::kReplay) {
      y = model.step(*rt);
    } else {
      if (graph.empty()) {  // the first step captures (compiles) the graph, then every step replays it
        if (!rt->capture_begin().ok()) std::exit(1);
        y = model.step(*rt);
        graph = must(rt->capture_end(), "capture");
      }
      if (!graph.replay().ok()) std::exit(1);
    }
    if (!rt->synchronize().ok()) std::exit(1);
    const double total = rt->device().now_ns() - start;
    const StepTimes t = times_between(rt->device().trace_proto(), first);
    const RuntimeStats after = rt->stats();
    std::printf("%-17s %-6s step %d: %8.1f us (host track %8.1f us, device span %8.1f us); compiled %llu, cache hits %llu\n",
                model.name, mode_name, step, total / 1e3, t.host_ns / 1e3, t.device_ns / 1e3,
                static_cast<unsigned long long>(after.compilations - before.compilations),
                static_cast<unsigned long long>(after.cache_hits - before.cache_hits));
  }
  if (!trace_prefix.empty()) {
    const std::string path = trace_prefix + "-" + model.name + "-" + mode_name + ".pb";
    if (rt->device().write_trace(path).ok()) std::printf("  trace: %s\n", path.c_str());
  }
  y = Tensor();
  graph = CapturedGraph();
  model.teardown();
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--values") with_values = true;
    else args.emplace_back(argv[i]);
  }
  const std::string config = args.size() > 0 ? args[0] : "gaudi2";
  const std::string trace_prefix = args.size() > 1 ? args[1] : "";

  // MLP 512 -> 2048 -> 2048 -> 512 on 64 rows, bf16.
  std::vector<Tensor> mlp_w, mlp_b;
  Tensor mlp_x;
  const Model mlp{"mlp",
                  [&](Runtime& rt) {
                    mlp_w.clear();
                    mlp_b.clear();
                    const int64_t widths[] = {512, 2048, 2048, 512};
                    for (int i = 0; i < 3; ++i) {
                      mlp_w.push_back(weight(rt, {widths[i + 1], widths[i]}, 10 + i));
                      mlp_b.push_back(must(rt.zeros({widths[i + 1]}, DType::kBF16), "bias"));
                    }
                    mlp_x = must(rt.rand_normal({64, 512}, DType::kBF16, 1), "input");
                  },
                  [&](Runtime&) {
                    Tensor x = mlp_x;
                    for (int i = 0; i < 3; ++i) {
                      OpScope layer("fc" + std::to_string(i));
                      x = must(linear(x, mlp_w[static_cast<std::size_t>(i)], mlp_b[static_cast<std::size_t>(i)]), "linear");
                      if (i < 2) x = must(gelu(x, /*tanh_approximation=*/true), "gelu");
                    }
                    return x;
                  },
                  [&] {
                    mlp_w.clear();
                    mlp_b.clear();
                    mlp_x = Tensor();
                  }};

  // A GPT-2 style block: d_model 768, 12 heads, FFN 3072, 128 tokens, bf16.
  const int64_t d = 768, heads = 12, ffn = 3072, tokens = 128;
  std::vector<Tensor> w;
  Tensor block_x;
  const Model block{"transformer_block",
                    [&](Runtime& rt) {
                      w.clear();
                      const Shape shapes[] = {{d, d}, {d, d}, {d, d}, {d, d}, {ffn, d}, {d, ffn}};
                      for (int i = 0; i < 6; ++i) w.push_back(weight(rt, shapes[i], 20 + i));
                      for (int64_t n : {d, d, d, d, ffn, d}) w.push_back(must(rt.zeros({n}, DType::kBF16), "bias"));
                      for (int i = 0; i < 2; ++i) w.push_back(must(rt.full({d}, 1.0, DType::kBF16), "gamma"));
                      for (int i = 0; i < 2; ++i) w.push_back(must(rt.zeros({d}, DType::kBF16), "beta"));
                      block_x = must(rt.rand_normal({1, tokens, d}, DType::kBF16, 2), "input");
                    },
                    [&](Runtime&) {
                      const Tensor& x = block_x;
                      Tensor n1, attn;
                      {
                        OpScope s("attn");
                        n1 = must(layer_norm(x, 1, w[12], w[14]), "ln1");
                        auto heads_of = [&](int i) {
                          Tensor t = must(linear(n1, w[static_cast<std::size_t>(i)], w[static_cast<std::size_t>(6 + i)]), "qkv");
                          return must(must(t.reshape({1, tokens, heads, d / heads}), "reshape").permute({0, 2, 1, 3}), "permute");
                        };
                        Tensor o = must(scaled_dot_product_attention(heads_of(0), heads_of(1), heads_of(2)), "attention");
                        o = must(must(o.permute({0, 2, 1, 3}), "permute").reshape({1, tokens, d}), "reshape");
                        attn = must(linear(o, w[3], w[9]), "out proj");
                      }
                      Tensor x1 = must(add(x, attn), "residual");
                      OpScope s("mlp");
                      Tensor h = must(layer_norm(x1, 1, w[13], w[15]), "ln2");
                      h = must(gelu(must(linear(h, w[4], w[10]), "fc1"), true), "gelu");
                      return must(add(x1, must(linear(h, w[5], w[11]), "fc2")), "residual");
                    },
                    [&] {
                      w.clear();
                      block_x = Tensor();
                    }};

  for (const Model* m : {&mlp, &block}) {
    for (StepMode mode : {StepMode::kEager, StepMode::kLazy, StepMode::kReplay}) run(config, *m, mode, trace_prefix);
  }
  return 0;
}
