// The default transport: a simulated device in this process.
#include "kiln/sim/device.h"
#include "transport.h"

namespace kiln::driver {

namespace {

ClockUpdate to_update(const sim::ClockReading& r) { return {r.before_ps, r.after_ps, r.caught_up_ps}; }

class InProcessTransport final : public Transport {
 public:
  explicit InProcessTransport(std::unique_ptr<sim::SimDevice> device) : device_(std::move(device)) {}

  HostClockId add_host_clock(uint64_t at_ps, std::chrono::nanoseconds idle_after) override {
    return device_->add_host_clock(at_ps, idle_after);
  }
  void remove_host_clock(HostClockId clock) override { device_->remove_host_clock(clock); }
  ClockUpdate advance_host_clock(HostClockId clock, uint64_t ps) override {
    return to_update(device_->advance_host_clock(clock, ps));
  }
  uint64_t host_clock_ps(HostClockId clock) override { return device_->host_clock_ps(clock); }
  void block_host_clock(HostClockId clock) override { device_->block_host_clock(clock); }
  ClockUpdate unblock_host_clock(HostClockId clock, uint64_t at_least_ps) override {
    return to_update(device_->unblock_host_clock(clock, at_least_ps));
  }
  uint64_t committed_ps() override { return device_->committed_ps(); }
  void catch_up(HostClockId clock) override { device_->catch_up(clock); }

  Status submit(uint32_t queue, SubmitRequest request, HostClockId clock, uint64_t cost_ps,
                ClockUpdate* update) override {
    sim::Submission s{request.context,          request.sequence, std::move(request.commands),
                      request.privileged,       {},               std::move(request.bindings),
                      std::move(request.labels), request.submitted_by};
    for (const SyncWait& w : request.waits) s.waits.push_back({w.sync_object, w.target});
    sim::ClockReading reading;
    KILN_RETURN_IF_ERROR(device_->submit(queue, std::move(s), clock, cost_ps, &reading));
    if (update) *update = to_update(reading);
    return {};
  }

  uint64_t completed_sequence(uint32_t queue) override { return device_->completed_sequence(queue); }

  Status wait(uint32_t queue, uint64_t sequence, std::chrono::nanoseconds timeout, HostClockId clock) override {
    switch (device_->wait(queue, sequence, timeout, clock)) {
      case sim::WaitOutcome::kSatisfied:
        return {};
      case sim::WaitOutcome::kTimeout:
        return timeout_error("submission " + std::to_string(sequence) + " on queue " + std::to_string(queue) +
                             " did not retire within the timeout");
      case sim::WaitOutcome::kIdle:
        break;
    }
    return internal_error("the device went idle before submission " + std::to_string(sequence) +
                          " on queue " + std::to_string(queue) + " retired");
  }

  std::optional<SubmissionInfo> completion(uint32_t queue, uint64_t sequence) override {
    auto c = device_->completion(queue, sequence);
    if (!c) return std::nullopt;
    return SubmissionInfo{c->sequence, c->start_ps, c->end_ps, std::move(c->fault), std::move(c->last_events)};
  }

  Status map(uint32_t context, uint64_t va, MemoryKind kind, uint64_t phys, uint64_t size) override {
    return device_->map(context, va, kind, phys, size);
  }

  Status unmap(uint32_t context, uint64_t va) override { return device_->unmap(context, va); }
  Status write_control(uint32_t context, uint64_t va, const void* data, uint64_t size) override {
    return device_->write_control(context, va, data, size);
  }
  int32_t sync_object_value(uint32_t index) override { return device_->sync_object_value(index); }
  Status inject_fault(const FaultInjection& injection) override { return device_->inject_fault(injection); }
  std::optional<FaultRecord> fatal_fault() override { return device_->fatal_fault(); }

 private:
  std::unique_ptr<sim::SimDevice> device_;
};

}  // namespace

Result<std::unique_ptr<Transport>> make_in_process_transport(const DeviceConfig& config,
                                                             std::shared_ptr<traces::TraceRecorder> trace,
                                                             bool functional,
                                                             const std::vector<std::string>& kernel_paths) {
  KILN_ASSIGN_OR_RETURN(auto device, sim::SimDevice::create(config, std::move(trace), {functional, kernel_paths}));
  return std::unique_ptr<Transport>(new InProcessTransport(std::move(device)));
}

}  // namespace kiln::driver
