// CNN building blocks end to end against host references: conv + batch norm
// + relu, and a depthwise-separable block (a depthwise 3x3 with stride and
// asymmetric pads, then a pointwise 1x1 with bias), in eager and lazy mode
// and in fp32, bf16 and fp16.
#include <gtest/gtest.h>

#include "blocks.h"

namespace kiln::runtime::testing {
namespace {

struct Pads {
  int64_t top = 0, bottom = 0, left = 0, right = 0;
};

// x [N, C, H, W], w [K, C/groups, R, S], b [K] (or empty).
HostTensor h_conv2d(const HostTensor& x, const HostTensor& w, const HostTensor& b, int64_t stride, Pads pad,
                    int64_t groups) {
  const int64_t n = x.shape[0], c = x.shape[1], h = x.shape[2], wd = x.shape[3];
  const int64_t k = w.shape[0], cg = w.shape[1], r = w.shape[2], s = w.shape[3];
  const int64_t p = (h + pad.top + pad.bottom - r) / stride + 1, q = (wd + pad.left + pad.right - s) / stride + 1;
  const int64_t kg = k / groups;
  HostTensor y = host_zeros({n, k, p, q});
  for (int64_t in = 0; in < n; ++in)
    for (int64_t ok = 0; ok < k; ++ok)
      for (int64_t op = 0; op < p; ++op)
        for (int64_t oq = 0; oq < q; ++oq) {
          double acc = b.v.empty() ? 0 : b[ok];
          const int64_t g = ok / kg;
          for (int64_t ic = 0; ic < cg; ++ic)
            for (int64_t fr = 0; fr < r; ++fr)
              for (int64_t fs = 0; fs < s; ++fs) {
                const int64_t ih = op * stride + fr - pad.top, iw = oq * stride + fs - pad.left;
                if (ih < 0 || ih >= h || iw < 0 || iw >= wd) continue;
                acc += x[((in * c + g * cg + ic) * h + ih) * wd + iw] * w[((ok * cg + ic) * r + fr) * s + fs];
              }
          y[((in * k + ok) * p + op) * q + oq] = acc;
        }
  (void)c;
  return y;
}

HostTensor h_batch_norm_relu(HostTensor x, const HostTensor& mean, const HostTensor& var, const HostTensor& g,
                             const HostTensor& b, bool relu, double eps = 1e-5) {
  const int64_t c = x.shape[1], inner = x.shape[2] * x.shape[3];
  for (int64_t i = 0; i < x.size(); ++i) {
    const int64_t ch = (i / inner) % c;
    double v = (x[i] - mean[ch]) / std::sqrt(var[ch] + eps) * g[ch] + b[ch];
    x[i] = relu ? std::max(v, 0.0) : v;
  }
  return x;
}

struct Case {
  Mode mode;
  DType dtype;
  double tol;
};

class CnnBlocks : public ::testing::TestWithParam<Case> {
 protected:
  std::unique_ptr<Runtime> open() {
    RuntimeOptions o;
    o.mode = GetParam().mode;
    return take(Runtime::open("tiny", o));
  }
  HostTensor in(const HostTensor& t) const { return rounded(GetParam().dtype, t); }
};

TEST_P(CnnBlocks, ConvBatchNormReluMatchesTheHost) {
  const auto [mode, dtype, tol] = GetParam();
  auto rt = open();
  const HostTensor x = host_random({2, 3, 9, 9}, 1), w = host_random({4, 3, 3, 3}, 2, -0.4, 0.4);
  const HostTensor mean = host_random({4}, 3, -0.2, 0.2), var = host_random({4}, 4, 0.5, 1.5),
                   g = host_random({4}, 5, 0.8, 1.2), b = host_random({4}, 6, -0.1, 0.1);
  Conv2dOptions o;
  o.pad_h = o.pad_w = 1;
  o.stride_h = o.stride_w = 2;
  const Tensor y = take(relu(take(batch_norm(
      take(conv2d(upload(*rt, x, dtype), upload(*rt, w, dtype), std::nullopt, o)), upload(*rt, mean, dtype),
      upload(*rt, var, dtype), upload(*rt, g, dtype), upload(*rt, b, dtype)))));
  ASSERT_TRUE(rt->mark_step().ok());
  const HostTensor want = h_batch_norm_relu(h_conv2d(in(x), in(w), {}, 2, {1, 1, 1, 1}, 1), in(mean), in(var), in(g),
                                            in(b), true);
  EXPECT_EQ(y.shape(), (Shape{2, 4, 5, 5}));
  expect_close(download(y), want, tol, tol, "conv+bn+relu");
}

TEST_P(CnnBlocks, DepthwiseSeparableBlockMatchesTheHost) {
  const auto [mode, dtype, tol] = GetParam();
  auto rt = open();
  const int64_t c = 6, k = 8;
  const HostTensor x = host_random({2, c, 10, 10}, 11), dw = host_random({c, 1, 3, 3}, 12, -0.5, 0.5);
  const HostTensor mean = host_random({c}, 13, -0.2, 0.2), var = host_random({c}, 14, 0.5, 1.5),
                   g = host_random({c}, 15, 0.8, 1.2), b = host_random({c}, 16, -0.1, 0.1);
  const HostTensor pw = host_random({k, c, 1, 1}, 17, -0.4, 0.4), pb = host_random({k}, 18, -0.1, 0.1);
  // Stride 2 with TensorFlow-style "same" padding: nothing on top/left, one row/column after.
  Conv2dOptions depthwise;
  depthwise.groups = c;
  depthwise.stride_h = depthwise.stride_w = 2;
  depthwise.pad_h = depthwise.pad_w = 0;
  depthwise.pad_bottom = depthwise.pad_right = 1;
  const Tensor d = take(relu(take(batch_norm(take(conv2d(upload(*rt, x, dtype), upload(*rt, dw, dtype), std::nullopt,
                                                                 depthwise)),
                                                 upload(*rt, mean, dtype), upload(*rt, var, dtype),
                                                 upload(*rt, g, dtype), upload(*rt, b, dtype)))));
  const Tensor y = take(relu(take(conv2d(d, upload(*rt, pw, dtype), upload(*rt, pb, dtype)))));
  ASSERT_TRUE(rt->mark_step().ok());
  const HostTensor hd = h_batch_norm_relu(h_conv2d(in(x), in(dw), {}, 2, {0, 1, 0, 1}, c), in(mean), in(var), in(g),
                                          in(b), true);
  HostTensor want = h_conv2d(hd, in(pw), in(pb), 1, {}, 1);
  for (double& v : want.v) v = std::max(v, 0.0);
  EXPECT_EQ(y.shape(), (Shape{2, k, 5, 5}));
  expect_close(download(y), want, tol, tol, "depthwise separable");
}

INSTANTIATE_TEST_SUITE_P(Runtime, CnnBlocks,
                         ::testing::Values(Case{Mode::kEager, DType::kF32, 1e-4}, Case{Mode::kLazy, DType::kF32, 1e-4},
                                           Case{Mode::kEager, DType::kBF16, 5e-2},
                                           Case{Mode::kLazy, DType::kBF16, 5e-2},
                                           Case{Mode::kEager, DType::kF16, 1e-2},
                                           Case{Mode::kLazy, DType::kF16, 1e-2}),
                         [](const auto& p) {
                           return std::string(p.param.mode == Mode::kEager ? "Eager" : "Lazy") +
                                  std::string(dtype_name(p.param.dtype));
                         });

}  // namespace
}  // namespace kiln::runtime::testing
