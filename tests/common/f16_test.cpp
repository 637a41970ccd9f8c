// fp16 (kiln/common/f16.h) and TF32 (kiln/common/tf32.h) rounding: round
// to nearest even (ties, carries into the exponent, subnormals), overflow to
// infinity, NaN preserved; checked against independent references that pick
// the nearest representable value in double, and against the compiler's own
// _Float16 conversion where the compiler has one.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "kiln/common/f16.h"
#include "kiln/common/tf32.h"

namespace kiln {
namespace {

uint16_t to_bits(uint32_t f32_bits) { return f16::from_float(std::bit_cast<float>(f32_bits)).bits; }
uint32_t tf32_bits(uint32_t f32_bits) { return std::bit_cast<uint32_t>(round_to_tf32(std::bit_cast<float>(f32_bits))); }

// The value of a binary16 bit pattern, from the format's definition.
double half_value(uint16_t h) {
  const int exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  const double magnitude = exp == 0 ? std::ldexp(mant, -24) : std::ldexp(1024 + mant, exp - 25);
  return (h & 0x8000) ? -magnitude : magnitude;
}

// Nearest binary16 of a finite float by explicit comparison with its two
// neighbours among the 31744 non-negative finite halves. Past the largest
// (65504) IEEE rounding measures against 2^16, as if the exponent went on,
// and delivers infinity when that is nearer or a tie (2^16 is "even").
uint16_t reference_f16(float f) {
  static const std::vector<double> halves = [] {
    std::vector<double> v;
    for (uint16_t h = 0; h < 0x7c00; ++h) v.push_back(half_value(h));  // increasing with the bits
    return v;
  }();
  const double x = std::fabs(static_cast<double>(f));
  const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  const auto above = std::upper_bound(halves.begin(), halves.end(), x);
  const uint16_t down = static_cast<uint16_t>(above - halves.begin() - 1);  // largest half <= x
  const uint16_t up = static_cast<uint16_t>(down + 1);                        // 0x7c00: infinity
  const double up_value = up == 0x7c00 ? 65536.0 : halves[up];
  const double d_down = x - halves[down], d_up = up_value - x;
  if (d_down < d_up) return sign | down;
  if (d_up < d_down) return sign | up;
  return sign | ((down & 1) == 0 ? down : up);
}

// Nearest TF32 of a finite float: 11 significant bits, quantum 2^-136 below
// fp32's smallest normal; ties to even. A result of 2^128 means infinity.
double reference_tf32(float f) {
  int exp = 0;
  (void)std::frexp(static_cast<double>(f), &exp);  // f = m * 2^exp, 0.5 <= |m| < 1
  exp = std::max(exp, -125);                        // fp32's normal range starts at 0.5 * 2^-125
  return std::ldexp(std::nearbyint(std::ldexp(static_cast<double>(f), 11 - exp)), exp - 11);
}

static_assert(to_f16(1.0f).bits == 0x3c00, "conversion is constexpr");
static_assert(to_float(f16::from_bits(0x7bff)) == 65504.0f);
static_assert(round_to_tf32(1.0f) == 1.0f);

TEST(F16, ExactValuesRoundTrip) {
  for (float f : {0.0f, -0.0f, 1.0f, -2.5f, 0.15625f, 65504.0f, 6.103515625e-05f, 5.9604644775390625e-08f}) {
    EXPECT_EQ(f16::from_float(f).to_float(), f);
    EXPECT_EQ(std::signbit(f16::from_float(f).to_float()), std::signbit(f));
  }
  EXPECT_EQ(f16::from_float(1.0f).bits, 0x3c00);
  EXPECT_EQ(f16::from_float(-2.0f).bits, 0xc000);
  EXPECT_EQ(f16::from_float(65504.0f).bits, 0x7bff);                 // the largest half
  EXPECT_EQ(f16::from_float(6.103515625e-05f).bits, 0x0400);         // 2^-14, the smallest normal
  EXPECT_EQ(f16::from_float(5.9604644775390625e-08f).bits, 0x0001);  // 2^-24, the smallest subnormal
}

TEST(F16, RoundsHalfwayCasesToEven) {
  EXPECT_EQ(to_bits(0x3f801000), 0x3c00);  // 1 + 2^-11: tie, 0x3c00 is even
  EXPECT_EQ(to_bits(0x3f803000), 0x3c02);  // tie between 0x3c01 and 0x3c02: even is up
  EXPECT_EQ(to_bits(0x3f801001), 0x3c01);  // just above the tie
  EXPECT_EQ(to_bits(0x3f800fff), 0x3c00);  // just below the tie
  EXPECT_EQ(to_bits(0xbf803000), 0xbc02);  // negative ties round the magnitude the same way
  EXPECT_EQ(to_bits(0x3ffff000), 0x4000);  // carry into the exponent
  EXPECT_EQ(to_bits(0x387fe000), 0x0400);  // the largest subnormal's tie with 2^-14: up to the normal
}

TEST(F16, SubnormalsRoundAtTheFixedStep) {
  EXPECT_EQ(f16::from_float(std::ldexp(1.0f, -25)).bits, 0x0000);         // half the smallest step: tie to 0
  EXPECT_EQ(f16::from_float(std::ldexp(1.5f, -25)).bits, 0x0001);         // past the tie: 2^-24
  EXPECT_EQ(f16::from_float(std::ldexp(1.5f, -24)).bits, 0x0002);         // tie between 1 and 2 steps: even
  EXPECT_EQ(f16::from_float(std::ldexp(2.5f, -24)).bits, 0x0002);         // tie between 2 and 3 steps: even
  EXPECT_EQ(f16::from_float(-std::ldexp(3.0f, -24)).bits, 0x8003);        // exact, negative
  EXPECT_EQ(f16::from_float(std::ldexp(1.0f, -30)).bits, 0x0000);         // far below: zero
  EXPECT_EQ(f16::from_float(-std::ldexp(1.0f, -30)).bits, 0x8000);        // signed zero
  EXPECT_EQ(f16::from_float(std::numeric_limits<float>::denorm_min()).bits, 0x0000);
  EXPECT_EQ(f16::from_bits(0x0001).to_float(), std::ldexp(1.0f, -24));
  EXPECT_EQ(f16::from_bits(0x03ff).to_float(), std::ldexp(1023.0f, -24));
}

TEST(F16, InfinityAndOverflow) {
  EXPECT_EQ(f16::from_float(std::numeric_limits<float>::infinity()).bits, 0x7c00);
  EXPECT_EQ(f16::from_float(-std::numeric_limits<float>::infinity()).bits, 0xfc00);
  EXPECT_EQ(f16::from_float(65519.996f).bits, 0x7bff);  // below the tie: the largest half
  EXPECT_EQ(f16::from_float(65520.0f).bits, 0x7c00);    // the tie with 2^16 rounds to infinity
  EXPECT_EQ(f16::from_float(-65520.0f).bits, 0xfc00);
  EXPECT_EQ(f16::from_float(1e6f).bits, 0x7c00);
  EXPECT_EQ(f16::from_float(std::numeric_limits<float>::max()).bits, 0x7c00);
  EXPECT_TRUE(std::isinf(f16::from_bits(0xfc00).to_float()));
}

TEST(F16, NanStaysNan) {
  EXPECT_EQ(to_bits(0x7fc00000), 0x7e00);  // quiet NaN
  EXPECT_EQ(to_bits(0x7f800001), 0x7e00);  // payload only in the dropped bits: still NaN, quieted
  EXPECT_EQ(to_bits(0x7fffffff), 0x7fff);
  EXPECT_EQ(to_bits(0xffc02000), 0xfe01);  // sign and the payload's top bits kept
  EXPECT_TRUE(std::isnan(f16::from_float(std::numeric_limits<float>::quiet_NaN()).to_float()));
  EXPECT_TRUE(std::isnan(f16::from_float(std::numeric_limits<float>::signaling_NaN()).to_float()));
  EXPECT_TRUE(std::isnan(f16::from_bits(0x7c01).to_float()));  // a signalling half NaN widens to a NaN
}

TEST(F16, EveryHalfWidensExactlyAndRoundTrips) {
  for (uint32_t b = 0; b <= 0xffff; ++b) {
    const f16 v = f16::from_bits(static_cast<uint16_t>(b));
    const float f = v.to_float();
    if ((b & 0x7c00) == 0x7c00 && (b & 0x03ff) != 0) {
      ASSERT_TRUE(std::isnan(f)) << std::hex << b;
      continue;
    }
    if ((b & 0x7fff) != 0x7c00) {
      ASSERT_EQ(static_cast<double>(f), half_value(static_cast<uint16_t>(b))) << std::hex << b;
    }
    ASSERT_EQ(f16::from_float(f).bits, b) << std::hex << b;
  }
}

TEST(F16, MatchesIndependentNearestEvenReference) {
  std::mt19937 rng(12345);
  std::uniform_int_distribution<uint32_t> bits;
  std::vector<float> inputs;
  // Random floats, most far outside the half range; then every 1009th float
  // with an exponent where halves live (2^-26 .. 2^16), subnormals included.
  for (int i = 0; i < 100000; ++i) inputs.push_back(std::bit_cast<float>(bits(rng)));
  for (uint32_t u = 101u << 23; u < 144u << 23; u += 1009) inputs.push_back(std::bit_cast<float>(u));
  for (const float f : inputs) {
    if (!std::isfinite(f)) continue;
    ASSERT_EQ(f16::from_float(f).bits, reference_f16(f)) << std::hex << std::bit_cast<uint32_t>(f);
#if defined(__FLT16_MAX__)
    // The compiler's own IEEE conversion, where it has one (GCC on x86-64).
    const _Float16 native = static_cast<_Float16>(f);
    uint16_t native_bits = 0;
    std::memcpy(&native_bits, &native, 2);
    ASSERT_EQ(f16::from_float(f).bits, native_bits) << std::hex << std::bit_cast<uint32_t>(f);
#endif
  }
}

TEST(Tf32, KeepsTenMantissaBitsRoundingToEven) {
  EXPECT_EQ(tf32_bits(0x3f800000), 0x3f800000u);  // 1
  EXPECT_EQ(tf32_bits(0x3f801000), 0x3f800000u);  // 1 + 2^-11: tie, to even
  EXPECT_EQ(tf32_bits(0x3f803000), 0x3f804000u);  // tie, even is up
  EXPECT_EQ(tf32_bits(0x3f801001), 0x3f802000u);  // just above the tie
  EXPECT_EQ(tf32_bits(0x3f800fff), 0x3f800000u);  // just below
  EXPECT_EQ(tf32_bits(0xbf803000), 0xbf804000u);  // sign kept
  EXPECT_EQ(tf32_bits(0x3ffff000), 0x40000000u);  // carry into the exponent
  EXPECT_EQ(tf32_bits(0x00001000), 0x00000000u);  // subnormal tie to even (zero)
  EXPECT_EQ(tf32_bits(0x00003000), 0x00004000u);  // subnormal tie to even (up)
  EXPECT_EQ(round_to_tf32(1.0f + std::ldexp(1.0f, -12)), 1.0f);  // what the MME test relies on
}

TEST(Tf32, InfinityOverflowAndNan) {
  EXPECT_EQ(tf32_bits(0x7f800000), 0x7f800000u);
  EXPECT_EQ(tf32_bits(0xff800000), 0xff800000u);
  EXPECT_EQ(tf32_bits(0x7f7fffff), 0x7f800000u);  // FLT_MAX rounds past the largest TF32: +inf
  EXPECT_EQ(tf32_bits(0x7f7fefff), 0x7f7fe000u);  // below the tie: the largest TF32
  EXPECT_EQ(tf32_bits(0xff7fffff), 0xff800000u);
  EXPECT_TRUE(std::isnan(round_to_tf32(std::bit_cast<float>(0x7f800001u))));  // payload only in dropped bits
  EXPECT_EQ(tf32_bits(0xffc00000), 0xffc00000u);
}

TEST(Tf32, MatchesIndependentNearestEvenReference) {
  std::mt19937 rng(54321);
  std::uniform_int_distribution<uint32_t> bits;
  int checked = 0;
  while (checked < 200000) {
    const float f = std::bit_cast<float>(bits(rng));
    if (!std::isfinite(f)) continue;
    const double want = reference_tf32(f);
    const float got = round_to_tf32(f);
    if (std::fabs(want) >= std::ldexp(1.0, 128)) {
      ASSERT_TRUE(std::isinf(got)) << std::hex << std::bit_cast<uint32_t>(f);
    } else {
      ASSERT_EQ(static_cast<double>(got), want) << std::hex << std::bit_cast<uint32_t>(f);
    }
    ASSERT_EQ(std::bit_cast<uint32_t>(got) & 0x1fffu, 0u);
    ++checked;
  }
}

}  // namespace
}  // namespace kiln
