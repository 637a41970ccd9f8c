// Host cost of simulating vector-core kernels. Figures: docs/performance.md.
//
//   bench_tpc --benchmark_min_time=0.2
//
// BM_ElementwiseAdd/<elements>/values:<0|1>: the library's fp32 `add` over a
// [4096, elements/4096] tensor on gaudi2 (24 cores), submitted and waited for.
// Counters: host_ns_per_element (wall time per simulated element, the figure
// the issue asks for), host_per_launch (what one launch round trip costs
// the host: at 4096 elements, the fixed cost an eager op would pay) and
// sim_us (simulated time of the launch).
#include <benchmark/benchmark.h>

#include <cstring>

#include "kiln/driver/device.h"
#include "kiln/kernels/kernel_arg_block.h"
#include "kiln/kernels/kernel_registry.h"

namespace {

using namespace kiln::driver;
using kiln::DType;
using kiln::kernels::TensorDesc;

void BM_ElementwiseAdd(benchmark::State& state) {
  const int64_t elements = state.range(0);
  const bool values = state.range(1) != 0;
  const int64_t w = 4096, h = elements / w;
  auto opened = Device::open("gaudi2", DeviceOptions{.functional = values, .trace_host_calls = false});
  if (!opened.ok()) return state.SkipWithError(opened.status().to_string().c_str());
  Device& dev = **opened;
  const uint64_t bytes = static_cast<uint64_t>(w * h * 4);
  auto a = dev.allocate(bytes), b = dev.allocate(bytes), out = dev.allocate(bytes);
  if (!a.ok() || !b.ok() || !out.ok()) return state.SkipWithError("allocation failed");
  kiln::kernels::KernelArgs args;
  args.add_tensor(TensorDesc::contiguous(a->address, DType::kF32, {w, h}))
      .add_tensor(TensorDesc::contiguous(b->address, DType::kF32, {w, h}))
      .add_tensor(TensorDesc::contiguous(out->address, DType::kF32, {w, h}));
  const auto encoded = kiln::kernels::encode_kernel_args(args);
  if (!encoded.ok()) return state.SkipWithError(encoded.status().to_string().c_str());
  auto block = dev.allocate_host(encoded->size());
  if (!block.ok()) return state.SkipWithError("allocation failed");
  std::memcpy(block->data, encoded->data(), encoded->size());
  CommandBuffer cb;
  cb.launch_tpc(kiln::kernels::kernel_id("add"), block->address);
  Stream& s = dev.default_stream();
  double sim_ns = 0;
  for (auto _ : state) {
    const double before = dev.now_ns();
    auto seq = s.submit(cb);
    if (!seq.ok() || !s.wait(*seq).ok()) return state.SkipWithError("kernel failed");
    sim_ns = dev.now_ns() - before;
    dev.trace()->clear();
  }
  state.counters["sim_us"] = sim_ns / 1e3;
  state.counters["host_ns_per_element"] = benchmark::Counter(
      static_cast<double>(elements) * static_cast<double>(state.iterations()),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert, benchmark::Counter::kIs1000);
  state.counters["host_per_launch"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                                        benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_ElementwiseAdd)
    ->ArgsProduct({{1 << 12, 1 << 20, 1 << 24}, {0, 1}})
    ->ArgNames({"elements", "values"})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
