// Host-side cost of the userspace driver API (wall-clock time of the calling
// thread). Figures and how to reproduce them: docs/performance.md.
//
//   bench_driver --benchmark_min_time=0.2
//
// The simulated device is "tiny" (configs/tiny.textproto). Simulated time
// advances only while a host thread waits (kiln/sim/sim_host.h), so whatever
// the host does between waits costs zero simulated time; these benchmarks
// measure what it costs in host time.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kiln/driver/device.h"

namespace {

using namespace kiln::driver;

constexpr const char* kConfig = "tiny";

// Opens the device or marks the benchmark as failed (then the loop is skipped).
std::unique_ptr<Device> open_or_skip(benchmark::State& state, const DeviceOptions& options) {
  auto dev = Device::open(kConfig, options);
  if (!dev.ok()) {
    state.SkipWithError(dev.status().to_string().c_str());
    return nullptr;
  }
  return std::move(*dev);
}

// Limits of the tiny device, so validation checks indices for real without
// opening a device.
ValidationLimits tiny_limits() {
  return {.sync_objects = 2048, .monitors = 512, .queues = 8, .fence_counters = 4};
}

// ------------------------------------------------------------------ record

// One LIN_DMA packet appended with CommandBuffer::copy. The buffer is replaced
// by an empty one every 1024 packets (that cost is amortised into the figure)
// so it stays in cache and does not grow without bound.
void BM_RecordPacket(benchmark::State& state) {
  constexpr int64_t kReset = 1024;
  CommandBuffer cb;
  int64_t n = 0;
  for (auto _ : state) {
    cb.copy(0x1000 + static_cast<uint64_t>(n) * 64, 0x900000, 64);
    benchmark::DoNotOptimize(cb.bytes().data());
    if (++n == kReset) {
      cb = CommandBuffer();
      n = 0;
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel("copy() packet, reset every 1024");
}
BENCHMARK(BM_RecordPacket);

// ---------------------------------------------------------------- validate

// validate_command_buffer over 1000 packets: a mix of copies, memsets,
// signals and NOPs, as a real buffer would hold.
void BM_ValidateCommandBuffer(benchmark::State& state) {
  constexpr int kPackets = 1000;
  CommandBuffer cb;
  for (int i = 0; i < kPackets; ++i) {
    const auto a = static_cast<uint64_t>(i) * 4096;
    switch (i % 4) {
      case 0: cb.copy(0x100000 + a, 0x8000000 + a, 4096); break;
      case 1: cb.memset(0x100000 + a, 0xdeadbeef, 4096); break;
      case 2: cb.signal(static_cast<uint32_t>(8 + i % 2000), kiln::packets::SyncOp::ADD, 1); break;  // 0..7: retirement counters
      default: cb.nop(); break;
    }
  }
  const ValidationLimits limits = tiny_limits();
  for (auto _ : state) {
    const kiln::Status s = validate_command_buffer(cb.bytes(), limits, /*privileged=*/false);
    if (!s.ok()) {
      state.SkipWithError(s.to_string().c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * kPackets);
  // Wall seconds per packet (printed with an SI prefix: "12n" = 12 ns).
  state.counters["s_per_packet"] = benchmark::Counter(
      kPackets, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(cb.size_bytes()));
}
BENCHMARK(BM_ValidateCommandBuffer);

// ------------------------------------------------------------------ submit

// Stream::submit of a one-packet buffer (range(0): 0 = NOP, 1 = 256-byte
// HBM->HBM copy). The stream is synchronised every 256 submissions so the
// device queue stays short; range(1) says whether that synchronize is timed:
//   sync_timed=0: submit alone (the sync runs under PauseTiming, whose own
//                 cost is amortised over 256 submissions),
//   sync_timed=1: submit + the amortised cost of simulating and waiting.
void BM_SubmitCommandBuffer(benchmark::State& state) {
  constexpr int64_t kSyncEvery = 256;
  const bool copy = state.range(0) != 0;
  const bool sync_timed = state.range(1) != 0;
  auto dev = open_or_skip(state, DeviceOptions{.functional = true, .trace_host_calls = false});
  if (!dev) return;
  auto buf = dev->allocate(1 << 16);
  auto stream = dev->create_stream();
  if (!buf.ok() || !stream.ok()) {
    state.SkipWithError("allocate/create_stream failed");
    return;
  }
  Stream& s = **stream;
  CommandBuffer cb;
  if (copy) cb.copy(buf->at(32768), buf->at(0), 256);
  else cb.nop();

  int64_t n = 0;
  for (auto _ : state) {
    auto seq = s.submit(cb);
    if (!seq.ok()) {
      state.SkipWithError(seq.status().to_string().c_str());
      break;
    }
    if (++n == kSyncEvery) {
      n = 0;
      if (!sync_timed) state.PauseTiming();
      const kiln::Status st = s.synchronize();
      dev->trace()->clear();  // the simulator records every job
      if (!sync_timed) state.ResumeTiming();
      if (!st.ok()) {
        state.SkipWithError(st.to_string().c_str());
        break;
      }
    }
  }
  (void)s.synchronize();
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(std::string(copy ? "1 copy 256 B" : "1 NOP") +
                 (sync_timed ? ", submit + sync/256 timed" : ", submit only"));
}
BENCHMARK(BM_SubmitCommandBuffer)
    ->ArgNames({"copy", "sync_timed"})
    ->ArgsProduct({{0, 1}, {0, 1}})
    ->UseRealTime();

// ------------------------------------------------------- sync round trip

// Device::copy_to_device then copy_to_host of range(0) bytes: pin, submit,
// wait, unpin, twice. Default DeviceOptions (functional, host calls traced);
// the trace is cleared every 256 round trips.
void BM_SyncCopyRoundTrip(benchmark::State& state) {
  const auto size = static_cast<uint64_t>(state.range(0));
  auto dev = open_or_skip(state, DeviceOptions{});
  if (!dev) return;
  auto buf = dev->allocate(size);
  if (!buf.ok()) {
    state.SkipWithError(buf.status().to_string().c_str());
    return;
  }
  std::vector<uint8_t> in(size, 0x5a), out(size);
  const double sim_start = dev->now_ns();
  int64_t n = 0;
  for (auto _ : state) {
    kiln::Status st = dev->copy_to_device(buf->address, in.data(), size);
    if (st.ok()) st = dev->copy_to_host(out.data(), buf->address, size);
    if (!st.ok()) {
      state.SkipWithError(st.to_string().c_str());
      break;
    }
    benchmark::DoNotOptimize(out.data());
    if (++n == 256) {
      n = 0;
      dev->trace()->clear();
    }
  }
  const double sim_ns = dev->now_ns() - sim_start;
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(2 * size));
  if (state.iterations() > 0) {
    state.counters["sim_ns_per_trip"] = sim_ns / static_cast<double>(state.iterations());
  }
}
BENCHMARK(BM_SyncCopyRoundTrip)->Arg(4 << 10)->Arg(64 << 10)->UseRealTime();

}  // namespace
