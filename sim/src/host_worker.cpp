#include "host_worker.h"

#include <chrono>
#include <utility>

namespace kiln::sim {

namespace {

// Waits until `ready()` holds: polls (yielding the CPU) for up to `spin`,
// then sleeps on the atomic. Hand-offs come in quick succession (one per
// launch) and a sleeping thread takes tens of microseconds to wake on a busy
// host, so a short poll first saves most of them.
template <typename Ready>
void await(const std::atomic<uint64_t>& word, Ready ready, std::chrono::microseconds spin) {
  const auto until = std::chrono::steady_clock::now() + spin;
  while (!ready()) {
    if (std::chrono::steady_clock::now() >= until) {
      for (uint64_t seen = word.load(std::memory_order_acquire); !ready(); seen = word.load(std::memory_order_acquire)) {
        word.wait(seen, std::memory_order_acquire);
      }
      return;
    }
    std::this_thread::yield();
  }
}

constexpr std::chrono::microseconds kCallerSpin{50};
constexpr std::chrono::microseconds kWorkerSpin{50};

}  // namespace

HostWorker::HostWorker() : thread_([this] { loop(); }) {}

HostWorker::~HostWorker() {
  stopping_.store(true, std::memory_order_release);
  requested_.fetch_add(1, std::memory_order_acq_rel);
  requested_.notify_all();
  thread_.join();
}

void HostWorker::run(const std::function<void()>& work) {
  std::lock_guard one_at_a_time(callers_);
  work_ = &work;
  error_ = nullptr;
  const uint64_t ticket = requested_.fetch_add(1, std::memory_order_acq_rel) + 1;
  requested_.notify_one();
  await(finished_, [&] { return finished_.load(std::memory_order_acquire) == ticket; }, kCallerSpin);
  work_ = nullptr;
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
}

void HostWorker::loop() {
  uint64_t served = 0;
  for (;;) {
    await(requested_, [&] { return requested_.load(std::memory_order_acquire) != served; }, kWorkerSpin);
    if (stopping_.load(std::memory_order_acquire)) return;
    served = requested_.load(std::memory_order_acquire);
    try {
      (*work_)();
    } catch (...) {
      error_ = std::current_exception();
    }
    finished_.store(served, std::memory_order_release);
    finished_.notify_one();
  }
}

}  // namespace kiln::sim
