// The MME's descriptor checks (sim/src/mme_plan.h): what a valid descriptor
// derives (grouped convolutions and residuals included), and hostile
// descriptors rejected naming the field -- every span, traffic and FLOP
// product overflow-checked, the ceilings enforced -- with no undefined
// behaviour whatever the bytes. Also the cycle model's per-dtype rate
// (sim/src/mme_timing.h).
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
  c.set_fp16_macs_per_cell_per_cycle(1);
  c.set_tf32_macs_per_cell_per_cycle(0.5);
  c.set_fp32_macs_per_cell_per_cycle(0.25);
  return c;
}

mme::Descriptor gemm(uint32_t m, uint32_t k, uint32_t n, DType t = DType::kF32) {
  mme::Descriptor d = mme::gemm_descriptor(m, k, n, t, t, t);
  d.a_addr = 0x1000, d.b_addr = 0x2000, d.c_addr = 0x3000;
  return d;
}

mme::Descriptor conv() {
  return mme::conv2d_descriptor(2, 3, 9, 11, 4, 3, 2, DType::kF32, DType::kF32, DType::kF32);
}

// Rejected, naming `field` and saying `why`.
void expect_plan_rejected(const mme::Descriptor& d, const std::string& field, const std::string& why,
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

TEST(MmePlan, AGroupedConvolutionIsOneGemmPerGroup) {
  const proto::MmeConfig cfg = array(4, 4, 1000);
  // N=2, C=6, 8x8, K=9 (3 groups of 2 in, 3 out channels), 3x3 filters, pads 1/0/2/1.
  auto d = mme::conv2d_descriptor(2, 6, 8, 8, 9, 3, 3, DType::kBF16, DType::kBF16, DType::kF32, 3);
  d.pad_top = 1, d.pad_bottom = 0, d.pad_left = 2, d.pad_right = 1;
  d.flags = mme::kHasBias;
  const MmePlan plan = plan_mme_job(d, {&cfg, true}).value();
  EXPECT_EQ(plan.problem.out_h, 7u);  // (8 + 1 + 0 - 3) + 1
  EXPECT_EQ(plan.problem.out_w, 9u);  // (8 + 2 + 1 - 3) + 1
  EXPECT_EQ(plan.problem.shape.batch, 3u);            // the groups
  EXPECT_EQ(plan.problem.shape.m, 2 * 7 * 9u);        // N * P * Q
  EXPECT_EQ(plan.problem.shape.n, 3u);                // K / groups
  EXPECT_EQ(plan.problem.shape.k, 2 * 3 * 3u);        // C / groups * R * S
  EXPECT_EQ(plan.flops, 2 * 3 * (2 * 7 * 9) * 3 * 18u);
  ASSERT_EQ(plan.operands.size(), 4u);
  EXPECT_EQ(plan.operands[1].span_bytes, 9 * 2 * 3 * 3 * 2u);  // weights K x (C/G) x R x S, bf16
  EXPECT_EQ(plan.operands[2].span_bytes, 2 * 9 * 7 * 9 * 4u);  // NKPQ, f32
  EXPECT_EQ(plan.operands[3].span_bytes, 9 * 4u);              // a bias for every output channel
  // Each group streams its channels of the input once per fold of its 3
  // output channels: one fold on 4 columns, so the input crosses once.
  EXPECT_EQ(plan.operands[0].traffic_bytes, 2 * 6 * 8 * 8 * 2u);

  // Depthwise: groups = C = K, each group one output column.
  auto dw = mme::conv2d_descriptor(1, 32, 5, 5, 32, 3, 3, DType::kF32, DType::kF32, DType::kF32, 32);
  const MmePlan dwp = plan_mme_job(dw, {&cfg, true}).value();
  EXPECT_EQ(dwp.problem.shape.batch, 32u);
  EXPECT_EQ(dwp.problem.shape.n, 1u);
  EXPECT_EQ(dwp.problem.shape.k, 9u);
  EXPECT_EQ(dwp.operands[1].span_bytes, 32 * 9 * 4u);
}

TEST(MmePlan, TheResidualIsAnInputLaidOutLikeTheOutput) {
  const proto::MmeConfig cfg = array(4, 4, 1000);
  auto d = gemm(2, 3, 5);
  d.ldc = 8;
  d.flags = mme::kHasResidual;
  d.r_dtype = static_cast<uint8_t>(DType::kBF16);
  d.r_addr = 0x9000;
  const MmePlan plan = plan_mme_job(d, {&cfg, true}).value();
  ASSERT_EQ(plan.operands.size(), 4u);
  EXPECT_STREQ(plan.operands[3].name, "R");
  EXPECT_EQ(plan.operands[3].addr, 0x9000u);
  EXPECT_FALSE(plan.operands[3].is_output);
  EXPECT_EQ(plan.operands[3].span_bytes, (1 * 8 + 5) * 2u);  // C's rows and strides, bf16 elements
  EXPECT_EQ(plan.operands[3].traffic_bytes, 2 * 5 * 2u);

  d.batch = 2;
  d.out_dtype = static_cast<uint8_t>(DType::kBF16);
  d.batch_stride_c = (uint64_t{1} << 47) - 16;  // bf16 C fits: 2^48 - 32 + 26 bytes
  d.r_dtype = static_cast<uint8_t>(DType::kF32);  // an f32 R laid out the same way does not
  expect_plan_rejected(d, "batch_stride_c", "operand R");
}

// The cycle model's rate: at r MACs per cell per cycle a fold streams m rows
// in ceil(m / r) cycles; fill, skew and drain are unchanged.
TEST(MmeTimingRate, StreamsScaleByTheRateAndBf16IsUnchanged) {
  proto::MmeConfig serial = array(128, 128, 1000);
  serial.set_dataflow(proto::WEIGHT_STATIONARY_SERIAL);
  const GemmShape g{1, 512, 512, 512};
  EXPECT_EQ(mme_timing(serial, g).cycles, 14303u);  // SCALE-Sim's closed form, rate 1
  EXPECT_EQ(mme_timing(serial, g, 0, 1.0).cycles, 14303u);
  // 16 folds of (128 + 128 + 128 + ceil(512 / r) - 2), less 1.
  EXPECT_EQ(mme_timing(serial, g, 0, 0.25).cycles, 16 * (382 + 2048) - 1u);
  EXPECT_EQ(mme_timing(serial, g, 0, 0.3).cycles, 16 * (382 + 1707) - 1u);  // ceil(512 / 0.3) = 1707
  EXPECT_EQ(mme_timing(serial, g, 0, 0.25).stream_cycles, 2048u);
  EXPECT_DOUBLE_EQ(mme_timing(serial, g, 0, 0.25).mac_bound_cycles, 4 * mme_timing(serial, g).mac_bound_cycles);

  proto::MmeConfig pipelined = serial;
  pipelined.set_dataflow(proto::WEIGHT_STATIONARY_PIPELINED);
  // 16 folds of max(ceil(m / r), fill = 128), plus fill + R + C - 3 once.
  EXPECT_EQ(mme_timing(pipelined, g, 0, 0.5).cycles, 16 * 1024 + 128 + 253u);
  EXPECT_EQ(mme_timing(pipelined, {1, 20, 512, 512}, 0, 0.5).cycles, 16 * 128 + 128 + 253u);  // fill-bound
  EXPECT_EQ(mme_stream_cycles(7, 1.0), 7u);
  EXPECT_EQ(mme_stream_cycles(7, 0.125), 56u);
  EXPECT_EQ(mme_stream_cycles(uint64_t{1} << 40, 1e-300), uint64_t{1} << 62);  // saturates
}

TEST(MmeTimingRate, TheJobRateIsTheSlowerInputsAndTf32CountsWithItsFlag) {
  const proto::MmeConfig cfg = array(4, 4, 1000);  // fp16 1, tf32 0.5, fp32 0.25
  auto d = gemm(4, 4, 4, DType::kBF16);
  EXPECT_EQ(mme_job_rate(cfg, d), 1.0);
  d.a_dtype = static_cast<uint8_t>(DType::kF16);
  EXPECT_EQ(mme_job_rate(cfg, d), 1.0);
  d.b_dtype = static_cast<uint8_t>(DType::kF32);
  EXPECT_EQ(mme_job_rate(cfg, d), 0.25);
  d = gemm(4, 4, 4, DType::kF32);
  EXPECT_EQ(mme_job_rate(cfg, d), 0.25);
  d.flags = mme::kTf32;
  EXPECT_EQ(mme_job_rate(cfg, d), 0.5);

  // A slow enough rate makes a job that is fine in bf16 compute past 2^60 ps.
  proto::MmeConfig slow = array(128, 1024, 1);
  auto busy = gemm(1u << 16, 1u << 16, 1u << 16, DType::kBF16);
  busy.batch_stride_a = busy.batch_stride_b = busy.batch_stride_c = 0;
  busy.batch = 1u << 6;
  EXPECT_EQ(validate_mme_descriptor(busy, {&slow, false}), std::nullopt);
  busy.a_dtype = busy.b_dtype = busy.out_dtype = static_cast<uint8_t>(DType::kF32);
  slow.set_fp32_macs_per_cell_per_cycle(1.0 / 64);
  expect_plan_rejected(busy, "batch/m/n/k", "more than 2^60 ps", {&slow, false});
}

// A transposed operand spans its stored rows (A^T: k rows of m, lda apart;
// B^T: n rows of k, ldb apart) and moves the bytes a dense one does.
TEST(MmePlan, TransposedOperandsSpanTheirStoredRowsAndMoveTheSameBytes) {
  const proto::MmeConfig cfg = array(4, 4, 1000);
  auto d = gemm(2, 3, 5);  // A 2 x 3, B 3 x 5, f32
  const MmePlan dense = plan_mme_job(d, {&cfg, true}).value();
  d.flags = mme::kTransposeA | mme::kTransposeB;
  d.lda = 6;  // A^T: 3 rows of 2, 6 apart
  d.ldb = 4;  // B^T: 5 rows of 3, 4 apart
  d.batch = 2;
  d.batch_stride_a = 100, d.batch_stride_b = 40;
  const MmePlan plan = plan_mme_job(d, {&cfg, true}).value();
  EXPECT_EQ(plan.operands[0].span_bytes, (100 + 2 * 6 + 2) * 4u);
  EXPECT_EQ(plan.operands[1].span_bytes, (40 + 4 * 4 + 3) * 4u);
  mme::OperandSpans spans;
  ASSERT_TRUE(mme::operand_spans(d, &spans));
  EXPECT_EQ(spans.a, plan.operands[0].span_bytes);
  EXPECT_EQ(spans.b, plan.operands[1].span_bytes);
  // Traffic and FLOPs are those of the dense GEMM, batch for batch.
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(plan.operands[i].traffic_bytes, 2 * dense.operands[i].traffic_bytes) << plan.operands[i].name;
  }
  EXPECT_EQ(plan.flops, 2 * dense.flops);
  // Computing the values holds each transposed input once more, as stored, in fp32.
  EXPECT_EQ(plan.host_bytes, dense.host_bytes + (2 * 3 + 3 * 5) * 4u);

  // The spans are overflow-checked and bounded like a dense operand's, naming the stride.
  auto huge = gemm(64, 64, 64);
  huge.flags = mme::kTransposeB;
  huge.ldb = uint64_t{1} << 62;
  expect_plan_rejected(huge, "ldb", "operand B (kTransposeB, stored n x k) (1 x 64 rows of 64 elements) would span");
  huge = gemm(8, 16, 4);
  huge.flags = mme::kTransposeA;
  huge.lda = uint64_t{1} << 46;  // 15 rows 2^46 apart: 2^50 bytes of f32
  expect_plan_rejected(huge, "lda", "operand A (kTransposeA, stored k x m) (1 x 16 rows of 8 elements)");
}

TEST(MmePlan, SpansThatOverflowOrExceedAnyMappingNameTheField) {
  auto lda = gemm(64, 64, 64);
  lda.lda = uint64_t{1} << 62;
  expect_plan_rejected(lda, "lda", "operand A (1 x 64 rows of 64 elements) would span more than 2^48 bytes");

  auto mk = gemm(0xffffffffu, 0xffffffffu, 1);  // m * k * 4 bytes overflows 64 bits
  expect_plan_rejected(mk, "lda", "operand A");

  auto batch = gemm(8, 8, 8);
  batch.batch = 0xffffffffu;
  batch.batch_stride_b = UINT64_MAX;
  expect_plan_rejected(batch, "batch_stride_b", "operand B");

  auto stride_c = gemm(8, 8, 8);
  stride_c.batch = 2;
  stride_c.batch_stride_c = uint64_t{1} << 47;  // fits 64 bits; 2^49 bytes is more than any mapping
  expect_plan_rejected(stride_c, "batch_stride_c", "operand C");
}

TEST(MmePlan, ConvolutionGeometryIsCheckedWithoutOverflow) {
  auto input = conv();
  input.conv_c = input.conv_h = input.conv_w = 0xffffffffu;
  expect_plan_rejected(input, "conv_h", "the input would span more than 2^48 bytes");

  auto dilated = conv();
  dilated.conv_r = 0xffffffffu, dilated.dilation_h = 0xffffffffu;  // the filter spans ~2^64 rows
  expect_plan_rejected(dilated, "conv geometry", "empty output");
  EXPECT_EQ(mme::conv_out_extent(9, 0, 0, 0xffffffffu, 0xffffffffu, 1), 0u);

  auto padded = conv();
  padded.pad_left = padded.pad_right = 0xffffffffu;
  expect_plan_rejected(padded, "pad_left/pad_right", "the output width would exceed 2^32 - 1");
  auto tall = conv();
  tall.pad_bottom = 0xffffffffu;  // one side is enough
  expect_plan_rejected(tall, "pad_top/pad_bottom", "the output height would exceed 2^32 - 1");

  auto wide_output = conv();
  wide_output.pad_top = wide_output.pad_left = 0x7ffffff0u;  // P, Q just below 2^32: the output spans ~2^69 bytes
  expect_plan_rejected(wide_output, "conv_w (output width)", "the output would span more than 2^48 bytes");

  // 2^47 output elements: 2^48 bytes of bf16 output fit, 2^49 bytes of f32 residual do not.
  auto residual = mme::conv2d_descriptor(1, 1, 1u << 16, 1u << 16, 1u << 15, 1, 1, DType::kF32, DType::kF32,
                                         DType::kBF16);
  EXPECT_EQ(validate_mme_descriptor(residual), std::nullopt);
  residual.flags = mme::kHasResidual;
  residual.r_dtype = static_cast<uint8_t>(DType::kF32);
  expect_plan_rejected(residual, "conv_w (output width)", "the residual would span more than 2^48 bytes");
}

TEST(MmePlan, FlopsTrafficAndComputeTimeAreBounded) {
  // Shared operands (batch strides 0) keep every span small while the work grows.
  auto traffic = gemm(1u << 20, 1u << 16, 1u << 16, DType::kBF16);
  traffic.batch = 1u << 16;
  traffic.batch_stride_a = traffic.batch_stride_b = traffic.batch_stride_c = 0;
  expect_plan_rejected(traffic, "k", "the job would move more than 2^52 bytes");  // A, 2^16 times over

  // 2^69 MACs with every span at 2^47 bytes and one column fold.
  const proto::MmeConfig wide = array(1u << 16, 1u << 23, 1000);
  const auto flops = gemm(1u << 23, 1u << 23, 1u << 23, DType::kBF16);
  expect_plan_rejected(flops, "k", "the job would have more than 2^64 FLOPs", {&wide, false});

  // 2^15 folds of ~2^16 cycles at 1 MHz (~2e15 ps) are fine; 2^10 times more is not.
  const proto::MmeConfig slow = array(128, 1024, 1);
  auto busy = gemm(1u << 16, 1u << 16, 1u << 16, DType::kBF16);
  busy.batch_stride_a = busy.batch_stride_b = busy.batch_stride_c = 0;
  EXPECT_EQ(validate_mme_descriptor(busy, {&slow, false}), std::nullopt);
  busy.batch = 1u << 10;
  expect_plan_rejected(busy, "batch/m/n/k", "more than 2^60 ps", {&slow, false});
}

TEST(MmePlan, HostMemoryCeilingOnlyWhenValuesAreComputed) {
  const proto::MmeConfig cfg = array(128, 128, 1000);
  const auto d = gemm(32768, 32768, 32768, DType::kBF16);
  EXPECT_EQ(validate_mme_descriptor(d, {&cfg, false}), std::nullopt);
  expect_plan_rejected(d, "batch/m/n/k", "more than 8 GiB of host memory", {&cfg, true});
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
    // The MME's dtypes, and i32, which it rejects.
    constexpr DType kTypes[] = {DType::kF32, DType::kBF16, DType::kF16, DType::kI32};
    const auto dtype = [&] { return static_cast<uint8_t>(kTypes[rng() % 4]); };
    d.a_dtype = dtype(), d.b_dtype = dtype(), d.out_dtype = dtype();
    d.activation = 0, d.flags = static_cast<uint8_t>(rng() % 32);  // every known flag, transposes included
    d.r_dtype = dtype();
    d.version = mme::kDescriptorVersion, d.reserved0 = 0, d.reserved1 = 0;
    if (rng() % 2) d.conv_groups = static_cast<uint32_t>(1 + rng() % 4);
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
      d.pad_top = d.pad_bottom = d.pad_left = d.pad_right = 0;
      d.conv_groups = 1;
      uint64_t* fields[] = {&d.lda, &d.ldb, &d.ldc, &d.batch_stride_a, &d.batch_stride_b, &d.batch_stride_c};
      if (rng() % 2) *fields[rng() % 6] = wild;
    }
    const Result<MmePlan> plan = plan_mme_job(d, {&cfg, i % 2 == 0});
    if (!plan.ok()) continue;
    ++accepted;
    for (const MmeOperand& o : plan->operands) ASSERT_LE(o.span_bytes, kMaxMmeOperandBytes);
    ASSERT_LE(plan->traffic_bytes, kMaxMmeTrafficBytes);
    // The spans bindings are checked against (mme::operand_spans) are the ones the engine translates.
    mme::OperandSpans spans;
    ASSERT_TRUE(mme::operand_spans(d, &spans));
    ASSERT_EQ(spans.a, plan->operands[0].span_bytes);
    ASSERT_EQ(spans.b, plan->operands[1].span_bytes);
    ASSERT_EQ(spans.c, plan->operands[2].span_bytes);
  }
  EXPECT_GT(accepted, 0);
}

}  // namespace
}  // namespace kiln::sim
