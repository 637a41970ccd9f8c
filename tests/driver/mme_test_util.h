// Helpers of the matrix-engine tests: running one descriptor, the MME time
// of a submission, host matrices in every MME dtype and reading results back,
// the activations and the tolerance of a host reference.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "kiln/common/bf16.h"
#include "kiln/common/f16.h"
#include "kiln/common/mme_descriptor.h"
#include "test_util.h"

namespace kiln::driver::testing {

// Runs one descriptor and returns the submission's sequence. The descriptor
// lives in pinned host memory, which the device reads even in timing-only mode.
inline uint64_t launch_descriptor(Device& dev, Stream& s, const mme::Descriptor& d) {
  auto desc = take(dev.allocate_host(sizeof d));
  std::memcpy(desc.data, &d, sizeof d);
  CommandBuffer cb;
  cb.launch_mme(desc.address);
  const uint64_t seq = take(s.submit(cb));
  const Status st = s.wait(seq);
  EXPECT_TRUE(st.ok()) << st.to_string();
  EXPECT_TRUE(dev.free_host(desc).ok());
  return seq;
}

// Duration of the busiest MME of a submission, in picoseconds.
inline uint64_t mme_ps(const Device& dev, const Stream& s, uint64_t seq) {
  uint64_t longest = 0;
  for (const auto& e : device_events(dev, "MME", static_cast<int>(s.queue()), seq)) {
    longest = std::max(longest, e.end_ps - e.start_ps);
  }
  return longest;
}

// One element of an MME dtype (f32, bf16, f16) to and from its bytes; the
// narrow types round to nearest even.
inline void store_element(float v, DType t, uint8_t* at) {
  if (t == DType::kBF16) {
    const bf16 b = to_bf16(v);
    std::memcpy(at, &b.bits, 2);
  } else if (t == DType::kF16) {
    const f16 h = to_f16(v);
    std::memcpy(at, &h.bits, 2);
  } else {
    std::memcpy(at, &v, 4);
  }
}

inline float load_element(DType t, const uint8_t* at) {
  if (t == DType::kBF16) {
    bf16 b;
    std::memcpy(&b.bits, at, 2);
    return to_float(b);
  }
  if (t == DType::kF16) {
    f16 h;
    std::memcpy(&h.bits, at, 2);
    return to_float(h);
  }
  float f = 0;
  std::memcpy(&f, at, 4);
  return f;
}

struct HostMatrix {
  std::vector<float> values;  // exactly representable in the matrix's dtype
  std::vector<uint8_t> bytes;
};

// `count` random values in [-1, 1) in dtype `t`, as floats and as bytes.
inline HostMatrix make_matrix(std::size_t count, DType t, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  HostMatrix h;
  h.values.resize(count);
  h.bytes.resize(count * dtype_size(t));
  for (std::size_t i = 0; i < count; ++i) {
    uint8_t* at = h.bytes.data() + i * dtype_size(t);
    store_element(dist(rng), t, at);
    h.values[i] = load_element(t, at);
  }
  return h;
}

// The matrix in fresh device memory.
inline DeviceBuffer upload(Device& dev, const HostMatrix& h) {
  DeviceBuffer buf = take(dev.allocate(std::max<std::size_t>(h.bytes.size(), 1)));
  EXPECT_TRUE(dev.copy_to_device(buf.address, h.bytes.data(), h.bytes.size()).ok());
  return buf;
}

inline std::vector<float> read_back(Device& dev, uint64_t addr, std::size_t count, DType t) {
  std::vector<uint8_t> raw(count * dtype_size(t));
  EXPECT_TRUE(dev.copy_to_host(raw.data(), addr, raw.size()).ok());
  std::vector<float> out(count);
  for (std::size_t i = 0; i < count; ++i) out[i] = load_element(t, raw.data() + i * dtype_size(t));
  return out;
}

// The activations in double, for host references.
inline double activate(double x, mme::Activation act) {
  switch (act) {
    case mme::Activation::RELU: return x > 0 ? x : 0;
    case mme::Activation::GELU_TANH: return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case mme::Activation::GELU: return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
    case mme::Activation::SILU: return x / (1 + std::exp(-x));
    default: return x;
  }
}

// Within fp32 accumulation of k terms of magnitude <= 1, then the output
// rounding (within one unit in the last place of bf16 or fp16).
inline ::testing::AssertionResult close_enough(float got, double want, DType out, uint64_t k) {
  const double accumulate = 4 * k * 6e-8 + 1e-6;
  const double round = out == DType::kBF16  ? std::abs(want) * (1.0 / 256)
                       : out == DType::kF16 ? std::abs(want) * (1.0 / 1024)
                                            : 0;
  if (std::abs(got - want) <= accumulate + round) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "got " << got << ", want " << want << " (tolerance "
                                       << accumulate + round << ")";
}

}  // namespace kiln::driver::testing
