// The MME's descriptor checks (sim/src/mme_plan.h): what a valid descriptor
// derives, and hostile descriptors rejected naming the field -- every span,
// traffic and FLOP product overflow-checked, the ceilings enforced -- with no
// undefined behaviour whatever the bytes.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>

#include "mme_plan.h"

namespace kiln::sim {
namespace {

using kiln::DType;

proto::MmeConfig array(uint32_t rows, uint32_t cols, double clock_mhz) {
  proto::MmeConfig c;
  c.set_count(1);
  c.set_array_rows(rows);
  c.set_array_cols(cols);
  c.set_clock_mhz(clock_mhz);
  c.set_fill_rows_per_cycle(1);
  return c;
}

mme::Descriptor gemm(uint32_t m, uint32_t k, uint32_t n, DType t = DType::kF32) {
  mme::Descriptor d = mme::gemm_descriptor(m, k, n, t, t, t);
  d.a_addr = 0x1000, d.b_addr = 0x2000, d.c_addr = 0x3000;
  return d;
}

mme::Descriptor conv() {
  mme::Descriptor d{};
  d.magic = mme::kDescriptorMagic;
  d.op = static_cast<uint8_t>(mme::Op::CONV2D);
  d.conv_n = 2, d.conv_c = 3, d.conv_h = 9, d.conv_w = 11, d.conv_k = 4, d.conv_r = 3, d.conv_s = 2;
  d.stride_h = d.stride_w = d.dilation_h = d.dilation_w = 1;
  return d;
}

// Rejected, naming `field` and saying `why`.
void expect_rejected(const mme::Descriptor& d, const std::string& field, const std::string& why,
                     const MmeLimits& limits = {}) {
  const auto error = validate_mme_descriptor(d, limits);
  ASSERT_TRUE(error.has_value()) << field;
  EXPECT_NE(error->find("field '" + field + "'"), std::string::npos) << *error;
  EXPECT_NE(error->find(why), std::string::npos) << *error;
}

TEST(MmePlan, DerivesSpansTrafficAndFlops) {
  const proto::MmeConfig cfg = array(4, 4, 1000);
  auto d = gemm(2, 3, 5);
  d.lda = 4;  // A's rows one element further apart than k
  const MmePlan plan = plan_mme_job(d, {&cfg, true}).value();
  ASSERT_EQ(plan.operands.size(), 3u);
  EXPECT_EQ(plan.operands[0].span_bytes, (1 * 4 + 3) * 4u);
  EXPECT_EQ(plan.operands[0].traffic_bytes, 2 * 3 * 4 * 2u);  // n = 5 on 4 columns: 2 folds
  EXPECT_EQ(plan.operands[1].span_bytes, 3 * 5 * 4u);
  EXPECT_EQ(plan.operands[2].span_bytes, 2 * 5 * 4u);
  EXPECT_TRUE(plan.operands[2].is_output);
  EXPECT_EQ(plan.flops, 2 * 2 * 3 * 5u);
  EXPECT_EQ(plan.traffic_bytes, 48 + 60 + 40u);

  auto c = conv();
  c.flags = mme::kHasBias;
  const MmePlan cp = plan_mme_job(c, {&cfg, true}).value();
  ASSERT_EQ(cp.operands.size(), 4u);
  EXPECT_EQ(cp.operands[3].span_bytes, 4 * 4u);
  EXPECT_EQ(cp.problem.out_h, 7u);
  EXPECT_EQ(cp.problem.out_w, 10u);
  EXPECT_EQ(cp.problem.shape.m, 2 * 7 * 10u);
  EXPECT_EQ(cp.problem.shape.k, 3 * 3 * 2u);
}

TEST(MmePlan, SpansThatOverflowOrExceedAnyMappingNameTheField) {
  auto lda = gemm(64, 64, 64);
  lda.lda = uint64_t{1} << 62;
  expect_rejected(lda, "lda", "operand A (1 x 64 rows of 64 elements) would span more than 2^48 bytes");

  auto mk = gemm(0xffffffffu, 0xffffffffu, 1);  // m * k * 4 bytes overflows 64 bits
  expect_rejected(mk, "lda", "operand A");

  auto batch = gemm(8, 8, 8);
  batch.batch = 0xffffffffu;
  batch.batch_stride_b = UINT64_MAX;
  expect_rejected(batch, "batch_stride_b", "operand B");

  auto stride_c = gemm(8, 8, 8);
  stride_c.batch = 2;
  stride_c.batch_stride_c = uint64_t{1} << 47;  // fits 64 bits; 2^49 bytes is more than any mapping
  expect_rejected(stride_c, "batch_stride_c", "operand C");
}

TEST(MmePlan, ConvolutionGeometryIsCheckedWithoutOverflow) {
  auto input = conv();
  input.conv_c = input.conv_h = input.conv_w = 0xffffffffu;
  expect_rejected(input, "conv_h", "the input would span more than 2^48 bytes");

  auto dilated = conv();
  dilated.conv_r = 0xffffffffu, dilated.dilation_h = 0xffffffffu;  // the filter spans ~2^64 rows
  expect_rejected(dilated, "conv geometry", "empty output");
  EXPECT_EQ(mme::conv_out_extent(9, 0, 0xffffffffu, 0xffffffffu, 1), 0u);

  auto padded = conv();
  padded.pad_w = 0xffffffffu;
  expect_rejected(padded, "pad_w", "the output width would exceed 2^32 - 1");

  auto wide_output = conv();
  wide_output.pad_h = wide_output.pad_w = 0x7ffffff0u;  // P, Q just below 2^32: the output spans ~2^69 bytes
  expect_rejected(wide_output, "conv_w (output width)", "the output would span more than 2^48 bytes");
}

TEST(MmePlan, FlopsTrafficAndComputeTimeAreBounded) {
  // Shared operands (batch strides 0) keep every span small while the work grows.
  auto traffic = gemm(1u << 20, 1u << 16, 1u << 16, DType::kBF16);
  traffic.batch = 1u << 16;
  traffic.batch_stride_a = traffic.batch_stride_b = traffic.batch_stride_c = 0;
  expect_rejected(traffic, "k", "the job would move more than 2^52 bytes");  // A, 2^16 times over

  // 2^69 MACs with every span at 2^47 bytes and one column fold.
  const proto::MmeConfig wide = array(1u << 16, 1u << 23, 1000);
  const auto flops = gemm(1u << 23, 1u << 23, 1u << 23, DType::kBF16);
  expect_rejected(flops, "k", "the job would have more than 2^64 FLOPs", {&wide, false});

  // 2^15 folds of ~2^16 cycles at 1 MHz (~2e15 ps) are fine; 2^10 times more is not.
  const proto::MmeConfig slow = array(128, 1024, 1);
  auto busy = gemm(1u << 16, 1u << 16, 1u << 16, DType::kBF16);
  busy.batch_stride_a = busy.batch_stride_b = busy.batch_stride_c = 0;
  EXPECT_EQ(validate_mme_descriptor(busy, {&slow, false}), std::nullopt);
  busy.batch = 1u << 10;
  expect_rejected(busy, "batch/m/n/k", "more than 2^60 ps", {&slow, false});
}

TEST(MmePlan, HostMemoryCeilingOnlyWhenValuesAreComputed) {
  const proto::MmeConfig cfg = array(128, 128, 1000);
  const auto d = gemm(32768, 32768, 32768, DType::kBF16);
  EXPECT_EQ(validate_mme_descriptor(d, {&cfg, false}), std::nullopt);
  expect_rejected(d, "batch/m/n/k", "more than 8 GiB of host memory", {&cfg, true});
  EXPECT_EQ(validate_mme_descriptor(gemm(4096, 4096, 4096), {&cfg, true}), std::nullopt);
  const MmePlan plan = plan_mme_job(d, {&cfg, false}).value();
  EXPECT_EQ(plan.host_bytes, 3 * 6 * (uint64_t{1} << 30) + 32768 * 8);
}

// Random descriptors with a valid header: each is accepted with a plan whose
// figures are in range, or rejected; never undefined behaviour (the sanitizer
// build runs this).
TEST(MmePlan, RandomDescriptorsAreCheckedWithoutUndefinedBehaviour) {
  const proto::MmeConfig cfg = array(128, 128, 1000);
  std::mt19937_64 rng(11);
  // Values biased to the edges, where overflow lives.
  auto field = [&]() -> uint64_t {
    switch (rng() % 5) {
      case 0: return rng() % 4;
      case 1: return rng() % 300;
      case 2: return UINT64_MAX - rng() % 4;
      case 3: return uint64_t{1} << (rng() % 64);
      default: return rng();
    }
  };
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    mme::Descriptor d{};
    auto* bytes = reinterpret_cast<uint8_t*>(&d);
    for (std::size_t at = 0; at + 8 <= sizeof d; at += 8) {
      const uint64_t v = field();
      std::memcpy(bytes + at, &v, 8);
    }
    d.magic = mme::kDescriptorMagic;
    d.op = static_cast<uint8_t>(rng() % 2);
    d.a_dtype = static_cast<uint8_t>(rng() % 2), d.b_dtype = static_cast<uint8_t>(rng() % 2);
    d.out_dtype = static_cast<uint8_t>(rng() % 2);
    d.activation = 0, d.flags = static_cast<uint8_t>(rng() % 2);
    d.reserved0 = 0, d.reserved1 = 0, d.reserved2 = 0;
    if (i % 3 == 0) {
      // Mostly sane, with one field left wild: most of these are accepted.
      auto small = [&] { return static_cast<uint32_t>(1 + rng() % 64); };
      const uint64_t wild = d.lda;
      d.batch = small(), d.m = small(), d.n = small(), d.k = small();
      d.lda = d.k, d.ldb = d.n, d.ldc = d.n;
      d.batch_stride_a = uint64_t{d.m} * d.k, d.batch_stride_b = uint64_t{d.k} * d.n;
      d.batch_stride_c = uint64_t{d.m} * d.n;
      d.conv_n = small(), d.conv_c = small(), d.conv_h = small() + 8, d.conv_w = small() + 8, d.conv_k = small();
      d.conv_r = 1 + rng() % 3, d.conv_s = 1 + rng() % 3, d.stride_h = d.stride_w = 1, d.dilation_h = d.dilation_w = 1;
      d.pad_h = d.pad_w = 0;
      uint64_t* fields[] = {&d.lda, &d.ldb, &d.ldc, &d.batch_stride_a, &d.batch_stride_b, &d.batch_stride_c};
      if (rng() % 2) *fields[rng() % 6] = wild;
    }
    const Result<MmePlan> plan = plan_mme_job(d, {&cfg, i % 2 == 0});
    if (!plan.ok()) continue;
    ++accepted;
    for (const MmeOperand& o : plan->operands) ASSERT_LE(o.span_bytes, kMaxMmeOperandBytes);
    ASSERT_LE(plan->traffic_bytes, kMaxMmeTrafficBytes);
  }
  EXPECT_GT(accepted, 0);
}

}  // namespace
}  // namespace kiln::sim
