#include "kiln/sim/device.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <new>
#include <sstream>

#include "command_processor.h"
#include "kiln/common/format.h"
#include "kiln/kernels/kernel_plugin.h"
#include "kiln/kernels/library.h"
#include "device_impl.h"
#include "sync_manager.h"

namespace kiln::sim {

Result<std::unique_ptr<SimDevice>> SimDevice::create(const DeviceConfig& config,
                                                     std::shared_ptr<traces::TraceRecorder> trace,
                                                     SimOptions options) {
  KILN_RETURN_IF_ERROR(validate_device_config(config, config.name()));
  KILN_RETURN_IF_ERROR(kernels::check_tpc_config_for_kernels(config.tpc()).with_context(config.name()));
  std::unique_ptr<DeviceImpl> impl;
  bool reserved = true;
  // SystemC objects (events, processes) are made on the simulation thread.
  SimHost::instance().run_sync([&] {
    try {
      impl = std::make_unique<DeviceImpl>(config, std::move(trace), options);
    } catch (const std::bad_alloc&) {
      reserved = false;  // the memories' address space (backing_store.h)
      return;
    }
    impl->start();
  });
  if (!reserved) {
    return out_of_memory(config.name() + ": the host cannot reserve address space for " +
                         std::to_string(config.hbm().capacity_mib()) + " MiB of HBM and " +
                         std::to_string(config.sram().capacity_mib()) + " MiB of SRAM");
  }
  std::unique_ptr<SimDevice> device(new SimDevice(std::move(impl)));
  KILN_RETURN_IF_ERROR(kernels::register_builtin_kernels(device->impl_->kernels));
  std::vector<std::string> paths = options.kernel_paths;
  if (const char* env = std::getenv("KILN_KERNEL_PATH")) {
    std::stringstream list(env);
    for (std::string item; std::getline(list, item, ':');) {
      if (!item.empty()) paths.push_back(item);
    }
  }
  for (const std::string& path : paths) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      std::vector<std::string> libraries;
      for (const auto& entry : std::filesystem::directory_iterator(path, ec)) {
        if (entry.path().extension() == ".so") libraries.push_back(entry.path().string());
      }
      std::sort(libraries.begin(), libraries.end());  // deterministic order
      for (const auto& lib : libraries) {
        KILN_RETURN_IF_ERROR(device->load_kernel_plugin(lib).status().with_context("KILN_KERNEL_PATH"));
      }
    } else {
      KILN_RETURN_IF_ERROR(device->load_kernel_plugin(path).status().with_context("KILN_KERNEL_PATH"));
    }
  }
  return device;
}

Result<std::vector<std::string>> SimDevice::load_kernel_plugin(const std::string& path) {
  return kernels::load_kernel_plugin(path, impl_->kernels);
}

std::vector<std::string> SimDevice::kernel_names() const { return impl_->kernels.names(); }

SimDevice::SimDevice(std::unique_ptr<DeviceImpl> impl) : impl_(std::move(impl)), epoch_ps_(impl_->epoch_ps()) {}

SimDevice::~SimDevice() {
  SimHost::instance().run_sync([&] {
    impl_->stop();
    impl_.reset();
  });
}

const DeviceConfig& SimDevice::config() const { return impl_->config; }
uint32_t SimDevice::queue_count() const { return static_cast<uint32_t>(impl_->queues.size()); }
uint64_t SimDevice::page_bytes() const { return impl_->mmu.page_bytes(); }

Status SimDevice::submit(uint32_t queue, Submission submission, HostClockId clock, uint64_t cost_ps,
                         ClockReading* reading) {
  if (queue >= impl_->queues.size()) {
    return out_of_range("queue " + std::to_string(queue) + " does not exist (device has " +
                        std::to_string(impl_->queues.size()) + ")");
  }
  if (!submission.commands) return invalid_argument("submission has no command buffer");
  if (const std::optional<FaultRecord> fatal = impl_->faults.fatal()) {
    return failed_precondition("the device needs a reset (close and reopen it) after a fatal fault: " +
                               fatal->describe());
  }
  CommandProcessor* cp = impl_->queues[queue].get();
  const ClockReading r = SimHost::instance().post_at_clock(
      clock, cost_ps, [cp, s = std::move(submission)]() mutable { cp->enqueue(std::move(s)); });
  if (reading) *reading = relative(r);
  return {};
}

HostClockId SimDevice::add_host_clock(uint64_t at_ps, std::chrono::nanoseconds idle_after) {
  return SimHost::instance().add_clock(absolute(at_ps), {.group = impl_->group(), .idle_after = idle_after});
}

void SimDevice::remove_host_clock(HostClockId clock) { SimHost::instance().remove_clock(clock); }

ClockReading SimDevice::advance_host_clock(HostClockId clock, uint64_t ps) {
  return relative(SimHost::instance().advance_clock(clock, ps));
}

uint64_t SimDevice::host_clock_ps(HostClockId clock) const { return relative(SimHost::instance().clock_ps(clock)); }

void SimDevice::block_host_clock(HostClockId clock) { SimHost::instance().block_clock(clock); }

ClockReading SimDevice::unblock_host_clock(HostClockId clock, uint64_t at_least_ps) {
  return relative(SimHost::instance().unblock_clock(clock, absolute(at_least_ps)));
}

uint64_t SimDevice::committed_ps() const { return relative(SimHost::instance().committed_ps()); }

void SimDevice::catch_up(HostClockId clock) { SimHost::instance().catch_up(clock); }

uint64_t SimDevice::completed_sequence(uint32_t queue) const {
  return queue < impl_->queues.size() ? impl_->queues[queue]->completed_sequence() : 0;
}

WaitOutcome SimDevice::wait(uint32_t queue, uint64_t sequence, std::chrono::nanoseconds timeout,
                            HostClockId clock) {
  CommandProcessor* cp = impl_->queues.at(queue).get();
  return SimHost::instance().wait_until([cp, sequence] { return cp->completed_sequence() >= sequence; },
                                        timeout, clock);
}

std::optional<Completion> SimDevice::completion(uint32_t queue, uint64_t sequence) const {
  if (queue >= impl_->queues.size()) return std::nullopt;
  return impl_->queues[queue]->completion(sequence);
}

Status SimDevice::map(uint32_t context, uint64_t va, MemoryKind kind, uint64_t phys, uint64_t size) {
  const uint64_t capacity = impl_->physical_capacity(kind);
  if (kind != MemoryKind::kHost && (phys > capacity || size > capacity - phys)) {
    return out_of_range("MMU map of " + std::to_string(size) + " bytes at " +
                        std::string(memory_kind_name(kind)) + " physical offset " + std::to_string(phys) +
                        " exceeds its capacity of " + std::to_string(capacity) + " bytes");
  }
  return impl_->mmu.map(context, va, kind, phys, size);
}

Status SimDevice::unmap(uint32_t context, uint64_t va) { return impl_->mmu.unmap(context, va); }

Status SimDevice::write_control(uint32_t context, uint64_t va, const void* data, uint64_t size) {
  uint64_t fault_address = 0;
  if (!impl_->write_virtual(context, va, data, size, &fault_address)) {
    return out_of_range("control write of " + std::to_string(size) + " bytes at " + hex(va) +
                        " touches unmapped address " + hex(fault_address));
  }
  return {};
}

uint64_t SimDevice::now_ps() const {
  uint64_t now = 0;
  SimHost::instance().run_sync([&] { now = impl_->now_ps(); });
  return now;
}

Status SimDevice::inject_fault(const FaultInjection& injection) {
  KILN_RETURN_IF_ERROR(FaultInjector::validate(injection, impl_->config));
  impl_->faults.add(injection);
  return {};
}

std::optional<FaultRecord> SimDevice::fatal_fault() const { return impl_->faults.fatal(); }

int32_t SimDevice::sync_object_value(uint32_t index) const {
  int32_t v = 0;
  SimHost::instance().run_sync([&] { v = index < impl_->sync->sync_object_count() ? impl_->sync->value(index) : 0; });
  return v;
}

}  // namespace kiln::sim
