// The MME descriptor's validation (sim/src/mme_plan.h): every dtype field
// takes f32, bf16 or f16; an unknown byte and i32 are rejected by name; the
// version, the TF32, residual and transpose flags, the convolution's groups
// and the reserved fields are checked naming the field.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "kiln/common/dtype.h"
#include "kiln/common/mme_descriptor.h"
#include "mme_engine.h"

namespace kiln::sim {
namespace {

mme::Descriptor valid_gemm() {
  mme::Descriptor d = mme::gemm_descriptor(8, 16, 4, DType::kBF16, DType::kBF16, DType::kF32);
  d.a_addr = 0x1000, d.b_addr = 0x2000, d.c_addr = 0x3000;
  return d;
}

// The descriptor with one dtype field set to `raw`.
mme::Descriptor with_dtype(const std::string& field, uint8_t raw) {
  mme::Descriptor d = valid_gemm();
  d.flags |= mme::kHasResidual;  // so that r_dtype is read
  d.r_addr = 0x4000;
  (field == "a_dtype"   ? d.a_dtype
   : field == "b_dtype" ? d.b_dtype
   : field == "r_dtype" ? d.r_dtype
                        : d.out_dtype) = raw;
  return d;
}

// Rejected, naming `field` and saying `why`.
void expect_rejected(const mme::Descriptor& d, const std::string& field, const std::string& why) {
  const auto error = validate_mme_descriptor(d);
  ASSERT_TRUE(error.has_value()) << field;
  EXPECT_NE(error->find("field '" + field + "' " + why), std::string::npos) << *error;
}

TEST(MmeDescriptor, TakesF32Bf16AndF16InEveryDtypeField) {
  EXPECT_EQ(validate_mme_descriptor(valid_gemm()), std::nullopt);
  for (const char* field : {"a_dtype", "b_dtype", "out_dtype", "r_dtype"}) {
    for (DType t : {DType::kF32, DType::kBF16, DType::kF16}) {
      EXPECT_EQ(validate_mme_descriptor(with_dtype(field, static_cast<uint8_t>(t))), std::nullopt)
          << field << " = " << dtype_name(t);
    }
  }
}

TEST(MmeDescriptor, RejectsIntegerBoolAndUnknownDtypeBytes) {
  for (const char* field : {"b_dtype", "r_dtype"}) {
    for (DType t : {DType::kI32, DType::kI64, DType::kBool}) {
      expect_rejected(with_dtype(field, static_cast<uint8_t>(t)), field,
                      "is " + std::string(dtype_name(t)) + ": the MME takes f32, bf16 or f16");
    }
  }
  for (int raw : {int{kDTypeCount}, 0x7f, 0xff}) {
    expect_rejected(with_dtype("out_dtype", static_cast<uint8_t>(raw)), "out_dtype",
                    "is unknown (" + std::to_string(raw) + ")");
  }
  // Without kHasResidual, r_dtype is not read.
  mme::Descriptor d = valid_gemm();
  d.r_dtype = 0xff;
  EXPECT_EQ(validate_mme_descriptor(d), std::nullopt);
}

TEST(MmeDescriptor, OnlyTheCurrentVersionIsRead) {
  mme::Descriptor d = valid_gemm();
  EXPECT_EQ(d.version, mme::kDescriptorVersion);
  d.version = 0;  // the 168-byte layout, which had no version field
  expect_rejected(d, "version", "is 0: this device reads version 1 (0 is the 168-byte layout");
  d.version = 2;
  expect_rejected(d, "version", "is 2: this device reads version 1");
}

TEST(MmeDescriptor, Tf32OnlyWithF32Inputs) {
  mme::Descriptor d = mme::gemm_descriptor(8, 16, 4, DType::kF32, DType::kF32, DType::kBF16);
  d.flags = mme::kTf32;
  EXPECT_EQ(validate_mme_descriptor(d), std::nullopt);
  d.b_dtype = static_cast<uint8_t>(DType::kBF16);
  expect_rejected(d, "flags", "has kTf32, which rounds f32 inputs to TF32, but A and B are f32 and bf16");
  d.a_dtype = d.b_dtype = static_cast<uint8_t>(DType::kF16);
  expect_rejected(d, "flags",
                  "has kTf32, which rounds f32 inputs to TF32, but A and B are f16 and f16, not both f32");
  d.flags = 1u << 7;
  expect_rejected(d, "flags", "has unknown bits");
}

TEST(MmeDescriptor, TransposedOperandsAreGemmOnlyWithLeadingDimensionsOfTheStoredRows) {
  mme::Descriptor d = valid_gemm();  // m 8, k 16, n 4
  d.flags = mme::kTransposeA | mme::kTransposeB;
  d.lda = 8;   // A stored 16 x 8
  d.ldb = 16;  // B stored 4 x 16
  EXPECT_EQ(validate_mme_descriptor(d), std::nullopt);
  d.lda = 7;
  expect_rejected(d, "lda", "is smaller than m (kTransposeA: A is stored k x m)");
  d.lda = 8, d.ldb = 15;  // >= n, but B^T's rows hold k
  expect_rejected(d, "ldb", "is smaller than k (kTransposeB: B is stored n x k)");
  d.flags = mme::kTransposeB;  // A dense again: lda >= k
  d.ldb = 16;
  expect_rejected(d, "lda", "is smaller than k");

  mme::Descriptor conv = mme::conv2d_descriptor(1, 6, 8, 8, 4, 3, 3, DType::kF32, DType::kF32, DType::kF32);
  EXPECT_EQ(validate_mme_descriptor(conv), std::nullopt);
  conv.flags = mme::kTransposeA;
  expect_rejected(conv, "flags", "has kTransposeA, which only a GEMM takes");
  conv.flags = mme::kTransposeB | mme::kHasBias;
  expect_rejected(conv, "flags", "has kTransposeB, which only a GEMM takes");
  conv.flags = mme::kChannelsLastInput;  // a convolution's input stored NHWC
  EXPECT_EQ(validate_mme_descriptor(conv), std::nullopt);
  d.flags = mme::kChannelsLastInput;
  expect_rejected(d, "flags", "has kChannelsLastInput, which only a CONV2D takes");
  // The first unknown bit after them is still refused.
  d.flags = 1u << 6;
  expect_rejected(d, "flags", "has unknown bits");
}

TEST(MmeDescriptor, ReservedFieldsMustBeZero) {
  mme::Descriptor d = valid_gemm();
  d.reserved0 = 1;
  expect_rejected(d, "reserved0/1", "must be zero");
  d.reserved0 = 0, d.reserved1 = 0x100;
  expect_rejected(d, "reserved0/1", "must be zero");
}

TEST(MmeDescriptor, ActivationsIncludeExactGelu) {
  mme::Descriptor d = valid_gemm();
  d.activation = static_cast<uint8_t>(mme::Activation::GELU);
  EXPECT_EQ(validate_mme_descriptor(d), std::nullopt);
  d.activation = static_cast<uint8_t>(mme::Activation::MAX_COUNT);
  expect_rejected(d, "activation", "is unknown");
}

TEST(MmeDescriptor, ConvolutionGroupsMustDivideBothChannelCounts) {
  mme::Descriptor d = mme::conv2d_descriptor(1, 6, 8, 8, 4, 3, 3, DType::kF32, DType::kF32, DType::kF32, 2);
  EXPECT_EQ(validate_mme_descriptor(d), std::nullopt);
  d.conv_groups = 0;
  expect_rejected(d, "conv_groups", "must be > 0 (1 for an ungrouped convolution)");
  d.conv_groups = 3;  // divides C = 6, not K = 4
  expect_rejected(d, "conv_groups", "is 3: it must divide conv_c (6) and conv_k (4)");
  d.conv_groups = 4;  // divides K, not C
  expect_rejected(d, "conv_groups", "is 4: it must divide conv_c (6) and conv_k (4)");
  d.conv_k = 6, d.conv_groups = 6;  // depthwise
  EXPECT_EQ(validate_mme_descriptor(d), std::nullopt);
}

TEST(MmeDescriptor, OperandSpansCoverTheResidualAndTheGroupedWeights) {
  mme::Descriptor d = valid_gemm();  // 8 x 16 times 16 x 4, f32 out
  d.flags = mme::kHasResidual | mme::kHasBias;
  d.r_dtype = static_cast<uint8_t>(DType::kBF16);
  mme::OperandSpans s;
  ASSERT_TRUE(mme::operand_spans(d, &s));
  EXPECT_EQ(s.c, 8 * 4 * 4u);
  EXPECT_EQ(s.r, 8 * 4 * 2u);  // C's layout, R's element size
  EXPECT_EQ(s.bias, 4 * 4u);

  mme::Descriptor conv = mme::conv2d_descriptor(2, 6, 8, 8, 4, 3, 3, DType::kBF16, DType::kBF16, DType::kF32, 2);
  conv.pad_top = 1, conv.pad_bottom = 0, conv.pad_left = 2, conv.pad_right = 1;
  conv.flags = mme::kHasResidual;
  conv.r_dtype = static_cast<uint8_t>(DType::kF32);
  ASSERT_TRUE(mme::operand_spans(conv, &s));
  const uint32_t p = (8 + 1 + 0 - 3) / 1 + 1, q = (8 + 2 + 1 - 3) / 1 + 1;
  EXPECT_EQ(mme::conv_out_extent(8, 1, 0, 1, 3, 1), p);
  EXPECT_EQ(mme::conv_out_extent(8, 2, 1, 1, 3, 1), q);
  EXPECT_EQ(s.b, 4 * (6 / 2) * 3 * 3 * 2u);  // K x (C/groups) x R x S
  EXPECT_EQ(s.c, 2 * 4 * p * q * 4u);
  EXPECT_EQ(s.r, s.c);
  conv.conv_groups = 0;
  EXPECT_FALSE(mme::operand_spans(conv, &s));
}

}  // namespace
}  // namespace kiln::sim
