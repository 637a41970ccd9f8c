// A plain host thread that runs heavy host work for the simulation thread.
//
// SystemC thread processes run on coroutine stacks (256 KiB in Debian's
// build). Work that needs a real thread's stack must not run there: TBB
// parallel loops (the calling thread joins the work, so kernel slices would
// run on the coroutine's stack), BLAS, user kernels with deep stacks. An
// engine process hands such work to run(): the simulation thread blocks until
// it is done, so simulated time does not move meanwhile and timing is exactly
// what it would be inline; only the host thread that runs the work changes.
//
// Ownership: each DeviceImpl owns one; the thread starts with it and is joined
// when it is destroyed. Threading: run() may be called from any thread (in
// practice the simulation thread); calls are served one at a time. The work
// must not call into SystemC (it runs on another thread) nor wait for the
// simulation thread (which is blocked on it).
// Errors: whatever the work throws is rethrown by run() in the caller.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

namespace kiln::sim {

class HostWorker {
 public:
  HostWorker();
  ~HostWorker();
  HostWorker(const HostWorker&) = delete;
  HostWorker& operator=(const HostWorker&) = delete;

  // Runs `work` on the worker thread and returns when it has finished.
  void run(const std::function<void()>& work);

  // True on the worker thread itself (for tests and assertions).
  bool on_worker_thread() const { return std::this_thread::get_id() == thread_.get_id(); }

 private:
  void loop();

  std::mutex callers_;  // one run() at a time
  // run() publishes work_ and bumps requested_; the worker runs it, stores
  // the number it served in finished_. The atomics order the plain fields.
  const std::function<void()>* work_ = nullptr;
  std::exception_ptr error_;
  std::atomic<uint64_t> requested_{0};
  std::atomic<uint64_t> finished_{0};
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace kiln::sim
