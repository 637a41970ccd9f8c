// The host timeline: host threads' simulated clocks, what driver calls cost
// them, and the conservative synchronisation that keeps several threads
// deterministic without letting any of them stall the simulation.
#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "test_util.h"

namespace kiln::driver {
namespace {

using testing::take;
using namespace std::chrono_literals;

uint64_t ps(double ns) { return static_cast<uint64_t>(ns * 1000.0 + 0.5); }

// The host calls of one track on the simulated clock, in recording order.
std::vector<traces::TraceEvent> host_calls(const Device& dev, const std::string& track = "host") {
  std::vector<traces::TraceEvent> out;
  for (auto& e : dev.trace()->events()) {
    if (e.clock == traces::TraceClock::kHostSimulated && e.track == track) out.push_back(e);
  }
  return out;
}

traces::TraceEvent submission_event(const Device& dev, const Stream& s, uint64_t seq) {
  auto cps = testing::device_events(dev, "CP", static_cast<int>(s.queue()), seq);
  for (auto& e : cps) {
    if (e.name.rfind("submission", 0) == 0) return e;
  }
  ADD_FAILURE() << "no submission event for " << seq;
  return {};
}

TEST(HostTimeline, ASubmissionReachesTheDeviceAtItsThreadsClock) {
  auto dev = testing::open_device();
  const auto& h = dev->config().host();
  const auto& cp = dev->config().command_processor();
  auto a = take(dev->allocate(4096)), b = take(dev->allocate(4096));
  Stream& s = dev->default_stream();
  const uint64_t before = ps(dev->now_ns());
  const uint64_t seq = take(s.copy(b.address, a.address, 4096));
  // The call cost the thread its submission and one recorded packet ...
  const uint64_t arrival = before + ps(h.submit_ns()) + ps(h.packet_record_ns());
  EXPECT_EQ(ps(dev->now_ns()), arrival);
  ASSERT_OK(s.wait(seq));
  // ... the command processor took it then ...
  const auto sub = submission_event(*dev, s, seq);
  EXPECT_EQ(sub.start_ps, arrival);
  EXPECT_GE(sub.end_ps, arrival + ps(cp.submit_latency_ns()));
  // ... and the wait returned the thread at the retirement plus its wake-up.
  EXPECT_EQ(ps(dev->now_ns()), sub.end_ps + ps(h.wake_ns()));
  // Both calls are on the host track of the simulated timeline.
  const auto calls = host_calls(*dev);
  ASSERT_GE(calls.size(), 2u);
  EXPECT_EQ(calls[calls.size() - 2].name, "submit");
  EXPECT_EQ(calls[calls.size() - 2].start_ps, before);
  EXPECT_EQ(calls[calls.size() - 2].end_ps, arrival);
  EXPECT_EQ(calls.back().name, "wait");
  EXPECT_EQ(calls.back().end_ps, sub.end_ps + ps(h.wake_ns()));
}

TEST(HostTimeline, AWaitForFinishedWorkCostsAQueryNotAWakeUp) {
  auto dev = testing::open_device();
  auto a = take(dev->allocate(4096)), b = take(dev->allocate(4096));
  Stream& s = dev->default_stream();
  const uint64_t seq = take(s.copy(b.address, a.address, 4096));
  dev->charge_host(1e6, "host work");  // 1 ms: the copy is long done by then
  const uint64_t before = ps(dev->now_ns());
  ASSERT_OK(s.wait(seq));
  EXPECT_EQ(ps(dev->now_ns()), before + ps(dev->config().host().query_ns()));
}

TEST(HostTimeline, ChargeHostMovesTheClockAndIsTraced) {
  auto dev = testing::open_device();
  const uint64_t before = ps(dev->now_ns());
  dev->charge_host(2500.0, "op dispatch");
  EXPECT_EQ(ps(dev->now_ns()), before + ps(2500.0));
  const auto calls = host_calls(*dev);
  ASSERT_FALSE(calls.empty());
  EXPECT_EQ(calls.back().name, "op dispatch");
  EXPECT_EQ(calls.back().start_ps, before);
  EXPECT_EQ(calls.back().end_ps, before + ps(2500.0));
  // The same call in wall time, on the host track of the wall clock.
  bool wall = false;
  for (auto& e : dev->trace()->events()) wall |= e.clock == traces::TraceClock::kHostWall && e.name == "op dispatch";
  EXPECT_TRUE(wall);
}

TEST(HostTimeline, HostWorkDelaysTheDeviceWorkThatFollowsIt) {
  // The difference between eager and replayed work: host time between two
  // submissions shows up as device idle time between them.
  auto dev = testing::open_device();
  auto a = take(dev->allocate(4096)), b = take(dev->allocate(4096));
  Stream& s = dev->default_stream();
  const uint64_t first = take(s.copy(b.address, a.address, 4096));
  dev->charge_host(50'000.0, "compile");
  const uint64_t second = take(s.copy(a.address, b.address, 4096));
  ASSERT_OK(s.synchronize());
  const auto e1 = submission_event(*dev, s, first), e2 = submission_event(*dev, s, second);
  const auto& h = dev->config().host();
  EXPECT_EQ(e2.start_ps - e1.start_ps, ps(50'000.0) + ps(h.submit_ns()) + ps(h.packet_record_ns()));
}

TEST(HostTimeline, AQueryLoopMakesProgressAndSeesTheSameAnswersEveryRun) {
  auto run = [] {
    auto dev = testing::open_device();
    auto a = take(dev->allocate(1 << 20)), b = take(dev->allocate(1 << 20));
    Stream& s = dev->default_stream();
    const uint64_t seq = take(s.copy(b.address, a.address, 1 << 20));
    int polls = 0;
    while (!s.query(seq)) ++polls;
    const auto done = take(s.info(seq));
    EXPECT_GE(ps(dev->now_ns()), done.end_ps);  // it saw the retirement no earlier than it happened
    return std::pair{polls, ps(dev->now_ns())};
  };
  const auto first = run();
  EXPECT_GT(first.first, 0);
  EXPECT_EQ(run(), first);
}

TEST(HostTimeline, AJoinedHostThreadHandsItsClockToTheJoiner) {
  auto dev = testing::open_device();
  const uint64_t start = ps(dev->now_ns());
  uint64_t child_start = 0, child_end = 0;
  HostThread t = take(dev->spawn_host_thread([&] {
    child_start = ps(dev->now_ns());
    dev->charge_host(7000.0, "child work");
    child_end = ps(dev->now_ns());
  }));
  t.join();
  EXPECT_EQ(child_start, start);  // it started at its parent's clock
  EXPECT_EQ(child_end, start + ps(7000.0));
  EXPECT_EQ(ps(dev->now_ns()), child_end);  // the joiner is now past everything the child did
  const auto calls = host_calls(*dev, "host T1");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].name, "child work");
}

// Four host threads, ordered only by events and joins, submitting to their own
// streams. Every run must give the same simulated trace.
std::vector<traces::TraceEvent> four_thread_program() {
  DeviceOptions options;
  options.host_idle_after = std::chrono::seconds(60);  // determinism must not hang on wall time
  auto dev = take(Device::open("tiny", options));
  const uint64_t n = 256 << 10;
  std::vector<DeviceBuffer> bufs;
  for (int i = 0; i < 8; ++i) bufs.push_back(take(dev->allocate(n)));
  std::vector<Stream*> streams;
  std::vector<std::unique_ptr<Event>> events;
  for (int i = 0; i < 4; ++i) {
    streams.push_back(take(dev->create_stream()));
    events.push_back(take(dev->create_event()));
  }
  // Phase 1: two producers fill their buffers and record their events.
  auto produce = [&](int i) {
    return take(dev->spawn_host_thread([&, i] {
      for (int k = 0; k < 8; ++k) {
        (void)take(streams[i]->memset(bufs[i].address, 0x01010101u * (k + 1), n));
        dev->charge_host(1500.0 * (i + 1), "prepare");
      }
      EXPECT_TRUE(streams[i]->record(*events[i]).ok());
    }));
  };
  HostThread p0 = produce(0), p1 = produce(1);
  p0.join();
  p1.join();
  // Phase 2: two consumers wait on the device for both producers, copy, and
  // one also waits on the host for the other's event.
  auto consume = [&](int i) {
    return take(dev->spawn_host_thread([&, i] {
      EXPECT_TRUE(streams[i]->wait_event(*events[0]).ok());
      EXPECT_TRUE(streams[i]->wait_event(*events[1]).ok());
      for (int k = 0; k < 6; ++k) {
        (void)take(streams[i]->copy(bufs[i + 2 + 2 * (k % 2)].address, bufs[k % 2].address, n));
        if (k % 3 == 2) {
          EXPECT_TRUE(streams[i]->synchronize().ok());
        }
      }
      EXPECT_TRUE(streams[i]->record(*events[i]).ok());
      EXPECT_TRUE(events[i]->synchronize().ok());
    }));
  };
  HostThread c2 = consume(2), c3 = consume(3);
  c2.join();
  c3.join();
  EXPECT_TRUE(dev->synchronize().ok());
  EXPECT_EQ(dev->host_timeline_stats().catch_ups, 0u);
  std::vector<traces::TraceEvent> simulated;
  for (auto& e : dev->trace()->events()) {
    if (e.clock != traces::TraceClock::kHostWall) simulated.push_back(e);
  }
  return simulated;
}

TEST(HostTimeline, FourThreadsOrderedByEventsGiveTheSameTraceTenTimes) {
  // Simulation-side events are recorded in simulation order, host calls in
  // wall order across threads: compare each track's events in order.
  auto by_track = [](const std::vector<traces::TraceEvent>& events) {
    std::map<std::string, std::vector<std::tuple<std::string, uint64_t, uint64_t, uint64_t, uint64_t>>> out;
    for (const auto& e : events) out[e.track].emplace_back(e.name, e.start_ps, e.end_ps, e.bytes, e.sequence);
    return out;
  };
  const auto first = by_track(four_thread_program());
  ASSERT_GE(first.size(), 6u);
  ASSERT_TRUE(first.count("host T4"));  // all four threads ran
  for (int run = 1; run < 10; ++run) {
    const auto again = by_track(four_thread_program());
    ASSERT_EQ(again.size(), first.size()) << "run " << run;
    for (const auto& [track, events] : first) {
      ASSERT_TRUE(again.count(track)) << track;
      EXPECT_EQ(again.at(track), events) << "run " << run << ", track " << track;
    }
  }
}

TEST(HostTimeline, ASleepingOrJoiningThreadDoesNotStallTheOthers) {
  DeviceOptions options;
  options.host_idle_after = 20ms;
  auto dev = take(Device::open("tiny", options));
  auto a = take(dev->allocate(4096)), b = take(dev->allocate(4096));
  (void)dev->now_ns();  // the main thread is on the timeline, and holds it
  std::promise<void> done;
  auto finished = done.get_future();
  std::thread worker([&] {
    Stream* s = take(dev->create_stream());
    for (int i = 0; i < 20; ++i) EXPECT_TRUE(s->wait(take(s->copy(b.address, a.address, 4096))).ok());
    done.set_value();
  });
  // Host work or a sleep on the main thread: the worker still finishes.
  EXPECT_EQ(finished.wait_for(5s), std::future_status::ready);
  worker.join();  // a plain join, which the driver cannot see, does not deadlock either
  // The main thread then resumes no earlier than what the worker waited for.
  EXPECT_GE(dev->now_ns(), 0.0);
  ASSERT_OK(dev->synchronize());
}

TEST(HostTimeline, TheFenceWatchdogWaitsWhileAHostThreadMayStillSignal) {
  auto dev = testing::open_device();  // tiny: a 1 ms watchdog
  const double watchdog_ns = dev->config().command_processor().watchdog_us() * 1000.0;
  Stream* waiter = take(dev->create_stream());
  const uint32_t sob = take(dev->allocate_sync_object());
  const uint32_t mon = take(dev->allocate_monitor());
  CommandBuffer wait_cb;
  wait_cb.arm_monitor(mon, sob, 1, waiter->queue(), 1).fence(1, 1).nop();
  const uint64_t seq = take(waiter->submit(wait_cb));
  // Another thread does 5 watchdog periods of host work, then signals.
  HostThread signaller = take(dev->spawn_host_thread([&] {
    dev->charge_host(5 * watchdog_ns, "long host work");
    CommandBuffer signal;
    signal.signal(sob, packets::SyncOp::ADD, 1);
    (void)take(dev->default_stream().submit(signal));
  }));
  ASSERT_OK(waiter->wait(seq));  // no fence timeout
  signaller.join();
  const auto info = take(waiter->info(seq));
  EXPECT_GT(static_cast<double>(info.end_ps - info.start_ps), 5 * watchdog_ns);

  // With nobody left to signal, the watchdog fires one period after the last
  // progress.
  CommandBuffer wait_again;
  wait_again.arm_monitor(mon, sob, 2, waiter->queue(), 1).fence(1, 1).nop();
  const uint64_t stuck = take(waiter->submit(wait_again));
  const Status s = waiter->wait(stuck);
  ASSERT_EQ(s.code(), ErrorCode::kDeviceFault) << s.to_string();
  EXPECT_NE(s.message().find("fence timeout"), std::string::npos) << s.message();
  const auto stuck_info = take(waiter->info(stuck));
  EXPECT_GE(static_cast<double>(stuck_info.end_ps - stuck_info.start_ps), watchdog_ns * 1000.0);
  EXPECT_LT(static_cast<double>(stuck_info.end_ps - stuck_info.start_ps), 1.01 * watchdog_ns * 1000.0);
}

}  // namespace
}  // namespace kiln::driver
