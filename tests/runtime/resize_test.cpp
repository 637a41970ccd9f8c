// resize in eager and lazy mode: values PyTorch documents, every mode
// combination against an ONNX Resize reference in double (f32 here; bf16 and
// fp16 with the tolerances of ops_dtype.h), scale factors, argument errors
// and bucketing.
#include <gtest/gtest.h>

#include <array>
#include <optional>

#include "ops_dtype.h"

namespace kiln::runtime::testing {
namespace {

// ONNX Resize over H and W of an NCHW tensor. With sizes the scale is out /
// in; (x + 0.5) / scale is computed as (x + 0.5) * in / out so exact ties stay
// exact. Linear reads the edge-padded neighbours floor(x) and floor(x) + 1.
double source(ResizeCoord coord, int64_t x, int64_t in, int64_t out, std::optional<double> scale) {
  const double xd = static_cast<double>(x), n_in = static_cast<double>(in), n_out = static_cast<double>(out);
  switch (coord) {
    case ResizeCoord::kAlignCorners: return out == 1 ? 0.0 : xd * (n_in - 1) / (n_out - 1);
    case ResizeCoord::kAsymmetric: return scale ? xd / *scale : xd * n_in / n_out;
    case ResizeCoord::kPytorchHalfPixel:
      if (out == 1) return 0.0;
      break;
    case ResizeCoord::kHalfPixel: break;
  }
  return scale ? (xd + 0.5) / *scale - 0.5 : (xd + 0.5) * n_in / n_out - 0.5;
}

int64_t clamp_index(double i, int64_t in) { return std::clamp<int64_t>(static_cast<int64_t>(i), 0, in - 1); }

int64_t nearest_of(ResizeNearest m, double x, int64_t in) {
  switch (m) {
    case ResizeNearest::kRoundPreferCeil: return clamp_index(std::floor(x + 0.5), in);
    case ResizeNearest::kFloor: return clamp_index(std::floor(x), in);
    case ResizeNearest::kCeil: return clamp_index(std::ceil(x), in);
    case ResizeNearest::kRoundPreferFloor: break;
  }
  return clamp_index(std::ceil(x - 0.5), in);
}

// The result and, for the dtype bounds, the sum of |weight * tap| per element.
struct Resized {
  HostTensor want, magnitude;
};

Resized host_resize(const HostTensor& x, int64_t oh, int64_t ow, ResizeMode mode, ResizeCoord coord,
                    ResizeNearest nearest, std::optional<std::array<double, 2>> scales = std::nullopt) {
  const int64_t n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3];
  Resized r{host_zeros({n, c, oh, ow}), host_zeros({n, c, oh, ow})};
  const auto in_at = [&](int64_t p, int64_t yy, int64_t xx) { return x[(p * h + yy) * w + xx]; };
  for (int64_t p = 0; p < n * c; ++p) {
    for (int64_t y = 0; y < oh; ++y) {
      const double sy = source(coord, y, h, oh, scales ? std::optional<double>((*scales)[0]) : std::nullopt);
      for (int64_t xo = 0; xo < ow; ++xo) {
        const double sx = source(coord, xo, w, ow, scales ? std::optional<double>((*scales)[1]) : std::nullopt);
        const int64_t at = (p * oh + y) * ow + xo;
        if (mode == ResizeMode::kNearest) {
          r.want[at] = in_at(p, nearest_of(nearest, sy, h), nearest_of(nearest, sx, w));
          continue;
        }
        const double fy = std::floor(sy), fx = std::floor(sx), wy = sy - fy, wx = sx - fx;
        double sum = 0, mag = 0;
        for (int dy = 0; dy < 2; ++dy) {
          for (int dx = 0; dx < 2; ++dx) {
            const double t = (dy ? wy : 1 - wy) * (dx ? wx : 1 - wx) *
                             in_at(p, clamp_index(fy + dy, h), clamp_index(fx + dx, w));
            sum += t;
            mag += std::abs(t);
          }
        }
        r.want[at] = sum;
        r.magnitude[at] = mag;
      }
    }
  }
  return r;
}

constexpr ResizeCoord kCoords[] = {ResizeCoord::kHalfPixel, ResizeCoord::kAlignCorners, ResizeCoord::kAsymmetric,
                                   ResizeCoord::kPytorchHalfPixel};
constexpr ResizeNearest kNearests[] = {ResizeNearest::kRoundPreferFloor, ResizeNearest::kRoundPreferCeil,
                                       ResizeNearest::kFloor, ResizeNearest::kCeil};

std::string label(ResizeMode m, ResizeCoord c, ResizeNearest n, int64_t oh, int64_t ow) {
  std::string s = m == ResizeMode::kLinear ? "linear" : "nearest";
  s += " coord " + std::to_string(static_cast<int>(c)) + " nearest " + std::to_string(static_cast<int>(n));
  s += " to " + std::to_string(oh) + "x" + std::to_string(ow);
  return s;
}

class Resize : public ::testing::TestWithParam<Mode> {
 protected:
  void SetUp() override {
    RuntimeOptions o;
    o.mode = GetParam();
    rt_ = take(Runtime::open("tiny", o));
  }
  Runtime& rt() { return *rt_; }
  std::unique_ptr<Runtime> rt_;
};

HostTensor host_of(Shape shape, std::vector<double> v) { return HostTensor{std::move(shape), std::move(v)}; }

// F.interpolate of [[1, 2], [3, 4]] as PyTorch documents and prints it.
TEST_P(Resize, MatchesPyTorchOnAKnownInput) {
  const Tensor x = upload(rt(), host_of({1, 1, 2, 2}, {1, 2, 3, 4}));
  // mode='bilinear', align_corners=False.
  expect_close(download(take(resize(x, {4, 4}, ResizeMode::kLinear))),
               host_of({1, 1, 4, 4}, {1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4}),
               1e-6, 1e-6, "bilinear half_pixel");
  // align_corners=True: thirds.
  const double t = 1.0 / 3;
  expect_close(download(take(resize(x, {4, 4}, ResizeMode::kLinear, ResizeCoord::kAlignCorners))),
               host_of({1, 1, 4, 4}, {1, 1 + t, 1 + 2 * t, 2, 1 + 2 * t, 2, 2 + t, 2 + 2 * t, 2 + t, 2 + 2 * t, 3,
                                      3 + t, 3, 3 + t, 3 + 2 * t, 4}),
               1e-6, 1e-6, "bilinear align_corners");
  // mode='nearest' (floor of dst * in / out) and scale_factor=2 of both.
  const HostTensor nearest = host_of({1, 1, 4, 4}, {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4});
  expect_close(download(take(resize(x, {4, 4}, ResizeMode::kNearest, ResizeCoord::kAsymmetric, ResizeNearest::kFloor))),
               nearest, 0, 0, "nearest");
  expect_close(download(take(resize_scale(x, {2.0, 2.0}, ResizeMode::kNearest, ResizeCoord::kAsymmetric,
                                          ResizeNearest::kFloor))),
               nearest, 0, 0, "nearest scale_factor 2");
  expect_close(download(take(resize_scale(x, {2.0, 2.0}, ResizeMode::kLinear))),
               host_of({1, 1, 4, 4}, {1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4}),
               1e-6, 1e-6, "bilinear scale_factor 2");
  // Shrinking [1, 2, 3, 4] to 2 samples at 0.5 and 2.5: 1.5 and 3.5.
  const Tensor row = upload(rt(), host_of({1, 1, 1, 4}, {1, 2, 3, 4}));
  expect_close(download(take(resize(row, {1, 2}, ResizeMode::kLinear))), host_of({1, 1, 1, 2}, {1.5, 3.5}), 1e-6,
               1e-6, "bilinear downsample");
  // 'nearest-exact' (half_pixel, round half up) of 3 -> 2 picks 0 and 2;
  // 'nearest' picks 0 and 1.
  const Tensor three = upload(rt(), host_of({1, 1, 1, 3}, {10, 20, 30}));
  expect_close(download(take(resize(three, {1, 2}, ResizeMode::kNearest, ResizeCoord::kHalfPixel,
                                    ResizeNearest::kRoundPreferCeil))),
               host_of({1, 1, 1, 2}, {10, 30}), 0, 0, "nearest-exact");
  expect_close(download(take(resize(three, {1, 2}, ResizeMode::kNearest, ResizeCoord::kAsymmetric,
                                    ResizeNearest::kFloor))),
               host_of({1, 1, 1, 2}, {10, 20}), 0, 0, "nearest 3 -> 2");
}

TEST_P(Resize, EveryModeUpAndDownAgainstOnnx) {
  const HostTensor x = host_random({2, 3, 5, 4}, 31);
  const Tensor tx = upload(rt(), x);
  for (const std::array<int64_t, 2> size : {std::array<int64_t, 2>{7, 9}, std::array<int64_t, 2>{3, 2},
                                            std::array<int64_t, 2>{1, 1}}) {
    for (ResizeCoord c : kCoords) {
      const Resized lin = host_resize(x, size[0], size[1], ResizeMode::kLinear, c, ResizeNearest::kFloor);
      const Tensor y = take(resize(tx, size, ResizeMode::kLinear, c));
      EXPECT_EQ(y.shape(), (Shape{2, 3, size[0], size[1]}));
      expect_close(download(y), lin.want, 1e-6, 1e-5, label(ResizeMode::kLinear, c, kNearests[0], size[0], size[1]));
      for (ResizeNearest n : kNearests) {
        expect_close(download(take(resize(tx, size, ResizeMode::kNearest, c, n))),
                     host_resize(x, size[0], size[1], ResizeMode::kNearest, c, n).want, 0, 0,
                     label(ResizeMode::kNearest, c, n, size[0], size[1]));
      }
    }
  }
}

// scale_factor: the size is floor(in * scale) and the coordinates divide by
// the scale (5 * 1.5 -> 7, but the scale stays 1.5, not 7 / 5).
TEST_P(Resize, ScaleFactorsDivideByTheGivenScale) {
  const HostTensor x = host_random({1, 2, 4, 5}, 32);
  const Tensor tx = upload(rt(), x);
  for (ResizeCoord c : {ResizeCoord::kHalfPixel, ResizeCoord::kAsymmetric}) {
    const Tensor y = take(resize_scale(tx, {0.75, 1.5}, ResizeMode::kLinear, c));
    EXPECT_EQ(y.shape(), (Shape{1, 2, 3, 7}));
    expect_close(download(y), host_resize(x, 3, 7, ResizeMode::kLinear, c, kNearests[0], {{0.75, 1.5}}).want, 1e-6,
                 1e-5, "linear scales");
    for (ResizeNearest n : kNearests) {
      expect_close(download(take(resize_scale(tx, {0.75, 1.5}, ResizeMode::kNearest, c, n))),
                   host_resize(x, 3, 7, ResizeMode::kNearest, c, n, {{0.75, 1.5}}).want, 0, 0, "nearest scales");
    }
  }
}

TEST_P(Resize, BadArgumentsFailNamingTheOpAndRecordNothing) {
  const Tensor x = upload(rt(), host_random({1, 2, 3, 4}, 33));
  const Tensor flat = upload(rt(), host_random({2, 3, 4}, 34));
  const Tensor ints = take(cast(x, DType::kI32));
  const uint64_t recorded = rt().stats().ops_recorded, eager = rt().stats().ops_eager;
  const auto expect_error = [](const Result<Tensor>& r, const std::string& needle) {
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("resize"), std::string::npos) << r.status().to_string();
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().to_string();
  };
  expect_error(resize(flat, {4, 4}), "f32[2, 3, 4]");
  expect_error(resize(ints, {4, 4}), "i32[1, 2, 3, 4]");
  expect_error(resize(x, {0, 4}), "f32[1, 2, 3, 4] to [0, 4]");
  expect_error(resize(x, {4, int64_t{1} << 25}), "1..2^24");
  expect_error(resize(x, {4, 4}, static_cast<ResizeMode>(7)), "unknown mode 7");
  expect_error(resize_scale(x, {-1.0, 2.0}), "scales must be finite");
  expect_error(resize_scale(x, {std::nan(""), 2.0}), "scales must be finite");
  expect_error(resize_scale(x, {0.1, 2.0}), "to [0, 8]");  // floor(3 * 0.1) = 0
  EXPECT_EQ(rt().stats().ops_recorded, recorded);
  EXPECT_EQ(rt().stats().ops_eager, eager);
}

INSTANTIATE_TEST_SUITE_P(Modes, Resize, ::testing::Values(Mode::kEager, Mode::kLazy),
                         [](const ::testing::TestParamInfo<Mode>& p) {
                           return std::string(p.param == Mode::kEager ? "Eager" : "Lazy");
                         });

// bf16 and fp16: nearest copies values (exact); linear is a sum of four
// weighted taps computed in fp32 and rounded once (ops_dtype.h's sum bound).
class ResizeDtype : public OpsDtype {};

TEST_P(ResizeDtype, EveryModeWithinOneRounding) {
  const HostTensor x = in(host_random({2, 3, 5, 6}, 35, -4, 4));
  const Tensor tx = up(x);
  for (const std::array<int64_t, 2> size : {std::array<int64_t, 2>{8, 13}, std::array<int64_t, 2>{2, 4}}) {
    for (ResizeCoord c : kCoords) {
      const Resized lin = host_resize(x, size[0], size[1], ResizeMode::kLinear, c, ResizeNearest::kFloor);
      const Tensor y = take(resize(tx, size, ResizeMode::kLinear, c));
      ASSERT_EQ(y.dtype(), dt());
      expect_within(download(y), lin.want, sum_bound(lin.want, lin.magnitude, 4),
                    label(ResizeMode::kLinear, c, kNearests[0], size[0], size[1]) + " " + name());
      for (ResizeNearest n : kNearests) {
        expect_exact(take(resize(tx, size, ResizeMode::kNearest, c, n)),
                     host_resize(x, size[0], size[1], ResizeMode::kNearest, c, n).want,
                     label(ResizeMode::kNearest, c, n, size[0], size[1]));
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, ResizeDtype, dtype_cases(), dtype_case_name);

// Each image is resized on its own: a dynamic batch is bucketed, and the
// real rows are those of the unpadded step.
TEST(ResizeBucketing, KeepsBatchRowsIndependent) {
  RuntimeOptions o;
  o.mode = Mode::kLazy;
  o.batch_buckets = {4, 8};
  auto rt = take(Runtime::open("tiny", o));
  const HostTensor x = host_random({3, 2, 5, 4}, 36);
  Tensor tx = upload(*rt, x);
  ASSERT_TRUE(tx.mark_dynamic_batch().ok());
  const Tensor y = take(relu(take(resize(tx, {7, 6}, ResizeMode::kLinear))));
  ASSERT_TRUE(rt->mark_step().ok());
  EXPECT_EQ(rt->stats().bucketed_steps, 1u) << rt->stats().last_bucketing;
  EXPECT_EQ(y.shape(), (Shape{3, 2, 7, 6}));
  HostTensor want = host_resize(x, 7, 6, ResizeMode::kLinear, ResizeCoord::kHalfPixel, ResizeNearest::kFloor).want;
  for (double& v : want.v) v = std::max(v, 0.0);
  expect_close(download(y), want, 1e-6, 1e-5, "bucketed resize");
}

}  // namespace
}  // namespace kiln::runtime::testing
