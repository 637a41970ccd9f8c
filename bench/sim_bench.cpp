// Simulator throughput: DMA engine jobs simulated per host (wall) second.
// Figures and how to reproduce them: docs/performance.md.
//
//   bench_sim --benchmark_min_time=0.2
//
// Each iteration submits a batch of 256 small HBM->HBM copies (4 KiB each) to
// the "tiny" device, spread round-robin over 1 or 4 streams, and then
// synchronises every stream. Simulated time advances only while the host
// waits (kiln/sim/sim_host.h), so the wall time is host submission plus the
// SystemC simulation of the whole batch.
//
// Arguments:
//   streams     1 or 4 streams (hardware queues); tiny has 2 DMA engines.
//   functional  1: bytes really move; 0: timing only (DeviceOptions.functional).
//   packed      0: one submission per copy (a pre-recorded 1-packet buffer);
//               1: one submission per stream holding all its copies.
// Counters:
//   jobs_per_s  DMA jobs simulated per wall second.
//   sim_ns_per_job  simulated nanoseconds per job (batch makespan / jobs).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "kiln/driver/device.h"

namespace {

using namespace kiln::driver;

constexpr int kBatch = 256;            // copies per iteration, over all streams
constexpr uint64_t kCopyBytes = 4096;  // bytes per copy

void BM_SimDmaJobs(benchmark::State& state) {
  const int streams = static_cast<int>(state.range(0));
  const bool functional = state.range(1) != 0;
  const bool packed = state.range(2) != 0;
  const int per_stream = kBatch / streams;

  // A fresh device per run, so its trace and queues start empty.
  auto opened = Device::open("tiny", DeviceOptions{.functional = functional, .trace_host_calls = false});
  if (!opened.ok()) {
    state.SkipWithError(opened.status().to_string().c_str());
    return;
  }
  Device& dev = **opened;

  std::vector<Stream*> ss;
  std::vector<CommandBuffer> cbs;  // per stream: what one submission carries
  for (int i = 0; i < streams; ++i) {
    auto s = dev.create_stream();
    auto src = dev.allocate(kCopyBytes);
    auto dst = dev.allocate(kCopyBytes);
    if (!s.ok() || !src.ok() || !dst.ok()) {
      state.SkipWithError("create_stream/allocate failed");
      return;
    }
    if (!dev.memset(src->address, 0x01020304u + static_cast<uint32_t>(i), kCopyBytes).ok()) {
      state.SkipWithError("memset failed");
      return;
    }
    ss.push_back(*s);
    CommandBuffer cb;
    for (int j = 0; j < (packed ? per_stream : 1); ++j) cb.copy(dst->address, src->address, kCopyBytes);
    cbs.push_back(std::move(cb));
  }
  dev.trace()->clear();

  const double sim_start = dev.now_ns();
  for (auto _ : state) {
    for (int j = 0; j < (packed ? 1 : per_stream); ++j) {
      for (int i = 0; i < streams; ++i) {
        auto seq = ss[static_cast<std::size_t>(i)]->submit(cbs[static_cast<std::size_t>(i)]);
        if (!seq.ok()) {
          state.SkipWithError(seq.status().to_string().c_str());
          return;
        }
      }
    }
    for (Stream* s : ss) {
      const kiln::Status st = s->synchronize();
      if (!st.ok()) {
        state.SkipWithError(st.to_string().c_str());
        return;
      }
    }
    dev.trace()->clear();  // the simulator records every job; keep memory bounded
  }
  const double sim_ns = dev.now_ns() - sim_start;

  const double jobs = static_cast<double>(state.iterations()) * streams * per_stream;
  state.counters["jobs_per_s"] = benchmark::Counter(jobs, benchmark::Counter::kIsRate);
  if (jobs > 0) state.counters["sim_ns_per_job"] = sim_ns / jobs;
  state.SetItemsProcessed(static_cast<int64_t>(jobs));
}
BENCHMARK(BM_SimDmaJobs)
    ->ArgNames({"streams", "functional", "packed"})
    ->ArgsProduct({{1, 4}, {1, 0}, {0, 1}})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
