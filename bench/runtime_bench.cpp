// What the runtime costs the host: recording a lazy op, a step that finds
// its recipe in the cache, compiling a graph, and an eager op. Figures and
// how to reproduce them: docs/performance.md.
//
//   bench_runtime --benchmark_min_time=0.2
//
// The device is "tiny" in timing-only mode (no values: the figures are the
// runtime's own host work, not the simulated kernels'). Times are host wall
// time per call; counters named sim_ are simulated time from the host
// timeline.
#include <benchmark/benchmark.h>

#include <memory>
#include <vector>

#include "kiln/runtime/ops.h"
#include "kiln/runtime/runtime.h"
#include "runtime_chain.h"

namespace {

using namespace kiln::runtime;
using kiln::bench::record_chain;

std::unique_ptr<Runtime> open_or_skip(benchmark::State& state, Mode mode, std::size_t cache_entries = 512) {
  RuntimeOptions o;
  o.mode = mode;
  o.recipe_cache_entries = cache_entries;
  o.device.functional = false;
  o.device.trace_host_calls = false;
  auto rt = Runtime::open("tiny", o);
  if (!rt.ok()) {
    state.SkipWithError(rt.status().to_string().c_str());
    return nullptr;
  }
  return std::move(*rt);
}

// Host wall time per op recorded in lazy mode (shape and dtype checks, the
// graph node, the signature, and the teardown of one node of the last step,
// which recording pays op by op). The pending graph is run every 1000 ops
// with the timer paused.
void BM_LazyRecordOp(benchmark::State& state) {
  auto rt = open_or_skip(state, Mode::kLazy);
  if (!rt) return;
  Tensor a = rt->zeros({64, 64}, kiln::DType::kF32).value();
  Tensor b = rt->zeros({64, 64}, kiln::DType::kF32).value();
  (void)rt->synchronize();
  Tensor x = a;
  int recorded = 0;
  for (auto _ : state) {
    x = add(x, b).value();
    if (++recorded == 1000) {
      state.PauseTiming();
      (void)rt->synchronize();
      x = a;
      recorded = 0;
      state.ResumeTiming();
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LazyRecordOp);

// mark_step of a 1000-op graph whose recipe is cached: signature lookup,
// binding and submission. Recording is outside the timer.
void BM_MarkStepCacheHit1000Ops(benchmark::State& state) {
  auto rt = open_or_skip(state, Mode::kLazy);
  if (!rt) return;
  Tensor a = rt->zeros({64, 64}, kiln::DType::kF32).value();
  Tensor b = rt->zeros({64, 64}, kiln::DType::kF32).value();
  (void)rt->synchronize();
  {
    Tensor warm = record_chain(a, b, 1000);
    (void)rt->synchronize();  // compiles once
  }
  const double sim_before = rt->device().now_ns();
  int steps = 0;
  for (auto _ : state) {
    state.PauseTiming();
    Tensor y = record_chain(a, b, 1000);
    state.ResumeTiming();
    (void)rt->mark_step();
    state.PauseTiming();
    if (++steps % 16 == 0) (void)rt->synchronize();
    y = Tensor();
    state.ResumeTiming();
  }
  (void)rt->synchronize();
  const auto s = rt->stats();
  state.counters["compilations"] = static_cast<double>(s.compilations);
  state.counters["cache_hits"] = static_cast<double>(s.cache_hits);
  state.counters["sim_us_per_step"] = (rt->device().now_ns() - sim_before) / 1e3 / steps;
}
BENCHMARK(BM_MarkStepCacheHit1000Ops)->Unit(benchmark::kMicrosecond);

// A whole cached lazy step of 1000 ops, as a training loop pays it: recording
// (with the last step's teardown) and mark_step, all timed.
void BM_LazyStep1000Ops(benchmark::State& state) {
  auto rt = open_or_skip(state, Mode::kLazy);
  if (!rt) return;
  Tensor a = rt->zeros({64, 64}, kiln::DType::kF32).value();
  Tensor b = rt->zeros({64, 64}, kiln::DType::kF32).value();
  (void)rt->synchronize();
  int steps = 0;
  for (auto _ : state) {
    Tensor y = record_chain(a, b, 1000);
    (void)rt->mark_step();
    y = Tensor();
    if (++steps % 16 == 0) {
      state.PauseTiming();
      (void)rt->synchronize();
      state.ResumeTiming();
    }
  }
  (void)rt->synchronize();
  state.counters["compilations"] = static_cast<double>(rt->stats().compilations);
}
BENCHMARK(BM_LazyStep1000Ops)->Unit(benchmark::kMicrosecond);

// Compiling a 1000-op graph: every step misses (two shapes alternate in a
// one-entry cache). The time is mark_step's; compile_ms is the compiler's
// own wall time per compilation.
void BM_Compile1000Ops(benchmark::State& state) {
  auto rt = open_or_skip(state, Mode::kLazy, 1);
  if (!rt) return;
  Tensor in[2][2];
  for (int s = 0; s < 2; ++s) {
    for (auto& t : in[s]) t = rt->zeros({64, 64 + s}, kiln::DType::kF32).value();
  }
  (void)rt->synchronize();
  int step = 0;
  for (auto _ : state) {
    state.PauseTiming();
    Tensor y = record_chain(in[step % 2][0], in[step % 2][1], 1000);
    ++step;
    state.ResumeTiming();
    (void)rt->mark_step();
    state.PauseTiming();
    (void)rt->synchronize();
    y = Tensor();
    state.ResumeTiming();
  }
  const auto s = rt->stats();
  state.counters["compile_ms"] = s.compile_wall_ms / static_cast<double>(s.compilations);
  state.counters["compilations"] = static_cast<double>(s.compilations);
}
BENCHMARK(BM_Compile1000Ops)->Unit(benchmark::kMillisecond);

// One eager op: checks, the one-node graph's signature and cache lookup,
// binding and submission. Synchronised every 256 ops, outside the timer.
void BM_EagerOp(benchmark::State& state) {
  auto rt = open_or_skip(state, Mode::kEager);
  if (!rt) return;
  Tensor a = rt->zeros({64, 64}, kiln::DType::kF32).value();
  Tensor b = rt->zeros({64, 64}, kiln::DType::kF32).value();
  (void)rt->synchronize();
  int ops = 0;
  for (auto _ : state) {
    Tensor y = add(a, b).value();
    if (++ops % 256 == 0) {
      state.PauseTiming();
      (void)rt->synchronize();
      state.ResumeTiming();
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EagerOp);

}  // namespace
