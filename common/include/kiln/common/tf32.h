// TF32 ("TensorFloat-32"): fp32's sign and 8-bit exponent with a 10-bit
// mantissa. Not a storage type: a matrix engine in TF32 mode reads fp32
// operands, rounds them to TF32, multiplies (a TF32 x TF32 product is exact
// in fp32) and accumulates in fp32. The one definition of that rounding,
// beside bf16 (kiln/common/bf16.h) and fp16 (kiln/common/f16.h): the MME
// applies it, and host references must round their inputs the same way.
//
// Round to nearest, ties to even, on the 13 dropped mantissa bits; the
// result is a float whose low 13 bits are zero. Finite values that round past
// the largest TF32 become infinity (IEEE RNE); subnormals round at the same
// bit position; NaN stays NaN (quiet bit set, sign kept). Integer arithmetic
// only. Pure function: thread-safe.
#pragma once

#include <bit>
#include <cstdint>

namespace kiln {

constexpr float round_to_tf32(float f) {
  const uint32_t u = std::bit_cast<uint32_t>(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return std::bit_cast<float>((u | 0x00400000u) & ~0x1fffu);  // NaN
  const uint32_t rounded = u + 0x0fffu + ((u >> 13) & 1u);  // a carry may reach the exponent: right
  return std::bit_cast<float>(rounded & ~0x1fffu);
}

}  // namespace kiln
