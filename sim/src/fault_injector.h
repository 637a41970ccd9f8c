// Injected faults (FaultInjection, kiln/common/fault.h) and the device's fatal
// state. Injections come from host threads; engine processes consume them on
// the simulation thread as they take jobs; the fatal record is read from any
// thread (the driver refuses submissions once it is set).
//
// Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string_view>
#include <vector>

#include "kiln/common/device_config.h"
#include "kiln/common/fault.h"
#include "kiln/common/status.h"

namespace kiln::sim {

class FaultInjector {
 public:
  // Checks the engine name against the device and the count.
  static Status validate(const FaultInjection& injection, const DeviceConfig& config);

  void add(FaultInjection injection);

  // Called by engine `engine` ("DMA1", "MME", "TPC") as it takes a job: the
  // fault the job must end with instead of running, if an injection is due.
  // Every pending injection on that engine counts the job; the oldest due
  // one fires. A fatal fault also becomes the device's fatal record.
  std::optional<FaultRecord> take(std::string_view engine, uint32_t queue, uint64_t sequence,
                                  uint64_t packet_offset, uint64_t now_ps);

  // The first fatal fault, once one happened: the device then needs a reset.
  std::optional<FaultRecord> fatal() const;

 private:
  // Lock-free fast paths: every engine job asks take() and every decoded
  // packet asks fatal(), and almost always the answer is "nothing".
  std::atomic<bool> has_pending_ = false;
  std::atomic<bool> has_fatal_ = false;
  mutable std::mutex mutex_;
  std::vector<FaultInjection> pending_;
  std::optional<FaultRecord> fatal_;
};

}  // namespace kiln::sim
