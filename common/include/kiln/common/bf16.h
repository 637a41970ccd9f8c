// bf16: the device's 16-bit "brain" floating-point storage type (1 sign, 8
// exponent and 7 mantissa bits: the top half of an IEEE fp32). The one
// definition, shared by the simulator's MME and the kernel API.
//
// Conversion from float rounds to nearest, ties to even (RNE), as the device
// does when it stores a bf16 result. NaN stays NaN (quiet bit set, sign kept:
// rounding could otherwise turn a NaN with only low mantissa bits into an
// infinity). Finite values that round past the largest bf16 become infinity,
// as IEEE RNE requires. Conversion to float is exact.
//
// A 2-byte trivially copyable value type with no invariants: thread-compatible,
// storable directly in tensor memory.
#pragma once

#include <bit>
#include <cstdint>

namespace kiln {

struct bf16 {
  uint16_t bits = 0;

  static constexpr bf16 from_bits(uint16_t raw) {
    bf16 v;
    v.bits = raw;
    return v;
  }

  static constexpr bf16 from_float(float f) {
    uint32_t u = std::bit_cast<uint32_t>(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) {  // NaN: keep sign and payload top, force quiet
      return from_bits(static_cast<uint16_t>((u >> 16) | 0x0040u));
    }
    u += 0x7fffu + ((u >> 16) & 1u);  // round half to even on the 16 dropped bits
    return from_bits(static_cast<uint16_t>(u >> 16));
  }

  constexpr float to_float() const { return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16); }

  // Bitwise equality (so NaN == NaN with the same bits, and +0 != -0).
  friend constexpr bool operator==(bf16 a, bf16 b) { return a.bits == b.bits; }
};

static_assert(sizeof(bf16) == 2, "bf16 must be stored in two bytes");

// Rounds to nearest even; see above.
constexpr bf16 to_bf16(float f) { return bf16::from_float(f); }
constexpr float to_float(bf16 v) { return v.to_float(); }
// The float nearest to f that a bf16 can hold (round trip through bf16).
constexpr float round_to_bf16(float f) { return bf16::from_float(f).to_float(); }

}  // namespace kiln
