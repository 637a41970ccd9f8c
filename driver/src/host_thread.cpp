#include "kiln/driver/host_thread.h"

#include <system_error>

#include "device_impl.h"

namespace kiln::driver {

struct HostThread::Shared {
  uint64_t final_ps = 0;  // the thread's clock when its body returned
};

Result<HostThread> Device::spawn_host_thread(std::function<void()> body) {
  if (!body) return invalid_argument("spawn_host_thread: no function to run");
  const auto start = std::chrono::steady_clock::now();
  HostTimeline& timeline = *impl_->host;
  // Registered now, at the caller's clock: the simulation cannot run ahead of
  // the new thread while the OS is still starting it.
  const uint64_t key = timeline.prepare_child();
  auto shared = std::make_shared<HostThread::Shared>();
  std::thread thread;
  try {
    thread = std::thread([&timeline, key, shared, body = std::move(body)] {
      timeline.adopt_child(key);
      body();
      shared->final_ps = timeline.finish_current();
    });
  } catch (const std::system_error& e) {
    timeline.cancel_child(key);
    return resource_exhausted(std::string("spawn_host_thread: the host could not start a thread: ") + e.what());
  }
  timeline.charge("spawn_host_thread", 0, start);
  return HostThread(this, std::move(shared), std::move(thread));
}

HostThread& HostThread::operator=(HostThread&& other) noexcept {
  if (this != &other) {
    join();
    device_ = other.device_;
    shared_ = std::move(other.shared_);
    thread_ = std::move(other.thread_);
  }
  return *this;
}

HostThread::~HostThread() { join(); }

void HostThread::join() {
  if (!thread_.joinable()) return;
  const auto start = std::chrono::steady_clock::now();
  Device::Impl& d = *device_->impl_;
  const HostTimeline::Thread& self = d.host->current();
  const uint64_t before = d.transport->host_clock_ps(self.clock);
  // While it waits the joiner cannot submit: it must not hold the simulation
  // back from the thread it waits for.
  d.transport->block_host_clock(self.clock);
  thread_.join();
  ClockUpdate u = d.transport->unblock_host_clock(self.clock, shared_->final_ps);
  u.before_ps = before;
  d.host->record(self, "join", u, start);
}

}  // namespace kiln::driver
