// The job queue an engine's processes serve: the scaffolding the DMA, MME and
// TPC engines share. Command processors push jobs in dispatch order; each
// engine process takes the oldest one, runs it (unless a fault injection
// fails it first), and reports its end to the device's watchdog bookkeeping
// and to the job's on_done. A job whose execution throws ends with a
// kEngineError fault instead: no exception reaches SystemC, which would end
// the process. (Engines still catch what they can themselves, where they know
// how to leave their own state consistent; this is the last line.)
//
// Simulation thread only.
#pragma once

#include <cstddef>
#include <deque>
#include <exception>
#include <optional>
#include <string>
#include <utility>

#include "job_trace.h"
#include "kiln/common/fault.h"
#include "systemc.h"

namespace kiln::sim {

// Job must have `queue`, `sequence`, `packet_offset`, `JobTrace trace` and
// `std::function<void(std::optional<FaultRecord>)> on_done`.
template <typename Job>
class EngineQueue {
 public:
  void push(Job job) {
    jobs_.push_back(std::move(job));
    ready_.notify(sc_core::SC_ZERO_TIME);
  }
  std::size_t size() const { return jobs_.size(); }

  // The body of one engine process, named `engine` ("DMA0", "MME", "TPC")
  // for fault injection and the trace; never returns. Several processes may
  // serve one queue (the DMA pool): each takes the next job when it is free.
  // `device` is the DeviceImpl (a template so this header need not include it).
  template <typename Device, typename Execute>
  [[noreturn]] void serve(Device& device, const std::string& engine, Execute&& execute) {
    for (;;) {
      Job job = take();
      device.job_started();
      std::optional<FaultRecord> fault =
          device.faults.take(engine, job.queue, job.sequence, job.packet_offset, device.now_ps());
      if (fault) {
        device.record_job(job.trace, {.track = engine, .queue = static_cast<int32_t>(job.queue),
                                      .name = std::string(fault_cause_name(fault->cause)),
                                      .start_ps = device.now_ps(), .end_ps = device.now_ps(),
                                      .sequence = job.sequence, .detail = fault->describe()});
      } else {
        fault = execute_guarded(device, engine, job, execute);
      }
      device.job_finished();
      job.on_done(std::move(fault));
    }
  }

 private:
  template <typename Device, typename Execute>
  static std::optional<FaultRecord> execute_guarded(Device& device, const std::string& engine, const Job& job,
                                                    Execute& execute) {
    std::string what;
    try {
      return execute(job);
    } catch (const sc_core::sc_unwind_exception&) {
      throw;  // SystemC killing the process (the device is closing): let it unwind
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
      what = "an exception that is not a std::exception";
    }
    FaultRecord fault{FaultCause::kEngineError, engine, job.queue, job.sequence, job.packet_offset, 0,
                      device.now_ps(), engine + " threw: " + what};
    device.record_job(job.trace, {.track = engine, .queue = static_cast<int32_t>(job.queue), .name = "engine error",
                                  .start_ps = device.now_ps(), .end_ps = device.now_ps(), .sequence = job.sequence,
                                  .detail = fault.describe()});
    return fault;
  }

  Job take() {
    while (jobs_.empty()) sc_core::wait(ready_);
    Job job = std::move(jobs_.front());
    jobs_.pop_front();
    // Another idle process may take the next job in this same instant.
    if (!jobs_.empty()) ready_.notify(sc_core::SC_ZERO_TIME);
    return job;
  }

  std::deque<Job> jobs_;
  sc_core::sc_event ready_;
};

}  // namespace kiln::sim
