// Host references for the runtime's op tests: dense row-major tensors of
// doubles and straightforward loops, written independently of the kernels.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <random>
#include <stdexcept>
#include <vector>

#include <gtest/gtest.h>

#include "kiln/runtime/ops.h"
#include "kiln/runtime/runtime.h"

namespace kiln::runtime::testing {

template <typename T>
T take(Result<T> r) {
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  if (!r.ok()) throw std::runtime_error(r.status().to_string());
  return std::move(r).value();
}

struct HostTensor {
  Shape shape;
  std::vector<double> v;
  int64_t size() const { return numel(shape); }
  double& operator[](int64_t i) { return v[static_cast<std::size_t>(i)]; }
  double operator[](int64_t i) const { return v[static_cast<std::size_t>(i)]; }
};

inline HostTensor host_zeros(Shape shape) {
  HostTensor t{shape, {}};
  t.v.assign(static_cast<std::size_t>(numel(shape)), 0.0);
  return t;
}

inline HostTensor host_random(Shape shape, uint32_t seed, double lo = -1, double hi = 1) {
  HostTensor t = host_zeros(std::move(shape));
  std::mt19937 g(seed);
  std::uniform_real_distribution<double> d(lo, hi);
  // Values exactly representable in fp32 so the device sees the same inputs.
  for (double& x : t.v) x = static_cast<float>(d(g));
  return t;
}

// Multi-index of flat index i in `shape`.
inline std::vector<int64_t> unravel(int64_t i, const Shape& shape) {
  std::vector<int64_t> idx(shape.size());
  for (std::size_t d = shape.size(); d-- > 0;) {
    idx[d] = i % shape[d];
    i /= shape[d];
  }
  return idx;
}

// Element of `t` at the index `idx` of a broadcast output (numpy rules).
inline double at_broadcast(const HostTensor& t, const std::vector<int64_t>& idx) {
  int64_t flat = 0;
  const std::size_t pad = idx.size() - t.shape.size();
  for (std::size_t d = 0; d < t.shape.size(); ++d) {
    const int64_t i = t.shape[d] == 1 ? 0 : idx[pad + d];
    flat = flat * t.shape[d] + i;
  }
  return t[flat];
}

inline HostTensor host_map(const std::vector<const HostTensor*>& ins, const Shape& out_shape,
                           const std::function<double(const std::vector<double>&)>& f) {
  HostTensor out = host_zeros(out_shape);
  std::vector<double> args(ins.size());
  for (int64_t i = 0; i < out.size(); ++i) {
    const auto idx = unravel(i, out_shape);
    for (std::size_t k = 0; k < ins.size(); ++k) args[k] = at_broadcast(*ins[k], idx);
    out[i] = f(args);
  }
  return out;
}

// Rounds to bf16 / fp16 (nearest even) and back, as the device stores them.
inline double round_to(DType dtype, double x) {
  if (dtype == DType::kF32) return static_cast<float>(x);
  float f = static_cast<float>(x);
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if (dtype == DType::kBF16) {
    if (std::isnan(f)) return x;
    bits += 0x7fff + ((bits >> 16) & 1);
    bits &= 0xffff0000u;
    std::memcpy(&f, &bits, 4);
    return f;
  }
  if (dtype == DType::kF16) {
    // Round the significand to 10 bits at fp16's exponent (normal range).
    if (f == 0 || std::isnan(f) || std::isinf(f)) return f;
    int e;
    std::frexp(static_cast<double>(f), &e);
    e = std::max(e, -13);  // subnormals below 2^-14
    const double q = std::ldexp(1.0, e - 11);
    return std::nearbyint(static_cast<double>(f) / q) * q;
  }
  return x;
}

inline HostTensor rounded(DType dtype, HostTensor t) {
  for (double& x : t.v) x = round_to(dtype, x);
  return t;
}

// The tensor on the device in `dtype` (made in f32, cast on the device).
inline Tensor upload(Runtime& rt, const HostTensor& t, DType dtype = DType::kF32) {
  std::vector<float> f(t.v.begin(), t.v.end());
  Tensor x = take(rt.from_host(f, t.shape));
  return dtype == DType::kF32 ? x : take(cast(x, dtype));
}

// Its values as doubles (cast to f32 on the device first if needed).
inline HostTensor download(const Tensor& t) {
  Tensor f = t.dtype() == DType::kF32 ? t : take(cast(t, DType::kF32));
  const auto v = take(f.to_host<float>());
  return HostTensor{t.shape(), std::vector<double>(v.begin(), v.end())};
}

// Each element within atol + rtol * |want|.
inline void expect_close(const HostTensor& got, const HostTensor& want, double atol, double rtol,
                         const std::string& what) {
  ASSERT_EQ(to_string(got.shape), to_string(want.shape)) << what;
  int reported = 0;
  for (int64_t i = 0; i < want.size() && reported < 5; ++i) {
    const double tol = atol + rtol * std::abs(want[i]);
    if (!(std::abs(got[i] - want[i]) <= tol) && !(std::isnan(got[i]) && std::isnan(want[i]))) {
      ADD_FAILURE() << what << ": element " << i << " is " << got[i] << ", want " << want[i] << " (tol " << tol
                    << ")";
      ++reported;
    }
  }
}

}  // namespace kiln::runtime::testing
