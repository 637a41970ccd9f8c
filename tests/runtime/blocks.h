// Composite blocks for the runtime's tests: each built from runtime ops on
// the device and, independently, from host loops (host_reference.h).
#pragma once

#include <cmath>

#include "host_reference.h"

namespace kiln::runtime::testing {

// ---- host building blocks ----
inline HostTensor h_linear(const HostTensor& x, const HostTensor& w, const HostTensor& b) {
  const int64_t in = w.shape[1], out = w.shape[0], rows = x.size() / in;
  Shape s = x.shape;
  s.back() = out;
  HostTensor y = host_zeros(s);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < out; ++o) {
      double acc = b.v.empty() ? 0 : b[o];
      for (int64_t i = 0; i < in; ++i) acc += x[r * in + i] * w[o * in + i];
      y[r * out + o] = acc;
    }
  return y;
}

inline HostTensor h_unary(HostTensor x, double (*f)(double)) {
  for (double& v : x.v) v = f(v);
  return x;
}

inline double h_gelu(double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }
inline double h_relu(double x) { return x > 0 ? x : 0; }

inline HostTensor h_add(HostTensor a, const HostTensor& b) {
  for (int64_t i = 0; i < a.size(); ++i) a[i] += b[i];
  return a;
}

inline HostTensor h_layer_norm(const HostTensor& x, const HostTensor& g, const HostTensor& b, double eps = 1e-5) {
  const int64_t d = x.shape.back(), rows = x.size() / d;
  HostTensor y = x;
  for (int64_t r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < d; ++i) mean += x[r * d + i] / static_cast<double>(d);
    for (int64_t i = 0; i < d; ++i) var += (x[r * d + i] - mean) * (x[r * d + i] - mean) / static_cast<double>(d);
    for (int64_t i = 0; i < d; ++i) y[r * d + i] = (x[r * d + i] - mean) / std::sqrt(var + eps) * g[i] + b[i];
  }
  return y;
}

// ---- MLP: x -> linear -> gelu -> linear -> relu -> linear ----
struct MlpParams {
  std::vector<HostTensor> w, b;
};

inline MlpParams mlp_params(const std::vector<int64_t>& widths, uint32_t seed) {
  MlpParams p;
  for (std::size_t i = 0; i + 1 < widths.size(); ++i) {
    const double scale = 1 / std::sqrt(static_cast<double>(widths[i]));
    p.w.push_back(host_random({widths[i + 1], widths[i]}, seed + static_cast<uint32_t>(2 * i), -scale, scale));
    p.b.push_back(host_random({widths[i + 1]}, seed + static_cast<uint32_t>(2 * i + 1), -0.1, 0.1));
  }
  return p;
}

inline HostTensor mlp_host(const MlpParams& p, HostTensor x) {
  for (std::size_t i = 0; i < p.w.size(); ++i) {
    x = h_linear(x, p.w[i], p.b[i]);
    if (i + 1 < p.w.size()) x = h_unary(x, i % 2 == 0 ? h_gelu : h_relu);
  }
  return x;
}

struct DeviceMlp {
  std::vector<Tensor> w, b;
};

inline DeviceMlp mlp_upload(Runtime& rt, const MlpParams& p, DType dtype) {
  DeviceMlp d;
  for (std::size_t i = 0; i < p.w.size(); ++i) {
    d.w.push_back(upload(rt, p.w[i], dtype));
    d.b.push_back(upload(rt, p.b[i], dtype));
  }
  return d;
}

inline Tensor mlp_device(const DeviceMlp& p, Tensor x) {
  for (std::size_t i = 0; i < p.w.size(); ++i) {
    x = take(linear(x, p.w[i], p.b[i]));
    if (i + 1 < p.w.size()) x = take(i % 2 == 0 ? gelu(x) : relu(x));
  }
  return x;
}

// ---- GPT-2 style transformer block (pre-norm, multi-head attention) ----
struct BlockParams {
  int64_t d = 0, heads = 0, ffn = 0;
  HostTensor ln1_g, ln1_b, wq, bq, wk, bk, wv, bv, wo, bo, ln2_g, ln2_b, w1, b1, w2, b2;
};

inline BlockParams block_params(int64_t d, int64_t heads, int64_t ffn, uint32_t seed) {
  BlockParams p;
  p.d = d;
  p.heads = heads;
  p.ffn = ffn;
  const double sd = 1 / std::sqrt(static_cast<double>(d)), sf = 1 / std::sqrt(static_cast<double>(ffn));
  uint32_t s = seed;
  p.ln1_g = host_random({d}, s++, 0.8, 1.2);
  p.ln1_b = host_random({d}, s++, -0.1, 0.1);
  for (auto* w : {&p.wq, &p.wk, &p.wv, &p.wo}) *w = host_random({d, d}, s++, -sd, sd);
  for (auto* b : {&p.bq, &p.bk, &p.bv, &p.bo}) *b = host_random({d}, s++, -0.1, 0.1);
  p.ln2_g = host_random({d}, s++, 0.8, 1.2);
  p.ln2_b = host_random({d}, s++, -0.1, 0.1);
  p.w1 = host_random({ffn, d}, s++, -sd, sd);
  p.b1 = host_random({ffn}, s++, -0.1, 0.1);
  p.w2 = host_random({d, ffn}, s++, -sf, sf);
  p.b2 = host_random({d}, s++, -0.1, 0.1);
  return p;
}

// x [B, T, D].
inline HostTensor block_host(const BlockParams& p, const HostTensor& x) {
  const int64_t bsz = x.shape[0], t = x.shape[1], d = p.d, h = p.heads, dh = d / h;
  const HostTensor n1 = h_layer_norm(x, p.ln1_g, p.ln1_b);
  const HostTensor q = h_linear(n1, p.wq, p.bq), k = h_linear(n1, p.wk, p.bk), v = h_linear(n1, p.wv, p.bv);
  HostTensor attn = host_zeros({bsz, t, d});
  const double scale = 1 / std::sqrt(static_cast<double>(dh));
  std::vector<double> row(static_cast<std::size_t>(t));
  for (int64_t b = 0; b < bsz; ++b)
    for (int64_t hd = 0; hd < h; ++hd)
      for (int64_t i = 0; i < t; ++i) {
        double m = -INFINITY, sum = 0;
        for (int64_t j = 0; j < t; ++j) {
          double s = 0;
          for (int64_t e = 0; e < dh; ++e) s += q[(b * t + i) * d + hd * dh + e] * k[(b * t + j) * d + hd * dh + e];
          row[static_cast<std::size_t>(j)] = s * scale;
          m = std::max(m, s * scale);
        }
        for (double& r : row) sum += (r = std::exp(r - m));
        for (int64_t e = 0; e < dh; ++e) {
          double acc = 0;
          for (int64_t j = 0; j < t; ++j) acc += row[static_cast<std::size_t>(j)] / sum * v[(b * t + j) * d + hd * dh + e];
          attn[(b * t + i) * d + hd * dh + e] = acc;
        }
      }
  const HostTensor x1 = h_add(x, h_linear(attn, p.wo, p.bo));
  const HostTensor f = h_linear(h_unary(h_linear(h_layer_norm(x1, p.ln2_g, p.ln2_b), p.w1, p.b1), h_gelu), p.w2, p.b2);
  return h_add(x1, f);
}

struct DeviceBlock {
  int64_t heads = 0;
  Tensor ln1_g, ln1_b, wq, bq, wk, bk, wv, bv, wo, bo, ln2_g, ln2_b, w1, b1, w2, b2;
};

inline DeviceBlock block_upload(Runtime& rt, const BlockParams& p, DType dtype) {
  DeviceBlock d;
  d.heads = p.heads;
  const std::pair<Tensor*, const HostTensor*> all[] = {
      {&d.ln1_g, &p.ln1_g}, {&d.ln1_b, &p.ln1_b}, {&d.wq, &p.wq}, {&d.bq, &p.bq}, {&d.wk, &p.wk}, {&d.bk, &p.bk},
      {&d.wv, &p.wv},       {&d.bv, &p.bv},       {&d.wo, &p.wo}, {&d.bo, &p.bo}, {&d.ln2_g, &p.ln2_g},
      {&d.ln2_b, &p.ln2_b}, {&d.w1, &p.w1},       {&d.b1, &p.b1}, {&d.w2, &p.w2}, {&d.b2, &p.b2}};
  for (const auto& [dst, src] : all) *dst = upload(rt, *src, dtype);
  return d;
}

inline Tensor block_device(const DeviceBlock& p, const Tensor& x) {
  const int64_t bsz = x.dim(0), t = x.dim(1), d = x.dim(2), h = p.heads;
  const Tensor n1 = take(layer_norm(x, 1, p.ln1_g, p.ln1_b));
  auto heads = [&](const Tensor& w, const Tensor& b) {
    return take(take(take(linear(n1, w, b)).reshape({bsz, t, h, d / h})).permute({0, 2, 1, 3}));
  };
  const Tensor q = heads(p.wq, p.bq), k = heads(p.wk, p.bk), v = heads(p.wv, p.bv);
  const Tensor attn = take(take(take(scaled_dot_product_attention(q, k, v)).permute({0, 2, 1, 3})).reshape({bsz, t, d}));
  const Tensor x1 = take(add(x, take(linear(attn, p.wo, p.bo))));
  const Tensor f = take(linear(take(gelu(take(linear(take(layer_norm(x1, 1, p.ln2_g, p.ln2_b)), p.w1, p.b1)))), p.w2, p.b2));
  return take(add(x1, f));
}

}  // namespace kiln::runtime::testing
