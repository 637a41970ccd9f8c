// Helpers shared by the driver tests.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "kiln/common/mme_descriptor.h"
#include "kiln/common/device_config.h"
#include "kiln/driver/device.h"
#include "kiln/kernels/kernel_arg_block.h"

namespace kiln::driver::testing {

#define ASSERT_OK(expr)                                  \
  do {                                                   \
    const ::kiln::Status s_ = (expr);                    \
    ASSERT_TRUE(s_.ok()) << s_.to_string();              \
  } while (0)

template <typename T>
T take(Result<T> r) {
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  if (!r.ok()) throw std::runtime_error(r.status().to_string());
  return std::move(r).value();
}

inline std::unique_ptr<Device> open_device(const std::string& config = "tiny", bool functional = true) {
  DeviceOptions options;
  options.functional = functional;
  return take(Device::open(config, options));
}

// Pinned host memory holding the argument block of `args` (encoded), for a
// LAUNCH_TPC to point at.
inline HostBuffer kernel_arg_block(Device& dev, const kernels::KernelArgs& args) {
  const std::vector<uint8_t> bytes = take(kernels::encode_kernel_args(args));
  HostBuffer block = take(dev.allocate_host(bytes.size()));
  std::memcpy(block.data, bytes.data(), bytes.size());
  return block;
}

// Device-side trace events of one track prefix ("DMA", "CP") and, if given,
// one queue and submission.
inline std::vector<traces::TraceEvent> device_events(const Device& device, const std::string& track_prefix,
                                                     int queue = -1, uint64_t sequence = 0) {
  std::vector<traces::TraceEvent> out;
  for (auto& e : device.trace()->events()) {
    if (e.clock != traces::TraceClock::kDeviceSimulated) continue;
    if (e.track.rfind(track_prefix, 0) != 0) continue;
    if (queue >= 0 && e.queue != queue) continue;
    if (sequence != 0 && e.sequence != sequence) continue;
    out.push_back(e);
  }
  return out;
}

// The single DMA job of a submission.
inline traces::TraceEvent dma_job(const Device& device, const Stream& stream, uint64_t sequence) {
  auto jobs = device_events(device, "DMA", static_cast<int>(stream.queue()), sequence);
  EXPECT_EQ(jobs.size(), 1u) << "submission " << sequence << " on queue " << stream.queue();
  return jobs.empty() ? traces::TraceEvent{} : jobs.front();
}

inline double duration_ns(const traces::TraceEvent& e) { return (e.end_ps - e.start_ps) / 1000.0; }

inline std::vector<uint8_t> pattern_bytes(std::size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  uint32_t x = seed * 2654435761u + 1;
  for (auto& b : v) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    b = static_cast<uint8_t>(x);
  }
  return v;
}

}  // namespace kiln::driver::testing
