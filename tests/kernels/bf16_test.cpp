// bf16 conversion: round to nearest even (ties, carries into the exponent,
// subnormals), NaN preserved, infinities and overflow; checked against an
// independent reference that picks the nearer of the two neighbours in double.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>

#include "kiln/kernels/bf16.h"

namespace kiln::kernels {
namespace {

uint16_t to_bits(uint32_t f32_bits) { return bf16::from_float(std::bit_cast<float>(f32_bits)).bits; }

// Nearest bf16 by explicit comparison (finite inputs only).
uint16_t reference_round(float f) {
  const uint32_t u = std::bit_cast<uint32_t>(f);
  const uint16_t down = static_cast<uint16_t>(u >> 16);  // toward zero
  const uint16_t up = static_cast<uint16_t>(down + 1);    // away from zero (may become inf)
  const double x = f;
  const double d_down = std::fabs(x - static_cast<double>(bf16::from_bits(down).to_float()));
  // Past the largest finite bf16, IEEE rounding measures against 2^128 (as if
  // the exponent range went on) and delivers infinity when that is nearer.
  const bool up_is_inf = (up & 0x7fff) == 0x7f80;
  const double up_value = up_is_inf ? std::copysign(std::ldexp(1.0, 128), x)
                                    : static_cast<double>(bf16::from_bits(up).to_float());
  const double d_up = std::fabs(up_value - x);
  if (d_down < d_up) return down;
  if (d_up < d_down) return up;
  return (down & 1) == 0 ? down : up;
}

static_assert(to_bf16(1.0f).bits == 0x3f80, "conversion is constexpr");
static_assert(sizeof(bf16) == 2);

TEST(Bf16, ExactValuesRoundTrip) {
  for (float f : {0.0f, -0.0f, 1.0f, -2.5f, 0.15625f, 65280.0f}) {
    EXPECT_EQ(bf16::from_float(f).to_float(), f);
    EXPECT_EQ(std::signbit(bf16::from_float(f).to_float()), std::signbit(f));
  }
  EXPECT_EQ(bf16::from_float(1.0f).bits, 0x3f80);
  EXPECT_EQ(bf16::from_float(-2.0f).bits, 0xc000);
}

TEST(Bf16, RoundsHalfwayCasesToEven) {
  EXPECT_EQ(to_bits(0x3f808000), 0x3f80);  // 1 + half ulp: tie, 0x3f80 is even
  EXPECT_EQ(to_bits(0x3f818000), 0x3f82);  // tie between 0x3f81 and 0x3f82: even is up
  EXPECT_EQ(to_bits(0x3f808001), 0x3f81);  // just above the tie
  EXPECT_EQ(to_bits(0x3f807fff), 0x3f80);  // just below the tie
  EXPECT_EQ(to_bits(0xbf818000), 0xbf82);  // negative ties round the magnitude the same way
  EXPECT_EQ(to_bits(0x3fffffff), 0x4000);  // carry into the exponent
  EXPECT_EQ(to_bits(0x00008000), 0x0000);  // subnormal tie to even (zero)
  EXPECT_EQ(to_bits(0x00018000), 0x0002);  // subnormal tie to even (up)
}

TEST(Bf16, InfinityAndOverflow) {
  EXPECT_EQ(bf16::from_float(std::numeric_limits<float>::infinity()).bits, 0x7f80);
  EXPECT_EQ(bf16::from_float(-std::numeric_limits<float>::infinity()).bits, 0xff80);
  EXPECT_EQ(to_bits(0x7f7fffff), 0x7f80);  // FLT_MAX rounds past the largest bf16: +inf
  EXPECT_EQ(to_bits(0x7f7f7fff), 0x7f7f);  // just below the tie stays the largest finite bf16
  EXPECT_EQ(to_bits(0xff7fffff), 0xff80);
}

TEST(Bf16, NanStaysNan) {
  EXPECT_EQ(to_bits(0x7fc00000), 0x7fc0);  // quiet NaN
  EXPECT_EQ(to_bits(0x7f800001), 0x7fc0);  // payload only in the dropped bits: still NaN, quieted
  EXPECT_EQ(to_bits(0x7fffffff), 0x7fff);  // would carry into the sign bit if rounded
  EXPECT_EQ(to_bits(0xffc00001), 0xffc0);  // sign kept
  EXPECT_TRUE(std::isnan(bf16::from_float(std::numeric_limits<float>::quiet_NaN()).to_float()));
  EXPECT_TRUE(std::isnan(bf16::from_float(std::numeric_limits<float>::signaling_NaN()).to_float()));
}

TEST(Bf16, EveryBf16ValueRoundTripsExactly) {
  for (uint32_t b = 0; b <= 0xffff; ++b) {
    const bf16 v = bf16::from_bits(static_cast<uint16_t>(b));
    if (std::isnan(v.to_float())) continue;
    ASSERT_EQ(bf16::from_float(v.to_float()).bits, b);
  }
}

TEST(Bf16, MatchesIndependentNearestEvenReference) {
  std::mt19937 rng(12345);
  std::uniform_int_distribution<uint32_t> bits;
  int checked = 0;
  while (checked < 200000) {
    const float f = std::bit_cast<float>(bits(rng));
    if (!std::isfinite(f)) continue;
    ASSERT_EQ(bf16::from_float(f).bits, reference_round(f)) << std::hex << std::bit_cast<uint32_t>(f);
    ++checked;
  }
}

}  // namespace
}  // namespace kiln::kernels
