#include "reference.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

namespace kiln::kernels::test {
namespace {

using C5 = std::array<int64_t, 5>;

int64_t at(const Shape& dims, const C5& c) {
  return c[0] + dims[0] * (c[1] + dims[1] * (c[2] + dims[2] * (c[3] + dims[3] * c[4])));
}

void for_each(const Shape& dims, const std::function<void(const C5&)>& f) {
  C5 c{};
  for (c[4] = 0; c[4] < dims[4]; ++c[4])
    for (c[3] = 0; c[3] < dims[3]; ++c[3])
      for (c[2] = 0; c[2] < dims[2]; ++c[2])
        for (c[1] = 0; c[1] < dims[1]; ++c[1])
          for (c[0] = 0; c[0] < dims[0]; ++c[0]) f(c);
}

RefTensor make(const Shape& dims) {
  RefTensor t;
  t.dims = dims;
  t.v.assign(static_cast<size_t>(t.size()), 0.0);
  return t;
}

double& el(RefTensor& t, const C5& c) { return t.v[static_cast<size_t>(at(t.dims, c))]; }
double el(const RefTensor& t, const C5& c) { return t.v[static_cast<size_t>(at(t.dims, c))]; }

// Numpy broadcasting: a dim of size 1 reads index 0.
double bcast(const RefTensor& t, C5 c) {
  for (int d = 0; d < 5; ++d) {
    if (t.dims[d] == 1) c[d] = 0;
  }
  return el(t, c);
}

double unary(const std::string& k, double x, double p) {
  if (k == "neg") return -x;
  if (k == "abs") return std::fabs(x);
  if (k == "exp") return std::exp(x);
  if (k == "log") return std::log(x);
  if (k == "sqrt") return std::sqrt(x);
  if (k == "rsqrt") return 1.0 / std::sqrt(x);
  if (k == "reciprocal") return 1.0 / x;
  if (k == "relu") return x > 0 ? x : 0.0;
  if (k == "leaky_relu") return x > 0 ? x : p * x;
  if (k == "gelu_erf") return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
  if (k == "gelu_tanh") {
    const double kPi = 3.14159265358979323846;
    return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / kPi) * (x + 0.044715 * x * x * x)));
  }
  if (k == "silu") return x / (1.0 + std::exp(-x));
  if (k == "sigmoid") return 1.0 / (1.0 + std::exp(-x));
  if (k == "tanh") return std::tanh(x);
  return std::numeric_limits<double>::quiet_NaN();
}

bool is_unary(const std::string& k) { return !std::isnan(unary(k, 0.5, 0.1)); }

double binary(const std::string& k, double a, double b) {
  if (k == "add") return a + b;
  if (k == "sub") return a - b;
  if (k == "mul") return a * b;
  if (k == "div") return a / b;
  if (k == "max") return std::max(a, b);
  if (k == "min") return std::min(a, b);
  if (k == "pow") return std::pow(a, b);
  return std::numeric_limits<double>::quiet_NaN();
}

RefTensor reduce(const std::string& k, const RefTensor& in, int axis, const Shape& out_dims) {
  RefTensor out = make(out_dims);
  for_each(out_dims, [&](const C5& c) {
    C5 i = c;
    double acc = k == "reduce_max" || k == "argmax" ? -INFINITY : k == "reduce_min" ? INFINITY : 0.0;
    int64_t best = 0;
    for (i[axis] = 0; i[axis] < in.dims[axis]; ++i[axis]) {
      const double x = el(in, i);
      if (k == "reduce_sum" || k == "reduce_mean") acc += x;
      else if (k == "reduce_max") acc = std::max(acc, x);
      else if (k == "reduce_min") acc = std::min(acc, x);
      else if (x > acc) {  // argmax: first index of the maximum
        acc = x;
        best = i[axis];
      }
    }
    if (k == "reduce_mean") acc /= static_cast<double>(in.dims[axis]);
    el(out, c) = k == "argmax" ? static_cast<double>(best) : acc;
  });
  return out;
}

RefTensor softmax(const RefTensor& in, bool log_form) {
  RefTensor out = make(in.dims);
  Shape rows = in.dims;
  rows[0] = 1;
  for_each(rows, [&](const C5& r) {
    C5 c = r;
    double m = -INFINITY, s = 0.0;
    for (c[0] = 0; c[0] < in.dims[0]; ++c[0]) m = std::max(m, el(in, c));
    for (c[0] = 0; c[0] < in.dims[0]; ++c[0]) s += std::exp(el(in, c) - m);
    for (c[0] = 0; c[0] < in.dims[0]; ++c[0]) {
      el(out, c) = log_form ? el(in, c) - m - std::log(s) : std::exp(el(in, c) - m) / s;
    }
  });
  return out;
}

RefTensor norm(bool layer, const std::vector<RefTensor>& in, double eps) {
  const RefTensor& x = in[0];
  RefTensor out = make(x.dims);
  const double n = static_cast<double>(x.dims[0]);
  Shape rows = x.dims;
  rows[0] = 1;
  for_each(rows, [&](const C5& r) {
    C5 c = r;
    double mean = 0.0, sq = 0.0;
    for (c[0] = 0; c[0] < x.dims[0]; ++c[0]) mean += el(x, c) / n;
    for (c[0] = 0; c[0] < x.dims[0]; ++c[0]) {
      const double d = layer ? el(x, c) - mean : el(x, c);
      sq += d * d / n;
    }
    const double scale = 1.0 / std::sqrt(sq + eps);
    for (c[0] = 0; c[0] < x.dims[0]; ++c[0]) {
      double y = ((layer ? el(x, c) - mean : el(x, c))) * scale;
      if (in.size() > 1) y *= in[1].v[static_cast<size_t>(c[0])];
      if (layer && in.size() > 2) y += in[2].v[static_cast<size_t>(c[0])];
      el(out, c) = y;
    }
  });
  return out;
}

RefTensor gather(const RefTensor& data, const RefTensor& idx, int axis, int data_rank, int idx_rank,
                 const Shape& out_dims) {
  RefTensor out = make(out_dims);
  for_each(out_dims, [&](const C5& c) {
    C5 ic{}, dc{};
    for (int d = 0; d < axis; ++d) dc[d] = c[d];
    for (int j = 0; j < idx_rank; ++j) ic[j] = c[axis + j];
    for (int d = axis + 1; d < data_rank; ++d) dc[d] = c[d + idx_rank - 1];
    int64_t i = static_cast<int64_t>(el(idx, ic));
    if (i < 0) i += data.dims[axis];
    dc[axis] = i;
    el(out, c) = el(data, dc);
  });
  return out;
}

RefTensor pool(bool is_max, const RefTensor& in, const std::vector<int64_t>& p, const Shape& out_dims) {
  const int64_t kw = p[0], kh = p[1];
  const int64_t sw = p.size() > 2 ? p[2] : kw, sh = p.size() > 3 ? p[3] : kh;
  const int64_t pw = p.size() > 4 ? p[4] : 0, ph = p.size() > 5 ? p[5] : 0;
  const bool include_pad = p.size() > 6 && p[6] != 0;
  RefTensor out = make(out_dims);
  for_each(out_dims, [&](const C5& c) {
    double acc = is_max ? -INFINITY : 0.0;
    int64_t used = 0;
    for (int64_t ky = 0; ky < kh; ++ky) {
      for (int64_t kx = 0; kx < kw; ++kx) {
        const int64_t x = c[1] * sw - pw + kx, y = c[2] * sh - ph + ky;
        if (x < 0 || x >= in.dims[1] || y < 0 || y >= in.dims[2]) continue;
        const double v = el(in, C5{c[0], x, y, c[3], c[4]});
        acc = is_max ? std::max(acc, v) : acc + v;
        ++used;
      }
    }
    el(out, c) = is_max ? acc : acc / static_cast<double>(include_pad ? kw * kh : used);
  });
  return out;
}

}  // namespace

RefTensor reference(const std::string& k, const std::vector<RefTensor>& in, const Shape& out_dims,
                    const std::vector<int64_t>& ints, const std::vector<float>& floats) {
  RefTensor out = make(out_dims);
  if (is_unary(k)) {
    const double p = floats.empty() ? 0.01 : floats[0];
    for (size_t i = 0; i < out.v.size(); ++i) out.v[i] = unary(k, in[0].v[i], p);
  } else if (!std::isnan(binary(k, 1.0, 1.0))) {
    for_each(out_dims, [&](const C5& c) { el(out, c) = binary(k, bcast(in[0], c), bcast(in[1], c)); });
  } else if (k == "cast") {
    out.v = in[0].v;
  } else if (k == "where") {
    for_each(out_dims, [&](const C5& c) { el(out, c) = bcast(in[0], c) != 0.0 ? bcast(in[1], c) : bcast(in[2], c); });
  } else if (k.rfind("reduce_", 0) == 0 || k == "argmax") {
    out = reduce(k, in[0], ints.empty() ? 0 : static_cast<int>(ints[0]), out_dims);
  } else if (k == "softmax" || k == "log_softmax") {
    out = softmax(in[0], k == "log_softmax");
  } else if (k == "layer_norm" || k == "rms_norm") {
    out = norm(k == "layer_norm", in, floats.empty() ? (k == "layer_norm" ? 1e-5 : 1e-6) : floats[0]);
  } else if (k == "permute") {
    for_each(out_dims, [&](const C5& c) {
      C5 src{};
      for (size_t i = 0; i < ints.size(); ++i) src[static_cast<size_t>(ints[i])] = c[i];
      el(out, c) = el(in[0], src);
    });
  } else if (k == "slice") {
    for_each(out_dims, [&](const C5& c) {
      C5 src{};
      for (size_t d = 0; d < 5; ++d) {
        const int64_t start = d < ints.size() ? ints[d] : 0;
        const int64_t step = d + 5 < ints.size() ? ints[d + 5] : 1;
        src[d] = start + c[d] * step;
      }
      el(out, c) = el(in[0], src);
    });
  } else if (k == "concat") {
    const int axis = ints.empty() ? 0 : static_cast<int>(ints[0]);
    int64_t offset = 0;
    for (const RefTensor& t : in) {
      for_each(t.dims, [&](const C5& c) {
        C5 o = c;
        o[axis] += offset;
        el(out, o) = el(t, c);
      });
      offset += t.dims[axis];
    }
  } else if (k == "gather") {
    out = gather(in[0], in[1], ints.empty() ? 0 : static_cast<int>(ints[0]), in[0].rank, in[1].rank, out_dims);
  } else if (k == "max_pool2d" || k == "avg_pool2d") {
    out = pool(k == "max_pool2d", in[0], ints, out_dims);
  } else {
    ADD_FAILURE() << "no reference for kernel " << k;
    return RefTensor{};
  }
  return out;
}

}  // namespace kiln::kernels::test
