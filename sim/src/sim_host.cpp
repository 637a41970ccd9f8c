#include "kiln/sim/sim_host.h"

#include "systemc.h"

// libsystemc references sc_main; Kiln never enters through it because the
// simulation is driven from SimHost's thread.
int sc_main(int, char*[]) { return 1; }

namespace kiln::sim {

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
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void SimHost::run_sync(const std::function<void()>& fn) {
  std::mutex done_mutex;
  std::condition_variable done_cv;
  bool done = false;
  post([&] {
    fn();
    std::lock_guard lock(done_mutex);
    done = true;
    done_cv.notify_all();
  });
  std::unique_lock lock(done_mutex);
  done_cv.wait(lock, [&] { return done; });
}

void SimHost::post(std::function<void()> fn) {
  {
    std::lock_guard lock(mutex_);
    tasks_.push_back(std::move(fn));
  }
  wake_.notify_all();
}

WaitOutcome SimHost::wait_until(std::function<bool()> condition, std::chrono::nanoseconds timeout) {
  Waiter waiter;
  waiter.condition = std::move(condition);
  std::unique_lock lock(mutex_);
  waiters_.push_back(&waiter);
  wake_.notify_all();
  // now() + a huge timeout overflows; treat anything over a year as forever.
  const bool forever = timeout >= std::chrono::hours(24 * 365);
  const auto deadline = forever ? std::chrono::steady_clock::time_point::max()
                                : std::chrono::steady_clock::now() + timeout;
  while (!waiter.finished) {
    if (forever) {
      waiter.cv.wait(lock);
    } else if (waiter.cv.wait_until(lock, deadline) == std::cv_status::timeout && !waiter.finished) {
      waiters_.remove(&waiter);
      return WaitOutcome::kTimeout;
    }
  }
  return waiter.outcome;
}

void SimHost::step_once() {
  Waiter waiter;
  waiter.condition = [] { return false; };
  waiter.steps_left = 1;
  std::unique_lock lock(mutex_);
  waiters_.push_back(&waiter);
  wake_.notify_all();
  waiter.cv.wait(lock, [&] { return waiter.finished; });
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
    Waiter* w = *it;
    if (w->steps_left == 0 || (w->steps_left < 0 && w->condition())) {
      w->finished = true;
      w->outcome = WaitOutcome::kSatisfied;
      w->cv.notify_all();
      it = waiters_.erase(it);
    } else {
      ++it;
    }
  }
}

void SimHost::finish_all_waiters(WaitOutcome outcome) {
  for (Waiter* w : waiters_) {
    w->finished = true;
    w->outcome = outcome;
    w->cv.notify_all();
  }
  waiters_.clear();
}

bool SimHost::has_open_waiters() const { return !waiters_.empty(); }

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
    if (!has_open_waiters()) {
      wake_.wait(lock, [&] { return stopping_ || !tasks_.empty() || has_open_waiters(); });
      continue;
    }
    if (!sc_pending_activity()) {
      // Nothing can change until a host thread submits more work.
      finish_all_waiters(WaitOutcome::kIdle);
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
    for (Waiter* w : waiters_) {
      if (w->steps_left > 0) --w->steps_left;
    }
  }
}

}  // namespace kiln::sim
