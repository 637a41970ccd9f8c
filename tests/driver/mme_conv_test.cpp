// Convolutions on the matrix engine: one table of cases -- grouped,
// depthwise, strided, dilated, asymmetrically padded, fp32, bf16 and fp16,
// with and without the epilogue -- against a direct double-precision
// convolution; and the implicit-GEMM timing, one GEMM per group.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "kiln/common/tf32.h"
#include "mme_test_util.h"

namespace kiln::driver {
namespace {
using testing::activate;

using testing::make_matrix;
using testing::take;

struct ConvCase {
  const char* name;
  uint32_t n, c, h, w, k, r, s, groups;
  uint32_t stride_h, stride_w, dilation_h, dilation_w;
  uint32_t pad_top, pad_bottom, pad_left, pad_right;
  DType in, out;  // input and weights; output
  mme::Activation act = mme::Activation::NONE;
  bool bias = false;
  bool residual = false;
  DType r_dtype = DType::kF32;
  bool tf32 = false;
  bool channels_last = false;  // input stored NHWC (kChannelsLastInput)
};

// The NCHW input `h` (n x c x hh x w) stored NHWC, bytes and values alike.
testing::HostMatrix to_nhwc(const testing::HostMatrix& h, uint32_t n, uint32_t c, uint32_t hh, uint32_t w, DType t) {
  testing::HostMatrix out = h;
  const uint64_t es = dtype_size(t);
  for (uint32_t b = 0; b < n; ++b)
    for (uint32_t ch = 0; ch < c; ++ch)
      for (uint32_t y = 0; y < hh; ++y)
        for (uint32_t x = 0; x < w; ++x) {
          const uint64_t from = ((uint64_t{b} * c + ch) * hh + y) * w + x, to = ((uint64_t{b} * hh + y) * w + x) * c + ch;
          out.values[to] = h.values[from];
          std::copy_n(h.bytes.begin() + static_cast<std::ptrdiff_t>(from * es), es,
                      out.bytes.begin() + static_cast<std::ptrdiff_t>(to * es));
        }
  return out;
}

class MmeConv : public ::testing::TestWithParam<ConvCase> {};

TEST_P(MmeConv, MatchesADirectConvolution) {
  const ConvCase cc = GetParam();
  auto dev = testing::open_device();
  Stream* stream = take(dev->create_stream());
  auto d = mme::conv2d_descriptor(cc.n, cc.c, cc.h, cc.w, cc.k, cc.r, cc.s, cc.in, cc.in, cc.out, cc.groups);
  d.stride_h = cc.stride_h, d.stride_w = cc.stride_w, d.dilation_h = cc.dilation_h, d.dilation_w = cc.dilation_w;
  d.pad_top = cc.pad_top, d.pad_bottom = cc.pad_bottom, d.pad_left = cc.pad_left, d.pad_right = cc.pad_right;
  d.activation = static_cast<uint8_t>(cc.act);
  const uint32_t P = mme::conv_out_extent(cc.h, cc.pad_top, cc.pad_bottom, cc.dilation_h, cc.r, cc.stride_h);
  const uint32_t Q = mme::conv_out_extent(cc.w, cc.pad_left, cc.pad_right, cc.dilation_w, cc.s, cc.stride_w);
  ASSERT_GT(P, 0u);
  ASSERT_GT(Q, 0u);
  const uint32_t cg = cc.c / cc.groups, kg = cc.k / cc.groups;  // channels per group, in and out
  const uint64_t out_count = uint64_t{cc.n} * cc.k * P * Q;
  auto hin = make_matrix(uint64_t{cc.n} * cc.c * cc.h * cc.w, cc.in, 4);
  auto hw = make_matrix(uint64_t{cc.k} * cg * cc.r * cc.s, cc.in, 5);
  auto hbias = make_matrix(cc.k, DType::kF32, 6), hr = make_matrix(out_count, cc.r_dtype, 7);
  auto in = testing::upload(*dev, cc.channels_last ? to_nhwc(hin, cc.n, cc.c, cc.h, cc.w, cc.in) : hin);
  auto w = testing::upload(*dev, hw), bias = testing::upload(*dev, hbias);
  auto r = testing::upload(*dev, hr);
  auto out = take(dev->allocate(out_count * dtype_size(cc.out)));
  d.a_addr = in.address, d.b_addr = w.address, d.c_addr = out.address;
  if (cc.bias) d.flags |= mme::kHasBias, d.bias_addr = bias.address;
  if (cc.residual) {
    d.flags |= mme::kHasResidual;
    d.r_dtype = static_cast<uint8_t>(cc.r_dtype), d.r_addr = r.address;
  }
  if (cc.tf32) d.flags |= mme::kTf32;
  if (cc.channels_last) d.flags |= mme::kChannelsLastInput;
  testing::launch_descriptor(*dev, *stream, d);
  const auto got = testing::read_back(*dev, out.address, out_count, cc.out);
  const auto input = [&](float v) { return cc.tf32 ? static_cast<double>(round_to_tf32(v)) : static_cast<double>(v); };

  // Within fp32 accumulation of (C/G)*R*S terms of magnitude <= 1, then the
  // output rounding.
  const double accumulate = 4.0 * cg * cc.r * cc.s * 6e-8 + 1e-6;
  const double ulps = cc.out == DType::kBF16 ? 1.0 / 256 : cc.out == DType::kF16 ? 1.0 / 1024 : 0;
  for (uint32_t n = 0; n < cc.n; ++n) {
    for (uint32_t k = 0; k < cc.k; ++k) {
      const uint32_t g = k / kg;
      for (uint32_t p = 0; p < P; ++p) {
        for (uint32_t q = 0; q < Q; ++q) {
          double acc = 0;
          for (uint32_t c = 0; c < cg; ++c) {
            for (uint32_t rr = 0; rr < cc.r; ++rr) {
              for (uint32_t ss = 0; ss < cc.s; ++ss) {
                const int64_t y = int64_t{p} * cc.stride_h - cc.pad_top + int64_t{rr} * cc.dilation_h;
                const int64_t x = int64_t{q} * cc.stride_w - cc.pad_left + int64_t{ss} * cc.dilation_w;
                if (y < 0 || y >= cc.h || x < 0 || x >= cc.w) continue;
                const uint64_t at_in = ((uint64_t{n} * cc.c + g * cg + c) * cc.h + y) * cc.w + x;
                const uint64_t at_w = ((uint64_t{k} * cg + c) * cc.r + rr) * cc.s + ss;
                acc += input(hin.values[at_in]) * input(hw.values[at_w]);
              }
            }
          }
          const uint64_t at = ((uint64_t{n} * cc.k + k) * P + p) * Q + q;
          const double want =
              activate(acc + (cc.bias ? hbias.values[k] : 0.0), cc.act) + (cc.residual ? hr.values[at] : 0.0);
          ASSERT_NEAR(got[at], want, accumulate + std::abs(want) * ulps)
              << cc.name << ": n" << n << " k" << k << " [" << p << "," << q << "]";
        }
      }
    }
  }
}

using A = mme::Activation;
using T = DType;
// name, N, C, H, W, K, R, S, groups, stride h/w, dilation h/w, pad top/bottom/left/right, in, out, ...
INSTANTIATE_TEST_SUITE_P(
    Cases, MmeConv,
    ::testing::Values(
        ConvCase{"plain", 2, 3, 9, 11, 4, 3, 2, 1, 2, 1, 1, 2, 1, 1, 0, 0, T::kF32, T::kF32, A::NONE, true},
        ConvCase{"grouped", 2, 6, 7, 8, 9, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, T::kF32, T::kF32, A::RELU, true},
        ConvCase{"grouped_bf16", 2, 8, 9, 9, 4, 3, 3, 2, 1, 1, 2, 1, 2, 2, 1, 1, T::kBF16, T::kBF16, A::SILU, true},
        ConvCase{"depthwise", 1, 8, 10, 10, 8, 3, 3, 8, 2, 2, 1, 1, 1, 1, 1, 1, T::kF32, T::kF32},
        ConvCase{"depthwise_bf16", 2, 16, 9, 7, 16, 3, 3, 16, 1, 1, 1, 1, 1, 1, 1, 1, T::kBF16, T::kBF16, A::NONE,
                 true},
        ConvCase{"depthwise_multiplier", 1, 4, 8, 8, 8, 3, 3, 4, 1, 1, 1, 1, 0, 2, 2, 0, T::kF32, T::kF32},
        ConvCase{"strided_dilated", 1, 4, 13, 13, 5, 3, 3, 1, 2, 3, 2, 2, 2, 2, 2, 2, T::kF32, T::kF32},
        ConvCase{"strided_dilated_bf16", 2, 3, 15, 12, 6, 3, 2, 1, 3, 2, 2, 3, 1, 0, 3, 1, T::kBF16, T::kF32},
        // TensorFlow's "SAME" with an even filter pads more at the end.
        ConvCase{"asymmetric_pads", 2, 3, 6, 9, 4, 2, 4, 1, 1, 1, 1, 1, 0, 1, 1, 2, T::kF32, T::kF32},
        ConvCase{"asymmetric_pads_bf16", 1, 5, 8, 8, 3, 3, 3, 1, 2, 2, 1, 1, 0, 1, 2, 0, T::kBF16, T::kBF16, A::GELU,
                 true},
        ConvCase{"depthwise_fp16_residual", 2, 6, 7, 7, 6, 3, 3, 6, 1, 2, 1, 1, 1, 2, 0, 1, T::kF16, T::kF16, A::GELU,
                 true, true, T::kF16},
        ConvCase{"grouped_residual", 1, 8, 9, 9, 4, 3, 3, 2, 1, 1, 2, 1, 2, 2, 1, 1, T::kBF16, T::kF32, A::RELU, true,
                 true, T::kF32},
        ConvCase{"pointwise_grouped_tf32", 1, 8, 5, 5, 8, 1, 1, 4, 1, 1, 1, 1, 0, 0, 0, 0, T::kF32, T::kF32, A::NONE,
                 false, false, T::kF32, true},
        // Input stored NHWC (kChannelsLastInput), as the vector cores' pooling writes it.
        ConvCase{"nhwc_plain", 2, 3, 9, 11, 4, 3, 2, 1, 2, 1, 1, 2, 1, 1, 0, 0, T::kF32, T::kF32, A::NONE, true, false,
                 T::kF32, false, true},
        ConvCase{"nhwc_grouped_bf16", 2, 8, 9, 9, 4, 3, 3, 2, 1, 1, 2, 1, 2, 2, 1, 1, T::kBF16, T::kBF16, A::SILU, true,
                 false, T::kF32, false, true},
        ConvCase{"nhwc_depthwise", 1, 8, 10, 10, 8, 3, 3, 8, 2, 2, 1, 1, 1, 1, 1, 1, T::kF32, T::kF32, A::NONE, false,
                 false, T::kF32, false, true},
        ConvCase{"nhwc_pointwise", 2, 16, 7, 5, 24, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, T::kF32, T::kF32, A::RELU, true,
                 true, T::kF32, false, true},
        ConvCase{"nhwc_pointwise_grouped_tf32", 1, 8, 5, 5, 8, 1, 1, 4, 1, 1, 1, 1, 0, 0, 0, 0, T::kF32, T::kF32,
                 A::NONE, false, false, T::kF32, true, true}),
    [](const auto& p) { return std::string(p.param.name); });

// The same convolution of the same values, stored NCHW or NHWC: the same
// output bits (each output is the same chain over the same taps), and the
// same simulated time.
TEST(MmeConvChannelsLast, GivesTheBitsAndTimeOfTheSameConvolutionOnNchwInput) {
  struct Case {
    uint32_t c, k, r, groups, stride, pad;
  };
  for (const Case cs : {Case{16, 24, 3, 1, 1, 1}, Case{16, 24, 1, 1, 1, 0}, Case{12, 12, 3, 12, 2, 1},
                        Case{8, 16, 1, 4, 2, 0}}) {
    auto dev = testing::open_device();
    Stream* stream = take(dev->create_stream());
    const uint32_t n = 2, h = 9, w = 7;
    auto d = mme::conv2d_descriptor(n, cs.c, h, w, cs.k, cs.r, cs.r, DType::kF32, DType::kF32, DType::kF32, cs.groups);
    d.stride_h = d.stride_w = cs.stride;
    d.pad_top = d.pad_bottom = d.pad_left = d.pad_right = cs.pad;
    const uint32_t P = mme::conv_out_extent(h, cs.pad, cs.pad, 1, cs.r, cs.stride);
    const uint32_t Q = mme::conv_out_extent(w, cs.pad, cs.pad, 1, cs.r, cs.stride);
    const uint64_t out_count = uint64_t{n} * cs.k * P * Q;
    const auto hin = make_matrix(uint64_t{n} * cs.c * h * w, DType::kF32, 11);
    const auto hw = make_matrix(uint64_t{cs.k} * (cs.c / cs.groups) * cs.r * cs.r, DType::kF32, 12);
    auto wt = testing::upload(*dev, hw);
    std::vector<float> outputs[2];
    uint64_t times[2] = {0, 0};  // the MME's busy time
    for (int nhwc = 0; nhwc < 2; ++nhwc) {
      auto in = testing::upload(*dev, nhwc ? to_nhwc(hin, n, cs.c, h, w, DType::kF32) : hin);
      auto out = take(dev->allocate(out_count * 4));
      d.a_addr = in.address, d.b_addr = wt.address, d.c_addr = out.address;
      d.flags = nhwc ? mme::kChannelsLastInput : 0;
      times[nhwc] = testing::mme_ps(*dev, *stream, testing::launch_descriptor(*dev, *stream, d));
      outputs[nhwc] = testing::read_back(*dev, out.address, out_count, DType::kF32);
    }
    SCOPED_TRACE(std::to_string(cs.c) + " channels, " + std::to_string(cs.groups) + " groups, r " + std::to_string(cs.r));
    ASSERT_EQ(outputs[0].size(), outputs[1].size());
    for (std::size_t i = 0; i < outputs[0].size(); ++i) {
      ASSERT_EQ(std::memcmp(&outputs[0][i], &outputs[1][i], sizeof(float)), 0) << i << ": " << outputs[0][i] << " vs " << outputs[1][i];
    }
    EXPECT_GT(times[0], 0u);
    EXPECT_EQ(times[0], times[1]);
  }
}

// A GEMM descriptor with kChannelsLastInput is refused by name.
TEST(MmeConvChannelsLast, OnlyAConvolutionTakesTheFlag) {
  auto dev = testing::open_device();
  Stream* stream = take(dev->create_stream());
  auto a = take(dev->allocate(64 * 4)), b = take(dev->allocate(64 * 4)), c = take(dev->allocate(64 * 4));
  auto d = mme::gemm_descriptor(8, 8, 8, DType::kF32, DType::kF32, DType::kF32);
  d.a_addr = a.address, d.b_addr = b.address, d.c_addr = c.address;
  d.flags = mme::kChannelsLastInput;
  auto desc = take(dev->allocate_host(sizeof d));
  std::memcpy(desc.data, &d, sizeof d);
  CommandBuffer cb;
  cb.launch_mme(desc.address);
  auto seq = stream->submit(cb);
  const Status s = seq.ok() ? stream->wait(*seq) : seq.status();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("kChannelsLastInput"), std::string::npos) << s.message();
}

// A grouped convolution is `groups` GEMMs, each m = N*P*Q, n = K/G,
// k = (C/G)*R*S: on tiny (one 16 x 16 pipelined MME at 1 GHz, one weight
// row per cycle) it takes groups * ceil(k/16) * ceil(n/16) folds of max(m, 16)
// cycles, plus 16 + 16 + 16 - 3 for the first fill and last drain.
TEST(MmeConvTiming, AGroupedConvolutionIsOneGemmPerGroup) {
  struct Case {
    uint32_t c, k, groups;
  };
  for (const Case cs : {Case{64, 64, 1}, Case{64, 64, 4}, Case{64, 64, 64}, Case{32, 96, 32}}) {
    auto dev = testing::open_device("tiny", /*functional=*/false);
    Stream* s = take(dev->create_stream());
    auto d = mme::conv2d_descriptor(8, cs.c, 32, 32, cs.k, 3, 3, DType::kBF16, DType::kBF16, DType::kBF16, cs.groups);
    d.pad_top = d.pad_bottom = d.pad_left = d.pad_right = 1;  // P = Q = 32
    auto in = take(dev->allocate(8ull * cs.c * 32 * 32 * 2)), w = take(dev->allocate(uint64_t{cs.k} * cs.c * 9 * 2));
    auto out = take(dev->allocate(8ull * cs.k * 32 * 32 * 2));
    d.a_addr = in.address, d.b_addr = w.address, d.c_addr = out.address;
    const uint64_t seq = testing::launch_descriptor(*dev, *s, d);
    const uint64_t m = 8 * 32 * 32, n = cs.k / cs.groups, k = cs.c / cs.groups * 9;
    const uint64_t folds = cs.groups * ((k + 15) / 16) * ((n + 15) / 16);
    EXPECT_EQ(testing::mme_ps(*dev, *s, seq), (folds * m + 45) * 1000) << cs.c << "/" << cs.k << "/" << cs.groups;
    const auto events = testing::device_events(*dev, "MME", static_cast<int>(s->queue()), seq);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].flops, 2 * cs.groups * m * n * k);
    EXPECT_NE(events[0].name.find(cs.groups > 1 ? " x" + std::to_string(cs.groups) : "conv2d"), std::string::npos)
        << events[0].name;
  }
}

}  // namespace
}  // namespace kiln::driver
