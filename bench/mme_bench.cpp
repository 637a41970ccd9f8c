// Host cost of simulating matrix-engine jobs. Figures: docs/performance.md.
//
//   bench_mme --benchmark_min_time=0.2
//
// BM_Gemm/<n>/values:<0|1>: one n x n x n fp32 GEMM on the validation array
// (configs/validation/ws128_serial: one 128x128 weight-stationary MME at 1 GHz,
// ideal memory). values:0 is timing only (DeviceOptions.functional = false);
// values:1 also computes the product on the host (Eigen, fp32). Counters:
// sim_us (simulated time of the job) and host_gflops (values computed per
// wall second, values:1 only).
#include <benchmark/benchmark.h>

#include <cstring>

#include "kiln/common/mme_descriptor.h"
#include "kiln/driver/device.h"

namespace {

using namespace kiln::driver;

void BM_Gemm(benchmark::State& state) {
  const uint64_t n = static_cast<uint64_t>(state.range(0));
  const bool values = state.range(1) != 0;
  auto opened = Device::open("validation/ws128_serial", DeviceOptions{.functional = values, .trace_host_calls = false});
  if (!opened.ok()) return state.SkipWithError(opened.status().to_string().c_str());
  Device& dev = **opened;
  auto a = dev.allocate(n * n * 4), b = dev.allocate(n * n * 4), c = dev.allocate(n * n * 4);
  auto desc = dev.allocate_host(sizeof(kiln::mme::Descriptor));
  if (!a.ok() || !b.ok() || !c.ok() || !desc.ok()) return state.SkipWithError("allocation failed");
  if (values && (!dev.memset(a->address, 0x3f800000u, n * n * 4).ok() ||   // 1.0f
                 !dev.memset(b->address, 0x40000000u, n * n * 4).ok())) {  // 2.0f
    return state.SkipWithError("memset failed");
  }
  const auto size = static_cast<uint32_t>(n);
  kiln::mme::Descriptor d =
      kiln::mme::gemm_descriptor(size, size, size, kiln::DType::kF32, kiln::DType::kF32, kiln::DType::kF32);
  d.a_addr = a->address, d.b_addr = b->address, d.c_addr = c->address;
  std::memcpy(desc->data, &d, sizeof d);
  CommandBuffer cb;
  cb.launch_mme(desc->address);
  Stream& s = dev.default_stream();
  double sim_ns = 0;
  for (auto _ : state) {
    const double before = dev.now_ns();
    auto seq = s.submit(cb);
    if (!seq.ok() || !s.wait(*seq).ok()) return state.SkipWithError("GEMM failed");
    sim_ns = dev.now_ns() - before;
    dev.trace()->clear();
  }
  state.counters["sim_us"] = sim_ns / 1e3;
  if (values) {
    state.counters["host_gflops"] =
        benchmark::Counter(2.0 * n * n * n * static_cast<double>(state.iterations()) / 1e9, benchmark::Counter::kIsRate);
  }
}
BENCHMARK(BM_Gemm)->ArgsProduct({{512, 2048}, {0, 1}})->ArgNames({"n", "values"})->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
