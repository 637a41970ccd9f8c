// Matrix-engine ops (matmul, linear, conv2d), pooling, reductions, softmax,
// norms and attention in bf16 and fp16, eager and lazy, against host
// references in double from the dtype-rounded inputs. Tolerances: ops_dtype.h.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "ops_dtype.h"

namespace kiln::runtime::testing {
namespace {

class OpsDtypeNn : public OpsDtype {};

TEST_P(OpsDtypeNn, MatmulBatchedBroadcastAndTransposed) {
  const HostTensor a = in(host_random({2, 3, 7, 40}, 8)), b = in(host_random({3, 40, 5}, 9));
  const Tensor ta = up(a);
  const Tensor c = take(matmul(ta, up(b)));
  ASSERT_EQ(c.dtype(), dt());
  expect_within(download(c), host_matmul(a, b),
                sum_bound(host_matmul(a, b), host_matmul(host_abs(a), host_abs(b)), 40), "matmul " + name());
  // b^T as a view: read in place (kTransposeB) or copied, the values hold.
  const HostTensor bt = in(host_random({3, 5, 40}, 10)), btt = host_transpose_last(bt);
  const HostTensor want = host_matmul(a, btt);
  expect_within(download(take(matmul(ta, take(up(bt).transpose(-1, -2))))), want,
                sum_bound(want, host_matmul(host_abs(a), host_abs(btt)), 40), "matmul transposed " + name());
}

TEST_P(OpsDtypeNn, LinearWithAndWithoutBias) {
  const HostTensor x = in(host_random({4, 6, 48}, 11)), w = in(host_random({12, 48}, 12)),
                   bias = in(host_random({12}, 13));
  const HostTensor wt = host_transpose_last(w), xw = host_matmul(x, wt);
  const HostTensor mag = host_matmul(host_abs(x), host_abs(wt));
  const Tensor tx = up(x), tw = up(w);
  expect_within(download(take(linear(tx, tw))), xw, sum_bound(xw, mag, 48), "linear " + name());
  const HostTensor want = host_map({&xw, &bias}, xw.shape, [](const auto& v) { return v[0] + v[1]; });
  // One rounding in both modes: eager linear is one GEMM with the bias in its
  // epilogue, as lazy mode's fuse_epilogue makes it (not a rounded product
  // plus a rounded add).
  const HostTensor bound = sum_bound(want, host_map({&mag, &bias}, mag.shape, [](const auto& v) {
                                       return v[0] + std::abs(v[1]);
                                     }), 48);
  expect_within(download(take(linear(tx, tw, up(bias)))), want, bound, "linear + bias " + name());
}

// fp16 products past 65504 accumulate in fp32; only the result is rounded.
TEST_P(OpsDtypeNn, MatmulAccumulatesInFp32) {
  HostTensor a = host_zeros({2, 2}), b = host_zeros({2, 2});
  a.v = {300, 300, 250, -250};
  b.v = {300, 300, -300, 1};
  HostTensor w = host_zeros({2, 2});
  w.v = {0, 90300, 150000, 74750};  // 0: partial products of 90000 cancel exactly in fp32
  for (double& v : w.v) v = round_to(dt(), v);  // fp16: the other three are inf
  if (dt() == DType::kF16) {
    EXPECT_TRUE(std::isinf(w[1]) && std::isinf(w[2]) && std::isinf(w[3]));
  }
  expect_within(download(take(matmul(up(a), up(b)))), w, rel_bound(w, 16, 0), "matmul near overflow " + name());
}

TEST_P(OpsDtypeNn, Conv2dStridePadDilationGroupsAndBias) {
  struct Case {
    const char* name;
    Shape x, w;
    Conv2dOptions o;
    bool bias;
  };
  std::vector<Case> cases;
  Conv2dOptions o;
  o.stride_h = 2;
  o.pad_h = 1;
  o.pad_w = 2;
  o.dilation_w = 2;
  cases.push_back({"stride/pad/dilation + bias", {2, 3, 9, 8}, {4, 3, 3, 2}, o, true});
  Conv2dOptions g;
  g.groups = 2;
  g.pad_h = g.pad_w = 1;
  cases.push_back({"groups 2", {1, 4, 6, 7}, {6, 2, 3, 3}, g, true});
  Conv2dOptions dw;
  dw.groups = 6;
  dw.stride_h = dw.stride_w = 2;
  dw.pad_h = 0;
  dw.pad_w = 1;
  dw.pad_bottom = 1;
  dw.pad_right = 0;
  dw.dilation_h = 2;
  cases.push_back({"depthwise, asymmetric pads, dilation", {2, 6, 10, 9}, {6, 1, 3, 3}, dw, false});
  uint32_t seed = 40;
  for (const Case& c : cases) {
    const HostTensor x = in(host_random(c.x, seed++)), w = in(host_random(c.w, seed++, -0.5, 0.5));
    const HostTensor bias = in(host_random({c.w[0]}, seed++));
    const HostTensor want = host_conv(x, w, c.bias ? &bias : nullptr, c.o);
    const HostTensor abs_bias = host_abs(bias);
    const HostTensor mag = host_conv(host_abs(x), host_abs(w), c.bias ? &abs_bias : nullptr, c.o);
    const Tensor y = take(conv2d(up(x), up(w), c.bias ? std::optional<Tensor>(up(bias)) : std::nullopt, c.o));
    ASSERT_EQ(y.dtype(), dt());
    expect_within(download(y), want, sum_bound(want, mag, c.w[1] * c.w[2] * c.w[3]), std::string(c.name) + " " + name());
  }
}

TEST_P(OpsDtypeNn, PoolingMaxAvgAndGlobal) {
  const HostTensor x = in(host_random({2, 3, 7, 6}, 17));
  Pool2dOptions o;
  o.kernel_h = 3;
  o.kernel_w = 2;
  o.stride_h = 2;
  o.stride_w = 2;
  o.pad_h = 1;
  const int64_t p = (7 + 2 - 3) / 2 + 1, q = (6 - 2) / 2 + 1;
  HostTensor mx = host_zeros({2, 3, p, q}), av = mx, av_mag = mx;
  for (int64_t nc = 0; nc < 6; ++nc)
    for (int64_t pi = 0; pi < p; ++pi)
      for (int64_t qi = 0; qi < q; ++qi) {
        double best = -INFINITY, sum = 0, mag = 0;
        int count = 0;
        for (int64_t r = 0; r < 3; ++r)
          for (int64_t s = 0; s < 2; ++s) {
            const int64_t hi = pi * 2 - 1 + r, wi = qi * 2 + s;
            if (hi < 0 || hi >= 7 || wi >= 6) continue;
            const double v = x[(nc * 7 + hi) * 6 + wi];
            best = std::max(best, v);
            sum += v;
            mag += std::abs(v);
            ++count;
          }
        const int64_t at = (nc * p + pi) * q + qi;
        mx[at] = best;
        av[at] = sum / count;
        av_mag[at] = mag / count;
      }
  const Tensor tx = up(x);
  expect_exact(take(max_pool2d(tx, o)), mx, "max_pool2d");
  expect_within(download(take(avg_pool2d(tx, o))), av, sum_bound(av, av_mag, 6), "avg_pool2d " + name());
  HostTensor gmax = host_zeros({2, 3, 1, 1}), gavg = gmax, gmag = gmax;
  for (int64_t nc = 0; nc < 6; ++nc) {
    double best = -INFINITY, sum = 0, mag = 0;
    for (int64_t i = 0; i < 42; ++i) {
      best = std::max(best, x[nc * 42 + i]);
      sum += x[nc * 42 + i];
      mag += std::abs(x[nc * 42 + i]);
    }
    gmax[nc] = best;
    gavg[nc] = sum / 42;
    gmag[nc] = mag / 42;
  }
  expect_exact(take(global_max_pool2d(tx)), gmax, "global_max_pool2d");
  expect_within(download(take(global_avg_pool2d(tx))), gavg, sum_bound(gavg, gmag, 42), "global_avg_pool2d " + name());
}

TEST_P(OpsDtypeNn, ReductionsOverOneAndSeveralDims) {
  const HostTensor x = in(host_random({6, 8, 10}, 18));
  const HostTensor ax = host_abs(x);
  const Tensor tx = up(x);
  auto sum_f = [](const std::vector<double>& g) { return std::accumulate(g.begin(), g.end(), 0.0); };
  auto mean_f = [&](const std::vector<double>& g) { return sum_f(g) / static_cast<double>(g.size()); };
  auto max_f = [](const std::vector<double>& g) { return *std::max_element(g.begin(), g.end()); };
  auto min_f = [](const std::vector<double>& g) { return *std::min_element(g.begin(), g.end()); };
  struct Case {
    const char* name;
    std::vector<int> dims;  // sorted, non-negative
    bool keepdim, mean;
  };
  for (const Case& c : {Case{"sum -1", {2}, false, false}, Case{"sum 0,2", {0, 2}, true, false},
                        Case{"sum all", {0, 1, 2}, false, false}, Case{"mean 1", {1}, false, true},
                        Case{"mean 0,2", {0, 2}, false, true}}) {
    int64_t k = 1;
    for (int d : c.dims) k *= x.shape[static_cast<std::size_t>(d)];
    const HostTensor want = host_reduce(x, c.dims, c.keepdim, c.mean ? std::function(mean_f) : std::function(sum_f));
    const HostTensor mag = host_reduce(ax, c.dims, c.keepdim, c.mean ? std::function(mean_f) : std::function(sum_f));
    const Tensor got = take(c.mean ? mean(tx, c.dims, c.keepdim) : sum(tx, c.dims, c.keepdim));
    ASSERT_EQ(got.dtype(), dt()) << c.name;
    expect_within(download(got), want, sum_bound(want, mag, k), std::string(c.name) + " " + name());
  }
  expect_exact(take(amax(tx, {0, 1})), host_reduce(x, {0, 1}, false, max_f), "amax");
  expect_exact(take(amin(tx, {})), host_reduce(x, {0, 1, 2}, false, min_f), "amin all");
  // Ties (common after rounding to 16 bits) keep the first index.
  HostTensor coarse = x;
  for (double& v : coarse.v) v = std::round(v * 4) / 4;
  const Tensor tc = up(coarse);
  auto first_max = [](const std::vector<double>& g) {
    return static_cast<double>(std::max_element(g.begin(), g.end()) - g.begin());
  };
  auto first_min = [](const std::vector<double>& g) {
    return static_cast<double>(std::min_element(g.begin(), g.end()) - g.begin());
  };
  const auto am = take(take(argmax(tc, 1)).to_host<int32_t>());
  const HostTensor want_max = host_reduce(coarse, {1}, false, first_max);
  ASSERT_EQ(am.size(), want_max.v.size());
  for (std::size_t i = 0; i < am.size(); ++i) EXPECT_EQ(am[i], want_max.v[i]) << "argmax " << i << " " << name();
  const auto an = take(take(argmin(tc, -1, true)).to_host<int32_t>());
  const HostTensor want_min = host_reduce(coarse, {2}, true, first_min);
  for (std::size_t i = 0; i < an.size(); ++i) EXPECT_EQ(an[i], want_min.v[i]) << "argmin " << i << " " << name();
}

// Sums accumulate in fp32: partial sums past fp16's range are fine; a result
// past it rounds to inf.
TEST_P(OpsDtypeNn, SumsNearTheFp16Range) {
  HostTensor x = host_zeros({3, 4});
  x.v = {60000, 60000, -60000, -59000, 40000, 30000, 1, 2, 60000, 60000, 60000, 60000};
  x = in(x);
  const Tensor tx = up(x);
  HostTensor s = host_zeros({3}), m = host_zeros({3});
  for (int64_t r = 0; r < 3; ++r) {
    for (int64_t i = 0; i < 4; ++i) s[r] += x[r * 4 + i];
    m[r] = round_to(dt(), s[r] / 4);
    s[r] = round_to(dt(), s[r]);
  }
  if (dt() == DType::kF16) {
    EXPECT_TRUE(std::isfinite(s[0]) && std::isinf(s[1]) && std::isfinite(m[2]));
  }
  expect_within(download(take(sum(tx, {1}))), s, rel_bound(s, 16, 0), "sum near overflow " + name());
  expect_within(download(take(mean(tx, {1}))), m, rel_bound(m, 16, 0), "mean near overflow " + name());
}

TEST_P(OpsDtypeNn, SoftmaxAndLogSoftmaxAlongAnyDim) {
  const HostTensor x = in(host_random({3, 6, 70}, 19, -4, 4));
  const Tensor tx = up(x);
  for (int dim : {2, 1}) {
    const HostTensor want = host_along(x, dim, softmax_line);
    const int64_t k = x.shape[static_cast<std::size_t>(dim)];
    expect_within(download(take(softmax(tx, dim == 2 ? -1 : dim))), want,
                  rel_bound(want, static_cast<double>(k + 16)), "softmax " + std::to_string(dim) + " " + name());
  }
  // log_softmax = (x - m) - log(s): bound by the magnitudes of both terms.
  auto log_line = [](std::vector<double> v) {
    const double m = *std::max_element(v.begin(), v.end());
    double s = 0;
    for (double e : v) s += std::exp(e - m);
    for (double& e : v) e = e - m - std::log(s);
    return v;
  };
  auto mag_line = [](std::vector<double> v) {
    const double m = *std::max_element(v.begin(), v.end());
    double s = 0;
    for (double e : v) s += std::exp(e - m);
    for (double& e : v) e = (8 * (std::abs(e - m) + std::abs(std::log(s))) + static_cast<double>(v.size())) * kF32Ulp;
    return v;
  };
  const HostTensor want = host_along(x, 0, log_line), e = host_along(x, 0, mag_line);
  HostTensor bound = rel_bound(want, 0);
  for (int64_t i = 0; i < bound.size(); ++i) bound[i] += e[i];
  expect_within(download(take(log_softmax(tx, 0))), want, bound, "log_softmax 0 " + name());
  // Inputs near fp16's range: the max is subtracted first.
  HostTensor big = host_zeros({2, 3});
  big.v = {60000, 59990, 59000, -60000, -59968, -65504};
  big = in(big);
  const HostTensor wb = host_along(big, 1, softmax_line);
  expect_within(download(take(softmax(up(big), -1))), wb, rel_bound(wb, 24), "softmax near overflow " + name());
}

TEST_P(OpsDtypeNn, LayerRmsAndBatchNorm) {
  const HostTensor x = in(host_random({2, 3, 40}, 20, -2, 2)), g = in(host_random({3, 40}, 21)),
                   b = in(host_random({3, 40}, 22));
  const int64_t k = 120;
  HostTensor ln = x, ln_mag = x, rms = x;
  for (int64_t row = 0; row < 2; ++row) {
    double mean = 0, sq = 0, ms = 0;
    for (int64_t i = 0; i < k; ++i) mean += x[row * k + i] / k;
    for (int64_t i = 0; i < k; ++i) sq += (x[row * k + i] - mean) * (x[row * k + i] - mean) / k;
    for (int64_t i = 0; i < k; ++i) ms += x[row * k + i] * x[row * k + i] / k;
    const double inv = 1 / std::sqrt(sq + 1e-5), rinv = 1 / std::sqrt(ms + 1e-6);
    for (int64_t i = 0; i < k; ++i) {
      const double xhat_g = (x[row * k + i] - mean) * inv * g[i];
      ln[row * k + i] = xhat_g + b[i];
      ln_mag[row * k + i] = std::abs(xhat_g) + std::abs(b[i]);
      rms[row * k + i] = x[row * k + i] * rinv * g[i];
    }
  }
  const Tensor tx = up(x), tg = up(g), tb = up(b);
  HostTensor ln_bound = rel_bound(ln, 0);
  for (int64_t i = 0; i < ln.size(); ++i) ln_bound[i] += static_cast<double>(2 * k + 16) * kF32Ulp * ln_mag[i];
  expect_within(download(take(layer_norm(tx, 2, tg, tb))), ln, ln_bound, "layer_norm " + name());
  expect_rel(take(rms_norm(tx, 2, tg)), rms, "rms_norm", static_cast<double>(k + 16));

  const HostTensor y = in(host_random({2, 3, 4, 70}, 23)), mean = in(host_random({3}, 24)),
                   var = in(host_random({3}, 25, 0.5, 2)), scale = in(host_random({3}, 26)),
                   bias = in(host_random({3}, 27));
  HostTensor bn = y, bn_bound = y;
  for (int64_t i = 0; i < y.size(); ++i) {
    const int64_t c = (i / 280) % 3;
    const double a = scale[c] / std::sqrt(var[c] + 1e-5);
    bn[i] = (y[i] - mean[c]) * a + bias[c];
    bn_bound[i] = u() * std::abs(bn[i]) + 16 * kF32Ulp * (std::abs(y[i] * a) + std::abs(mean[c] * a) + std::abs(bias[c])) +
                  kFloor;
  }
  expect_within(download(take(batch_norm(up(y), up(mean), up(var), up(scale), up(bias)))), bn, bn_bound,
                "batch_norm " + name());
}

// Four rounded steps: scores = q k^T, scores * scale (scale rounded to the
// dtype), softmax, p v. Scores off by d (absolute) move p by up to 2d
// (relative); so |out - want| <= u |want| + (4 u max|scaled scores| + 2u)
// * sum_j p_j |v_j| (+ the fp32 terms).
TEST_P(OpsDtypeNn, AttentionIsSoftmaxOfScaledScoresTimesValues) {
  const HostTensor q = in(host_random({2, 5, 8}, 32)), k = in(host_random({2, 7, 8}, 33)),
                   v = in(host_random({2, 7, 6}, 34));
  HostTensor scores = host_matmul(q, host_transpose_last(k));
  const double scale = round_to(dt(), 1 / std::sqrt(8.0));
  double max_score = 0;
  for (double& s : scores.v) max_score = std::max(max_score, std::abs(s *= scale));
  const HostTensor p = host_along(scores, 2, softmax_line);
  const HostTensor want = host_matmul(p, v), mag = host_matmul(p, host_abs(v));
  HostTensor bound = sum_bound(want, mag, 8 + 7 + 8);
  for (int64_t i = 0; i < bound.size(); ++i) bound[i] += (4 * u() * max_score + 2 * u()) * mag[i];
  expect_within(download(take(scaled_dot_product_attention(up(q), up(k), up(v)))), want, bound,
                "attention " + name());
}

INSTANTIATE_TEST_SUITE_P(Runtime, OpsDtypeNn, dtype_cases(), dtype_case_name);

}  // namespace
}  // namespace kiln::runtime::testing
