#include "kiln/sim/sim_host.h"

#include <algorithm>
#include <atomic>

#include "systemc.h"

// libsystemc references sc_main; Kiln never enters through it because the
// simulation is driven from SimHost's thread.
int sc_main(int, char*[]) { return 1; }

namespace kiln::sim {

namespace {

// How long a thread about to block polls instead: long enough to cover the
// host work between two driver calls, short enough to cost little CPU when
// nothing comes.
constexpr auto kSpin = std::chrono::microseconds(50);

// Polls `done` (yielding the core between polls) until it holds, kSpin has
// passed, or `deadline`; returns whether it held.
template <typename Done>
bool spin_until(Done&& done, std::chrono::steady_clock::time_point deadline) {
  const auto until = std::min(deadline, std::chrono::steady_clock::now() + kSpin);
  while (!done()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::yield();
  }
  return true;
}

}  // namespace

SimHost& SimHost::instance() {
  // Deliberately never destroyed: SystemC's own globals have no defined
  // destruction order relative to ours, and the thread only sleeps at exit.
  static SimHost* host = new SimHost();
  return *host;
}

SimHost::SimHost() {
  thread_ = std::thread([this] { loop(); });
}

SimHost::~SimHost() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_simulation();
  if (thread_.joinable()) thread_.join();
}

void SimHost::run_sync(const std::function<void()>& fn) {
  std::mutex done_mutex;
  std::condition_variable done_cv;
  std::atomic<bool> done = false;
  {
    std::lock_guard queue_lock(mutex_);
    ++urgent_tasks_;
    tasks_.push_back([&] {
      fn();
      {
        std::lock_guard host_lock(mutex_);
        --urgent_tasks_;
      }
      std::lock_guard done_lock(done_mutex);
      done.store(true, std::memory_order_release);
      done_cv.notify_all();
    });
  }
  wake_simulation();
  if (spin_until([&] { return done.load(std::memory_order_acquire); },
                 std::chrono::steady_clock::time_point::max())) {
    // The task notifies under done_mutex: taking it once means the task is
    // past its last touch of these locals before they go out of scope.
    std::lock_guard lock(done_mutex);
    return;
  }
  std::unique_lock lock(done_mutex);
  done_cv.wait(lock, [&] { return done.load(); });
}

void SimHost::post(std::function<void()> fn) {
  // No wake-up: simulated time only moves while someone waits, so the task
  // runs at the same simulated instant whether it runs now or when the next
  // waiter arrives — and a futex wake per submission was most of its cost.
  std::lock_guard lock(mutex_);
  tasks_.push_back(std::move(fn));
}

WaitOutcome SimHost::wait_until(std::function<bool()> condition, std::chrono::nanoseconds timeout) {
  auto waiter = std::make_shared<Waiter>();
  waiter->condition = std::move(condition);
  return wait_for(waiter, timeout);
}

void SimHost::step_once() {
  auto waiter = std::make_shared<Waiter>();
  waiter->condition = [] { return false; };
  waiter->steps_left = 1;
  (void)wait_for(waiter, std::chrono::nanoseconds::max());
}

WaitOutcome SimHost::wait_for(const WaiterPtr& waiter, std::chrono::nanoseconds timeout) {
  // now() + a huge timeout overflows; treat anything over a year as forever.
  const bool forever = timeout >= std::chrono::hours(24 * 365);
  const auto deadline = forever ? std::chrono::steady_clock::time_point::max()
                                : std::chrono::steady_clock::now() + timeout;
  {
    std::lock_guard lock(mutex_);
    waiters_.push_back(waiter);
  }
  wake_simulation();
  // Most waits end within microseconds of simulation; blocking at once would
  // add two thread wake-ups (each tens of microseconds on a VM) to every one.
  spin_until([&] { return waiter->finished.load(std::memory_order_acquire); }, deadline);
  std::unique_lock lock(mutex_);
  while (!waiter->finished) {
    if (forever) {
      waiter->cv.wait(lock);
    } else if (waiter->cv.wait_until(lock, deadline) == std::cv_status::timeout && !waiter->finished) {
      waiters_.remove(waiter);
      return WaitOutcome::kTimeout;
    }
  }
  return waiter->outcome;
}

bool SimHost::run_tasks(std::unique_lock<std::mutex>& lock) {
  bool ran = false;
  while (!tasks_.empty()) {
    auto task = std::move(tasks_.front());
    tasks_.pop_front();
    lock.unlock();
    task();
    lock.lock();
    ran = true;
  }
  return ran;
}

void SimHost::evaluate_waiters() {
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    const WaiterPtr& w = *it;
    if (w->steps_left == 0 || (w->steps_left < 0 && w->condition())) {
      finish(w, WaitOutcome::kSatisfied);
      it = waiters_.erase(it);
    } else {
      ++it;
    }
  }
}

void SimHost::finish_all_waiters(WaitOutcome outcome) {
  for (const WaiterPtr& w : waiters_) finish(w, outcome);
  waiters_.clear();
}

void SimHost::finish(const WaiterPtr& waiter, WaitOutcome outcome) {
  waiter->finished = true;
  waiter->outcome = outcome;
  finished_.push_back(waiter);  // the shared_ptr keeps it alive until notified
}

void SimHost::notify_finished(std::unique_lock<std::mutex>& lock) {
  if (finished_.empty()) return;
  std::vector<WaiterPtr> done;
  done.swap(finished_);
  lock.unlock();
  for (const WaiterPtr& w : done) w->cv.notify_all();
  lock.lock();
}

bool SimHost::has_open_waiters() const { return !waiters_.empty(); }

void SimHost::wake_simulation() {
  wake_calls_.fetch_add(1, std::memory_order_acq_rel);
  wake_.notify_all();
}

void SimHost::loop() {
  using namespace sc_core;
  sc_set_time_resolution(1, SC_PS);
  // Ends elaboration; from here on, devices spawn their processes dynamically.
  sc_start(SC_ZERO_TIME);

  std::unique_lock lock(mutex_);
  for (;;) {
    run_tasks(lock);
    if (stopping_) break;
    evaluate_waiters();
    notify_finished(lock);
    // notify_finished released the lock: tasks posted meanwhile run first.
    if (!tasks_.empty()) continue;
    if (!has_open_waiters()) {
      const auto has_work = [&] { return stopping_ || urgent_tasks_ > 0 || has_open_waiters(); };
      // A host program alternates short host work with waits: stay awake a
      // moment for the next one before blocking.
      const uint64_t calls = wake_calls_.load(std::memory_order_acquire);
      lock.unlock();
      spin_until([&] { return wake_calls_.load(std::memory_order_acquire) != calls; },
                 std::chrono::steady_clock::time_point::max());
      lock.lock();
      wake_.wait(lock, has_work);
      continue;
    }
    if (!sc_pending_activity()) {
      // Nothing can change until a host thread submits more work.
      finish_all_waiters(WaitOutcome::kIdle);
      notify_finished(lock);
      continue;
    }
    lock.unlock();
    // One step: to the next instant with activity, then every delta cycle of
    // that instant (sc_start(t) stops before evaluating the processes at t).
    sc_start(sc_time_to_pending_activity());
    while (sc_pending_activity() && sc_time_to_pending_activity() == SC_ZERO_TIME) {
      sc_start(SC_ZERO_TIME);
    }
    lock.lock();
    for (const WaiterPtr& w : waiters_) {
      if (w->steps_left > 0) --w->steps_left;
    }
  }
}

}  // namespace kiln::sim
