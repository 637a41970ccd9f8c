// The matrix engine through the driver: timing against the SCALE-Sim closed
// form and the roofline, GEMM values in every dtype (fp16, bf16, fp32, TF32)
// with every epilogue against a double-precision host reference.
// Convolutions: mme_conv_test.cpp; per-dtype rates and rounding edge cases:
// mme_numerics_test.cpp.
#include <cmath>
#include <cstring>
#include <random>

#include "kiln/common/tf32.h"
#include "mme_test_util.h"
#include "tbb/global_control.h"

namespace kiln::driver {
namespace {

using mme::gemm_descriptor;
using testing::make_matrix;
using testing::mme_ps;
using testing::read_back;
using testing::take;
using testing::activate;
using testing::close_enough;

uint64_t launch(Device& dev, Stream& s, const mme::Descriptor& d) { return testing::launch_descriptor(dev, s, d); }

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

struct GemmCase {
  uint64_t batch, m, n, k;
  DType a, b, out;
  mme::Activation act;
  bool bias;
  bool shared_weights;  // batch_stride_b = 0
  uint64_t pad;         // extra elements per row (strided operands)
  bool tf32 = false;    // kTf32: the reference rounds its f32 inputs to TF32 too
  bool residual = false;
  DType r = DType::kF32;  // R's dtype, with `residual`
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
  auto hr = make_matrix(c_count, c.r, 4);
  auto a = testing::upload(*dev, ha), b = testing::upload(*dev, hb), bias = testing::upload(*dev, hbias);
  auto r = testing::upload(*dev, hr);
  auto out = take(dev->allocate(c_count * dtype_size(c.out)));
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
    d.flags |= mme::kHasBias;
    d.bias_addr = bias.address;
  }
  if (c.tf32) d.flags |= mme::kTf32;
  if (c.residual) {
    d.flags |= mme::kHasResidual;
    d.r_dtype = static_cast<uint8_t>(c.r);
    d.r_addr = r.address;
  }
  launch(*dev, *s, d);
  const auto got = read_back(*dev, out.address, c_count, c.out);
  const auto input = [&](float v) { return c.tf32 ? round_to_tf32(v) : v; };
  for (uint64_t bi = 0; bi < c.batch; ++bi) {
    for (uint64_t i = 0; i < c.m; ++i) {
      for (uint64_t j = 0; j < c.n; ++j) {
        double acc = 0;
        for (uint64_t p = 0; p < c.k; ++p) {
          acc += static_cast<double>(input(ha.values[bi * d.batch_stride_a + i * lda + p])) *
                 input(hb.values[bi * d.batch_stride_b + p * ldb + j]);
        }
        if (c.bias) acc += hbias.values[j];
        const uint64_t at = bi * d.batch_stride_c + i * ldc + j;
        const double want = activate(acc, c.act) + (c.residual ? hr.values[at] : 0.0);
        ASSERT_TRUE(close_enough(got[at], want, c.out, c.k)) << "b" << bi << " [" << i << "," << j << "]";
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
                      GemmCase{2, 8, 12, 20, DType::kF32, DType::kF32, DType::kF32, A::SILU, true, true, 0},
                      GemmCase{1, 31, 47, 64, DType::kF32, DType::kF32, DType::kF32, A::GELU, true, false, 0},
                      // fp16 in and out, mixed with bf16 and f32, strided and batched.
                      GemmCase{1, 37, 53, 29, DType::kF16, DType::kF16, DType::kF16, A::NONE, false, false, 0},
                      GemmCase{1, 64, 130, 257, DType::kF16, DType::kF16, DType::kF32, A::NONE, false, false, 0},
                      GemmCase{3, 9, 33, 16, DType::kF16, DType::kBF16, DType::kF16, A::GELU, true, true, 3},
                      GemmCase{1, 20, 17, 300, DType::kF32, DType::kF16, DType::kF16, A::RELU, true, false, 5},
                      // TF32: f32 storage, inputs rounded; the reference rounds them the same way.
                      GemmCase{1, 37, 53, 29, DType::kF32, DType::kF32, DType::kF32, A::NONE, false, false, 0, true},
                      GemmCase{2, 20, 40, 300, DType::kF32, DType::kF32, DType::kBF16, A::SILU, true, false, 4, true},
                      // Residual: C = act(A * B + bias) + R, R in each dtype, laid out like C.
                      GemmCase{1, 31, 47, 64, DType::kBF16, DType::kBF16, DType::kBF16, A::GELU, true, false, 0,
                               false, true, DType::kBF16},
                      GemmCase{2, 9, 33, 16, DType::kF16, DType::kF16, DType::kF32, A::NONE, false, true, 3, false,
                               true, DType::kF16},
                      GemmCase{2, 8, 12, 20, DType::kF32, DType::kF32, DType::kF16, A::RELU, true, false, 2, true,
                               true, DType::kF32}));

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
  d.a_dtype = static_cast<uint8_t>(DType::kI32);  // a dtype, but not one the MME takes
  ASSERT_OK(dev->copy_to_device(desc.address, &d, sizeof d));
  seq = take(s->submit(cb));
  EXPECT_EQ(s->wait(seq).code(), ErrorCode::kDeviceFault);
  info = take(s->info(seq));
  EXPECT_EQ(info.fault->cause, FaultCause::kInvalidDescriptor);
  EXPECT_NE(info.fault->detail.find("'a_dtype' is i32: the MME takes f32, bf16 or f16"), std::string::npos)
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
