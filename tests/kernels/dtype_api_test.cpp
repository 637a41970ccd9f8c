// The kernel API on f16, i64 and bool: the fp16 conversion (exhaustively, and
// against the compiler's own _Float16 where it has one), loads and stores of
// every new register type with their tails, pads and partial vectors, the
// integer and bool intrinsics' semantics at their edges, and their counts.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "kiln/kernels/kernel_api.h"

namespace kiln::kernels {
namespace {

constexpr int64_t kI64Min = std::numeric_limits<int64_t>::min();
constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();
constexpr int32_t kI32Min = std::numeric_limits<int32_t>::min();
constexpr int32_t kI32Max = std::numeric_limits<int32_t>::max();

template <typename T>
TensorDesc tensor_of(std::vector<T>& v, DType d, std::initializer_list<int64_t> dims) {
  return TensorDesc::contiguous(reinterpret_cast<uint64_t>(v.data()), d, dims);
}

uint16_t f16_bits(float x) { return f16::from_float(x).bits; }

TEST(F16, EveryHalfRoundTripsThroughFloatExactly) {
  for (uint32_t b = 0; b < 0x10000; ++b) {
    const f16 h = f16::from_bits(static_cast<uint16_t>(b));
    const float x = h.to_float();
    const bool nan = (b & 0x7c00u) == 0x7c00u && (b & 0x03ffu) != 0;
    if (nan) {
      ASSERT_TRUE(std::isnan(x)) << std::hex << b;
      // Sign kept; a quiet NaN keeps its payload, a signalling one is quieted.
      EXPECT_EQ(f16::from_float(x).bits, b | 0x0200u) << std::hex << b;
    } else {
      ASSERT_EQ(f16::from_float(x).bits, b) << std::hex << b;
    }
  }
}

TEST(F16, RoundsToNearestEvenAtTheEdges) {
  EXPECT_EQ(f16_bits(65504.0f), 0x7bff);                // largest finite
  EXPECT_EQ(f16_bits(65519.996f), 0x7bff);              // just below the midpoint to 2^16
  EXPECT_EQ(f16_bits(65520.0f), 0x7c00);                // the midpoint: ties to even = inf
  EXPECT_EQ(f16_bits(-1e9f), 0xfc00);                   // -inf
  EXPECT_EQ(f16_bits(std::numeric_limits<float>::infinity()), 0x7c00);
  EXPECT_EQ(f16_bits(1.0f + 0x1p-11f), 0x3c00);         // tie, to even (down)
  EXPECT_EQ(f16_bits(1.0f + 3 * 0x1p-11f), 0x3c02);     // tie, to even (up)
  EXPECT_EQ(f16_bits(0x1p-14f), 0x0400);                // smallest normal
  EXPECT_EQ(f16_bits(0x1p-14f - 0x1p-25f), 0x0400);     // a tie just below it rounds up into the normals
  EXPECT_EQ(f16_bits(0x1p-24f), 0x0001);                // smallest subnormal
  EXPECT_EQ(f16_bits(0x1p-25f), 0x0000);                // tie between 0 and 2^-24: even
  EXPECT_EQ(f16_bits(0x1p-25f * 1.0001f), 0x0001);
  EXPECT_EQ(f16_bits(1.5f * 0x1p-24f), 0x0002);         // tie, to even (2)
  EXPECT_EQ(f16_bits(2.5f * 0x1p-24f), 0x0002);         // tie, to even (2)
  EXPECT_EQ(f16_bits(-0x1p-26f), 0x8000);               // signed zero
  EXPECT_EQ(f16_bits(1e-40f), 0x0000);                  // an fp32 subnormal
  EXPECT_EQ(f16::from_bits(0x0001).to_float(), 0x1p-24f);
  EXPECT_EQ(f16::from_bits(0x83ff).to_float(), -1023 * 0x1p-24f);
  EXPECT_TRUE(std::signbit(f16::from_bits(0x8000).to_float()));
  EXPECT_EQ(round_to_f16(0.1f), 0.0999755859375f);
}

#if defined(__FLT16_MAX__)
// GCC's _Float16 converts in libgcc (__truncsfhf2): an independent rounding.
TEST(F16, MatchesTheCompilersFloat16OnRandomAndSpecialBitPatterns) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<uint32_t> any;
  auto check = [](uint32_t u) {
    const float x = std::bit_cast<float>(u);
    const auto want = std::bit_cast<uint16_t>(static_cast<_Float16>(x));
    if (std::isnan(x)) {
      EXPECT_EQ(f16_bits(x) & 0xfe00u, want & 0xfe00u) << std::hex << u;
    } else {
      ASSERT_EQ(f16_bits(x), want) << std::hex << u;
    }
  };
  for (int i = 0; i < 200000; ++i) check(any(rng));
  // Dense around the subnormal/normal boundary and the overflow threshold.
  for (uint32_t u = 0x33000000u; u < 0x39000000u; u += 97) check(u);
  for (uint32_t u = 0x477f0000u; u < 0x47800100u; ++u) check(u);
}
#endif

TEST(NewDtypeLoads, F16I64BoolTailsPadsAndCounts) {
  std::vector<f16> h(130);
  for (int i = 0; i < 130; ++i) h[static_cast<size_t>(i)] = f16::from_float(static_cast<float>(i) * 0.5f);
  std::vector<int64_t> q(40);
  for (int i = 0; i < 40; ++i) q[static_cast<size_t>(i)] = kI64Max - i;
  std::vector<uint8_t> b(300);
  for (int i = 0; i < 300; ++i) b[static_cast<size_t>(i)] = static_cast<uint8_t>(i % 3 == 0 ? 0 : i);  // 2.., not just 1
  HostMemoryPort port;
  port.add_region(std::span<f16>(h));
  port.add_region(std::span<int64_t>(q));
  port.add_region(std::span<uint8_t>(b));
  KernelArgs args;
  KernelContext ctx(port, args, IndexSlice{});

  const VecF16 hv = ctx.load_f16(tensor_of(h, DType::kF16, {130}), Coord{128, 0, 0, 0, 0}, f16::from_float(-1.0f));
  EXPECT_EQ(hv[1].to_float(), 64.5f);
  EXPECT_EQ(hv[2].to_float(), -1.0f);  // past the tail: the pad
  const VecI64 qv = ctx.load_i64(tensor_of(q, DType::kI64, {40}), Coord{32, 0, 0, 0, 0}, 7);
  EXPECT_EQ(qv[0], kI64Max - 32);
  EXPECT_EQ(qv[8], 7);
  const VecBool bv = ctx.load_bool(tensor_of(b, DType::kBool, {300}), Coord{0, 0, 0, 0, 0});
  EXPECT_EQ(bv[0], 0);
  EXPECT_EQ(bv[2], 1);  // the byte 2 reads as true
  EXPECT_EQ(bv[255], 0);
  // A partial bool load reads only its lanes' bytes.
  const uint64_t before = ctx.counters().bytes_loaded;
  const VecBool part = ctx.load_bool(tensor_of(b, DType::kBool, {300}), Coord{256, 0, 0, 0, 0}, 64, true);
  EXPECT_EQ(ctx.counters().bytes_loaded - before, 44u);  // 300 - 256 elements exist
  EXPECT_EQ(part[43], 1);
  EXPECT_EQ(part[44], 1);  // outside the tensor: the pad (true)
  EXPECT_EQ(part[64], 1);  // past the partial vector: the pad
  EXPECT_EQ(ctx.counters().count(OpClass::kVectorLoad), 4u);
  EXPECT_EQ(ctx.counters().bytes_loaded, 4u + 8 * 8 + 256 + 44);
  EXPECT_FALSE(ctx.faulted());
}

TEST(NewDtypeStores, PartialBoolStoresAndI64AndF16Round) {
  std::vector<uint8_t> b(100, 0xee);
  std::vector<int64_t> q(33, 0);
  std::vector<f16> h(3);
  HostMemoryPort port;
  port.add_region(std::span<uint8_t>(b));
  port.add_region(std::span<int64_t>(q));
  port.add_region(std::span<f16>(h));
  KernelArgs args;
  KernelContext ctx(port, args, IndexSlice{});
  VecBool v;
  for (int i = 0; i < kBoolLanes; ++i) v[i] = static_cast<uint8_t>(i & 1);
  ctx.store(tensor_of(b, DType::kBool, {100}), Coord{10, 0, 0, 0, 0}, v, 64);  // lanes 10..73
  EXPECT_EQ(b[9], 0xee);
  EXPECT_EQ(b[10], 0);
  EXPECT_EQ(b[11], 1);
  EXPECT_EQ(b[73], 1);
  EXPECT_EQ(b[74], 0xee);
  ctx.store(tensor_of(q, DType::kI64, {33}), Coord{1, 0, 0, 0, 0}, VecI64::splat(kI64Min));
  EXPECT_EQ(q[0], 0);
  EXPECT_EQ(q[32], kI64Min);
  ctx.store_scalar(tensor_of(h, DType::kF16, {3}), Coord{2, 0, 0, 0, 0}, 65520.0f);
  EXPECT_EQ(h[2].bits, 0x7c00);  // rounds to +inf
  EXPECT_EQ(ctx.load_scalar(tensor_of(h, DType::kF16, {3}), Coord{2, 0, 0, 0, 0}), INFINITY);
  ctx.store_scalar_i64(tensor_of(q, DType::kI64, {33}), Coord{0, 0, 0, 0, 0}, kI64Max);
  EXPECT_EQ(ctx.load_scalar_i64(tensor_of(q, DType::kI64, {33}), Coord{0, 0, 0, 0, 0}), kI64Max);
  // Raw element bits move any dtype unchanged.
  ctx.store_scalar_bits(tensor_of(b, DType::kBool, {100}), Coord{99, 0, 0, 0, 0},
                        ctx.load_scalar_bits(tensor_of(b, DType::kBool, {100}), Coord{11, 0, 0, 0, 0}));
  EXPECT_EQ(b[99], 1);
  EXPECT_EQ(ctx.counters().bytes_stored, 64u + 32 * 8 + 2 + 8 + 1);
  EXPECT_FALSE(ctx.faulted());
  // The wrong dtype is a fault, never a reinterpretation.
  ctx.load_i64(tensor_of(b, DType::kBool, {100}), Coord{});
  ASSERT_TRUE(ctx.faulted());
  EXPECT_EQ(ctx.fault()->cause, KernelFaultCause::kDTypeMismatch);
}

TEST(IntIntrinsics, WrapTruncateAndDivideByZero) {
  HostMemoryPort port;
  KernelArgs args;
  KernelContext ctx(port, args, IndexSlice{});
  VecI32 a = broadcast_i32(ctx, 7), b = broadcast_i32(ctx, -2);
  a[1] = kI32Min, b[1] = -1;
  a[2] = 5, b[2] = 0;
  a[3] = -7, b[3] = 2;
  const VecI32 q = div(ctx, a, b);
  EXPECT_EQ(q[0], -3);  // toward zero
  EXPECT_EQ(q[1], kI32Min);  // wraps
  EXPECT_EQ(q[2], 0);  // by zero: 0
  EXPECT_EQ(q[3], -3);
  EXPECT_EQ(add(ctx, broadcast_i32(ctx, kI32Max), broadcast_i32(ctx, 1))[0], kI32Min);
  EXPECT_EQ(abs(ctx, broadcast_i32(ctx, kI32Min))[0], kI32Min);
  EXPECT_EQ(reduce_sum(ctx, iota_i32(ctx, 1)), 64 * 65 / 2);

  VecI64 x = broadcast_i64(ctx, int64_t{1} << 62), y = broadcast_i64(ctx, (int64_t{1} << 62) + 1);
  EXPECT_EQ(compare(ctx, Cmp::kLt, x, y), Mask::first(32));  // exact, beyond fp32/fp64 precision
  EXPECT_EQ(compare(ctx, Cmp::kEq, x, y), Mask::none());
  EXPECT_EQ(max(ctx, x, y)[5], (int64_t{1} << 62) + 1);
  EXPECT_EQ(mul(ctx, x, broadcast_i64(ctx, 4))[0], 0);  // 2^64 wraps to 0
  EXPECT_EQ(div(ctx, broadcast_i64(ctx, kI64Min), broadcast_i64(ctx, -1))[0], kI64Min);
  EXPECT_EQ(div(ctx, broadcast_i64(ctx, -9), broadcast_i64(ctx, 0))[0], 0);
  EXPECT_EQ(neg(ctx, broadcast_i64(ctx, kI64Min))[0], kI64Min);
  EXPECT_EQ(reduce_max(ctx, iota_i64(ctx, kI64Max - 31)), kI64Max);
  EXPECT_EQ(reduce_sum(ctx, broadcast_i64(ctx, kI64Max)), -32);  // 32 (2^63 - 1) mod 2^64
  EXPECT_EQ(select(ctx, Mask::first(3), x, y)[2], int64_t{1} << 62);
  EXPECT_EQ(select(ctx, Mask::first(3), x, y)[3], (int64_t{1} << 62) + 1);
  EXPECT_FALSE(ctx.faulted());
}

TEST(Conversions, TruncateSaturateAndWrap) {
  HostMemoryPort port;
  KernelArgs args;
  KernelContext ctx(port, args, IndexSlice{});
  VecF32 f = VecF32::splat(0.0f);
  f[0] = -2.7f, f[1] = 2.7f, f[2] = NAN, f[3] = 3e9f, f[4] = -3e9f, f[5] = 1e30f, f[6] = -1e30f, f[7] = -0.5f;
  const VecI32 t = f32_to_i32(ctx, f, Rounding::kTowardZero);
  EXPECT_EQ(t[0], -2);
  EXPECT_EQ(t[1], 2);
  EXPECT_EQ(t[2], 0);
  EXPECT_EQ(t[3], kI32Max);
  EXPECT_EQ(t[4], kI32Min);
  EXPECT_EQ(t[7], 0);
  EXPECT_EQ(f32_to_i32(ctx, f)[0], -3);  // the default still rounds to nearest
  const VecI64 w = f32_to_i64(ctx, f, 0, Rounding::kTowardZero);
  EXPECT_EQ(w[3], 3000000000);
  EXPECT_EQ(w[5], kI64Max);
  EXPECT_EQ(w[6], kI64Min);
  EXPECT_EQ(w[2], 0);
  VecI64 lo = VecI64::splat(0), hi = VecI64::splat(0);
  lo[0] = (int64_t{1} << 32) + 5;  // low word 5
  lo[1] = -1;
  hi[0] = (int64_t{1} << 24) + 1;  // rounds to 2^24 in fp32
  const VecI32 n = i64_to_i32(ctx, lo, hi);
  EXPECT_EQ(n[0], 5);
  EXPECT_EQ(n[1], -1);
  EXPECT_EQ(i64_to_f32(ctx, lo, hi)[32], 16777216.0f);
  EXPECT_EQ(i32_to_i64(ctx, iota_i32(ctx, -40), 1)[0], -8);  // lanes 32.. of -40..23
  VecBool bv{};
  mask_to_bool(ctx, Mask::first(5), 2, bv);
  EXPECT_EQ(bv[128 + 4], 1);
  EXPECT_EQ(bv[128 + 5], 0);
  EXPECT_EQ(bool_to_mask(ctx, bv, 2), Mask::first(5));
  EXPECT_EQ(bool_to_mask(ctx, bv, 0), Mask::none());

  WideF32 v;
  v.halves = 1;
  v.half[0] = f;
  const WideF32 r = round_wide(ctx, v, DType::kI32);
  EXPECT_EQ(r.half[0][0], -2.0f);
  EXPECT_EQ(r.half[0][2], 0.0f);
  EXPECT_EQ(round_wide(ctx, v, DType::kBool).half[0][2], 1.0f);  // NaN != 0
  EXPECT_EQ(round_wide(ctx, v, DType::kF16).half[0][5], INFINITY);
  EXPECT_FALSE(ctx.faulted());
}

TEST(IntIntrinsics, CountTheDocumentedEmulationSequences) {
  HostMemoryPort port;
  KernelArgs args;
  KernelContext ctx(port, args, IndexSlice{});
  const VecI64 a = VecI64::splat(3), b = VecI64::splat(2);
  SliceCounters before = ctx.counters();
  // Instructions of class c issued since `before`.
  auto since = [&](OpClass c) { return ctx.counters().count(c) - before.count(c); };
  (void)add(ctx, a, b);
  EXPECT_EQ(since(OpClass::kVectorAlu), 2u);
  before = ctx.counters();
  (void)mul(ctx, a, b);
  EXPECT_EQ(since(OpClass::kVectorAlu), 5u);
  before = ctx.counters();
  (void)max(ctx, a, b);
  EXPECT_EQ(since(OpClass::kVectorAlu), 4u);
  before = ctx.counters();
  (void)div(ctx, a, b);
  EXPECT_EQ(since(OpClass::kVectorDivSqrt), 4u);
  EXPECT_EQ(since(OpClass::kVectorAlu), 8u);
  before = ctx.counters();
  (void)reduce_sum(ctx, a);
  EXPECT_EQ(since(OpClass::kVectorReduce), 2u);
  before = ctx.counters();
  (void)div(ctx, VecI32{}, broadcast_i32(ctx, 1));
  EXPECT_EQ(since(OpClass::kVectorDivSqrt), 1u);
  EXPECT_EQ(since(OpClass::kVectorAlu), 3u);  // broadcast + 2
  before = ctx.counters();
  VecBool x{}, y{};
  (void)logical_xor(ctx, x, y);
  EXPECT_EQ(since(OpClass::kVectorAlu), 1u);  // 256 lanes, one instruction
}

}  // namespace
}  // namespace kiln::kernels
