// Host-side cost of the userspace driver API (wall-clock time of the calling
// thread). Figures and how to reproduce them: docs/performance.md.
//
//   bench_driver --benchmark_min_time=0.2
//
// The simulated device is "tiny" (configs/tiny.textproto), except for the
// 256 MiB round trips, which run on gaudi2. Simulated time
// advances only while a host thread waits (kiln/sim/sim_host.h), so whatever
// the host does between waits costs zero simulated time; these benchmarks
// measure what it costs in host time.
#include <benchmark/benchmark.h>
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
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

// ------------------------------------------------- large functional copies

// Loading a model's weights: a 256 MiB host -> HBM -> host round trip with
// values, read side by side with BM_MemcpyRoundTrip (two plain memcpys of the
// same bytes) in one run. On gaudi2, whose HBM holds it.
constexpr int64_t kLargeBytes = 256 << 20;

// Fresh anonymous memory advised as huge pages, as the backing store's frames
// and allocate_host buffers are: the first write to each page faults.
struct FreshBuffer {
  explicit FreshBuffer(std::size_t n) : size(n) {
    if (n == 0) return;
    void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED) {
      madvise(p, n, MADV_HUGEPAGE);
      data = static_cast<uint8_t*>(p);
    }
  }
  ~FreshBuffer() {
    if (data) munmap(data, size);
  }
  FreshBuffer(const FreshBuffer&) = delete;
  FreshBuffer& operator=(const FreshBuffer&) = delete;
  uint8_t* data = nullptr;
  std::size_t size;
};

// Wall time of each iteration, for the `median_ms` counter: on a shared VM a
// few iterations can take ten times the others (see docs/performance.md), and
// the mean (the Time column) follows them.
class TripTimes {
 public:
  void start() { start_ = std::chrono::steady_clock::now(); }
  void stop() { ms_.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count()); }
  double median() {
    if (ms_.empty()) return 0;
    std::nth_element(ms_.begin(), ms_.begin() + static_cast<std::ptrdiff_t>(ms_.size() / 2), ms_.end());
    return ms_[ms_.size() / 2];
  }

 private:
  std::chrono::steady_clock::time_point start_;
  std::vector<double> ms_;
};

// The baseline: host -> "device" buffer -> host with two memcpys, over the
// same kinds of memory as BM_LargeCopyRoundTrip with the same `streams`
// value: the "device" buffer is fresh huge-page-advised memory like the
// backing store's frames; the host buffers are std::vectors (streams:0) or
// huge-page-advised like allocate_host's (streams:1). On some VMs the kind
// matters: 4 KiB-page memory is far slower to stream through at times.
// The first, untimed round trip writes the fresh memory (as a device's first
// copy does); its wall time is the `first_trip_ms` counter. The timed ones
// find every page resident.
void BM_MemcpyRoundTrip(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const bool huge_host = state.range(1) != 0;
  std::vector<uint8_t> in_vector(huge_host ? 0 : size, 0x5a), out_vector(huge_host ? 0 : size, 1);
  FreshBuffer in_huge(huge_host ? size : 0), out_huge(huge_host ? size : 0), mid(size);
  uint8_t* in = huge_host ? in_huge.data : in_vector.data();
  uint8_t* out = huge_host ? out_huge.data : out_vector.data();
  if (!mid.data || !in || !out) {
    state.SkipWithError("mmap failed");
    return;
  }
  if (huge_host) {
    std::memset(in, 0x5a, size);
    std::memset(out, 1, size);
  }
  auto trip = [&] {
    std::memcpy(mid.data, in, size);
    benchmark::DoNotOptimize(mid.data);
    std::memcpy(out, mid.data, size);
    benchmark::DoNotOptimize(out);
    benchmark::ClobberMemory();
  };
  const auto first_start = std::chrono::steady_clock::now();
  trip();
  const std::chrono::duration<double, std::milli> first = std::chrono::steady_clock::now() - first_start;
  TripTimes times;
  for (auto _ : state) {
    times.start();
    trip();
    times.stop();
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(2 * size));
  state.counters["first_trip_ms"] = first.count();
  state.counters["median_ms"] = times.median();
  state.SetLabel(huge_host ? "huge-page host buffers" : "std::vector host buffers");
}
BENCHMARK(BM_MemcpyRoundTrip)
    ->ArgNames({"bytes", "streams"})
    ->ArgsProduct({{kLargeBytes}, {0, 1}})
    ->MinWarmUpTime(0.5)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// The same round trip through the driver. range(1) picks the path:
//   0: Device::copy_to_device + copy_to_host from plain (pageable) vectors,
//      which pin and unpin the host memory per call;
//   1: allocate_host buffers, two Stream::copy submissions, one synchronize.
// The first, untimed round trip makes the HBM frames resident; its wall time
// is the `first_trip_ms` counter.
void BM_LargeCopyRoundTrip(benchmark::State& state) {
  const auto size = static_cast<uint64_t>(state.range(0));
  const bool streams = state.range(1) != 0;
  auto opened = Device::open("gaudi2", DeviceOptions{});
  if (!opened.ok()) {
    state.SkipWithError(opened.status().to_string().c_str());
    return;
  }
  Device& dev = **opened;
  auto buf = dev.allocate(size);
  auto host_in = dev.allocate_host(size);
  auto host_out = dev.allocate_host(size);
  if (!buf.ok() || !host_in.ok() || !host_out.ok()) {
    state.SkipWithError("allocate failed");
    return;
  }
  std::vector<uint8_t> in(size, 0x5a), out(size, 1);
  std::memset(host_in->data, 0x5a, size);
  std::memset(host_out->data, 1, size);
  Stream& s = dev.default_stream();
  auto trip = [&]() -> kiln::Status {
    if (!streams) {
      KILN_RETURN_IF_ERROR(dev.copy_to_device(buf->address, in.data(), size));
      return dev.copy_to_host(out.data(), buf->address, size);
    }
    KILN_RETURN_IF_ERROR(s.copy(buf->address, host_in->address, size).status());
    KILN_RETURN_IF_ERROR(s.copy(host_out->address, buf->address, size).status());
    return s.synchronize();
  };
  const auto first_start = std::chrono::steady_clock::now();
  if (kiln::Status st = trip(); !st.ok()) {
    state.SkipWithError(st.to_string().c_str());
    return;
  }
  const std::chrono::duration<double, std::milli> first = std::chrono::steady_clock::now() - first_start;
  const double sim_start = dev.now_ns();
  TripTimes times;
  for (auto _ : state) {
    times.start();
    if (kiln::Status st = trip(); !st.ok()) {
      state.SkipWithError(st.to_string().c_str());
      break;
    }
    benchmark::ClobberMemory();
    times.stop();
  }
  const double sim_ns = dev.now_ns() - sim_start;
  const auto* got = static_cast<const uint8_t*>(streams ? host_out->data : out.data());
  if (got[0] != 0x5a || got[size - 1] != 0x5a) state.SkipWithError("the bytes did not come back");
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(2 * size));
  state.counters["first_trip_ms"] = first.count();
  state.counters["median_ms"] = times.median();
  if (state.iterations() > 0) {
    state.counters["sim_us_per_trip"] = sim_ns / 1000.0 / static_cast<double>(state.iterations());
  }
  state.SetLabel(streams ? "allocate_host + Stream::copy" : "copy_to_device + copy_to_host");
  (void)dev.free_host(*host_in);
  (void)dev.free_host(*host_out);
}
BENCHMARK(BM_LargeCopyRoundTrip)
    ->ArgNames({"bytes", "streams"})
    ->ArgsProduct({{kLargeBytes}, {0, 1}})
    ->MinWarmUpTime(0.5)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
