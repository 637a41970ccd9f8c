#include "host_workers.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace kiln::sim {
namespace {

TEST(HostWorkers, RunsEveryItemOnceAndReturnsAfterTheLast) {
  for (std::size_t count : {0u, 1u, 2u, 1000u}) {
    std::vector<std::atomic<int>> runs(count);
    run_on_host_workers(count, [&](std::size_t i) { runs[i].fetch_add(1); });
    for (std::size_t i = 0; i < count; ++i) ASSERT_EQ(runs[i].load(), 1) << "item " << i << " of " << count;
  }
}

TEST(HostWorkers, SharesItemsAmongItsThreads) {
  std::mutex mutex;
  std::set<std::thread::id> threads;
  run_on_host_workers(64, [&](std::size_t) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // long enough for every worker to wake
    std::lock_guard lock(mutex);
    threads.insert(std::this_thread::get_id());
  });
  EXPECT_GE(threads.size(), 1u);
  EXPECT_LE(threads.size(), host_worker_threads());
  if (host_worker_threads() > 1) {
    EXPECT_GT(threads.size(), 1u);
  }
}

TEST(HostWorkers, BackToBackBatchesFromSeveralCallers) {
  std::atomic<int> total = 0;
  std::vector<std::thread> callers;
  for (int c = 0; c < 3; ++c) {
    callers.emplace_back([&] {
      for (int b = 0; b < 50; ++b) run_on_host_workers(7, [&](std::size_t) { total.fetch_add(1); });
    });
  }
  for (auto& t : callers) t.join();
  EXPECT_EQ(total.load(), 3 * 50 * 7);
}

}  // namespace
}  // namespace kiln::sim
