// Host references for the runtime's op tests: dense row-major tensors of
// doubles and straightforward loops, written independently of the kernels.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <numeric>
#include <random>
#include <stdexcept>
#include <vector>

#include <gtest/gtest.h>

#include "kiln/common/bf16.h"
#include "kiln/common/f16.h"
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

// Activations in double, for references.
inline double gelu_erf(double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }
inline double gelu_tanh(double x) {
  return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
}
inline double sigmoid_ref(double x) { return 1 / (1 + std::exp(-x)); }

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

// Rounds to the nearest value of `dtype` (nearest even), as the device stores
// it: through fp32 (exact for the fp32 values tests feed the device), then with
// the device's own conversions (kiln/common/bf16.h, f16.h: +-inf past fp16's
// range, fp16 subnormals kept).
inline double round_to(DType dtype, double x) {
  const float f = static_cast<float>(x);
  if (dtype == DType::kBF16) return round_to_bf16(f);
  if (dtype == DType::kF16) return round_to_f16(f);
  return dtype == DType::kF32 ? f : x;
}

// The unit roundoff of a float dtype: half the gap between 1 and the next
// value, the largest relative error of one rounding to nearest (normal range).
inline double unit_roundoff(DType dtype) {
  return dtype == DType::kBF16 ? 0x1p-8 : dtype == DType::kF16 ? 0x1p-11 : 0x1p-24;
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

inline HostTensor host_matmul(const HostTensor& a, const HostTensor& b) {
  const std::size_t ra = a.shape.size(), rb = b.shape.size();
  const int64_t m = a.shape[ra - 2], k = a.shape[ra - 1], n = b.shape[rb - 1];
  const Shape ab(a.shape.begin(), a.shape.end() - 2), bb(b.shape.begin(), b.shape.end() - 2);
  const Shape batch = *broadcast_shapes(ab, bb);
  Shape out = batch;
  out.push_back(m);
  out.push_back(n);
  HostTensor c = host_zeros(out);
  const int64_t batches = numel(batch);
  for (int64_t bi = 0; bi < batches; ++bi) {
    const auto idx = unravel(bi, batch);
    auto flat = [&](const Shape& s) {
      int64_t f = 0;
      const std::size_t pad = idx.size() - s.size();
      for (std::size_t d = 0; d < s.size(); ++d) f = f * s[d] + (s[d] == 1 ? 0 : idx[pad + d]);
      return f;
    };
    const int64_t oa = flat(ab) * m * k, ob = flat(bb) * k * n;
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        double s = 0;
        for (int64_t p = 0; p < k; ++p) s += a[oa + i * k + p] * b[ob + p * n + j];
        c[bi * m * n + i * n + j] = s;
      }
    }
  }
  return c;
}

inline HostTensor host_transpose_last(const HostTensor& t) {
  const std::size_t r = t.shape.size();
  Shape s = t.shape;
  std::swap(s[r - 1], s[r - 2]);
  HostTensor o = host_zeros(s);
  const int64_t rows = t.shape[r - 2], cols = t.shape[r - 1], batches = t.size() / (rows * cols);
  for (int64_t b = 0; b < batches; ++b)
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < cols; ++j) o[b * rows * cols + j * rows + i] = t[b * rows * cols + i * cols + j];
  return o;
}

// x [N, C, H, W], w [K, C/groups, R, S], optional bias [K]; every option of
// Conv2dOptions (groups, asymmetric pads, stride, dilation).
inline HostTensor host_conv(const HostTensor& x, const HostTensor& w, const HostTensor* bias, const Conv2dOptions& o) {
  const int64_t n = x.shape[0], c = x.shape[1], h = x.shape[2], wd = x.shape[3];
  const int64_t k = w.shape[0], cg = w.shape[1], r = w.shape[2], s = w.shape[3], kg = k / o.groups;
  const int64_t pb = o.pad_bottom < 0 ? o.pad_h : o.pad_bottom, pr = o.pad_right < 0 ? o.pad_w : o.pad_right;
  const int64_t p = (h + o.pad_h + pb - o.dilation_h * (r - 1) - 1) / o.stride_h + 1;
  const int64_t q = (wd + o.pad_w + pr - o.dilation_w * (s - 1) - 1) / o.stride_w + 1;
  HostTensor y = host_zeros({n, k, p, q});
  for (int64_t ni = 0; ni < n; ++ni)
    for (int64_t ki = 0; ki < k; ++ki)
      for (int64_t pi = 0; pi < p; ++pi)
        for (int64_t qi = 0; qi < q; ++qi) {
          double acc = bias ? (*bias)[ki] : 0;
          for (int64_t ci = 0; ci < cg; ++ci)
            for (int64_t ri = 0; ri < r; ++ri)
              for (int64_t si = 0; si < s; ++si) {
                const int64_t hi = pi * o.stride_h - o.pad_h + ri * o.dilation_h;
                const int64_t wi = qi * o.stride_w - o.pad_w + si * o.dilation_w;
                if (hi < 0 || hi >= h || wi < 0 || wi >= wd) continue;
                acc += x[((ni * c + (ki / kg) * cg + ci) * h + hi) * wd + wi] * w[((ki * cg + ci) * r + ri) * s + si];
              }
          y[((ni * k + ki) * p + pi) * q + qi] = acc;
        }
  return y;
}

// Reduces `x` over `dims` (sorted) with `f` applied to each group of values.
inline HostTensor host_reduce(const HostTensor& x, const std::vector<int>& dims, bool keepdim,
                       const std::function<double(const std::vector<double>&)>& f) {
  Shape kept = x.shape;
  for (int d : dims) kept[static_cast<std::size_t>(d)] = 1;
  std::vector<std::vector<double>> groups(static_cast<std::size_t>(numel(kept)));
  for (int64_t i = 0; i < x.size(); ++i) {
    auto idx = unravel(i, x.shape);
    for (int d : dims) idx[static_cast<std::size_t>(d)] = 0;
    int64_t g = 0;
    for (std::size_t d = 0; d < kept.size(); ++d) g = g * kept[d] + idx[d];
    groups[static_cast<std::size_t>(g)].push_back(x[i]);
  }
  Shape out;
  for (std::size_t d = 0; d < kept.size(); ++d) {
    if (keepdim || std::find(dims.begin(), dims.end(), static_cast<int>(d)) == dims.end()) out.push_back(kept[d]);
  }
  HostTensor r = host_zeros(out);
  for (std::size_t g = 0; g < groups.size(); ++g) r.v[g] = f(groups[g]);
  return r;
}

// Applies f to every line of x along `dim`.
inline HostTensor host_along(const HostTensor& x, int dim, const std::function<std::vector<double>(std::vector<double>)>& f) {
  HostTensor out = x;
  const int64_t n = x.shape[static_cast<std::size_t>(dim)];
  int64_t inner = 1;
  for (std::size_t d = static_cast<std::size_t>(dim) + 1; d < x.shape.size(); ++d) inner *= x.shape[d];
  const int64_t outer = x.size() / (n * inner);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      std::vector<double> line(static_cast<std::size_t>(n));
      for (int64_t j = 0; j < n; ++j) line[static_cast<std::size_t>(j)] = x[(o * n + j) * inner + i];
      line = f(line);
      for (int64_t j = 0; j < n; ++j) out[(o * n + j) * inner + i] = line[static_cast<std::size_t>(j)];
    }
  return out;
}

inline std::vector<double> softmax_line(std::vector<double> v) {
  const double m = *std::max_element(v.begin(), v.end());
  double s = 0;
  for (double& x : v) s += (x = std::exp(x - m));
  for (double& x : v) x /= s;
  return v;
}

inline HostTensor host_abs(HostTensor t) {
  for (double& x : t.v) x = std::abs(x);
  return t;
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

// Each element within its own bound: |got - want| <= bound (equal infinities
// and NaNs pass).
inline void expect_within(const HostTensor& got, const HostTensor& want, const HostTensor& bound,
                          const std::string& what) {
  ASSERT_EQ(to_string(got.shape), to_string(want.shape)) << what;
  ASSERT_EQ(bound.size(), want.size()) << what;
  int reported = 0;
  for (int64_t i = 0; i < want.size() && reported < 5; ++i) {
    if (got[i] == want[i] || (std::isnan(got[i]) && std::isnan(want[i]))) continue;
    if (!(std::abs(got[i] - want[i]) <= bound[i])) {
      ADD_FAILURE() << what << ": element " << i << " is " << got[i] << ", want " << want[i] << " (off by "
                    << std::abs(got[i] - want[i]) << ", bound " << bound[i] << ")";
      ++reported;
    }
  }
}

}  // namespace kiln::runtime::testing
