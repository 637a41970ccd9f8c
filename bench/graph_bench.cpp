// A step as eager ops, as a cached lazy graph, and as a captured graph's
// replay: what each costs the host, and the simulated step time. Figures
// and how to reproduce them: docs/performance.md.
//
//   bench_graphs --benchmark_min_time=0.2
//
// Times are host wall time per step. Counters: sim_us_per_step is the
// simulated time per step (host timeline and device, deterministic),
// measured over the timed steps with a final synchronize.
#include <benchmark/benchmark.h>

#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kiln/runtime/graph_capture.h"
#include "kiln/runtime/ops.h"
#include "kiln/runtime/runtime.h"
#include "runtime_chain.h"

namespace {

using namespace kiln::runtime;
using kiln::DType;
using kiln::bench::record_chain;

enum StepMode { kEagerStep = 0, kLazyStep = 1, kReplayStep = 2 };

std::unique_ptr<Runtime> open_or_skip(benchmark::State& state, const char* config, Mode mode,
                                      std::vector<std::string> disabled_passes) {
  RuntimeOptions o;
  o.mode = mode;
  o.disabled_passes = std::move(disabled_passes);
  o.device.functional = false;
  o.device.trace_host_calls = false;
  auto rt = Runtime::open(config, o);
  if (!rt.ok()) {
    state.SkipWithError(rt.status().to_string().c_str());
    return nullptr;
  }
  return std::move(*rt);
}

// Runs `step` as the benchmark's iterations (synchronising every 16 steps
// with the timer paused) and reports the simulated time per step.
void run_steps(benchmark::State& state, Runtime& rt, const std::function<void()>& step) {
  step();  // warm: compiles, captures, fills the pool
  (void)rt.synchronize();
  const double sim_before = rt.device().now_ns();
  int64_t steps = 0;
  for (auto _ : state) {
    step();
    if (++steps % 16 == 0) {
      state.PauseTiming();
      (void)rt.synchronize();
      state.ResumeTiming();
    }
  }
  (void)rt.synchronize();
  state.counters["sim_us_per_step"] = (rt.device().now_ns() - sim_before) / 1e3 / static_cast<double>(steps);
  state.counters["compilations"] = static_cast<double>(rt.stats().compilations);
}

// A graph of state.range(0) elementwise ops over [64, 64] tensors.
void BM_ChainStep(benchmark::State& state, StepMode mode) {
  auto rt = open_or_skip(state, "tiny", mode == kEagerStep ? Mode::kEager : Mode::kLazy, {});
  if (!rt) return;
  const int ops = static_cast<int>(state.range(0));
  Tensor a = rt->zeros({64, 64}, DType::kF32).value();
  Tensor b = rt->zeros({64, 64}, DType::kF32).value();
  (void)rt->synchronize();
  if (mode != kReplayStep) {
    run_steps(state, *rt, [&] {
      Tensor y = record_chain(a, b, ops);
      (void)rt->mark_step();
    });
    return;
  }
  (void)rt->capture_begin();
  Tensor y = record_chain(a, b, ops);
  CapturedGraph g = rt->capture_end().value();
  run_steps(state, *rt, [&] { (void)g.replay(); });
}
BENCHMARK_CAPTURE(BM_ChainStep, eager, kEagerStep)->Arg(50)->Arg(200)->Arg(1000)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_ChainStep, lazy, kLazyStep)->Arg(50)->Arg(200)->Arg(1000)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_ChainStep, replay, kReplayStep)->Arg(50)->Arg(200)->Arg(1000)->Unit(benchmark::kMicrosecond);

// A GPT-2 style pre-norm decoder block (d 768, 12 heads, FFN 3072) at
// batch 1 over 8 tokens on gaudi2: the small-batch step where the host's
// dispatch shows.
struct Block {
  Tensor ln1_g, ln1_b, wq, wk, wv, wo, ln2_g, ln2_b, w1, w2, bq, bk, bv, bo, b1, b2;
};

Block make_block(Runtime& rt) {
  const int64_t d = 768, f = 3072;
  Block p;
  uint64_t seed = 1;
  auto w = [&](kiln::runtime::Shape s) { return rt.rand_uniform(std::move(s), DType::kBF16, seed++, -0.03, 0.03).value(); };
  p.ln1_g = w({d});
  p.ln1_b = w({d});
  p.ln2_g = w({d});
  p.ln2_b = w({d});
  p.wq = w({d, d});
  p.wk = w({d, d});
  p.wv = w({d, d});
  p.wo = w({d, d});
  p.w1 = w({f, d});
  p.w2 = w({d, f});
  p.bq = w({d});
  p.bk = w({d});
  p.bv = w({d});
  p.bo = w({d});
  p.b1 = w({f});
  p.b2 = w({d});
  return p;
}

Tensor block_step(const Block& p, const Tensor& x) {
  const int64_t b = x.dim(0), t = x.dim(1), d = x.dim(2), h = 12;
  const Tensor n1 = layer_norm(x, 1, p.ln1_g, p.ln1_b).value();
  auto heads = [&](const Tensor& w, const Tensor& bias) {
    return linear(n1, w, bias).value().reshape({b, t, h, d / h}).value().permute({0, 2, 1, 3}).value();
  };
  const Tensor attn = scaled_dot_product_attention(heads(p.wq, p.bq), heads(p.wk, p.bk), heads(p.wv, p.bv))
                          .value()
                          .permute({0, 2, 1, 3})
                          .value()
                          .reshape({b, t, d})
                          .value();
  const Tensor x1 = add(x, linear(attn, p.wo, p.bo).value()).value();
  const Tensor n2 = layer_norm(x1, 1, p.ln2_g, p.ln2_b).value();
  return add(x1, linear(gelu(linear(n2, p.w1, p.b1).value()).value(), p.w2, p.b2).value()).value();
}

void BM_DecoderBlockStep(benchmark::State& state, StepMode mode) {
  auto rt = open_or_skip(state, "gaudi2", mode == kEagerStep ? Mode::kEager : Mode::kLazy, {});
  if (!rt) return;
  const Block p = make_block(*rt);
  Tensor x = rt->rand_uniform({1, 8, 768}, DType::kBF16, 99).value();
  (void)rt->synchronize();
  if (mode != kReplayStep) {
    run_steps(state, *rt, [&] {
      Tensor y = block_step(p, x);
      (void)rt->mark_step();
    });
    return;
  }
  (void)rt->capture_begin();
  Tensor y = block_step(p, x);
  CapturedGraph g = rt->capture_end().value();
  run_steps(state, *rt, [&] { (void)g.replay(); });
}
BENCHMARK_CAPTURE(BM_DecoderBlockStep, eager, kEagerStep)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_DecoderBlockStep, lazy, kLazyStep)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_DecoderBlockStep, replay, kReplayStep)->Unit(benchmark::kMicrosecond);

// The same block over a long prompt (batch 1, state.range(0) tokens) as a
// lazy step, with attention composed (matmul, scale, softmax, matmul: the
// scores in HBM) or fused (the fuse_sdpa pass: fused_sdpa over SRAM tiles).
void BM_PromptBlockAttention(benchmark::State& state, bool fused) {
  auto rt = open_or_skip(state, "gaudi2", Mode::kLazy, fused ? std::vector<std::string>{} : std::vector<std::string>{"fuse_sdpa"});
  if (!rt) return;
  const Block p = make_block(*rt);
  Tensor x = rt->rand_uniform({1, state.range(0), 768}, DType::kBF16, 99).value();
  (void)rt->synchronize();
  run_steps(state, *rt, [&] {
    Tensor y = block_step(p, x);
    (void)rt->mark_step();
  });
}
BENCHMARK_CAPTURE(BM_PromptBlockAttention, composed, false)->Arg(1024)->Arg(2048)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_PromptBlockAttention, fused, true)->Arg(1024)->Arg(2048)->Unit(benchmark::kMicrosecond);

}  // namespace
