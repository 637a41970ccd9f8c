// What replaying recorded work costs the host: resubmitting a relocatable
// command buffer with a new binding table, and a cross-queue dependency.
// Figures and how to reproduce them: docs/performance.md.
//
//   bench_relocation --benchmark_min_time=0.2   (the resubmission runs a fixed 2048 times)
//
// The device is "tiny". Figures are host wall time per call unless named
// "sim_": those are simulated time, from the cost models and the host timeline.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kiln/driver/device.h"

namespace {

using namespace kiln::driver;

std::unique_ptr<Device> open_or_skip(benchmark::State& state) {
  auto dev = Device::open("tiny", DeviceOptions{.functional = true, .trace_host_calls = false});
  if (!dev.ok()) {
    state.SkipWithError(dev.status().to_string().c_str());
    return nullptr;
  }
  return std::move(*dev);
}

// Stream::submit of a 1000-packet buffer recorded once with bindings (copies
// and memsets between 4 bound buffers, completion signals on a bound
// timeline, timeline waits), with a new binding table every time: two sets
// of buffers alternate, and the timeline base moves on. The stream is
// synchronised every 64 submissions under PauseTiming.
void BM_ResubmitWithNewBindings(benchmark::State& state) {
  constexpr int kPackets = 1000;
  constexpr int kSyncEvery = 64;
  constexpr uint64_t kBytes = 4096;
  auto dev = open_or_skip(state);
  if (!dev) return;
  std::vector<DeviceBuffer> sets[2];
  for (auto& set : sets) {
    for (int i = 0; i < 4; ++i) {
      auto b = dev->allocate(kBytes * 64);
      if (!b.ok()) {
        state.SkipWithError(b.status().to_string().c_str());
        return;
      }
      set.push_back(*b);
    }
  }
  auto timeline = dev->allocate_sync_object();
  if (!timeline.ok()) {
    state.SkipWithError(timeline.status().to_string().c_str());
    return;
  }
  CommandBuffer cb;
  uint32_t signals = 0;
  for (int i = 0; i < kPackets; ++i) {
    const uint32_t a = static_cast<uint32_t>(i % 4), b = static_cast<uint32_t>((i + 1) % 4);
    const uint64_t off = static_cast<uint64_t>(i % 64) * kBytes;
    switch (i % 5) {
      case 0: cb.copy(bound(b, off), bound(a, off), kBytes, 0).signal_when_done(bound_sync(4)); ++signals; break;
      case 1: cb.memset(bound(a, off), 0x01010101u, kBytes, 0); break;
      case 2: cb.wait_sync(bound_sync(4), signals); break;
      case 3: cb.copy(bound(a, off), bound(b, off), kBytes); break;
      default: cb.nop(0); break;
    }
  }
  Stream& s = dev->default_stream();
  uint32_t base = 0;
  int64_t n = 0;
  for (auto _ : state) {
    const auto& set = sets[n % 2];
    BindingTable t;
    t.bind(0, set[0]).bind(1, set[1]).bind(2, set[2]).bind(3, set[3]).bind_sync(4, *timeline, base);
    auto seq = s.submit(cb, t);
    if (!seq.ok()) {
      state.SkipWithError(seq.status().to_string().c_str());
      break;
    }
    base += signals;
    if (++n % kSyncEvery == 0) {
      state.PauseTiming();
      const kiln::Status st = s.synchronize();
      dev->trace()->clear();
      state.ResumeTiming();
      if (!st.ok()) {
        state.SkipWithError(st.to_string().c_str());
        break;
      }
    }
  }
  (void)s.synchronize();  // after the timed loop
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(std::to_string(kPackets) + " packets, 5 bindings, new table each time");
}
// A fixed count: the timed part is microseconds, so a minimum time would
// run the paused synchronisations (about 400 DMA jobs per submission) for
// many minutes before it was reached.
BENCHMARK(BM_ResubmitWithNewBindings)->UseRealTime()->Iterations(2048);

// One cross-queue dependency through events: the producer stream copies and
// records an event; the consumer waits for it and copies. Timed: record +
// wait_event + the consumer's submit (which carries the wait). Counter:
//   sim_consumer_end_after_producer_end_ns  simulated time from the
//       producer's retirement to the consumer's: the host's record, wait and
//       submit costs on its clock, then one WAIT and the consumer's copy.
void BM_CrossQueueDependency(benchmark::State& state) {
  auto dev = open_or_skip(state);
  if (!dev) return;
  auto a = dev->allocate(4096), b = dev->allocate(4096), c = dev->allocate(4096);
  auto producer = dev->create_stream(), consumer = dev->create_stream();
  auto event = dev->create_event();
  if (!a.ok() || !b.ok() || !c.ok() || !producer.ok() || !consumer.ok() || !event.ok()) {
    state.SkipWithError("setup failed");
    return;
  }
  CommandBuffer produce, consume;
  produce.copy(b->address, a->address, 4096);
  consume.copy(c->address, b->address, 4096);
  double sim_gap_ns = 0;
  int64_t measured = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto sp = (*producer)->submit(produce);
    state.ResumeTiming();
    kiln::Status st = (*producer)->record(**event);
    if (st.ok()) st = (*consumer)->wait_event(**event);
    auto sc = (*consumer)->submit(consume);
    state.PauseTiming();
    if (!sp.ok() || !sc.ok() || !st.ok()) {
      state.SkipWithError("submit failed");
      break;
    }
    if ((*consumer)->wait(*sc).ok()) {
      auto pi = (*producer)->info(*sp);
      auto ci = (*consumer)->info(*sc);
      if (pi.ok() && ci.ok() && ci->start_ps > 0) {
        // The consumer's submission starts when it arrives; its copy waits
        // for the producer's retirement through one WAIT on the device.
        sim_gap_ns += (static_cast<double>(ci->end_ps) - static_cast<double>(pi->end_ps)) / 1000.0;
        ++measured;
      }
    }
    dev->trace()->clear();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations());
  if (measured > 0) state.counters["sim_consumer_end_after_producer_end_ns"] = sim_gap_ns / static_cast<double>(measured);
  state.SetLabel("record + wait_event + submit");
}
BENCHMARK(BM_CrossQueueDependency)->UseRealTime();

}  // namespace
