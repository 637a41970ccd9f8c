// The one SystemC simulation of this process, run on its own thread.
//
// SystemC elaborates once per process, cannot restart after sc_stop, and is
// single-threaded. So every simulated device in the process lives in one
// long-lived simulation owned by a dedicated thread; devices are plain objects
// whose processes are sc_spawn'ed into it and killed when the device closes.
// Host threads never call SystemC: they hand work to the simulation thread.
//
// Time advances only while some host thread waits for a condition. Work that
// host threads submit between waits therefore starts at the same simulated
// instant, which makes a single-threaded host program deterministic: the host
// takes zero simulated time.
//
// Thread-safe: every member may be called from any host thread, but not from
// the simulation thread itself (that would deadlock) except post().
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace kiln::sim {

enum class WaitOutcome {
  kSatisfied,  // the condition held
  kTimeout,    // the wall-clock timeout ran out first
  kIdle,       // the simulation has nothing left to do and the condition is false
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

  // Queues `fn` to run on the simulation thread before the next time step
  // (at the latest when some host thread next waits or calls run_sync).
  // Never blocks on the simulation and does not wake it.
  void post(std::function<void()> fn);

  // Advances the simulation until `condition` (evaluated on the simulation
  // thread after every time step) holds, the wall-clock `timeout` expires, or
  // nothing is left to simulate.
  WaitOutcome wait_until(std::function<bool()> condition, std::chrono::nanoseconds timeout);

  // Advances the simulation by at most one time step (and runs posted work).
  // Lets a polling host loop make progress deterministically.
  void step_once();

  bool on_sim_thread() const { return std::this_thread::get_id() == thread_.get_id(); }

 private:
  SimHost();
  ~SimHost();

  struct Waiter {
    std::function<bool()> condition;
    // Written under mutex_; read without it while the waiting thread spins.
    std::atomic<bool> finished = false;
    WaitOutcome outcome = WaitOutcome::kSatisfied;
    int steps_left = -1;  // >= 0: finish after that many steps regardless of condition
    std::condition_variable cv;
  };

  using WaiterPtr = std::shared_ptr<Waiter>;

  void loop();
  bool run_tasks(std::unique_lock<std::mutex>& lock);
  void evaluate_waiters();
  void finish_all_waiters(WaitOutcome outcome);
  void finish(const WaiterPtr& waiter, WaitOutcome outcome);
  // Wakes finished waiters with the lock released, so they do not wake only
  // to block on it again.
  void notify_finished(std::unique_lock<std::mutex>& lock);
  bool has_open_waiters() const;
  void wake_simulation();  // any thread, with or without mutex_
  WaitOutcome wait_for(const WaiterPtr& waiter, std::chrono::nanoseconds timeout);

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  // Bumped with every wake_ notification, so the simulation thread can spin
  // on it for a moment before it blocks on wake_.
  std::atomic<uint64_t> wake_calls_ = 0;
  std::deque<std::function<void()>> tasks_;
  int urgent_tasks_ = 0;  // run_sync tasks queued: the thread must wake for them
  std::list<WaiterPtr> waiters_;
  std::vector<WaiterPtr> finished_;  // to notify once the lock is released
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace kiln::sim
