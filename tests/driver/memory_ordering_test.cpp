// Memory and sync objects are ordered with the queues: what is freed while
// queued work may still use it comes back only when that work has retired.
#include <cstring>

#include "test_util.h"

namespace kiln::driver {
namespace {

using testing::pattern_bytes;
using testing::take;

TEST(MemoryOrdering, ACopyQueuedBehindOtherWorkNeverLandsInALaterAllocation) {
  auto dev = testing::open_device();  // tiny: 256 MiB of HBM at 100 GB/s
  const uint64_t big = 64 << 20, n = 1 << 20;
  auto a = take(dev->allocate(big)), b = take(dev->allocate(big));
  auto src = take(dev->allocate(n)), dst = take(dev->allocate(n));
  const auto old_data = pattern_bytes(n, 1);
  ASSERT_OK(dev->copy_to_device(src.address, old_data.data(), n));
  Stream* s = take(dev->create_stream());
  // A long copy, then the copy into dst behind it.
  (void)take(s->copy(b.address, a.address, big));
  const uint64_t late = take(s->copy(dst.address, src.address, n));
  ASSERT_OK(dev->free(dst));
  // Reallocate the same size and fill it on another stream while the late
  // copy is still queued.
  auto fresh = take(dev->allocate(n));
  EXPECT_NE(fresh.address, dst.address) << "dst's memory came back while work was queued on it";
  const auto new_data = pattern_bytes(n, 2);
  ASSERT_OK(dev->copy_to_device(fresh.address, new_data.data(), n));
  ASSERT_OK(s->synchronize());
  const auto info = take(s->info(late));
  EXPECT_FALSE(info.fault.has_value()) << info.fault->describe();  // it wrote where it was told, still mapped
  std::vector<uint8_t> back(n);
  ASSERT_OK(dev->copy_to_host(back.data(), fresh.address, n));
  EXPECT_EQ(back, new_data);  // every byte of the new allocation is its own
  // Once the work has retired, the memory is back.
  auto again = take(dev->allocate(n));
  EXPECT_EQ(again.address, dst.address);
}

TEST(MemoryOrdering, AnAllocationThatDoesNotFitWaitsForMemoryFreedUnderQueuedWork) {
  auto dev = testing::open_device();
  const uint64_t half = 120 << 20;
  auto a = take(dev->allocate(half)), b = take(dev->allocate(half));
  const uint64_t left = dev->free_bytes(MemoryKind::kHbm);
  Stream* s = take(dev->create_stream());
  const uint64_t seq = take(s->copy(b.address, a.address, half));
  ASSERT_OK(dev->free(b));
  EXPECT_EQ(dev->free_bytes(MemoryKind::kHbm), left);  // not back yet
  // Needs b's memory: waits (on the simulated clock) for the copy to retire.
  auto c = take(dev->allocate(half));
  const auto info = take(s->info(seq));
  EXPECT_GE(dev->now_ns() * 1000, static_cast<double>(info.end_ps));
  ASSERT_OK(dev->memset(c.address, 0x77777777, half));
  std::vector<uint8_t> tail(4096);
  ASSERT_OK(dev->copy_to_host(tail.data(), c.address + half - 4096, 4096));
  EXPECT_EQ(tail, std::vector<uint8_t>(4096, 0x77));
  // Nothing can come back any more: the error names the sizes.
  auto r = dev->allocate(half);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kOutOfMemory);
}

TEST(MemoryOrdering, AFreedSyncObjectIsNotReusedWhileASignalToItIsPending) {
  auto dev = testing::open_device();
  auto a = take(dev->allocate(64 << 20)), b = take(dev->allocate(64 << 20));
  const uint32_t sob = take(dev->allocate_sync_object());
  Stream* s = take(dev->create_stream());
  CommandBuffer cb;
  cb.copy(b.address, a.address, 64 << 20).signal(sob, packets::SyncOp::ADD, 5);
  (void)take(s->submit(cb));
  ASSERT_OK(dev->free_sync_object(sob));
  EXPECT_EQ(dev->free_sync_object(sob).code(), ErrorCode::kNotFound);  // already on its way back
  const uint32_t other = take(dev->allocate_sync_object());
  EXPECT_NE(other, sob);
  ASSERT_OK(s->synchronize());
  // After the signal landed the index may come back, reset to zero.
  std::vector<uint32_t> taken{other};
  bool reused = false;
  for (int i = 0; i < 4096 && !reused; ++i) {
    const auto r = dev->allocate_sync_object();
    if (!r.ok()) break;
    taken.push_back(*r);
    if (*r == sob) {
      reused = true;
      EXPECT_EQ(dev->sync_object_value(sob), 0);
    }
  }
  EXPECT_TRUE(reused);
}

TEST(MemoryOrdering, AnEventCanBeReRecordedOrDestroyedWhileItsWorkIsPending) {
  auto dev = testing::open_device();
  const uint64_t big = 32 << 20;
  auto a = take(dev->allocate(big)), b = take(dev->allocate(big)), c = take(dev->allocate(4096)),
       d = take(dev->allocate(4096));
  Stream* producer = take(dev->create_stream());
  Stream* consumer = take(dev->create_stream());
  auto e = take(dev->create_event());
  const uint64_t first = take(producer->copy(b.address, a.address, big));
  ASSERT_OK(producer->record(*e));
  ASSERT_OK(consumer->wait_event(*e));
  // Re-recorded on an idle point, then destroyed, before anything ran: the
  // consumer still waits for what the event named when it waited.
  ASSERT_OK(consumer->wait_event(*e));
  e.reset();
  const uint64_t after = take(consumer->copy(d.address, c.address, 4096));
  ASSERT_OK(dev->synchronize());
  EXPECT_GE(testing::dma_job(*dev, *consumer, after).start_ps, testing::dma_job(*dev, *producer, first).end_ps);
  // A fresh event never passes on an old value: recorded with nothing
  // queued, it is complete at once and orders nothing.
  auto fresh = take(dev->create_event());
  EXPECT_TRUE(fresh->query());
}

TEST(MemoryOrdering, PinHostExposesExactlyTheCallersBytes) {
  auto dev = testing::open_device();
  std::vector<uint8_t> page(8192, 0xee);
  uint8_t* inside = page.data() + 1000;
  auto pinned = take(dev->pin_host(inside, 100));
  auto buf = take(dev->allocate(4096));
  ASSERT_OK(dev->memset(buf.address, 0x11111111, 4096));
  Stream& s = dev->default_stream();
  ASSERT_OK(s.wait(take(s.copy(pinned.address, buf.address, 100))));
  EXPECT_EQ(page[999], 0xee);
  EXPECT_EQ(page[1000], 0x11);
  EXPECT_EQ(page[1099], 0x11);
  EXPECT_EQ(page[1100], 0xee);
  // One byte past either end is outside every mapping.
  for (const auto& [dst, size, fault_at] :
       {std::tuple{pinned.address, uint64_t{101}, pinned.address + 100},
        std::tuple{pinned.address - 1, uint64_t{2}, pinned.address - 1}}) {
    const uint64_t seq = take(s.copy(dst, buf.address, size));
    EXPECT_EQ(s.wait(seq).code(), ErrorCode::kDeviceFault);
    const auto info = take(s.info(seq));
    ASSERT_TRUE(info.fault.has_value());
    EXPECT_EQ(info.fault->cause, FaultCause::kPageFault);
    EXPECT_EQ(info.fault->address, fault_at);
  }
  EXPECT_EQ(page[1100], 0xee);
  EXPECT_EQ(page[999], 0xee);
  ASSERT_OK(dev->free_host(pinned));
}

TEST(MemoryOrdering, UnpinningWaitsForWorkThatMayStillReachTheMemory) {
  auto dev = testing::open_device();
  const uint64_t big = 64 << 20, n = 4096;
  auto a = take(dev->allocate(big)), b = take(dev->allocate(big)), src = take(dev->allocate(n));
  ASSERT_OK(dev->memset(src.address, 0x42424242, n));
  std::vector<uint8_t> host(n, 0);
  auto pinned = take(dev->pin_host(host.data(), n));
  Stream* s = take(dev->create_stream());
  (void)take(s->copy(b.address, a.address, big));
  (void)take(s->copy(pinned.address, src.address, n));
  ASSERT_OK(dev->free_host(pinned));  // returns once the copy into `host` is done
  EXPECT_EQ(host, std::vector<uint8_t>(n, 0x42));
}

}  // namespace
}  // namespace kiln::driver
