// The one SystemC simulation of this process, run on its own thread, and the
// host threads' clocks that keep it deterministic.
//
// SystemC elaborates once per process, cannot restart after sc_stop, and is
// single-threaded. So every simulated device in the process lives in one
// long-lived simulation owned by a dedicated thread; devices are plain objects
// whose processes are sc_spawn'ed into it and killed when the device closes.
// Host threads never call SystemC: they hand work to the simulation thread.
//
// Host clocks (docs/host-timeline.md). Every host thread that uses a device
// has a simulated clock; driver calls move it forward by modelled costs. The
// simulation is conservative: it never processes an instant at or after the
// clock of a *running* host thread, because that thread may still submit work
// that reaches the device at its clock. Work reaches the device through
// post_at_clock(): it runs on the simulation thread exactly at the clock's
// time, ordered by (time, clock id, posting order), so a program gives the
// same schedule however its threads are scheduled by the OS. A clock stops
// holding the simulation while its thread
//   - is blocked in wait_until() (it resumes at the simulated time its
//     condition came true), or in a join (block_clock/unblock_clock);
//   - has been outside every call for its `idle_after` of wall time: then it
//     is idle, and its next call resumes it at the committed simulated time
//     if that is later (a "catch-up", counted: the only way wall time can
//     leak into a run; it cannot happen to a single-threaded program).
// Time advances only while some host thread waits.
//
// Thread-safe: every member may be called from any host thread, but not from
// the simulation thread itself (that would deadlock), except post(),
// latest_clock_ps() and committed_ps().
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace kiln::sim {

enum class WaitOutcome {
  kSatisfied,  // the condition held
  kTimeout,    // the wall-clock timeout ran out first
  kIdle,       // nothing left to simulate, no host thread can submit more, and the condition is false
};

using HostClockId = uint64_t;
inline constexpr HostClockId kNoClock = 0;

struct HostClockOptions {
  uint64_t group = 0;  // the device the clock belongs to (its fence watchdog looks at the group)
  // Wall time a thread may spend outside every call before its clock stops
  // holding the simulation back.
  std::chrono::nanoseconds idle_after = std::chrono::milliseconds(100);
};

// A clock before and after an update, in absolute simulated picoseconds.
struct ClockReading {
  uint64_t before_ps = 0;
  uint64_t after_ps = 0;
  uint64_t caught_up_ps = 0;  // how far an idle clock jumped to the committed time on resuming
};

class SimHost {
 public:
  // The process-wide instance; starts the simulation thread on first use.
  static SimHost& instance();

  SimHost(const SimHost&) = delete;
  SimHost& operator=(const SimHost&) = delete;

  // Runs `fn` on the simulation thread at the current simulated time and
  // returns when it has run. `fn` may create and destroy SystemC objects.
  void run_sync(const std::function<void()>& fn);

  // Queues `fn` to run on the simulation thread before the next time step.
  // Never blocks on the simulation and does not wake it. For work whose
  // simulated time does not matter (the simulation thread's own hand-offs);
  // host work that reaches the device goes through post_at_clock().
  void post(std::function<void()> fn);

  // ---- Host clocks ----
  // Registers a running clock at `at_ps` (absolute), or at the committed
  // simulated time if that is later.
  HostClockId add_clock(uint64_t at_ps, const HostClockOptions& options);
  void remove_clock(HostClockId clock);
  // Moves the clock forward by `ps`.
  ClockReading advance_clock(HostClockId clock, uint64_t ps);
  // Moves the clock forward by `ps`, then runs `task` on the simulation
  // thread when simulated time reaches the clock.
  ClockReading post_at_clock(HostClockId clock, uint64_t ps, std::function<void()> task);
  uint64_t clock_ps(HostClockId clock) const;
  // The thread is about to block outside the simulation (joining another
  // thread): its clock stops holding the simulation until unblock_clock,
  // which resumes it at max(its time, at_least_ps).
  void block_clock(HostClockId clock);
  ClockReading unblock_clock(HostClockId clock, uint64_t at_least_ps);
  // Simulation thread: the latest time of any clock of `group`, of a task
  // posted by one, or of one that was removed (0 if none).
  uint64_t latest_clock_ps(uint64_t group) const;
  // Simulated time the simulation has reached or is stepping to; no running
  // clock is at or behind it except right after a wait resumed it there.
  uint64_t committed_ps() const { return committed_ps_.load(std::memory_order_acquire); }
  // Catch-ups so far (see above), process-wide.
  uint64_t catch_ups() const { return catch_ups_.load(std::memory_order_relaxed); }

  // ---- Waiting ----
  // Advances the simulation until `condition` (evaluated on the simulation
  // thread after every time step) holds, the wall-clock `timeout` expires, or
  // nothing is left to simulate. With a clock: the clock does not hold the
  // simulation while waiting and, when the condition holds, moves to the
  // simulated time it held at.
  WaitOutcome wait_until(std::function<bool()> condition, std::chrono::nanoseconds timeout,
                         HostClockId clock = kNoClock);
  // Advances the simulation through every instant before the clock's time
  // (the clock keeps holding it there), so a query made at the clock's time
  // sees exactly what has happened by then.
  void catch_up(HostClockId clock);

  bool on_sim_thread() const { return std::this_thread::get_id() == thread_.get_id(); }

 private:
  SimHost();
  ~SimHost();

  enum class ClockState { kRunning, kBlocked, kIdle };
  struct Clock {
    uint64_t group = 0;
    uint64_t value_ps = 0;
    ClockState state = ClockState::kRunning;
    std::chrono::nanoseconds idle_after{};
    std::chrono::steady_clock::time_point last_active;
  };

  struct Waiter {
    std::function<bool()> condition;  // empty: a catch-up to `target_ps`
    HostClockId clock = kNoClock;
    uint64_t target_ps = 0;
    // Written under mutex_; read without it while the waiting thread spins.
    std::atomic<bool> finished = false;
    WaitOutcome outcome = WaitOutcome::kSatisfied;
    std::condition_variable cv;
  };
  using WaiterPtr = std::shared_ptr<Waiter>;

  struct TimedKey {
    uint64_t time_ps;
    HostClockId clock;
    uint64_t order;
    bool operator<(const TimedKey& o) const {
      if (time_ps != o.time_ps) return time_ps < o.time_ps;
      if (clock != o.clock) return clock < o.clock;
      return order < o.order;
    }
  };

  void loop();
  // One time step to `next_ps`, then the host tasks due then, then every
  // delta cycle of that instant. Called without mutex_.
  void step_to(uint64_t next_ps);
  bool run_tasks(std::unique_lock<std::mutex>& lock);
  void run_due_timed_tasks(std::unique_lock<std::mutex>& lock, uint64_t now_ps);
  void evaluate_waiters(uint64_t now_ps, uint64_t next_ps);
  void finish(const WaiterPtr& waiter, WaitOutcome outcome);
  void notify_finished(std::unique_lock<std::mutex>& lock);
  // The earliest running clock (UINT64_MAX if none), after idling clocks
  // whose thread has been away too long; `*wake_at` gets the next such
  // deadline.
  uint64_t horizon_locked(std::chrono::steady_clock::time_point now,
                          std::chrono::steady_clock::time_point* wake_at);
  Clock& clock_locked(HostClockId id);
  // Marks a clock active (resuming it if idle); if the thread is about to
  // act on a device at a time the simulation has passed, moves it up to the
  // committed time (a catch-up).
  void touch_locked(Clock& c, ClockReading* reading, bool reaches_device);
  void host_changed_locked();
  ClockReading advance_locked(Clock& c, uint64_t ps, bool reaches_device);
  void wake_simulation();  // any thread, with or without mutex_
  WaitOutcome wait_for(const WaiterPtr& waiter, std::chrono::nanoseconds timeout);

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  // Bumped with every event the simulation thread may be parked for, so it
  // can spin on it for a moment before it blocks on wake_.
  std::atomic<uint64_t> wake_calls_ = 0;
  bool parked_ = false;  // the simulation thread is (about to be) blocked on wake_
  std::deque<std::function<void()>> tasks_;
  int urgent_tasks_ = 0;  // run_sync tasks queued: the thread must wake for them
  std::map<TimedKey, std::function<void()>> timed_;
  uint64_t timed_order_ = 0;
  std::map<HostClockId, Clock> clocks_;
  // Per group: the latest time a removed clock or a posted task reached, so
  // a device's watchdog sees host activity that has left the clocks.
  std::map<uint64_t, uint64_t> group_latest_;
  HostClockId next_clock_ = 1;
  std::list<WaiterPtr> waiters_;
  std::vector<WaiterPtr> finished_;  // to notify once the lock is released
  std::atomic<uint64_t> committed_ps_ = 0;
  std::atomic<uint64_t> catch_ups_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace kiln::sim
