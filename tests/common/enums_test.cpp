// The one dtype enum and the one memory-kind enum of kiln_common: values that
// packed layouts depend on, sizes, names, and decoding raw bytes.
#include <gtest/gtest.h>

#include <cstdint>

#include "kiln/common/dtype.h"
#include "kiln/common/memory_kind.h"

namespace kiln {
namespace {

// MME descriptors and kernel argument blocks carry these values as bytes.
static_assert(static_cast<uint8_t>(DType::kF32) == 0 && static_cast<uint8_t>(DType::kBF16) == 1 &&
              static_cast<uint8_t>(DType::kI32) == 2 && static_cast<uint8_t>(DType::kF16) == 3 &&
              static_cast<uint8_t>(DType::kI64) == 4 && static_cast<uint8_t>(DType::kBool) == 5);
static_assert(sizeof(DType) == 1 && sizeof(MemoryKind) == 1);

TEST(DType, SizesNamesAndKinds) {
  EXPECT_EQ(dtype_size(DType::kF32), 4u);
  EXPECT_EQ(dtype_size(DType::kBF16), 2u);
  EXPECT_EQ(dtype_size(DType::kI32), 4u);
  EXPECT_EQ(dtype_size(DType::kF16), 2u);
  EXPECT_EQ(dtype_size(DType::kI64), 8u);
  EXPECT_EQ(dtype_size(DType::kBool), 1u);
  EXPECT_EQ(dtype_name(DType::kF32), "f32");
  EXPECT_EQ(dtype_name(DType::kBF16), "bf16");
  EXPECT_EQ(dtype_name(DType::kI32), "i32");
  EXPECT_EQ(dtype_name(DType::kF16), "f16");
  EXPECT_EQ(dtype_name(DType::kI64), "i64");
  EXPECT_EQ(dtype_name(DType::kBool), "bool");
  EXPECT_TRUE(is_float(DType::kF32));
  EXPECT_TRUE(is_float(DType::kBF16));
  EXPECT_TRUE(is_float(DType::kF16));
  EXPECT_FALSE(is_float(DType::kI32));
  EXPECT_FALSE(is_float(DType::kI64));
  EXPECT_FALSE(is_float(DType::kBool));
  EXPECT_TRUE(is_integer(DType::kI32));
  EXPECT_TRUE(is_integer(DType::kI64));
  EXPECT_FALSE(is_integer(DType::kBool));
  EXPECT_FALSE(is_integer(DType::kF16));
}

TEST(DType, IsValidDtypeAcceptsExactlyTheEnumsValues) {
  for (int raw = 0; raw < 256; ++raw) {
    EXPECT_EQ(is_valid_dtype(static_cast<uint8_t>(raw)), raw < 6) << raw;
  }
  // A value outside the enum has no size and no name.
  const auto bogus = static_cast<DType>(kDTypeCount);
  EXPECT_EQ(dtype_size(bogus), 0u);
  EXPECT_EQ(dtype_name(bogus), "invalid");
  EXPECT_FALSE(is_float(bogus));
}

TEST(MemoryKind, Names) {
  EXPECT_EQ(memory_kind_name(MemoryKind::kHbm), "HBM");
  EXPECT_EQ(memory_kind_name(MemoryKind::kSram), "SRAM");
  EXPECT_EQ(memory_kind_name(MemoryKind::kHost), "host");
  EXPECT_EQ(memory_kind_name(static_cast<MemoryKind>(7)), "invalid");
}

}  // namespace
}  // namespace kiln
