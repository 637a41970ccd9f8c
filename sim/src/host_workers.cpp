#include "host_workers.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>

namespace kiln::sim {

namespace {

struct Batch {
  Batch(const std::function<void(std::size_t)>* fn, std::size_t n) : item(fn), count(n) {}
  // Valid while some item is unfinished: the caller waits for all of them.
  const std::function<void(std::size_t)>* item;
  const std::size_t count;
  std::atomic<std::size_t> next = 0;
  std::atomic<std::size_t> done = 0;
  std::mutex mutex;
  std::condition_variable finished;
};

// Takes items until none are left. Items are claimed one at a time, so a
// thread that gets the core late simply finds less to do.
void work(Batch& batch) {
  for (;;) {
    const std::size_t i = batch.next.fetch_add(1, std::memory_order_relaxed);
    if (i >= batch.count) return;
    (*batch.item)(i);
    if (batch.done.fetch_add(1, std::memory_order_acq_rel) + 1 == batch.count) {
      std::lock_guard lock(batch.mutex);  // the caller may be between its check and its wait
      batch.finished.notify_all();
    }
  }
}

class Pool {
 public:
  Pool() {
    // Beyond a few threads memory bandwidth, not faults, is the limit.
    const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    const unsigned workers = std::min(cores - 1, 7u);
    for (unsigned i = 0; i < workers; ++i) std::thread([this] { loop(); }).detach();
    threads_ = workers + 1;
  }

  std::size_t threads() const { return threads_; }

  void run(std::size_t count, const std::function<void(std::size_t)>& item) {
    if (count == 0) return;
    if (threads_ == 1 || count == 1) {
      for (std::size_t i = 0; i < count; ++i) item(i);
      return;
    }
    std::lock_guard one_at_a_time(run_mutex_);
    auto batch = std::make_shared<Batch>(&item, count);
    {
      std::lock_guard lock(mutex_);
      current_ = batch;
      ++generation_;
    }
    wake_.notify_all();
    work(*batch);
    {
      std::unique_lock lock(batch->mutex);
      batch->finished.wait(lock, [&] { return batch->done.load(std::memory_order_acquire) == count; });
    }
    std::lock_guard lock(mutex_);
    current_.reset();
  }

 private:
  [[noreturn]] void loop() {
    uint64_t seen = 0;
    for (;;) {
      std::shared_ptr<Batch> batch;
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] { return generation_ != seen; });
        seen = generation_;
        batch = current_;
      }
      // A worker that wakes after the batch ended holds it (shared_ptr) but
      // claims no item, so it never calls the caller's finished function.
      if (batch) work(*batch);
    }
  }

  std::size_t threads_ = 1;
  std::mutex run_mutex_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::shared_ptr<Batch> current_;
  uint64_t generation_ = 0;
};

Pool& pool() {
  // Never destroyed, like SimHost: its threads only sleep at exit.
  static Pool* instance = new Pool();
  return *instance;
}

}  // namespace

void run_on_host_workers(std::size_t count, const std::function<void(std::size_t)>& item) {
  pool().run(count, item);
}

std::size_t host_worker_threads() { return pool().threads(); }

}  // namespace kiln::sim
