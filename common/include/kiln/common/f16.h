// f16: IEEE 754 binary16 ("half": 1 sign, 5 exponent and 10 mantissa bits).
// The one definition of its conversions, next to bf16 (kiln/common/bf16.h)
// and TF32 (kiln/common/tf32.h): the simulator's MME, tests' host references
// and whatever else stores fp16 use it, and a kernel-API fp16 type should be
// a `using` of it, as the kernel API's bf16 is of kiln/common/bf16.h.
//
// Conversion to float is exact (every binary16, subnormals included, is a
// float). Conversion from float rounds to nearest, ties to even, as IEEE
// requires and as the device does when it stores a result:
//   - finite values at or past 65520 (halfway between the largest half,
//     65504, and 2^16) become infinity with their sign; infinities stay;
//   - values below 2^-14 become subnormals (multiples of 2^-24), rounded at
//     that fixed step; at most 2^-25 in magnitude they round to a signed zero;
//   - NaN stays NaN: sign and the top 10 payload bits kept, the quiet bit set
//     (dropping payload bits could otherwise turn a NaN into an infinity).
// Integer arithmetic only, so the result never depends on the host's
// floating-point rounding mode or denormal flushing.
//
// A 2-byte trivially copyable value type with no invariants: thread-compatible,
// storable directly in tensor memory.
#pragma once

#include <bit>
#include <cstdint>

namespace kiln {

struct f16 {
  uint16_t bits = 0;

  static constexpr f16 from_bits(uint16_t raw) {
    f16 v;
    v.bits = raw;
    return v;
  }

  static constexpr f16 from_float(float f) {
    const uint32_t u = std::bit_cast<uint32_t>(f);
    const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
    const uint32_t abs = u & 0x7fffffffu;
    if (abs > 0x7f800000u) {  // NaN: keep the payload's top bits, force quiet
      return from_bits(static_cast<uint16_t>(sign | 0x7e00u | ((abs >> 13) & 0x03ffu)));
    }
    if (abs >= 0x47800000u) return from_bits(sign | 0x7c00u);  // |f| >= 2^16, or inf: infinity
    if (abs < 0x38800000u) {
      // Below 2^-14: a subnormal half, value / 2^-24 rounded to an integer.
      // A float with exponent field e is full * 2^(e - 150), full the 24-bit
      // significand, so the half's mantissa is full >> (126 - e), rounded.
      const uint32_t e = abs >> 23;
      const uint32_t shift = 126 - e;  // >= 14 here; float subnormals (e = 0) give 126
      if (e == 0 || shift > 24) return from_bits(sign);  // at most 2^-25 (a tie, to even 0) or less
      const uint32_t full = (abs & 0x007fffffu) | 0x00800000u;
      uint32_t q = full >> shift;
      const uint32_t rest = full & ((1u << shift) - 1), half = 1u << (shift - 1);
      if (rest > half || (rest == half && (q & 1u))) ++q;  // may carry into the smallest normal: right
      return from_bits(static_cast<uint16_t>(sign | q));
    }
    // Normal: rebias the exponent (127 -> 15) and round the 13 dropped bits
    // to even; a carry out of the mantissa bumps the exponent, up to inf.
    const uint32_t rebased = abs - ((127u - 15u) << 23);
    const uint32_t rounded = rebased + 0x0fffu + ((rebased >> 13) & 1u);
    return from_bits(static_cast<uint16_t>(sign | (rounded >> 13)));
  }

  constexpr float to_float() const {
    const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
    const uint32_t exp = (bits >> 10) & 0x1fu, mant = bits & 0x03ffu;
    if (exp == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));  // inf, NaN (payload kept)
    if (exp != 0) return std::bit_cast<float>(sign | ((exp + 127u - 15u) << 23) | (mant << 13));
    if (mant == 0) return std::bit_cast<float>(sign);
    // Subnormal: mant * 2^-24. Normalise: shift the leading 1 to bit 10.
    const int shifts = std::countl_zero(static_cast<uint16_t>(mant)) - 5;  // 1..10
    const uint32_t norm = (mant << shifts) & 0x03ffu;
    return std::bit_cast<float>(sign | (static_cast<uint32_t>(113 - shifts) << 23) | (norm << 13));
  }

  // Bitwise equality (so NaN == NaN with the same bits, and +0 != -0).
  friend constexpr bool operator==(f16 a, f16 b) { return a.bits == b.bits; }
};

static_assert(sizeof(f16) == 2, "f16 must be stored in two bytes");

// Rounds to nearest even; see above.
constexpr f16 to_f16(float f) { return f16::from_float(f); }
constexpr float to_float(f16 v) { return v.to_float(); }
// The float nearest to f that a binary16 can hold (round trip through f16).
constexpr float round_to_f16(float f) { return f16::from_float(f).to_float(); }

}  // namespace kiln
