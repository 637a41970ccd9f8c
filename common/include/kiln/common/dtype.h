// Element types: the one dtype enum of Kiln. The matrix engine's descriptor
// (mme_descriptor.h: a_dtype, b_dtype, out_dtype), the vector cores' tensor
// descriptors (kiln/kernels/tensor.h) and whatever sits above them name
// element types with it.
//
// The numeric values are part of the packed layouts that carry them (an MME
// descriptor stores them as raw bytes) and never change; a new dtype takes the
// next free value. Which dtypes an engine accepts is that engine's check, not
// this header's: the MME takes f32, bf16 and f16 (it rejects the others by
// name); the vector cores take every dtype here, each library kernel
// documenting which it accepts (kiln/kernels/library.h). The conversions of
// the narrow floats are defined once each: kiln/common/bf16.h,
// kiln/common/f16.h, and kiln/common/tf32.h for the MME's TF32 rounding.
//
// Pure functions of a value; thread-safe. A dtype decoded from bytes that
// nobody has checked (device memory is hostile until checked) must pass
// is_valid_dtype() before anything relies on it: for a value outside the enum,
// dtype_size() is 0 and dtype_name() is "invalid".
#pragma once

#include <cstdint>
#include <string_view>

namespace kiln {

enum class DType : uint8_t {
  kF32 = 0,   // IEEE 754 binary32
  kBF16 = 1,  // bfloat16: the upper half of a binary32
  kI32 = 2,   // two's-complement 32-bit integer
  kF16 = 3,   // IEEE 754 binary16
  kI64 = 4,   // two's-complement 64-bit integer
  kBool = 5,  // one byte per element: 0 is false, 1 is true (readers take any non-zero byte as true)
};

// Raw values 0 .. kDTypeCount - 1 are dtypes.
inline constexpr uint8_t kDTypeCount = 6;

// True when a raw byte (e.g. a descriptor field) names a DType.
constexpr bool is_valid_dtype(uint8_t raw) { return raw < kDTypeCount; }

// Bytes per element: f32 4, bf16 2, i32 4, f16 2, i64 8, bool 1; 0 for a
// value outside the enum.
constexpr uint32_t dtype_size(DType d) {
  switch (d) {
    case DType::kF32:
    case DType::kI32: return 4;
    case DType::kBF16:
    case DType::kF16: return 2;
    case DType::kI64: return 8;
    case DType::kBool: return 1;
  }
  return 0;
}

// True for the floating-point dtypes (f32, bf16, f16).
constexpr bool is_float(DType d) { return d == DType::kF32 || d == DType::kBF16 || d == DType::kF16; }

// True for the integer dtypes (i32, i64); bool is neither float nor integer.
constexpr bool is_integer(DType d) { return d == DType::kI32 || d == DType::kI64; }

// "f32", "bf16", "i32", "f16", "i64", "bool"; "invalid" for a value outside the enum.
constexpr std::string_view dtype_name(DType d) {
  switch (d) {
    case DType::kF32: return "f32";
    case DType::kBF16: return "bf16";
    case DType::kI32: return "i32";
    case DType::kF16: return "f16";
    case DType::kI64: return "i64";
    case DType::kBool: return "bool";
  }
  return "invalid";
}

}  // namespace kiln
