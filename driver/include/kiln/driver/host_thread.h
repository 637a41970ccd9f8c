// A host thread on the simulated timeline (Device::spawn_host_thread).
//
// A plain std::thread that calls the driver gets a clock at its first call,
// starting at the clock of the thread that opened the device, and a thread
// that joins it cannot tell the device so. A HostThread instead starts at its
// parent's clock at the moment it is spawned, and join() moves the joiner's
// clock to the later of its own and the child's final one, without holding
// the simulation while it waits. Programs built this way, whose threads
// otherwise order their device work with events, give the same simulated
// times and traces on every run (docs/host-timeline.md).
//
// Ownership: movable, not copyable; must be joined (or destroyed, which
// joins) before its Device closes.
// Threading: join() from one thread.
#pragma once

#include <functional>
#include <memory>
#include <thread>

namespace kiln::driver {

class Device;

class HostThread {
 public:
  HostThread() = default;
  HostThread(HostThread&&) noexcept = default;
  HostThread& operator=(HostThread&& other) noexcept;
  ~HostThread();

  bool joinable() const { return thread_.joinable(); }
  // Waits for the thread; the caller's clock becomes the later of its own and
  // the thread's last one.
  void join();

 private:
  friend class Device;
  struct Shared;
  HostThread(Device* device, std::shared_ptr<Shared> shared, std::thread thread)
      : device_(device), shared_(std::move(shared)), thread_(std::move(thread)) {}

  Device* device_ = nullptr;
  std::shared_ptr<Shared> shared_;
  std::thread thread_;
};

}  // namespace kiln::driver
