// The matrix engine through the driver: timing against the SCALE-Sim closed
// form and the roofline, values against a double-precision host reference.
#include <cmath>
#include <cstring>
#include <random>

#include "kiln/common/bf16.h"
#include "tbb/global_control.h"
#include "kiln/common/mme_descriptor.h"
#include "test_util.h"

namespace kiln::driver {
namespace {

using mme::gemm_descriptor;
using testing::take;

// Runs one descriptor and returns the submission's sequence. The descriptor
// lives in pinned host memory, which the device reads even in timing-only mode.
uint64_t launch(Device& dev, Stream& s, const mme::Descriptor& d) {
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
uint64_t mme_ps(const Device& dev, const Stream& s, uint64_t seq) {
  uint64_t longest = 0;
  for (const auto& e : testing::device_events(dev, "MME", static_cast<int>(s.queue()), seq)) {
    longest = std::max(longest, e.end_ps - e.start_ps);
  }
  return longest;
}

struct Dims { uint64_t m, k, n; };

// SCALE-Sim v2, weight stationary, folds serialised: the reference the
// serial MME must reproduce exactly.
uint64_t scale_sim_cycles(const Dims& d, uint64_t rows, uint64_t cols) {
  const uint64_t folds = ((d.k + rows - 1) / rows) * ((d.n + cols - 1) / cols);
  return folds * (2 * rows + cols + d.m - 2) - 1;
}

TEST(MmeTiming, SerialArrayMatchesTheScaleSimClosedFormExactly) {
  auto dev = testing::open_device("validation/ws128_serial", /*functional=*/false);
  Stream* s = take(dev->create_stream());
  EXPECT_EQ(scale_sim_cycles({512, 512, 512}, 128, 128), 14303u);
  EXPECT_EQ(scale_sim_cycles({1024, 1024, 1024}, 128, 128), 89983u);
  const Dims table[] = {{512, 512, 512}, {1024, 1024, 1024}, {100, 300, 700},  {1, 128, 128},
                        {257, 129, 1000}, {2048, 64, 130},   {129, 1, 1},      {640, 2000, 96}};
  for (const Dims& d : table) {
    auto a = take(dev->allocate(d.m * d.k * 4)), b = take(dev->allocate(d.k * d.n * 4)), c = take(dev->allocate(d.m * d.n * 4));
    auto desc = gemm_descriptor(d.m, d.k, d.n, DType::kF32, DType::kF32, DType::kF32);
    desc.a_addr = a.address;
    desc.b_addr = b.address;
    desc.c_addr = c.address;
    const uint64_t seq = launch(*dev, *s, desc);
    // 1 GHz: one cycle is exactly 1000 ps.
    EXPECT_EQ(mme_ps(*dev, *s, seq), scale_sim_cycles(d, 128, 128) * 1000) << d.m << "x" << d.k << "x" << d.n;
    for (auto* buf : {&a, &b, &c}) ASSERT_OK(dev->free(*buf));
  }
}

TEST(MmeTiming, LargeGemmOnGaudi2ReachesTheMacBound) {
  auto dev = testing::open_device("gaudi2", false);
  Stream* s = take(dev->create_stream());
  const uint64_t n = 8192;
  auto a = take(dev->allocate(n * n * 2)), b = take(dev->allocate(n * n * 2)), c = take(dev->allocate(n * n * 2));
  auto d = gemm_descriptor(n, n, n, DType::kBF16, DType::kBF16, DType::kBF16);
  d.a_addr = a.address;
  d.b_addr = b.address;
  d.c_addr = c.address;
  const double ns = mme_ps(*dev, *s, launch(*dev, *s, d)) / 1000.0;
  const double mac_bound_ns = 2.0 * n * n * n / dev->properties().peak_matrix_flops * 1e9;
  EXPECT_GE(ns, mac_bound_ns);
  EXPECT_GE(mac_bound_ns / ns, 0.95) << "utilisation " << mac_bound_ns / ns;
}

TEST(MmeTiming, GemvIsHbmBound) {
  auto dev = testing::open_device("gaudi2", false);
  Stream* s = take(dev->create_stream());
  const uint64_t k = 8192, n = 8192;
  auto a = take(dev->allocate(k * 2)), b = take(dev->allocate(k * n * 2)), c = take(dev->allocate(n * 2));
  auto d = gemm_descriptor(1, k, n, DType::kBF16, DType::kBF16, DType::kBF16);
  d.a_addr = a.address;
  d.b_addr = b.address;
  d.c_addr = c.address;
  const double ns = mme_ps(*dev, *s, launch(*dev, *s, d)) / 1000.0;
  // The weights dominate: every byte of B crosses HBM once.
  const double bytes = static_cast<double>(k * n * 2 + k * 2 * (n / 256) + n * 2);
  const double hbm_bound_ns = bytes / dev->config().hbm().bandwidth_gb_per_s();
  EXPECT_GE(ns, hbm_bound_ns);
  EXPECT_NEAR(ns, hbm_bound_ns, hbm_bound_ns * 0.05);
  const double mac_bound_ns = 2.0 * k * n / dev->properties().peak_matrix_flops * 1e9;
  EXPECT_GT(ns, 10 * mac_bound_ns);  // far from compute-bound
}

// ----------------------------------------------------------------- values

struct HostMatrix {
  std::vector<float> values;  // exactly representable in the matrix's dtype
  std::vector<uint8_t> bytes;
};

HostMatrix make_matrix(std::size_t count, DType t, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  HostMatrix h;
  h.values.resize(count);
  h.bytes.resize(count * dtype_size(t));
  for (std::size_t i = 0; i < count; ++i) {
    float v = dist(rng);
    if (t == DType::kBF16) {
      const bf16 b = to_bf16(v);
      v = to_float(b);
      std::memcpy(h.bytes.data() + 2 * i, &b.bits, 2);
    } else {
      std::memcpy(h.bytes.data() + 4 * i, &v, 4);
    }
    h.values[i] = v;
  }
  return h;
}

std::vector<float> read_back(Device& dev, uint64_t addr, std::size_t count, DType t) {
  std::vector<uint8_t> raw(count * dtype_size(t));
  EXPECT_TRUE(dev.copy_to_host(raw.data(), addr, raw.size()).ok());
  std::vector<float> out(count);
  for (std::size_t i = 0; i < count; ++i) {
    if (t == DType::kBF16) {
      bf16 b;
      std::memcpy(&b.bits, raw.data() + 2 * i, 2);
      out[i] = to_float(b);
    } else {
      std::memcpy(&out[i], raw.data() + 4 * i, 4);
    }
  }
  return out;
}

double activate(double x, mme::Activation act) {
  switch (act) {
    case mme::Activation::RELU: return x > 0 ? x : 0;
    case mme::Activation::GELU_TANH: return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case mme::Activation::SILU: return x / (1 + std::exp(-x));
    default: return x;
  }
}

// Within fp32 accumulation of k terms of magnitude <= 1, then the output rounding.
::testing::AssertionResult close_enough(float got, double want, DType out, uint64_t k) {
  const double accumulate = 4 * k * 6e-8 + 1e-6;
  const double round = out == DType::kBF16 ? std::abs(want) * (1.0 / 256) : 0;
  if (std::abs(got - want) <= accumulate + round) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "got " << got << ", want " << want << " (tolerance "
                                       << accumulate + round << ")";
}

struct GemmCase {
  uint64_t batch, m, n, k;
  DType a, b, out;
  mme::Activation act;
  bool bias;
  bool shared_weights;  // batch_stride_b = 0
  uint64_t pad;         // extra elements per row (strided operands)
};

class MmeValues : public ::testing::TestWithParam<GemmCase> {};

TEST_P(MmeValues, MatchTheHostReference) {
  const GemmCase c = GetParam();
  auto dev = testing::open_device();
  Stream* s = take(dev->create_stream());
  const uint64_t lda = c.k + c.pad, ldb = c.n + c.pad, ldc = c.n + c.pad;
  const uint64_t a_count = c.batch * c.m * lda, b_count = (c.shared_weights ? 1 : c.batch) * c.k * ldb;
  const uint64_t c_count = c.batch * c.m * ldc;
  auto ha = make_matrix(a_count, c.a, 1), hb = make_matrix(b_count, c.b, 2), hbias = make_matrix(c.n, DType::kF32, 3);
  auto a = take(dev->allocate(ha.bytes.size())), b = take(dev->allocate(hb.bytes.size()));
  auto out = take(dev->allocate(c_count * dtype_size(c.out))), bias = take(dev->allocate(c.n * 4));
  ASSERT_OK(dev->copy_to_device(a.address, ha.bytes.data(), ha.bytes.size()));
  ASSERT_OK(dev->copy_to_device(b.address, hb.bytes.data(), hb.bytes.size()));
  ASSERT_OK(dev->copy_to_device(bias.address, hbias.bytes.data(), hbias.bytes.size()));
  auto d = gemm_descriptor(c.m, c.k, c.n, c.a, c.b, c.out);
  d.batch = static_cast<uint32_t>(c.batch);
  d.lda = lda;
  d.ldb = ldb;
  d.ldc = ldc;
  d.batch_stride_a = c.m * lda;
  d.batch_stride_b = c.shared_weights ? 0 : c.k * ldb;
  d.batch_stride_c = c.m * ldc;
  d.a_addr = a.address;
  d.b_addr = b.address;
  d.c_addr = out.address;
  d.activation = static_cast<uint8_t>(c.act);
  if (c.bias) {
    d.flags = mme::kHasBias;
    d.bias_addr = bias.address;
  }
  launch(*dev, *s, d);
  const auto got = read_back(*dev, out.address, c_count, c.out);
  for (uint64_t bi = 0; bi < c.batch; ++bi) {
    for (uint64_t i = 0; i < c.m; ++i) {
      for (uint64_t j = 0; j < c.n; ++j) {
        double acc = 0;
        for (uint64_t p = 0; p < c.k; ++p) {
          acc += static_cast<double>(ha.values[bi * d.batch_stride_a + i * lda + p]) *
                 hb.values[bi * d.batch_stride_b + p * ldb + j];
        }
        if (c.bias) acc += hbias.values[j];
        ASSERT_TRUE(close_enough(got[bi * d.batch_stride_c + i * ldc + j], activate(acc, c.act), c.out, c.k))
            << "b" << bi << " [" << i << "," << j << "]";
      }
    }
  }
}

using A = mme::Activation;
INSTANTIATE_TEST_SUITE_P(
    Gemm, MmeValues,
    ::testing::Values(GemmCase{1, 37, 53, 29, DType::kF32, DType::kF32, DType::kF32, A::NONE, false, false, 0},
                      GemmCase{1, 37, 53, 29, DType::kBF16, DType::kBF16, DType::kF32, A::NONE, false, false, 0},
                      GemmCase{1, 64, 130, 257, DType::kBF16, DType::kBF16, DType::kBF16, A::NONE, false, false, 0},
                      GemmCase{1, 20, 17, 300, DType::kF32, DType::kBF16, DType::kF32, A::NONE, false, false, 5},
                      GemmCase{3, 9, 33, 16, DType::kBF16, DType::kBF16, DType::kF32, A::NONE, false, true, 3},
                      GemmCase{4, 16, 24, 40, DType::kF32, DType::kF32, DType::kF32, A::NONE, false, false, 0},
                      GemmCase{1, 31, 47, 64, DType::kF32, DType::kF32, DType::kF32, A::RELU, true, false, 0},
                      GemmCase{1, 31, 47, 64, DType::kBF16, DType::kBF16, DType::kBF16, A::GELU_TANH, true, false, 0},
                      GemmCase{2, 8, 12, 20, DType::kF32, DType::kF32, DType::kF32, A::SILU, true, true, 0}));

TEST(MmeValues, Conv2dMatchesADirectConvolution) {
  auto dev = testing::open_device();
  Stream* s = take(dev->create_stream());
  mme::Descriptor d{};
  d.magic = mme::kDescriptorMagic;
  d.op = static_cast<uint8_t>(mme::Op::CONV2D);
  d.a_dtype = d.b_dtype = d.out_dtype = static_cast<uint8_t>(DType::kF32);
  d.conv_n = 2, d.conv_c = 3, d.conv_h = 9, d.conv_w = 11, d.conv_k = 4, d.conv_r = 3, d.conv_s = 2;
  d.stride_h = 2, d.stride_w = 1, d.pad_h = 1, d.pad_w = 0, d.dilation_h = 1, d.dilation_w = 2;
  d.flags = mme::kHasBias;
  const uint32_t P = mme::conv_out_extent(9, 1, 1, 3, 2), Q = mme::conv_out_extent(11, 0, 2, 2, 1);
  ASSERT_EQ(P, 5u);
  ASSERT_EQ(Q, 9u);
  auto hin = make_matrix(2 * 3 * 9 * 11, DType::kF32, 4), hw = make_matrix(4 * 3 * 3 * 2, DType::kF32, 5);
  auto hbias = make_matrix(4, DType::kF32, 6);
  auto in = take(dev->allocate(hin.bytes.size())), w = take(dev->allocate(hw.bytes.size()));
  auto bias = take(dev->allocate(16)), out = take(dev->allocate(2 * 4 * P * Q * 4));
  ASSERT_OK(dev->copy_to_device(in.address, hin.bytes.data(), hin.bytes.size()));
  ASSERT_OK(dev->copy_to_device(w.address, hw.bytes.data(), hw.bytes.size()));
  ASSERT_OK(dev->copy_to_device(bias.address, hbias.bytes.data(), 16));
  d.a_addr = in.address, d.b_addr = w.address, d.c_addr = out.address, d.bias_addr = bias.address;
  launch(*dev, *s, d);
  const auto got = read_back(*dev, out.address, 2 * 4 * P * Q, DType::kF32);
  for (int n = 0; n < 2; ++n) for (int k = 0; k < 4; ++k) for (uint32_t p = 0; p < P; ++p) for (uint32_t q = 0; q < Q; ++q) {
    double acc = hbias.values[k];
    for (int c = 0; c < 3; ++c) for (int r = 0; r < 3; ++r) for (int t = 0; t < 2; ++t) {
      const int y = static_cast<int>(p) * 2 - 1 + r, x = static_cast<int>(q) * 1 - 0 + t * 2;
      if (y < 0 || y >= 9 || x < 0 || x >= 11) continue;
      acc += static_cast<double>(hin.values[((n * 3 + c) * 9 + y) * 11 + x]) * hw.values[((k * 3 + c) * 3 + r) * 2 + t];
    }
    ASSERT_TRUE(close_enough(got[((n * 4 + k) * P + p) * Q + q], acc, DType::kF32, 18))
        << "conv n" << n << " k" << k << " [" << p << "," << q << "]";
  }
}

TEST(MmeValues, IdenticalWhateverTheHostThreadCount) {
  // Large enough to be split into row blocks across TBB's threads.
  const uint64_t m = 600, n = 256, k = 160;
  auto run = [&](int threads) {
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism, threads);
    auto dev = testing::open_device("gaudi2");
    Stream* s = take(dev->create_stream());
    auto ha = make_matrix(m * k, DType::kBF16, 7), hb = make_matrix(k * n, DType::kBF16, 8);
    auto a = take(dev->allocate(ha.bytes.size())), b = take(dev->allocate(hb.bytes.size()));
    auto c = take(dev->allocate(m * n * 4));
    EXPECT_TRUE(dev->copy_to_device(a.address, ha.bytes.data(), ha.bytes.size()).ok());
    EXPECT_TRUE(dev->copy_to_device(b.address, hb.bytes.data(), hb.bytes.size()).ok());
    auto d = gemm_descriptor(m, k, n, DType::kBF16, DType::kBF16, DType::kF32);
    d.a_addr = a.address, d.b_addr = b.address, d.c_addr = c.address;
    const uint64_t seq = launch(*dev, *s, d);
    return std::make_pair(read_back(*dev, c.address, m * n, DType::kF32), mme_ps(*dev, *s, seq));
  };
  const auto one = run(1);
  const auto two = run(2);
  EXPECT_EQ(one.second, two.second);
  ASSERT_EQ(one.first.size(), two.first.size());
  EXPECT_EQ(std::memcmp(one.first.data(), two.first.data(), one.first.size() * 4), 0);
}

// ----------------------------------------------------------------- faults

TEST(MmeFaults, BadDescriptorAndUnmappedOperandAreFaults) {
  auto dev = testing::open_device();
  Stream* s = take(dev->create_stream());
  auto c = take(dev->allocate(64 * 64 * 4));
  auto d = gemm_descriptor(64, 64, 64, DType::kF32, DType::kF32, DType::kF32);
  d.a_addr = d.b_addr = d.c_addr = c.address;
  d.ldb = 3;  // smaller than n
  auto desc = take(dev->allocate(sizeof d));
  ASSERT_OK(dev->copy_to_device(desc.address, &d, sizeof d));
  CommandBuffer cb;
  cb.nop().launch_mme(desc.address);
  uint64_t seq = take(s->submit(cb));
  EXPECT_EQ(s->wait(seq).code(), ErrorCode::kDeviceFault);
  auto info = take(s->info(seq));
  ASSERT_TRUE(info.fault);
  EXPECT_EQ(info.fault->cause, FaultCause::kInvalidDescriptor);
  EXPECT_EQ(info.fault->packet_offset, 8u);
  EXPECT_NE(info.fault->detail.find("'ldb'"), std::string::npos) << info.fault->detail;

  d.ldb = 64;
  d.a_dtype = static_cast<uint8_t>(DType::kF16);  // a dtype, but not one the MME takes yet
  ASSERT_OK(dev->copy_to_device(desc.address, &d, sizeof d));
  seq = take(s->submit(cb));
  EXPECT_EQ(s->wait(seq).code(), ErrorCode::kDeviceFault);
  info = take(s->info(seq));
  EXPECT_EQ(info.fault->cause, FaultCause::kInvalidDescriptor);
  EXPECT_NE(info.fault->detail.find("'a_dtype' is f16: fp16 is not supported by the MME yet"), std::string::npos)
      << info.fault->detail;

  d.a_dtype = static_cast<uint8_t>(DType::kF32);
  d.b_addr = c.address + (1ull << 36);  // unmapped
  ASSERT_OK(dev->copy_to_device(desc.address, &d, sizeof d));
  seq = take(s->submit(cb));
  EXPECT_EQ(s->wait(seq).code(), ErrorCode::kDeviceFault);
  info = take(s->info(seq));
  EXPECT_EQ(info.fault->cause, FaultCause::kPageFault);
  EXPECT_EQ(info.fault->engine, "MME");
  EXPECT_EQ(info.fault->address, d.b_addr);

  d.b_addr = c.address;
  ASSERT_OK(dev->copy_to_device(desc.address, &d, sizeof d));
  ASSERT_OK(s->wait(take(s->submit(cb))));  // the device is usable again
}

}  // namespace
}  // namespace kiln::driver
