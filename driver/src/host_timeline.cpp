#include "host_timeline.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <vector>

namespace kiln::driver {

namespace {

uint64_t to_ps(double ns) { return ns <= 0 ? 0 : static_cast<uint64_t>(std::llround(ns * 1000.0)); }

std::atomic<uint64_t> timeline_serials{1};

// The calling thread's last lookup, so repeated calls skip the map.
struct CachedThread {
  uint64_t serial = 0;
  const HostTimeline::Thread* thread = nullptr;
};
thread_local CachedThread cached;

// Host thread `index`'s trace-id source (recorder.h); past the last source
// threads share it, and their ids may collide.
uint64_t id_source(uint32_t index) {
  return std::min<uint64_t>(uint64_t{index} + 1, traces::kMaxEventSource);
}

uint64_t next_id(const HostTimeline::Thread& t) {
  return traces::make_event_id(t.id_source, t.ids.fetch_add(1, std::memory_order_relaxed) + 1);
}

constexpr uint64_t kWallIdBase = uint64_t{1} << 31;

uint64_t next_wall_id(const HostTimeline::Thread& t) {
  return traces::make_event_id(t.id_source, kWallIdBase + t.wall_ids.fetch_add(1, std::memory_order_relaxed) + 1);
}

}  // namespace

// Runs when a thread that used a device exits: its clock must stop holding
// the simulation. Holds the timelines weakly, since devices may close first.
struct ThreadExitHooks {
  std::vector<std::weak_ptr<HostTimeline*>> timelines;
  ~ThreadExitHooks() {
    for (auto& weak : timelines) {
      if (auto strong = weak.lock()) (*strong)->thread_exited(std::this_thread::get_id());
    }
  }
};

namespace {
thread_local ThreadExitHooks exit_hooks;
}  // namespace

HostCosts HostCosts::from(const proto::HostConfig& c) {
  return {to_ps(c.submit_ns()),     to_ps(c.packet_record_ns()), to_ps(c.event_record_ns()),
          to_ps(c.event_wait_ns()), to_ps(c.wake_ns()),          to_ps(c.query_ns()),
          to_ps(c.allocate_ns()),   to_ps(c.free_ns()),          to_ps(c.copy_setup_ns())};
}

HostTimeline::HostTimeline(Transport& transport, const proto::HostConfig& costs,
                           std::shared_ptr<traces::TraceRecorder> trace, bool trace_calls,
                           std::chrono::nanoseconds idle_after, std::chrono::steady_clock::time_point opened_at)
    : transport_(&transport),
      costs_(HostCosts::from(costs)),
      trace_(std::move(trace)),
      trace_calls_(trace_calls),
      idle_after_(idle_after),
      opened_at_(opened_at),
      serial_(timeline_serials.fetch_add(1)),
      self_(std::make_shared<HostTimeline*>(this)) {}

HostTimeline::~HostTimeline() { shutdown(); }

void HostTimeline::shutdown() {
  std::lock_guard lock(mutex_);
  if (transport_ == nullptr) return;
  for (auto& [id, t] : threads_) transport_->remove_host_clock(t->clock);
  for (auto& [key, t] : prepared_) transport_->remove_host_clock(t->clock);
  transport_ = nullptr;
  self_.reset();  // exit hooks that have not run yet find nothing
}

void HostTimeline::watch_exit() {
  // A long-lived thread may outlive many devices: forget the closed ones.
  std::erase_if(exit_hooks.timelines, [](const auto& weak) { return weak.expired(); });
  exit_hooks.timelines.push_back(self_);
}

HostTimeline::Thread& HostTimeline::register_locked(std::thread::id id, uint64_t at_ps) {
  auto t = std::make_unique<Thread>();
  t->clock = transport_->add_host_clock(at_ps, idle_after_);
  const uint32_t index = next_index_++;
  t->track = index == 0 ? "host" : "host T" + std::to_string(index);
  t->id_source = id_source(index);
  if (index == 0) opener_ = t->clock;
  Thread& ref = *t;
  threads_[id] = std::move(t);
  watch_exit();
  return ref;
}

const HostTimeline::Thread& HostTimeline::current() {
  if (cached.serial == serial_) return *cached.thread;
  std::lock_guard lock(mutex_);
  const auto id = std::this_thread::get_id();
  auto it = threads_.find(id);
  const Thread* t = nullptr;
  if (it != threads_.end()) {
    t = it->second.get();
  } else {
    const uint64_t at = opener_ != 0 ? transport_->host_clock_ps(opener_) : 0;
    t = &register_locked(id, at);
  }
  cached = {serial_, t};
  return *t;
}

uint64_t HostTimeline::reserve_id(const Thread& thread) { return trace_calls_ ? next_id(thread) : 0; }

void HostTimeline::record(const Thread& thread, std::string_view name, const ClockUpdate& sim,
                          std::chrono::steady_clock::time_point wall_start, uint64_t bytes, uint64_t sequence,
                          std::string detail, uint64_t id, std::vector<uint64_t> waits_for) {
  if (sim.caught_up_ps > 0) {
    catch_ups_.fetch_add(1, std::memory_order_relaxed);
    // The one way wall time reaches a run: say so where people look.
    trace_->record({.track = thread.track, .name = "catch-up", .start_ps = sim.before_ps - sim.caught_up_ps,
                    .end_ps = sim.before_ps, .clock = traces::TraceClock::kHostSimulated,
                    .detail = "idle for longer than the host idle limit; resumed at the simulation's time",
                    .id = next_wall_id(thread)});
  }
  if (!trace_calls_) return;
  const auto wall_end = std::chrono::steady_clock::now();
  const auto wall_ps = [&](std::chrono::steady_clock::time_point t) {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(t - opened_at_).count()) * 1000;
  };
  std::string name_copy(name);
  trace_->record({.track = thread.track, .name = name_copy, .start_ps = sim.before_ps, .end_ps = sim.after_ps,
                  .bytes = bytes, .sequence = sequence, .clock = traces::TraceClock::kHostSimulated,
                  .detail = detail, .id = id != 0 ? id : next_id(thread), .waits_for = std::move(waits_for)});
  trace_->record({.track = thread.track, .name = std::move(name_copy), .start_ps = wall_ps(wall_start),
                  .end_ps = wall_ps(wall_end), .bytes = bytes, .sequence = sequence,
                  .clock = traces::TraceClock::kHostWall, .detail = std::move(detail),
                  .id = next_wall_id(thread)});
}

ClockUpdate HostTimeline::charge(std::string_view name, uint64_t ps, std::chrono::steady_clock::time_point wall_start,
                                 uint64_t bytes, uint64_t sequence) {
  const Thread& t = current();
  const ClockUpdate u = transport_->advance_host_clock(t.clock, ps);
  record(t, name, u, wall_start, bytes, sequence);
  return u;
}

uint64_t HostTimeline::prepare_child() {
  const Thread& parent = current();
  std::lock_guard lock(mutex_);
  auto t = std::make_unique<Thread>();
  t->clock = transport_->add_host_clock(transport_->host_clock_ps(parent.clock), idle_after_);
  t->id_source = id_source(next_index_);
  t->track = "host T" + std::to_string(next_index_++);
  const uint64_t key = next_prepared_++;
  prepared_[key] = std::move(t);
  return key;
}

void HostTimeline::adopt_child(uint64_t key) {
  std::lock_guard lock(mutex_);
  auto it = prepared_.find(key);
  if (it == prepared_.end() || transport_ == nullptr) return;
  const Thread* t = it->second.get();
  threads_[std::this_thread::get_id()] = std::move(it->second);
  prepared_.erase(it);
  watch_exit();
  cached = {serial_, t};
}

uint64_t HostTimeline::finish_current() {
  std::lock_guard lock(mutex_);
  if (cached.serial == serial_) cached = {};
  auto it = threads_.find(std::this_thread::get_id());
  if (it == threads_.end() || transport_ == nullptr) return 0;
  const uint64_t final_ps = transport_->host_clock_ps(it->second->clock);
  transport_->remove_host_clock(it->second->clock);
  threads_.erase(it);
  return final_ps;
}

void HostTimeline::cancel_child(uint64_t key) {
  std::lock_guard lock(mutex_);
  auto it = prepared_.find(key);
  if (it == prepared_.end() || transport_ == nullptr) return;
  transport_->remove_host_clock(it->second->clock);
  prepared_.erase(it);
}

void HostTimeline::thread_exited(std::thread::id id) {
  std::lock_guard lock(mutex_);
  auto it = threads_.find(id);
  if (it == threads_.end() || transport_ == nullptr) return;
  transport_->remove_host_clock(it->second->clock);
  threads_.erase(it);
}

uint32_t HostTimeline::threads() const {
  std::lock_guard lock(mutex_);
  return static_cast<uint32_t>(threads_.size());
}

}  // namespace kiln::driver
