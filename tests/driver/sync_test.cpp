// Ordering across queues through the sync manager, and events.
#include "test_util.h"

namespace kiln::driver {
namespace {

using testing::dma_job;
using testing::open_device;
using testing::pattern_bytes;
using testing::take;

TEST(SyncManager, FenceOnQueueBWaitsForQueueASignal) {
  auto dev = open_device();
  const uint64_t n = 8 << 20;
  auto src = pattern_bytes(n, 7);
  auto a = take(dev->allocate(n)), b = take(dev->allocate(n)), c = take(dev->allocate(n));
  ASSERT_OK(dev->copy_to_device(a.address, src.data(), n));
  Stream* qa = take(dev->create_stream());
  Stream* qb = take(dev->create_stream());
  const uint32_t sob = take(dev->allocate_sync_object());
  const uint32_t mon = take(dev->allocate_monitor());

  // B is submitted first and would run at once, but it arms a monitor on A's
  // sync object and fences on it, so its copy (b -> c) must wait for A's copy
  // (a -> b) and A's signal.
  CommandBuffer wait_for_a;
  wait_for_a.arm_monitor(mon, sob, 1, qb->queue(), /*fence_id=*/1).fence(1, 1).copy(c.address, b.address, n);
  CommandBuffer produce;
  produce.copy(b.address, a.address, n).signal(sob, packets::SyncOp::ADD, 1);
  const uint64_t sb = take(qb->submit(wait_for_a));
  const uint64_t sa = take(qa->submit(produce));
  ASSERT_OK(qb->synchronize());
  ASSERT_OK(qa->synchronize());

  const auto job_a = dma_job(*dev, *qa, sa);
  const auto job_b = dma_job(*dev, *qb, sb);
  EXPECT_GT(job_a.end_ps, 0u);
  EXPECT_GE(job_b.start_ps, job_a.end_ps) << "B's copy started before A's copy ended";
  EXPECT_EQ(dev->sync_object_value(sob), 1);
  std::vector<uint8_t> back(n);
  ASSERT_OK(dev->copy_to_host(back.data(), c.address, n));
  EXPECT_EQ(back, src);
  // The wait shows in the trace as a fence wait on B's command processor.
  EXPECT_EQ(testing::device_events(*dev, "CP", static_cast<int>(qb->queue()), sb).size(), 2u);
}

TEST(SyncManager, MonitorMemoryPayloadWritesWhenTheConditionHolds) {
  auto dev = open_device();
  auto host = take(dev->allocate_host(4096));
  Stream* s = take(dev->create_stream());
  const uint32_t sob = take(dev->allocate_sync_object());
  const uint32_t mon = take(dev->allocate_monitor());
  CommandBuffer cb;
  cb.arm_monitor_memory(mon, sob, 3, host.at(64), 0xC0FFEE, packets::MonitorCondition::EQUAL);
  for (int i = 0; i < 3; ++i) cb.signal(sob, packets::SyncOp::ADD, 1);
  ASSERT_OK(s->wait(take(s->submit(cb))));
  EXPECT_EQ(static_cast<const uint32_t*>(host.data)[16], 0xC0FFEEu);
  EXPECT_EQ(static_cast<const uint32_t*>(host.data)[15], 0u);
}

TEST(SyncManager, MonitorMemoryPayloadToUnmappedAddressFaultsWhenArmed) {
  auto dev = open_device();
  Stream* s = take(dev->create_stream());
  CommandBuffer cb;
  cb.nop().arm_monitor_memory(0, 0, 1, 0x40, 1);
  const uint64_t seq = take(s->submit(cb));
  EXPECT_EQ(s->wait(seq).code(), ErrorCode::kDeviceFault);
  const auto info = take(s->info(seq));
  ASSERT_TRUE(info.fault.has_value());
  EXPECT_EQ(info.fault->cause, FaultCause::kPageFault);
  EXPECT_EQ(info.fault->address, 0x40u);
  EXPECT_EQ(info.fault->packet_offset, 8u);
}

TEST(Events, ElapsedTimeEqualsTheSimulatedSpan) {
  auto dev = open_device();
  const uint64_t n = 16 << 20;
  auto a = take(dev->allocate(n)), b = take(dev->allocate(n));
  Stream* s = take(dev->create_stream());
  auto start = take(dev->create_event());
  auto end = take(dev->create_event());
  EXPECT_FALSE(Event::elapsed_ns(*start, *end).ok());  // never recorded
  ASSERT_OK(s->record(*start));
  const uint64_t copy = take(s->copy(b.address, a.address, n));
  ASSERT_OK(s->record(*end));
  ASSERT_OK(end->synchronize());
  EXPECT_TRUE(start->query());
  EXPECT_TRUE(end->query());
  const double elapsed = take(Event::elapsed_ns(*start, *end));
  EXPECT_DOUBLE_EQ(elapsed, (*end->completion_time_ps() - *start->completion_time_ps()) / 1000.0);
  // The span holds the copy submission and the end record: at least the copy.
  const auto info = take(s->info(copy));
  EXPECT_GE(elapsed * 1000, static_cast<double>(info.end_ps - info.start_ps));
  // Read from HBM and written to HBM.
  const double copy_ns = static_cast<double>(2 * n) / dev->config().hbm().bandwidth_gb_per_s();
  EXPECT_GT(elapsed, copy_ns);
  EXPECT_LT(elapsed, copy_ns + 5000);  // plus fixed submission overheads of a few microseconds
}

TEST(Events, StreamWaitEventOrdersAcrossStreams) {
  auto dev = open_device();
  const uint64_t n = 16 << 20;
  auto a = take(dev->allocate(n)), b = take(dev->allocate(n)), c = take(dev->allocate(1 << 20));
  auto d = take(dev->allocate(1 << 20));
  Stream* producer = take(dev->create_stream());
  Stream* consumer = take(dev->create_stream());
  auto done = take(dev->create_event());
  const uint64_t big = take(producer->copy(b.address, a.address, n));
  ASSERT_OK(producer->record(*done));
  ASSERT_OK(consumer->wait_event(*done));
  const uint64_t small = take(consumer->copy(d.address, c.address, 1 << 20));
  ASSERT_OK(dev->synchronize());
  EXPECT_GE(dma_job(*dev, *consumer, small).start_ps, dma_job(*dev, *producer, big).end_ps);

  // Without the wait, the small copy overlaps the big one.
  const uint64_t big2 = take(producer->copy(b.address, a.address, n));
  const uint64_t small2 = take(consumer->copy(d.address, c.address, 1 << 20));
  ASSERT_OK(dev->synchronize());
  EXPECT_LT(dma_job(*dev, *consumer, small2).start_ps, dma_job(*dev, *producer, big2).end_ps);
}

TEST(Events, QueryPollingMakesProgressAndRerecordingWorks) {
  auto dev = open_device();
  auto a = take(dev->allocate(1 << 20)), b = take(dev->allocate(1 << 20));
  Stream* s = take(dev->create_stream());
  auto e = take(dev->create_event());
  EXPECT_TRUE(e->query());  // never recorded: nothing to wait for
  for (int round = 0; round < 3; ++round) {
    (void)take(s->copy(b.address, a.address, 1 << 20));
    ASSERT_OK(s->record(*e));
    int polls = 0;
    while (!e->query()) ASSERT_LT(++polls, 100000);
    EXPECT_GT(polls, 0);
  }
}

TEST(Streams, SequenceNumbersIncreaseAndQueuesRunOut) {
  auto dev = open_device();
  Stream* s = take(dev->create_stream());
  CommandBuffer nop;
  nop.nop();
  uint64_t last = 0;
  for (int i = 0; i < 5; ++i) {
    const uint64_t seq = take(s->submit(nop));
    EXPECT_EQ(seq, last + 1);
    last = seq;
  }
  ASSERT_OK(s->wait(last));
  EXPECT_EQ(s->wait(last + 1).code(), ErrorCode::kInvalidArgument);
  // tiny has 8 queues: the default stream and `s` hold two.
  std::vector<Stream*> more;
  for (int i = 0; i < 6; ++i) more.push_back(take(dev->create_stream()));
  auto none = dev->create_stream();
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), ErrorCode::kResourceExhausted);
  ASSERT_OK(dev->destroy_stream(more.back()));
  EXPECT_TRUE(dev->create_stream().ok());
}

TEST(Streams, WaitWithTimeoutReturnsTimeoutAndWorkStillCompletes) {
  auto dev = open_device();
  Stream* s = take(dev->create_stream());
  // A fence nobody signals: the device waits for its watchdog (1 ms of
  // simulated time) — a zero wall-clock timeout expires first.
  CommandBuffer stuck;
  stuck.fence(2, 1);
  const uint64_t seq = take(s->submit(stuck));
  const Status st = s->wait(seq, std::chrono::nanoseconds(0));
  EXPECT_TRUE(st.code() == ErrorCode::kTimeout || st.code() == ErrorCode::kDeviceFault) << st.to_string();
  EXPECT_EQ(s->wait(seq).code(), ErrorCode::kDeviceFault);
}

}  // namespace
}  // namespace kiln::driver
