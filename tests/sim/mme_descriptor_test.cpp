// The MME descriptor's validation (sim/src/mme_engine.h): every dtype field
// takes f32 or bf16; an unknown byte, i32, i64, bool and f16 are rejected by name.
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
  (field == "a_dtype" ? d.a_dtype : field == "b_dtype" ? d.b_dtype : d.out_dtype) = raw;
  return d;
}

TEST(MmeDescriptor, TakesF32AndBf16InEveryDtypeField) {
  EXPECT_EQ(validate_mme_descriptor(valid_gemm()), std::nullopt);
  for (const char* field : {"a_dtype", "b_dtype", "out_dtype"}) {
    for (DType t : {DType::kF32, DType::kBF16}) {
      EXPECT_EQ(validate_mme_descriptor(with_dtype(field, static_cast<uint8_t>(t))), std::nullopt)
          << field << " = " << dtype_name(t);
    }
  }
}

TEST(MmeDescriptor, RejectsF16NamingTheField) {
  for (const char* field : {"a_dtype", "b_dtype", "out_dtype"}) {
    const auto error = validate_mme_descriptor(with_dtype(field, static_cast<uint8_t>(DType::kF16)));
    ASSERT_TRUE(error.has_value()) << field;
    EXPECT_NE(error->find(std::string("field '") + field + "' is f16: fp16 is not supported by the MME yet"),
              std::string::npos)
        << *error;
  }
}

TEST(MmeDescriptor, RejectsIntegerBoolAndUnknownDtypeBytes) {
  for (DType t : {DType::kI32, DType::kI64, DType::kBool}) {
    const auto error = validate_mme_descriptor(with_dtype("b_dtype", static_cast<uint8_t>(t)));
    ASSERT_TRUE(error.has_value()) << dtype_name(t);
    EXPECT_NE(error->find("'b_dtype' is " + std::string(dtype_name(t)) + ": the MME takes f32 or bf16"),
              std::string::npos)
        << *error;
  }
  for (int raw : {int{kDTypeCount}, 0x7f, 0xff}) {
    const auto error = validate_mme_descriptor(with_dtype("out_dtype", static_cast<uint8_t>(raw)));
    ASSERT_TRUE(error.has_value()) << raw;
    EXPECT_NE(error->find("'out_dtype' is unknown (" + std::to_string(raw) + ")"), std::string::npos) << *error;
  }
}

}  // namespace
}  // namespace kiln::sim
