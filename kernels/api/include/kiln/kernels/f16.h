// f16: IEEE 754 binary16 (1 sign, 5 exponent, 10 mantissa bits), the vector
// cores' second 16-bit float. The kernel API's one fp16 <-> fp32 conversion:
// everything in kernels/ that converts fp16 calls f16::from_float /
// f16::to_float here. When kiln/common grows its own binary16 header (the
// matrix engine's fp16 work), this file becomes a `using` of that type, as
// bf16.h is of kiln/common/bf16.h, and nothing else in kernels/ changes.
//
// to_float is exact (every binary16 value is a binary32 value, subnormals
// included). from_float rounds to nearest, ties to even, on the exact binary32
// value, with no double rounding:
//   - |x| >= 65520 (halfway between the largest finite 65504 and 2^16)
//     becomes +-inf, as IEEE RNE requires; infinities stay infinities;
//   - |x| below 2^-14 becomes a subnormal (steps of 2^-24), and below 2^-25
//     (or at exactly 2^-25: a tie, to the even 0) a signed zero;
//   - NaN stays NaN with its sign and the top 9 payload bits, quiet bit set
//     (truncating the payload could otherwise leave an infinity).
// Integer arithmetic only, so the result does not depend on the host's
// floating-point rounding mode.
//
// A 2-byte trivially copyable value type with no invariants: thread-compatible,
// storable directly in tensor memory.
#pragma once

#include <bit>
#include <cstdint>

namespace kiln::kernels {

struct f16 {
  uint16_t bits = 0;

  static constexpr f16 from_bits(uint16_t raw) {
    f16 v;
    v.bits = raw;
    return v;
  }

  static constexpr f16 from_float(float x) {
    const uint32_t u = std::bit_cast<uint32_t>(x);
    const auto sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
    const uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) {  // NaN: keep the payload's top bits, force quiet
      return from_bits(static_cast<uint16_t>(sign | 0x7e00u | ((a >> 13) & 0x03ffu)));
    }
    if (a >= 0x477ff000u) return from_bits(static_cast<uint16_t>(sign | 0x7c00u));  // >= 65520: inf
    if (a >= 0x38800000u) {
      // Normal (>= 2^-14): rebias the exponent (127 -> 15) and round the 13
      // dropped mantissa bits; a carry moves into the exponent correctly.
      uint32_t h = (a - 0x38000000u) >> 13;
      const uint32_t rest = a & 0x1fffu;
      if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;
      return from_bits(static_cast<uint16_t>(sign | h));
    }
    // Subnormal or zero: the value in units of 2^-24 is mant * 2^(e - 126)
    // with the implicit bit made explicit; round the bits shifted out. A
    // result of 0x400 is the smallest normal, which these bits spell.
    const uint32_t e = a >> 23;
    if (e < 102) return from_bits(sign);  // below 2^-25, or a binary32 subnormal
    const uint32_t mant = (a & 0x007fffffu) | 0x00800000u;
    const uint32_t shift = 126 - e;  // 14..24
    uint32_t q = mant >> shift;
    const uint32_t rest = mant & ((1u << shift) - 1u);
    const uint32_t half = 1u << (shift - 1u);
    if (rest > half || (rest == half && (q & 1u))) ++q;
    return from_bits(static_cast<uint16_t>(sign | q));
  }

  constexpr float to_float() const {
    const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
    const uint32_t e = (bits >> 10) & 0x1fu;
    const uint32_t m = bits & 0x03ffu;
    if (e == 0x1fu) return std::bit_cast<float>(sign | 0x7f800000u | (m << 13));  // inf, NaN (payload kept)
    if (e != 0) return std::bit_cast<float>(sign | ((e + 112u) << 23) | (m << 13));
    // Subnormal: m * 2^-24, exact in binary32 (at most 10 significant bits).
    const float magnitude = static_cast<float>(m) * 5.9604644775390625e-8f;
    return sign != 0 ? -magnitude : magnitude;
  }

  // Bitwise equality (so NaN == NaN with the same bits, and +0 != -0).
  friend constexpr bool operator==(f16 a, f16 b) { return a.bits == b.bits; }
};

static_assert(sizeof(f16) == 2, "f16 must be stored in two bytes");

// Rounds to nearest even; see above.
constexpr f16 to_f16(float x) { return f16::from_float(x); }
constexpr float to_float(f16 v) { return v.to_float(); }
// The float nearest to x that an f16 can hold (round trip through f16).
constexpr float round_to_f16(float x) { return f16::from_float(x).to_float(); }

}  // namespace kiln::kernels
