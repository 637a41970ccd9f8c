// The host worker (sim/src/host_worker.h): work runs on its own full-size
// thread, the caller waits for it, and what the work throws reaches the
// caller instead of ending the process.
#include <gtest/gtest.h>

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <thread>

#include "host_worker.h"

namespace kiln::sim {
namespace {

TEST(HostWorker, RunsTheWorkOnItsOwnThreadAndWaitsForIt) {
  HostWorker worker;
  std::thread::id ran_on;
  bool on_worker = false;
  int runs = 0;
  for (int i = 0; i < 100; ++i) {
    worker.run([&] {
      ran_on = std::this_thread::get_id();
      on_worker = worker.on_worker_thread();
      ++runs;
    });
  }
  EXPECT_EQ(runs, 100);  // each run() returned after its work finished
  EXPECT_NE(ran_on, std::this_thread::get_id());
  EXPECT_TRUE(on_worker);
  EXPECT_FALSE(worker.on_worker_thread());
}

TEST(HostWorker, HasAFullSizeStack) {
  HostWorker worker;
  std::size_t stack = 0;
  worker.run([&] {
    pthread_attr_t attr;
    ASSERT_EQ(pthread_getattr_np(pthread_self(), &attr), 0);
    void* low = nullptr;
    pthread_attr_getstack(&attr, &low, &stack);
    pthread_attr_destroy(&attr);
  });
  EXPECT_GE(stack, std::size_t{2} << 20);  // far above a coroutine's 256 KiB
}

TEST(HostWorker, RethrowsWhatTheWorkThrowsAndKeepsWorking) {
  HostWorker worker;
  EXPECT_THROW(worker.run([] { throw std::runtime_error("boom"); }), std::runtime_error);
  EXPECT_THROW(worker.run([] { throw 7; }), int);
  int after = 0;
  worker.run([&] { after = 1; });
  EXPECT_EQ(after, 1);
}

TEST(HostWorker, SerialisesCallersFromSeveralThreads) {
  HostWorker worker;
  std::atomic<int> inside{0}, most{0}, total{0};
  auto caller = [&] {
    for (int i = 0; i < 200; ++i) {
      worker.run([&] {
        most = std::max(most.load(), ++inside);
        ++total;
        --inside;
      });
    }
  };
  std::thread a(caller), b(caller);
  a.join();
  b.join();
  EXPECT_EQ(total, 400);
  EXPECT_EQ(most, 1);
}

}  // namespace
}  // namespace kiln::sim
