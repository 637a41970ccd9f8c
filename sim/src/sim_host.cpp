#include "kiln/sim/sim_host.h"

#include <algorithm>
#include <atomic>
#include <limits>

#include "systemc.h"

// libsystemc references sc_main; Kiln never enters through it because the
// simulation is driven from SimHost's thread.
int sc_main(int, char*[]) { return 1; }

namespace kiln::sim {

namespace {

constexpr uint64_t kNever = std::numeric_limits<uint64_t>::max();

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

uint64_t sim_now_ps() { return sc_core::sc_time_stamp().value(); }

// The next instant with SystemC activity, or kNever.
uint64_t next_activity_ps() {
  if (!sc_core::sc_pending_activity()) return kNever;
  return sim_now_ps() + sc_core::sc_time_to_pending_activity().value();
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
  // waiter arrives.
  std::lock_guard lock(mutex_);
  tasks_.push_back(std::move(fn));
}

// ------------------------------------------------------------------ clocks

SimHost::Clock& SimHost::clock_locked(HostClockId id) {
  auto it = clocks_.find(id);
  if (it == clocks_.end()) {
    // A driver bug, not a user error: clocks are created and removed by the
    // driver only. Keep the process alive with a fresh running clock.
    Clock& c = clocks_[id];
    c.value_ps = committed_ps();
    c.last_active = std::chrono::steady_clock::now();
    return c;
  }
  return it->second;
}

void SimHost::touch_locked(Clock& c, ClockReading* reading, bool reaches_device) {
  if (c.state == ClockState::kIdle) c.state = ClockState::kRunning;
  c.last_active = std::chrono::steady_clock::now();
  // A clock may have fallen behind the simulation while it was idle or
  // blocked in a join. That is harmless until the thread acts on the device:
  // then it must act at a time the simulation has not passed.
  const uint64_t committed = committed_ps();
  if (reaches_device && c.value_ps < committed) {
    if (reading) reading->caught_up_ps = committed - c.value_ps;
    c.value_ps = committed;
    catch_ups_.fetch_add(1, std::memory_order_relaxed);
  }
}

void SimHost::host_changed_locked() {
  // Only a simulation thread parked on the host clocks cares; waking it for
  // every driver call otherwise would cost a futex call each.
  wake_calls_.fetch_add(1, std::memory_order_acq_rel);
  if (parked_) wake_.notify_all();
}

HostClockId SimHost::add_clock(uint64_t at_ps, const HostClockOptions& options) {
  std::lock_guard lock(mutex_);
  const HostClockId id = next_clock_++;
  Clock& c = clocks_[id];
  c.group = options.group;
  c.value_ps = std::max(at_ps, committed_ps());
  c.idle_after = options.idle_after;
  c.last_active = std::chrono::steady_clock::now();
  host_changed_locked();
  return id;
}

void SimHost::remove_clock(HostClockId clock) {
  std::lock_guard lock(mutex_);
  auto it = clocks_.find(clock);
  if (it == clocks_.end()) return;
  uint64_t& latest = group_latest_[it->second.group];
  latest = std::max(latest, it->second.value_ps);
  clocks_.erase(it);
  host_changed_locked();
}

ClockReading SimHost::advance_locked(Clock& c, uint64_t ps, bool reaches_device) {
  ClockReading r;
  touch_locked(c, &r, reaches_device);
  r.before_ps = c.value_ps;
  c.value_ps += ps;
  r.after_ps = c.value_ps;
  if (ps > 0) host_changed_locked();
  return r;
}

ClockReading SimHost::advance_clock(HostClockId clock, uint64_t ps) {
  std::lock_guard lock(mutex_);
  return advance_locked(clock_locked(clock), ps, /*reaches_device=*/false);
}

ClockReading SimHost::post_at_clock(HostClockId clock, uint64_t ps, std::function<void()> task) {
  std::lock_guard lock(mutex_);
  Clock& c = clock_locked(clock);
  const ClockReading r = advance_locked(c, ps, /*reaches_device=*/true);
  timed_.emplace(TimedKey{c.value_ps, clock, timed_order_++}, std::move(task));
  // Work on its way to a device counts as its host's activity until then.
  uint64_t& latest = group_latest_[c.group];
  latest = std::max(latest, c.value_ps);
  host_changed_locked();
  return r;
}

uint64_t SimHost::clock_ps(HostClockId clock) const {
  std::lock_guard lock(mutex_);
  auto it = clocks_.find(clock);
  return it == clocks_.end() ? 0 : it->second.value_ps;
}

void SimHost::block_clock(HostClockId clock) {
  std::lock_guard lock(mutex_);
  clock_locked(clock).state = ClockState::kBlocked;
  host_changed_locked();
}

ClockReading SimHost::unblock_clock(HostClockId clock, uint64_t at_least_ps) {
  std::lock_guard lock(mutex_);
  Clock& c = clock_locked(clock);
  ClockReading r;
  r.before_ps = c.value_ps;
  // No catch-up here: a thread joining several others in turn may fall
  // behind after the first join and be past everything after the last.
  c.value_ps = std::max(c.value_ps, at_least_ps);
  c.state = ClockState::kRunning;
  c.last_active = std::chrono::steady_clock::now();
  r.after_ps = c.value_ps;
  host_changed_locked();
  return r;
}

uint64_t SimHost::latest_clock_ps(uint64_t group) const {
  std::lock_guard lock(mutex_);
  auto it = group_latest_.find(group);
  uint64_t latest = it == group_latest_.end() ? 0 : it->second;
  for (const auto& [id, c] : clocks_) {
    if (c.group == group) latest = std::max(latest, c.value_ps);
  }
  return latest;
}

uint64_t SimHost::horizon_locked(std::chrono::steady_clock::time_point now,
                                 std::chrono::steady_clock::time_point* wake_at) {
  uint64_t horizon = kNever;
  for (auto& [id, c] : clocks_) {
    if (c.state != ClockState::kRunning) continue;
    const bool catching_up = std::any_of(waiters_.begin(), waiters_.end(), [&, id = id](const WaiterPtr& w) {
      return w->clock == id && !w->condition;
    });
    if (!catching_up && c.idle_after.count() > 0) {
      const auto idle_at = c.last_active + c.idle_after;
      if (now >= idle_at) {
        c.state = ClockState::kIdle;
        continue;
      }
      *wake_at = std::min(*wake_at, idle_at);
    }
    horizon = std::min(horizon, c.value_ps);
  }
  return horizon;
}

// ------------------------------------------------------------------ waiting

WaitOutcome SimHost::wait_until(std::function<bool()> condition, std::chrono::nanoseconds timeout,
                                HostClockId clock) {
  auto waiter = std::make_shared<Waiter>();
  waiter->condition = std::move(condition);
  waiter->clock = clock;
  return wait_for(waiter, timeout);
}

void SimHost::catch_up(HostClockId clock) {
  auto waiter = std::make_shared<Waiter>();
  waiter->clock = clock;
  (void)wait_for(waiter, std::chrono::nanoseconds::max());
}

WaitOutcome SimHost::wait_for(const WaiterPtr& waiter, std::chrono::nanoseconds timeout) {
  // now() + a huge timeout overflows; treat anything over a year as forever.
  const bool forever = timeout >= std::chrono::hours(24 * 365);
  const auto deadline = forever ? std::chrono::steady_clock::time_point::max()
                                : std::chrono::steady_clock::now() + timeout;
  {
    std::lock_guard lock(mutex_);
    if (waiter->clock != kNoClock) {
      Clock& c = clock_locked(waiter->clock);
      touch_locked(c, nullptr, /*reaches_device=*/true);
      if (waiter->condition) {
        c.state = ClockState::kBlocked;
      } else {
        waiter->target_ps = c.value_ps;
      }
    }
    waiters_.push_back(waiter);
    wake_calls_.fetch_add(1, std::memory_order_acq_rel);
  }
  wake_.notify_all();
  // Most waits end within microseconds of simulation; blocking at once would
  // add two thread wake-ups (each tens of microseconds on a VM) to every one.
  spin_until([&] { return waiter->finished.load(std::memory_order_acquire); }, deadline);
  std::unique_lock lock(mutex_);
  while (!waiter->finished) {
    if (forever) {
      waiter->cv.wait(lock);
    } else if (waiter->cv.wait_until(lock, deadline) == std::cv_status::timeout && !waiter->finished) {
      waiters_.remove(waiter);
      if (waiter->clock != kNoClock) {
        // Gave up on wall time: resume where the simulation is.
        Clock& c = clock_locked(waiter->clock);
        c.state = ClockState::kRunning;
        c.value_ps = std::max(c.value_ps, committed_ps());
        c.last_active = std::chrono::steady_clock::now();
        host_changed_locked();
      }
      return WaitOutcome::kTimeout;
    }
  }
  return waiter->outcome;
}

void SimHost::evaluate_waiters(uint64_t now_ps, uint64_t next_ps) {
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    const WaiterPtr& w = *it;
    const bool done = w->condition ? w->condition() : next_ps >= w->target_ps;
    if (done) {
      finish(w, WaitOutcome::kSatisfied);
      it = waiters_.erase(it);
    } else {
      ++it;
    }
  }
  (void)now_ps;
}

void SimHost::finish(const WaiterPtr& waiter, WaitOutcome outcome) {
  if (waiter->clock != kNoClock) {
    auto it = clocks_.find(waiter->clock);
    if (it != clocks_.end()) {
      Clock& c = it->second;
      // The thread resumes at the instant its condition came true.
      if (waiter->condition) c.value_ps = std::max(c.value_ps, sim_now_ps());
      c.state = ClockState::kRunning;
      c.last_active = std::chrono::steady_clock::now();
    }
  }
  waiter->outcome = outcome;
  waiter->finished.store(true, std::memory_order_release);
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

void SimHost::wake_simulation() {
  wake_calls_.fetch_add(1, std::memory_order_acq_rel);
  wake_.notify_all();
}

// ------------------------------------------------------------------ the loop

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

void SimHost::run_due_timed_tasks(std::unique_lock<std::mutex>& lock, uint64_t now_ps) {
  if (timed_.empty() || timed_.begin()->first.time_ps > now_ps) return;
  std::vector<std::function<void()>> due;
  while (!timed_.empty() && timed_.begin()->first.time_ps <= now_ps) {
    due.push_back(std::move(timed_.begin()->second));
    timed_.erase(timed_.begin());
  }
  lock.unlock();
  for (auto& task : due) task();
  // What the tasks started runs in delta cycles of this same instant.
  while (sc_core::sc_pending_activity() && sc_core::sc_time_to_pending_activity() == sc_core::SC_ZERO_TIME) {
    sc_core::sc_start(sc_core::SC_ZERO_TIME);
  }
  lock.lock();
}

void SimHost::step_to(uint64_t next_ps) {
  using namespace sc_core;
  const uint64_t now = sim_now_ps();
  // To the next instant (sc_start(t) stops before evaluating the processes
  // at t, and advances time even when nothing is pending), then every delta
  // cycle of that instant.
  if (next_ps > now) sc_start(sc_time::from_value(next_ps - now));
  while (sc_pending_activity() && sc_time_to_pending_activity() == SC_ZERO_TIME) sc_start(SC_ZERO_TIME);
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
    run_due_timed_tasks(lock, sim_now_ps());
    if (!tasks_.empty()) continue;
    const auto next_instant = [&] {
      const uint64_t timed = timed_.empty() ? kNever : timed_.begin()->first.time_ps;
      return std::min(next_activity_ps(), timed);
    };
    const uint64_t next = next_instant();
    evaluate_waiters(sim_now_ps(), next);
    if (!finished_.empty()) {
      // Waking them releases the lock: look at everything afresh after.
      notify_finished(lock);
      continue;
    }
    // From here to parking or stepping the lock stays held, so no waiter,
    // task or clock change can slip in unseen.

    const auto wall = std::chrono::steady_clock::now();
    auto wake_at = std::chrono::steady_clock::time_point::max();
    const uint64_t horizon = horizon_locked(wall, &wake_at);
    const bool can_step = !waiters_.empty() && next != kNever && next < horizon;
    if (!waiters_.empty() && next == kNever && horizon == kNever) {
      // Nothing can change: nothing is pending and no host thread can submit.
      for (const WaiterPtr& w : waiters_) finish(w, WaitOutcome::kIdle);
      waiters_.clear();
      continue;
    }
    if (!can_step) {
      // Parked: without waiters, until one arrives; with waiters, until a
      // host clock moves (or a running one turns idle).
      const bool for_host = !waiters_.empty();
      const uint64_t calls = wake_calls_.load(std::memory_order_acquire);
      parked_ = for_host;
      lock.unlock();
      spin_until([&] { return wake_calls_.load(std::memory_order_acquire) != calls; }, wake_at);
      lock.lock();
      const auto has_work = [&] {
        return stopping_ || urgent_tasks_ > 0 || wake_calls_.load(std::memory_order_acquire) != calls;
      };
      if (wake_at == std::chrono::steady_clock::time_point::max()) {
        wake_.wait(lock, has_work);
      } else {
        wake_.wait_until(lock, wake_at, has_work);
      }
      parked_ = false;
      continue;
    }
    committed_ps_.store(next, std::memory_order_release);
    lock.unlock();
    step_to(next);
    lock.lock();
  }
}

}  // namespace kiln::sim
