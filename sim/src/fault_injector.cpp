#include "fault_injector.h"

#include <charconv>
#include <string>

namespace kiln::sim {
namespace {

bool matches(std::string_view wanted, std::string_view engine) {
  // "DMA" stands for every DMA engine; other names are exact.
  return wanted == engine || (wanted == "DMA" && engine.substr(0, 3) == "DMA");
}

}  // namespace

Status FaultInjector::validate(const FaultInjection& injection, const DeviceConfig& config) {
  const std::string_view e = injection.engine;
  const uint32_t dma_engines = config.dma().engines();
  bool known = e == "DMA" || e == "MME" || e == "TPC";
  if (!known && e.size() > 3 && e.substr(0, 3) == "DMA") {
    uint32_t index = 0;
    const auto [end, error] = std::from_chars(e.data() + 3, e.data() + e.size(), index);
    known = error == std::errc() && end == e.data() + e.size() && index < dma_engines &&
            (e.size() == 4 || e[3] != '0');  // no leading zeros: one name per engine
  }
  if (!known) {
    return invalid_argument("fault injection: engine '" + injection.engine + "' is not one of DMA, DMA0..DMA" +
                            std::to_string(dma_engines - 1) + ", MME, TPC on " + config.name());
  }
  if (injection.count == 0) return invalid_argument("fault injection: count must be >= 1 (got 0)");
  return {};
}

void FaultInjector::add(FaultInjection injection) {
  std::lock_guard lock(mutex_);
  pending_.push_back(std::move(injection));
  has_pending_.store(true, std::memory_order_release);
}

std::optional<FaultRecord> FaultInjector::take(std::string_view engine, uint32_t queue, uint64_t sequence,
                                               uint64_t packet_offset, uint64_t now_ps) {
  if (!has_pending_.load(std::memory_order_acquire)) return std::nullopt;
  std::lock_guard lock(mutex_);
  std::optional<FaultRecord> fault;
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (!matches(it->engine, engine)) {
      ++it;
      continue;
    }
    if (it->after_jobs > 0) {
      --it->after_jobs;
      ++it;
      continue;
    }
    if (fault) {  // an older injection fired on this job; this one waits for the next
      ++it;
      continue;
    }
    const std::string which = "injection on " + it->engine + " (" + std::to_string(it->count) + " left)";
    if (it->fatal) {
      fault = FaultRecord{FaultCause::kUncorrectableMemoryError, std::string(engine), queue, sequence,
                          packet_offset, 0, now_ps,
                          "double-bit ECC error in the engine's HBM traffic (" + which + "); reset the device"};
      if (!fatal_) {
        fatal_ = fault;
        has_fatal_.store(true, std::memory_order_release);
      }
      it->count = 1;  // a fatal fault happens once
    } else {
      fault = FaultRecord{FaultCause::kInjected, std::string(engine), queue, sequence, packet_offset, 0, now_ps,
                          "the job failed on purpose (" + which + ")"};
    }
    if (--it->count == 0) {
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
  has_pending_.store(!pending_.empty(), std::memory_order_release);
  return fault;
}

std::optional<FaultRecord> FaultInjector::fatal() const {
  if (!has_fatal_.load(std::memory_order_acquire)) return std::nullopt;
  std::lock_guard lock(mutex_);
  return fatal_;
}

}  // namespace kiln::sim
