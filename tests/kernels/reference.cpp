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

double param(const std::vector<float>& f, size_t i, double fallback) { return i < f.size() ? f[i] : fallback; }

double unary(const std::string& k, double x, const std::vector<float>& f) {
  if (k == "neg") return -x;
  if (k == "abs") return std::fabs(x);
  if (k == "exp") return std::exp(x);
  if (k == "log") return std::log(x);
  if (k == "sqrt") return std::sqrt(x);
  if (k == "rsqrt") return 1.0 / std::sqrt(x);
  if (k == "reciprocal") return 1.0 / x;
  if (k == "relu") return x > 0 ? x : 0.0;
  if (k == "leaky_relu") return x > 0 ? x : param(f, 0, 0.01) * x;
  if (k == "gelu_erf") return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
  if (k == "gelu_tanh") {
    const double kPi = 3.14159265358979323846;
    return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / kPi) * (x + 0.044715 * x * x * x)));
  }
  if (k == "silu") return x / (1.0 + std::exp(-x));
  if (k == "sigmoid") return 1.0 / (1.0 + std::exp(-x));
  if (k == "tanh") return std::tanh(x);
  if (k == "clamp") return std::min(std::max(x, param(f, 0, -INFINITY)), param(f, 1, INFINITY));
  if (k == "elu") return x > 0 ? x : param(f, 0, 1.0) * std::expm1(x);
  if (k == "hardswish") return x * std::clamp(x / 6.0 + 0.5, 0.0, 1.0);
  if (k == "hardsigmoid") return std::clamp(param(f, 0, 0.2) * x + param(f, 1, 0.5), 0.0, 1.0);
  if (k == "softplus") return std::log1p(std::exp(x));
  if (k == "erf") return std::erf(x);
  if (k == "floor") return std::floor(x);
  if (k == "ceil") return std::ceil(x);
  if (k == "round") {  // half to even, whatever the host's rounding mode
    const double down = std::floor(x), frac = x - down;
    return frac > 0.5 || (frac == 0.5 && std::fmod(down, 2.0) != 0.0) ? down + 1.0 : down;
  }
  if (k == "sign") return x > 0 ? 1.0 : x < 0 ? -1.0 : x;
  if (k == "sin") return std::sin(x);
  if (k == "cos") return std::cos(x);
  if (k == "tan") return std::tan(x);
  if (k == "asin") return std::asin(x);
  if (k == "acos") return std::acos(x);
  if (k == "atan") return std::atan(x);
  if (k == "sinh") return std::sinh(x);
  if (k == "cosh") return std::cosh(x);
  if (k == "asinh") return std::asinh(x);
  if (k == "acosh") return std::acosh(x);
  if (k == "atanh") return std::atanh(x);
  return std::numeric_limits<double>::quiet_NaN();
}

// Probed at two points: acosh is NaN below 1.
bool is_unary(const std::string& k) { return !std::isnan(unary(k, 0.5, {})) || !std::isnan(unary(k, 1.5, {})); }

double binary(const std::string& k, double a, double b) {
  if (k == "add") return a + b;
  if (k == "sub") return a - b;
  if (k == "mul") return a * b;
  if (k == "div") return a / b;
  if (k == "max") return std::max(a, b);
  if (k == "min") return std::min(a, b);
  if (k == "pow") return std::pow(a, b);
  if (k == "fmod") return std::fmod(a, b);
  return std::numeric_limits<double>::quiet_NaN();
}

RefTensor reduce(const std::string& k, const RefTensor& in, int axis, const Shape& out_dims) {
  RefTensor out = make(out_dims);
  for_each(out_dims, [&](const C5& c) {
    C5 i = c;
    const bool arg_max = k == "argmax" || k == "argmax_last", arg_min = k == "argmin" || k == "argmin_last";
    const bool last = k == "argmax_last" || k == "argmin_last";
    double acc = k == "reduce_max" || arg_max ? -INFINITY : k == "reduce_min" || arg_min ? INFINITY
                 : k == "reduce_prod"        ? 1.0
                                             : 0.0;
    int64_t best = 0;
    for (i[axis] = 0; i[axis] < in.dims[axis]; ++i[axis]) {
      const double x = el(in, i);
      if (k == "reduce_sum" || k == "reduce_mean") acc += x;
      else if (k == "reduce_prod") acc *= x;
      else if (k == "reduce_max") acc = std::max(acc, x);
      else if (k == "reduce_min") acc = std::min(acc, x);
      else if (arg_max ? (x > acc || (last && x == acc)) : (x < acc || (last && x == acc))) {
        acc = x;  // first (or, with _last, last) index of the extreme
        best = i[axis];
      }
    }
    if (k == "reduce_mean") acc /= static_cast<double>(in.dims[axis]);
    el(out, c) = arg_max || arg_min ? static_cast<double>(best) : acc;
  });
  return out;
}

RefTensor softmax(const RefTensor& in, bool log_form, int axis) {
  RefTensor out = make(in.dims);
  Shape lines = in.dims;
  lines[axis] = 1;
  const int64_t n = in.dims[axis];
  for_each(lines, [&](const C5& r) {
    C5 c = r;
    double m = -INFINITY, s = 0.0;
    for (c[axis] = 0; c[axis] < n; ++c[axis]) m = std::max(m, el(in, c));
    for (c[axis] = 0; c[axis] < n; ++c[axis]) s += std::exp(el(in, c) - m);
    for (c[axis] = 0; c[axis] < n; ++c[axis]) {
      el(out, c) = log_form ? el(in, c) - m - std::log(s) : std::exp(el(in, c) - m) / s;
    }
  });
  return out;
}

C5 plus(const C5& a, const C5& b) { return C5{a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3], a[4] + b[4]}; }

// Normalises over the innermost k dims; gamma/beta are indexed by the
// coordinate inside the group.
RefTensor norm(bool layer, const std::vector<RefTensor>& in, double eps, int k) {
  const RefTensor& x = in[0];
  RefTensor out = make(x.dims);
  Shape groups = x.dims, inner = {1, 1, 1, 1, 1};
  for (int d = 0; d < k; ++d) {
    groups[d] = 1;
    inner[d] = x.dims[d];
  }
  const double n = static_cast<double>(inner[0] * inner[1] * inner[2] * inner[3] * inner[4]);
  for_each(groups, [&](const C5& g) {
    double mean = 0.0, sq = 0.0;
    for_each(inner, [&](const C5& i) { mean += el(x, plus(g, i)) / n; });
    for_each(inner, [&](const C5& i) {
      const double d = layer ? el(x, plus(g, i)) - mean : el(x, plus(g, i));
      sq += d * d / n;
    });
    const double scale = 1.0 / std::sqrt(sq + eps);
    for_each(inner, [&](const C5& i) {
      const C5 c = plus(g, i);
      double y = (layer ? el(x, c) - mean : el(x, c)) * scale;
      if (in.size() > 1) y *= el(in[1], i);
      if (layer && in.size() > 2) y += el(in[2], i);
      el(out, c) = y;
    });
  });
  return out;
}

// Inference batch norm with the channel on `axis`, straight from the formula.
RefTensor batch_norm(const std::vector<RefTensor>& in, int axis, double eps) {
  RefTensor out = make(in[0].dims);
  for_each(in[0].dims, [&](const C5& c) {
    const auto ch = static_cast<size_t>(c[axis]);
    const double scale = in[1].v[ch], bias = in[2].v[ch], mean = in[3].v[ch], var = in[4].v[ch];
    el(out, c) = (el(in[0], c) - mean) / std::sqrt(var + eps) * scale + bias;
  });
  return out;
}

RefTensor cumsum(const RefTensor& in, int axis, bool exclusive, bool reverse) {
  RefTensor out = make(in.dims);
  Shape lines = in.dims;
  lines[axis] = 1;
  const int64_t n = in.dims[axis];
  for_each(lines, [&](const C5& r) {
    C5 c = r;
    double sum = 0.0;
    for (int64_t j = 0; j < n; ++j) {
      c[axis] = reverse ? n - 1 - j : j;
      const double x = el(in, c);
      if (!exclusive) sum += x;
      el(out, c) = sum;
      if (exclusive) sum += x;
    }
  });
  return out;
}

// ONNX Pad: ints = begins[0..rank), ends[0..rank), [mode]; the source index
// of each output element is found per dim (numpy's rules for each mode).
RefTensor pad(const RefTensor& in, const std::vector<int64_t>& ints, double value, const Shape& out_dims) {
  const auto r = static_cast<size_t>(in.rank);
  const int64_t mode = ints.size() > 2 * r ? ints[2 * r] : 0;
  RefTensor out = make(out_dims);
  for_each(out_dims, [&](const C5& c) {
    C5 src{};
    bool constant = false;
    for (size_t d = 0; d < 5; ++d) {
      const int64_t n = in.dims[d];
      int64_t x = c[d] - (d < r ? ints[d] : 0);
      if (mode == 1) {
        while (n > 1 && (x < 0 || x >= n)) x = x < 0 ? -x : 2 * (n - 1) - x;
      } else if (mode == 2) {
        x = std::clamp<int64_t>(x, 0, n - 1);
      } else if (x < 0 || x >= n) {
        constant = true;
      }
      src[d] = x;
    }
    el(out, c) = constant ? value : el(in, src);
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

// ints = {kw, kh, sw, sh, pw, ph, count_include_pad, dw, dh, ceil_mode,
// pw_end, ph_end}; the output size (and so ceil_mode) comes from out_dims.
// count_include_pad divides by the taps inside the padded input.
RefTensor pool(bool is_max, const RefTensor& in, const std::vector<int64_t>& p, const Shape& out_dims) {
  auto get = [&](size_t i, int64_t fallback) { return i < p.size() ? p[i] : fallback; };
  const int64_t kw = p[0], kh = p[1], sw = get(2, kw), sh = get(3, kh), pw = get(4, 0), ph = get(5, 0);
  const bool include_pad = get(6, 0) != 0;
  const int64_t dw = get(7, 1), dh = get(8, 1), pw_end = get(10, pw), ph_end = get(11, ph);
  const int64_t width = in.dims[1], height = in.dims[2];
  RefTensor out = make(out_dims);
  for_each(out_dims, [&](const C5& c) {
    double acc = is_max ? -INFINITY : 0.0;
    int64_t used = 0, padded = 0;
    for (int64_t ky = 0; ky < kh; ++ky) {
      for (int64_t kx = 0; kx < kw; ++kx) {
        const int64_t x = c[1] * sw - pw + kx * dw, y = c[2] * sh - ph + ky * dh;
        if (x >= -pw && x < width + pw_end && y >= -ph && y < height + ph_end) ++padded;
        if (x < 0 || x >= width || y < 0 || y >= height) continue;
        const double v = el(in, C5{c[0], x, y, c[3], c[4]});
        acc = is_max ? std::max(acc, v) : acc + v;
        ++used;
      }
    }
    el(out, c) = is_max ? acc : acc / static_cast<double>(include_pad ? padded : used);
  });
  return out;
}

RefTensor global_pool(bool is_max, const RefTensor& in, const Shape& out_dims) {
  RefTensor out = make(out_dims);
  for_each(out_dims, [&](const C5& c) {
    double acc = is_max ? -INFINITY : 0.0;
    for (int64_t y = 0; y < in.dims[2]; ++y) {
      for (int64_t x = 0; x < in.dims[1]; ++x) {
        const double v = el(in, C5{c[0], x, y, c[3], c[4]});
        acc = is_max ? std::max(acc, v) : acc + v;
      }
    }
    el(out, c) = is_max ? acc : acc / static_cast<double>(in.dims[1] * in.dims[2]);
  });
  return out;
}

}  // namespace

RefTensor reference_float(const std::string& k, const std::vector<RefTensor>& in, const Shape& out_dims,
                          const std::vector<int64_t>& ints, const std::vector<float>& floats) {
  RefTensor out = make(out_dims);
  const int axis = ints.empty() ? 0 : static_cast<int>(ints[0]);
  if (is_unary(k)) {
    for (size_t i = 0; i < out.v.size(); ++i) out.v[i] = unary(k, in[0].v[i], floats);
  } else if (!std::isnan(binary(k, 1.0, 1.0))) {
    for_each(out_dims, [&](const C5& c) { el(out, c) = binary(k, bcast(in[0], c), bcast(in[1], c)); });
  } else if (k.rfind("reduce_", 0) == 0 || k.rfind("arg", 0) == 0) {
    out = reduce(k, in[0], axis, out_dims);
  } else if (k == "softmax" || k == "log_softmax") {
    out = softmax(in[0], k == "log_softmax", axis);
  } else if (k == "layer_norm" || k == "rms_norm") {
    out = norm(k == "layer_norm", in, floats.empty() ? (k == "layer_norm" ? 1e-5 : 1e-6) : floats[0],
               ints.empty() ? 1 : static_cast<int>(ints[0]));
  } else if (k == "batch_norm") {
    out = batch_norm(in, axis, param(floats, 0, 1e-5));
  } else if (k == "cumsum") {
    out = cumsum(in[0], axis, ints.size() > 1 && ints[1] != 0, ints.size() > 2 && ints[2] != 0);
  } else if (k == "pad") {
    out = pad(in[0], ints, param(floats, 0, 0.0), out_dims);
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
    out = gather(in[0], in[1], axis, in[0].rank, in[1].rank, out_dims);
    out.dtype = in[0].dtype;
  } else if (k == "max_pool2d" || k == "avg_pool2d") {
    out = pool(k == "max_pool2d", in[0], ints, out_dims);
  } else if (k == "global_max_pool2d" || k == "global_avg_pool2d") {
    out = global_pool(k == "global_max_pool2d", in[0], out_dims);
  } else if (k == "resize") {
    out = resize_reference(in[0], out_dims, ints, floats);
  } else {
    ADD_FAILURE() << "no reference for kernel " << k;
    return RefTensor{};
  }
  return out;
}

}  // namespace kiln::kernels::test
