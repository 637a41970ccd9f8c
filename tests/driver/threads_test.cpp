// Submission from several host threads at once.
#include <atomic>
#include <thread>

#include "test_util.h"

namespace kiln::driver {
namespace {

using testing::take;

TEST(Threads, FourThreadsThousandSubmissionsEach) {
  auto dev = testing::open_device();
  constexpr int kThreads = 4;
  constexpr int kSubmissions = 1000;
  std::vector<Stream*> streams;
  std::vector<uint32_t> sobs;
  std::vector<DeviceBuffer> src, dst;
  for (int t = 0; t < kThreads; ++t) {
    streams.push_back(take(dev->create_stream()));
    sobs.push_back(take(dev->allocate_sync_object()));
    src.push_back(take(dev->allocate(4096)));
    dst.push_back(take(dev->allocate(4096)));
    ASSERT_OK(dev->memset(src[t].address, 0x01010101u * (t + 1), 4096));
  }
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      CommandBuffer cb;
      cb.copy(dst[t].address, src[t].address, 4096).signal(sobs[t], packets::SyncOp::ADD, 1);
      uint64_t last = 0;
      for (int i = 0; i < kSubmissions; ++i) {
        auto seq = streams[t]->submit(cb);
        if (!seq.ok() || *seq != last + 1) ++failures;
        if (seq.ok()) last = *seq;
        // Wait now and then, so threads advance the simulation concurrently.
        if (i % 100 == 99 && !streams[t]->wait(last).ok()) ++failures;
      }
      if (!streams[t]->synchronize().ok()) ++failures;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(streams[t]->last_sequence(), static_cast<uint64_t>(kSubmissions));
    EXPECT_EQ(dev->sync_object_value(sobs[t]), kSubmissions) << "a submission was lost on stream " << t;
    std::vector<uint8_t> back(4096);
    ASSERT_OK(dev->copy_to_host(back.data(), dst[t].address, 4096));
    EXPECT_EQ(back[0], t + 1);
    EXPECT_EQ(back[4095], t + 1);
  }
}

TEST(Threads, SeveralDevicesOpenAndCloseInOneProcess) {
  for (int round = 0; round < 3; ++round) {
    auto a = testing::open_device();
    auto b = testing::open_device("gaudi2");
    auto buf = take(a->allocate(1024));
    ASSERT_OK(a->memset(buf.address, 0x11111111, 1024));
    auto buf2 = take(b->allocate(1024));
    ASSERT_OK(b->memset(buf2.address, 0x22222222, 1024));
  }
}

}  // namespace
}  // namespace kiln::driver
