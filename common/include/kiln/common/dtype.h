// Element types: the one dtype enum of Kiln. The matrix engine's descriptor
// (mme_descriptor.h: a_dtype, b_dtype, out_dtype), the vector cores' tensor
// descriptors (kiln/kernels/tensor.h) and whatever sits above them name
// element types with it.
//
// The numeric values are part of the packed layouts that carry them (an MME
// descriptor stores them as raw bytes) and never change; a new dtype takes the
// next free value. Which dtypes an engine accepts is that engine's check, not
// this header's: the MME takes f32, bf16 and f16; vector-core kernels f32, bf16
// and i32 (their validation rejects f16 by name). The conversions of the
// narrow floats are defined once each: kiln/common/bf16.h, kiln/common/f16.h
// (f16), and kiln/common/tf32.h for the MME's TF32 input rounding.
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
  kF16 = 3,   // IEEE 754 binary16 (the MME takes it; the vector cores do not yet)
};

// Raw values 0 .. kDTypeCount - 1 are dtypes.
inline constexpr uint8_t kDTypeCount = 4;

// True when a raw byte (e.g. a descriptor field) names a DType.
constexpr bool is_valid_dtype(uint8_t raw) { return raw < kDTypeCount; }

// Bytes per element: 4, 2, 4, 2; 0 for a value outside the enum.
constexpr uint32_t dtype_size(DType d) {
  switch (d) {
    case DType::kF32:
    case DType::kI32: return 4;
    case DType::kBF16:
    case DType::kF16: return 2;
  }
  return 0;
}

// True for the floating-point dtypes (f32, bf16, f16).
constexpr bool is_float(DType d) { return d == DType::kF32 || d == DType::kBF16 || d == DType::kF16; }

// "f32", "bf16", "i32", "f16"; "invalid" for a value outside the enum.
constexpr std::string_view dtype_name(DType d) {
  switch (d) {
    case DType::kF32: return "f32";
    case DType::kBF16: return "bf16";
    case DType::kI32: return "i32";
    case DType::kF16: return "f16";
  }
  return "invalid";
}

}  // namespace kiln
