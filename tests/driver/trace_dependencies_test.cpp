// Labels and dependencies in traces the simulated device writes: every
// engine job carries the ops of the packet that started it and a job id
// shared by its events; waits_for names what it waited for (queue order, the
// host call that submitted it, completion signals, signal packets, queue
// retirement, monitors); host waits name the jobs they waited for; and the
// analyses find the per-op time and the critical path on such traces.
#include <algorithm>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "kiln/kernels/kernel_args.h"
#include "kiln/kernels/kernel_registry.h"
#include "kiln/traces/analysis.h"
#include "test_util.h"

namespace kiln::driver {
namespace {

using testing::take;
using traces::TraceClock;
using traces::TraceEvent;
using Ops = std::vector<std::string>;

bool has(const std::vector<uint64_t>& ids, uint64_t id) {
  return id != 0 && std::find(ids.begin(), ids.end(), id) != ids.end();
}

// The host call `name` of submission `sequence`, on its simulated clock.
TraceEvent host_call(const Device& dev, const std::string& name, uint64_t sequence) {
  for (const TraceEvent& e : dev.trace()->events()) {
    if (e.clock == TraceClock::kHostSimulated && e.name == name && e.sequence == sequence) return e;
  }
  ADD_FAILURE() << "no host call '" << name << "' for submission " << sequence;
  return {};
}

// Whether `e` waited for `id` (an event or job), directly or through the
// events it waited for.
bool depends_on(const std::vector<TraceEvent>& all, const TraceEvent& e, uint64_t id) {
  std::set<uint64_t> seen;
  std::function<bool(const TraceEvent&)> visit = [&](const TraceEvent& x) {
    for (uint64_t w : x.waits_for) {
      if (w == id) return true;
      if (!seen.insert(w).second) continue;
      for (const TraceEvent& y : all) {
        if ((y.id == w || (y.job == w && y.job != 0)) && visit(y)) return true;
      }
    }
    return false;
  };
  return visit(e);
}

TEST(TraceLabels, EveryJobCarriesTheOpsOfItsPacketAndAFusedJobListsThemAll) {
  auto dev = testing::open_device();  // tiny: two vector cores
  const uint64_t n = 64 << 10;
  auto a = take(dev->allocate(n)), b = take(dev->allocate(n)), c = take(dev->allocate(n));
  kernels::KernelArgs args;
  for (const DeviceBuffer* t : {&a, &b, &c}) {
    args.add_tensor(kernels::TensorDesc::contiguous(t->address, DType::kF32, {1024, 16}));
  }
  CommandBuffer cb;
  cb.label({"embed"}).copy(b.address, a.address, n);
  cb.label({"fc1", "bias", "gelu"}).launch_tpc(kernels::kernel_id("add"), args);
  cb.label({}).copy(a.address, c.address, n);
  Stream* s = take(dev->create_stream());
  const uint64_t seq = take(s->submit(cb));
  ASSERT_OK(s->wait(seq));

  const auto dma = testing::device_events(*dev, "DMA", static_cast<int>(s->queue()), seq);
  const auto tpc = testing::device_events(*dev, "TPC", static_cast<int>(s->queue()), seq);
  ASSERT_EQ(dma.size(), 2u);
  ASSERT_EQ(tpc.size(), 2u);  // one job on both cores
  const TraceEvent& embed = dma[0].end_ps < dma[1].end_ps ? dma[0] : dma[1];
  const TraceEvent& after = dma[0].end_ps < dma[1].end_ps ? dma[1] : dma[0];
  EXPECT_EQ(embed.ops, Ops{"embed"});
  EXPECT_EQ(after.ops, Ops{});
  for (const TraceEvent& core : tpc) {
    EXPECT_EQ(core.ops, (Ops{"fc1", "bias", "gelu"}));
    EXPECT_EQ(core.job, tpc[0].job);
    // In queue order: the kernel waited for the copy before it, and the copy
    // after it for the kernel.
    EXPECT_TRUE(has(core.waits_for, embed.job));
  }
  EXPECT_NE(tpc[0].job, 0u);
  EXPECT_NE(tpc[0].id, tpc[1].id);
  EXPECT_NE(tpc[0].job, embed.job);
  EXPECT_TRUE(has(after.waits_for, tpc[0].job));
  // The first job waited for the host call that submitted it.
  EXPECT_TRUE(has(embed.waits_for, host_call(*dev, "submit", seq).id));

  // Every id is unique; job ids name no event.
  std::set<uint64_t> ids;
  for (const TraceEvent& e : dev->trace()->events()) {
    EXPECT_NE(e.id, 0u) << e.track << " " << e.name;
    EXPECT_TRUE(ids.insert(e.id).second) << e.track << " " << e.name;
  }
  EXPECT_EQ(ids.count(tpc[0].job), 0u);
}

TEST(TraceLabels, AResubmittedRelocatedBufferKeepsItsLabelsAndSharesThem) {
  auto dev = testing::open_device();
  const uint64_t n = 4096;
  auto a = take(dev->allocate(n)), b = take(dev->allocate(n)), c = take(dev->allocate(n));
  CommandBuffer cb;
  cb.label({"layer0.copy"}).copy(bound(1), bound(0), n);
  // The labels a submission hands the device are the buffer's own, shared.
  EXPECT_EQ(cb.shared_labels().get(), cb.shared_labels().get());
  EXPECT_EQ(cb.shared_labels().get(), &cb.labels());
  Stream* s = take(dev->create_stream());
  BindingTable first, second;
  first.bind(0, a).bind(1, b);
  second.bind(0, b).bind(1, c);
  const uint64_t s1 = take(s->submit(cb, first));
  const uint64_t s2 = take(s->submit(cb, second));
  // Recording after a submission copies the recording: earlier submissions
  // keep what they saw.
  cb.label({"layer1.copy"}).copy(bound(0), bound(1), n);
  const uint64_t s3 = take(s->submit(cb, first));
  ASSERT_OK(s->synchronize());
  EXPECT_EQ(testing::dma_job(*dev, *s, s1).ops, Ops{"layer0.copy"});
  EXPECT_EQ(testing::dma_job(*dev, *s, s2).ops, Ops{"layer0.copy"});
  const auto third = testing::device_events(*dev, "DMA", static_cast<int>(s->queue()), s3);
  ASSERT_EQ(third.size(), 2u);
  std::multiset<Ops> got{third[0].ops, third[1].ops};
  EXPECT_EQ(got, (std::multiset<Ops>{{"layer0.copy"}, {"layer1.copy"}}));
  // The second submission of the buffer began after the first ended.
  EXPECT_TRUE(has(testing::dma_job(*dev, *s, s2).waits_for, testing::dma_job(*dev, *s, s1).job));
}

// A submission may name other ops than the buffer records (one cached
// recipe launched for several model ops): its labels replace the buffer's
// for that submission only.
TEST(TraceLabels, ASubmissionsOwnLabelsReplaceTheBuffersForItAlone) {
  auto dev = testing::open_device();
  const uint64_t n = 4096;
  auto a = take(dev->allocate(n)), b = take(dev->allocate(n));
  CommandBuffer cb;
  cb.label({"layer0.copy"}).copy(b.address, a.address, n);
  auto layer7 = std::make_shared<traces::OpLabels>();
  layer7->add(0, {"layer7.copy"});
  Stream* s = take(dev->create_stream());
  SubmitOptions relabelled;
  relabelled.labels = layer7;
  const uint64_t s1 = take(s->submit(cb, BindingTable{}, relabelled));
  const uint64_t s2 = take(s->submit(cb));
  ASSERT_OK(s->synchronize());
  EXPECT_EQ(testing::dma_job(*dev, *s, s1).ops, Ops{"layer7.copy"});
  EXPECT_EQ(testing::dma_job(*dev, *s, s2).ops, Ops{"layer0.copy"});
  EXPECT_EQ(cb.labels().at(0)->front(), "layer0.copy");
}

TEST(TraceDependencies, AWaitNamesTheJobWhoseCompletionSignalReleasedIt) {
  auto dev = testing::open_device();
  const uint64_t big = 16 << 20, small = 64 << 10;
  auto a = take(dev->allocate(big)), b = take(dev->allocate(big)), c = take(dev->allocate(small)),
       d = take(dev->allocate(small)), e = take(dev->allocate(small));
  const uint32_t done = take(dev->allocate_sync_object());
  Stream* q = take(dev->create_stream());
  Stream* waiter = take(dev->create_stream());
  CommandBuffer wait;
  wait.label({"consume"}).wait_sync(done, 1).copy(e.address, d.address, small);
  CommandBuffer work;  // no barriers: the two copies run side by side
  work.copy(b.address, a.address, big, 0).copy(d.address, c.address, small, 0).signal_when_done(done);
  const uint64_t sw = take(waiter->submit(wait));
  const uint64_t sq = take(q->submit(work));
  ASSERT_OK(dev->synchronize());
  const auto jobs = testing::device_events(*dev, "DMA", static_cast<int>(q->queue()), sq);
  ASSERT_EQ(jobs.size(), 2u);
  const TraceEvent& big_job = jobs[0].bytes == big ? jobs[0] : jobs[1];
  const TraceEvent& small_job = jobs[0].bytes == big ? jobs[1] : jobs[0];
  const auto waits = testing::device_events(*dev, "CP", static_cast<int>(waiter->queue()), sw);
  const auto it = std::find_if(waits.begin(), waits.end(), [](const TraceEvent& x) { return x.name == "sync wait"; });
  ASSERT_NE(it, waits.end());
  const TraceEvent& sync_wait = *it;
  EXPECT_EQ(sync_wait.ops, Ops{"consume"});
  EXPECT_TRUE(has(sync_wait.waits_for, small_job.job));
  EXPECT_FALSE(has(sync_wait.waits_for, big_job.job));
  const TraceEvent consumer = testing::dma_job(*dev, *waiter, sw);
  EXPECT_TRUE(has(consumer.waits_for, sync_wait.id));
  EXPECT_FALSE(depends_on(dev->trace()->events(), consumer, big_job.job));
}

TEST(TraceDependencies, TheCriticalPathRunsThroughACompletionSignalToTheHostsWait) {
  auto dev = testing::open_device("tiny", /*functional=*/false);
  const uint64_t n = 8 << 20;
  auto a = take(dev->allocate(n)), b = take(dev->allocate(n)), c = take(dev->allocate(n)),
       d = take(dev->allocate(n)), e = take(dev->allocate(n));
  const uint32_t done = take(dev->allocate_sync_object());
  Stream* producer = take(dev->create_stream());
  Stream* consumer = take(dev->create_stream());
  Stream* other = take(dev->create_stream());
  CommandBuffer consume;
  consume.wait_sync(done, 1).copy(c.address, b.address, n);
  CommandBuffer produce;
  produce.copy(b.address, a.address, n).signal_when_done(done);
  CommandBuffer unrelated;  // shorter, and waited for by nobody
  unrelated.copy(e.address, d.address, n / 8);
  const uint64_t sc = take(consumer->submit(consume));
  const uint64_t sp = take(producer->submit(produce));
  const uint64_t su = take(other->submit(unrelated));
  ASSERT_OK(consumer->synchronize());
  const proto::Trace trace = dev->trace_proto();

  const traces::CriticalPath path = traces::critical_path(trace);
  ASSERT_GE(path.steps.size(), 4u);
  EXPECT_LE(path.length_ps, path.span_ps());
  const TraceEvent produced = testing::dma_job(*dev, *producer, sp);
  const TraceEvent consumed = testing::dma_job(*dev, *consumer, sc);
  // The last four steps: the producer's copy, the wait its signal released,
  // the consumer's copy, the host's synchronize that waited for it.
  const std::size_t k = path.steps.size() - 4;
  EXPECT_EQ(path.steps[k].id, produced.id);
  EXPECT_EQ(path.steps[k + 1].name, "sync wait");
  EXPECT_TRUE(path.steps[k + 1].via_dependency);
  EXPECT_EQ(path.steps[k + 2].id, consumed.id);
  EXPECT_TRUE(path.steps[k + 2].via_dependency);
  EXPECT_EQ(path.steps[k + 3].name, "synchronize");
  EXPECT_TRUE(path.steps[k + 3].via_dependency);
  // Each step adds what it ran past the one before: the copies all of
  // themselves, the wait the signal's message latency.
  EXPECT_EQ(path.steps[k].added_ps, produced.end_ps - produced.start_ps);
  EXPECT_EQ(path.steps[k + 2].added_ps, consumed.end_ps - consumed.start_ps);
  EXPECT_EQ(path.steps[k + 1].added_ps, path.steps[k + 1].end_ps - produced.end_ps);
  for (const traces::CriticalPathStep& step : path.steps) EXPECT_NE(step.id, testing::dma_job(*dev, *other, su).id);
  uint64_t added = 0;
  for (const traces::CriticalPathStep& step : path.steps) added += step.added_ps;
  EXPECT_EQ(added, path.length_ps);
}

TEST(TraceDependencies, StreamEventsMonitorsAndHostWaitsAreEdgesToo) {
  auto dev = testing::open_device();
  const uint64_t n = 1 << 20;
  auto a = take(dev->allocate(n)), b = take(dev->allocate(n)), c = take(dev->allocate(n)),
       d = take(dev->allocate(n));
  Stream* s1 = take(dev->create_stream());
  Stream* s2 = take(dev->create_stream());
  Stream* s3 = take(dev->create_stream());

  // An event across streams: s2's copy waits for s1's through s1's
  // retirement counter.
  auto ev = take(dev->create_event());
  const uint64_t first = take(s1->copy(b.address, a.address, n));
  ASSERT_OK(s1->record(*ev));
  ASSERT_OK(s2->wait_event(*ev));
  const uint64_t second = take(s2->copy(c.address, b.address, n));

  // A monitor: s3 fences on a sync object s2 signals after its copy.
  const uint32_t sob = take(dev->allocate_sync_object());
  const uint32_t mon = take(dev->allocate_monitor());
  CommandBuffer fenced;
  fenced.arm_monitor(mon, sob, 1, s3->queue(), /*fence_id=*/1).fence(1, 1).copy(d.address, c.address, n);
  CommandBuffer signal;
  signal.signal(sob, packets::SyncOp::ADD, 1);
  const uint64_t third = take(s3->submit(fenced));
  (void)take(s2->submit(signal));
  ASSERT_OK(s3->synchronize());
  ASSERT_OK(dev->synchronize());

  const std::vector<TraceEvent> all = dev->trace()->events();
  const TraceEvent j1 = testing::dma_job(*dev, *s1, first);
  const TraceEvent j2 = testing::dma_job(*dev, *s2, second);
  const TraceEvent j3 = testing::dma_job(*dev, *s3, third);
  EXPECT_TRUE(depends_on(all, j2, j1.job));
  EXPECT_TRUE(depends_on(all, j3, j2.job));
  const auto monitor = std::find_if(all.begin(), all.end(), [](const TraceEvent& e) { return e.track == "SYNC"; });
  ASSERT_NE(monitor, all.end());
  EXPECT_TRUE(has(monitor->waits_for, j2.job));
  EXPECT_TRUE(depends_on(all, j3, monitor->id));

  // The host's synchronize of s3 waited for s3's copy.
  EXPECT_TRUE(has(host_call(*dev, "synchronize", third).waits_for, j3.job));
}

TEST(TraceDependencies, TheSameProgramGivesTheSameIdsAndEdges) {
  auto run = [] {
    auto dev = testing::open_device();
    const uint64_t n = 1 << 20;
    auto a = take(dev->allocate(n)), b = take(dev->allocate(n));
    Stream* s1 = take(dev->create_stream());
    Stream* s2 = take(dev->create_stream());
    auto ev = take(dev->create_event());
    (void)take(s1->copy(b.address, a.address, n));
    EXPECT_TRUE(s1->record(*ev).ok());
    EXPECT_TRUE(s2->wait_event(*ev).ok());
    (void)take(s2->copy(a.address, b.address, n));
    EXPECT_TRUE(dev->synchronize().ok());
    // Wall time shows only in the host's wall-clock events and catch-ups.
    std::vector<TraceEvent> simulated;
    for (TraceEvent& e : dev->trace()->events()) {
      if (e.clock != TraceClock::kHostWall && e.name != "catch-up") simulated.push_back(std::move(e));
    }
    return simulated;
  };
  const auto first = run(), second = run();
  ASSERT_EQ(first.size(), second.size());
  for (std::size_t i = 0; i < first.size(); ++i) {
    SCOPED_TRACE(first[i].track + " " + first[i].name);
    EXPECT_EQ(first[i].id, second[i].id);
    EXPECT_EQ(first[i].job, second[i].job);
    EXPECT_EQ(first[i].waits_for, second[i].waits_for);
  }
}

TEST(TraceAnalysisOfLabels, ModelOpTimeIsSummedOverJobsAndTheCriticalPathIsTheLongerChain) {
  auto dev = testing::open_device("tiny", /*functional=*/false);
  const uint64_t big = 8 << 20, small = 256 << 10;
  auto a = take(dev->allocate(big)), b = take(dev->allocate(big)), c = take(dev->allocate(big)),
       d = take(dev->allocate(big));
  // Queue 0: two big copies in order (the long chain); queue 1: one small copy.
  CommandBuffer chain;
  chain.label({"load"}).copy(b.address, a.address, big).label({"load"}).copy(c.address, b.address, big);
  CommandBuffer side;
  side.label({"store"}).copy(d.address, a.address, small);
  Stream* s0 = take(dev->create_stream());
  Stream* s1 = take(dev->create_stream());
  const uint64_t q0 = take(s0->submit(chain));
  const uint64_t q1 = take(s1->submit(side));
  ASSERT_OK(dev->synchronize());
  const proto::Trace trace = dev->trace_proto();

  const std::vector<traces::ModelOpSummary> table = traces::model_op_table(trace);
  ASSERT_EQ(table.size(), 2u);
  EXPECT_EQ(table[0].op, "load");
  EXPECT_EQ(table[0].jobs, 2u);
  const auto loads = testing::device_events(*dev, "DMA", static_cast<int>(s0->queue()), q0);
  ASSERT_EQ(loads.size(), 2u);
  EXPECT_EQ(table[0].time_ps, (loads[0].end_ps - loads[0].start_ps) + (loads[1].end_ps - loads[1].start_ps));
  EXPECT_EQ(table[0].bytes, 2 * big);
  EXPECT_EQ(table[1].op, "store");
  EXPECT_EQ(table[1].jobs, 1u);
  EXPECT_EQ(table[0].engines.count("DMA"), 1u);
  EXPECT_NEAR(table[0].share + table[1].share, 1.0, 1e-12);

  const traces::CriticalPath path = traces::critical_path(trace);
  std::vector<uint64_t> on_path;
  for (const traces::CriticalPathStep& step : path.steps) on_path.push_back(step.id);
  EXPECT_TRUE(has(on_path, loads[0].id));
  EXPECT_TRUE(has(on_path, loads[1].id));
  EXPECT_FALSE(has(on_path, testing::dma_job(*dev, *s1, q1).id));
  EXPECT_GE(path.length_ps, table[0].time_ps);
  EXPECT_LE(path.length_ps, path.span_ps());
  // In time order, each step reached from the one before.
  for (std::size_t i = 1; i < path.steps.size(); ++i) EXPECT_LE(path.steps[i - 1].end_ps, path.steps[i].end_ps);

  const std::string summary = traces::format_analysis(traces::analyze_trace(trace), 10);
  EXPECT_NE(summary.find("model ops by simulated time (2 of 2"), std::string::npos) << summary;
  EXPECT_NE(summary.find("critical path: "), std::string::npos) << summary;
}

}  // namespace
}  // namespace kiln::driver
