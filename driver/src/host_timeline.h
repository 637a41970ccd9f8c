// The host side of the simulated timeline (docs/host-timeline.md): one
// simulated clock per host thread that uses a device, moved forward by the
// modelled cost of every driver call (config section `host`) and by the
// runtime's own charges; and the host tracks of the trace, where each call
// appears twice: on its thread's simulated clock and in wall time.
//
// A thread is registered on its first call. Its clock starts at the clock of
// the thread that opened the device (or the committed simulated time, if
// later); a thread started with Device::spawn_host_thread starts at its
// parent's clock instead, which is the deterministic way. A thread's clock
// is removed when the thread exits.
//
// Thread-safe. Owned by the Device; shutdown() before the transport goes.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "kiln/common/device_config.h"
#include "kiln/traces/recorder.h"
#include "transport.h"

namespace kiln::driver {

// The config's host costs in picoseconds.
struct HostCosts {
  uint64_t submit = 0, packet_record = 0, event_record = 0, event_wait = 0, wake = 0, query = 0,
           allocate = 0, free = 0, copy_setup = 0;
  static HostCosts from(const proto::HostConfig& config);
};

class HostTimeline {
 public:
  struct Thread {
    HostClockId clock = 0;
    std::string track;  // "host" for the thread that opened the device, then "host T1", ...
    // Trace ids: source 1 + the thread's index, counted by the thread
    // itself, so ids do not depend on how threads interleave. Calls on the
    // simulated clock count from 1; what depends on wall time (the calls'
    // wall-clock copies, catch-ups) from 2^31, so it never shifts the others.
    uint64_t id_source = 0;
    mutable std::atomic<uint64_t> ids{0};
    mutable std::atomic<uint64_t> wall_ids{0};
  };

  HostTimeline(Transport& transport, const proto::HostConfig& costs,
               std::shared_ptr<traces::TraceRecorder> trace, bool trace_calls,
               std::chrono::nanoseconds idle_after, std::chrono::steady_clock::time_point opened_at);
  ~HostTimeline();
  HostTimeline(const HostTimeline&) = delete;
  HostTimeline& operator=(const HostTimeline&) = delete;

  // Removes every clock; later calls from threads that are still running
  // (they must not make any) and thread exits do nothing.
  void shutdown();

  const HostCosts& costs() const { return costs_; }

  // The calling thread, registered on first use. The reference stays valid
  // until the thread exits or shutdown().
  const Thread& current();

  // Records one host call of `thread`: [sim.before, sim.after] on its
  // simulated clock and [wall_start, now] in wall time. The simulated-clock
  // event gets `id` (from reserve_id; 0: the next one) and `waits_for`.
  void record(const Thread& thread, std::string_view name, const ClockUpdate& sim,
              std::chrono::steady_clock::time_point wall_start, uint64_t bytes = 0, uint64_t sequence = 0,
              std::string detail = {}, uint64_t id = 0, std::vector<uint64_t> waits_for = {});

  // The trace id the next call `thread` records will have, reserved now so
  // that the device can name it (the submission a call makes waits for it);
  // 0 when host calls are not traced.
  uint64_t reserve_id(const Thread& thread);

  // Moves the calling thread's clock on by `ps` and records the call.
  ClockUpdate charge(std::string_view name, uint64_t ps, std::chrono::steady_clock::time_point wall_start,
                     uint64_t bytes = 0, uint64_t sequence = 0);

  // ---- Threads started by Device::spawn_host_thread
  // Registers a thread-to-be at the calling thread's clock; returns its key.
  uint64_t prepare_child();
  // Binds the calling (new) thread to the prepared registration `key`.
  void adopt_child(uint64_t key);
  // Removes the calling thread's clock; returns its final time.
  uint64_t finish_current();
  // Drops a prepared registration whose thread never started.
  void cancel_child(uint64_t key);

  uint32_t threads() const;
  // Host clock catch-ups seen by this device's threads (sim_host.h).
  uint64_t catch_ups() const { return catch_ups_; }

 private:
  struct Entry;
  Thread& register_locked(std::thread::id id, uint64_t at_ps);
  void thread_exited(std::thread::id id);
  void watch_exit();
  friend struct ThreadExitHooks;

  Transport* transport_;
  const HostCosts costs_;
  std::shared_ptr<traces::TraceRecorder> trace_;
  const bool trace_calls_;
  const std::chrono::nanoseconds idle_after_;
  const std::chrono::steady_clock::time_point opened_at_;
  const uint64_t serial_;  // tells timelines apart in each thread's cache

  mutable std::mutex mutex_;
  std::map<std::thread::id, std::unique_ptr<Thread>> threads_;
  std::map<uint64_t, std::unique_ptr<Thread>> prepared_;
  uint64_t next_prepared_ = 1;
  uint32_t next_index_ = 0;
  HostClockId opener_ = 0;
  std::shared_ptr<HostTimeline*> self_;  // what threads' exit hooks hold a weak reference to
  std::atomic<uint64_t> catch_ups_ = 0;
};

}  // namespace kiln::driver
