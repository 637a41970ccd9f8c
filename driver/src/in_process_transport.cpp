// The default transport: a simulated device in this process.
#include "kiln/sim/device.h"
#include "transport.h"

namespace kiln::driver {

namespace {

class InProcessTransport final : public Transport {
 public:
  explicit InProcessTransport(std::unique_ptr<sim::SimDevice> device) : device_(std::move(device)) {}

  Status submit(uint32_t queue, uint32_t context, uint64_t sequence,
                std::shared_ptr<const std::vector<uint8_t>> commands, bool privileged) override {
    return device_->submit(queue, {context, sequence, std::move(commands), privileged});
  }

  uint64_t completed_sequence(uint32_t queue) override { return device_->completed_sequence(queue); }

  Status wait(uint32_t queue, uint64_t sequence, std::chrono::nanoseconds timeout) override {
    switch (device_->wait(queue, sequence, timeout)) {
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

  void poll() override { device_->poll(); }

  std::optional<SubmissionInfo> completion(uint32_t queue, uint64_t sequence) override {
    auto c = device_->completion(queue, sequence);
    if (!c) return std::nullopt;
    return SubmissionInfo{c->sequence, c->start_ps, c->end_ps, std::move(c->fault)};
  }

  Status map(uint32_t context, uint64_t va, MemoryKind kind, uint64_t phys, uint64_t size) override {
    return device_->map(context, va, kind, phys, size);
  }

  Status unmap(uint32_t context, uint64_t va) override { return device_->unmap(context, va); }
  uint64_t now_ps() override { return device_->now_ps(); }
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
