// bfloat16: the device's 16-bit float (1 sign, 8 exponent, 7 mantissa bits).
// Conversion from float rounds to nearest, ties to even; NaN stays NaN.
#pragma once

#include <cstdint>
#include <cstring>

namespace kiln {

struct bf16 {
  uint16_t bits = 0;

  static constexpr bf16 from_bits(uint16_t b) {
    bf16 v;
    v.bits = b;
    return v;
  }
};

inline bf16 to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu) != 0) {
    return bf16::from_bits(static_cast<uint16_t>((u >> 16) | 0x0040u));  // quiet NaN, keep sign
  }
  const uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);  // ties to even
  return bf16::from_bits(static_cast<uint16_t>((u + rounding) >> 16));
}

inline float to_float(bf16 b) {
  const uint32_t u = static_cast<uint32_t>(b.bits) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// The float nearest to f that a bf16 can hold.
inline float round_to_bf16(float f) { return to_float(to_bf16(f)); }

}  // namespace kiln
