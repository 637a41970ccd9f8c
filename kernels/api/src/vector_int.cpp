#include "kiln/kernels/vector_int.h"

#include <cmath>
#include <limits>
#include <type_traits>

namespace kiln::kernels {
namespace {

// The instruction counts of vector_int.h's table, in one place.
struct Cost {
  uint64_t alu = 0, div_sqrt = 0, reduce = 0;
};
constexpr Cost kI32Simple{1, 0, 0}, kI32Div{2, 1, 0}, kI32Reduce{0, 0, 1};
constexpr Cost kI64AddSub{2, 0, 0}, kI64CmpSel{2, 0, 0}, kI64MaxMinAbs{4, 0, 0}, kI64Mul{5, 0, 0},
    kI64Div{8, 4, 0}, kI64Reduce{0, 0, 2}, kI64Convert{2, 0, 0};
// Square and multiply over all 31 (63) magnitude bits: 2 mul + 1 select per bit.
constexpr Cost kI32Pow{31 * 3, 0, 0}, kI64Pow{63 * (2 * 5 + 2), 0, 0};

void charge(KernelContext& ctx, Cost c) {
  if (c.alu) ctx.count(OpClass::kVectorAlu, c.alu);
  if (c.div_sqrt) ctx.count(OpClass::kVectorDivSqrt, c.div_sqrt);
  if (c.reduce) ctx.count(OpClass::kVectorReduce, c.reduce);
}

// Wrapping arithmetic through the unsigned type (signed overflow is UB in C++).
template <typename T>
T wrap_add(T a, T b) {
  using U = std::make_unsigned_t<T>;
  return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
}
template <typename T>
T wrap_sub(T a, T b) {
  using U = std::make_unsigned_t<T>;
  return static_cast<T>(static_cast<U>(a) - static_cast<U>(b));
}
template <typename T>
T wrap_mul(T a, T b) {
  using U = std::make_unsigned_t<T>;
  return static_cast<T>(static_cast<U>(a) * static_cast<U>(b));
}
template <typename T>
T wrap_neg(T a) {
  return wrap_sub<T>(0, a);
}
template <typename T>
T wrap_pow(T a, T b) {
  if (b < 0) {
    if (a == 1) return 1;
    if (a == -1) return (b % 2 == 0) ? 1 : -1;
    return 0;
  }
  T r = 1;
  for (auto e = static_cast<std::make_unsigned_t<T>>(b); e != 0; e >>= 1) {
    if (e & 1) r = wrap_mul(r, a);
    a = wrap_mul(a, a);
  }
  return r;
}
// Toward zero; x / 0 = 0 and MIN / -1 = MIN (see the header).
template <typename T>
T trunc_div(T a, T b) {
  if (b == 0) return 0;
  if (b == -1) return wrap_neg(a);
  return a / b;
}

bool cmp(Cmp op, auto a, auto b) {
  switch (op) {
    case Cmp::kLt: return a < b;
    case Cmp::kLe: return a <= b;
    case Cmp::kGt: return a > b;
    case Cmp::kGe: return a >= b;
    case Cmp::kEq: return a == b;
    case Cmp::kNe: return a != b;
  }
  return false;
}

template <typename V, typename F>
V map2(KernelContext& ctx, Cost c, const V& a, const V& b, F f) {
  charge(ctx, c);
  V r;
  constexpr int n = static_cast<int>(sizeof(a.lane) / sizeof(a.lane[0]));
  for (int i = 0; i < n; ++i) r.lane[i] = f(a.lane[i], b.lane[i]);
  return r;
}
template <typename V, typename F>
V map1(KernelContext& ctx, Cost c, const V& a, F f) {
  charge(ctx, c);
  V r;
  constexpr int n = static_cast<int>(sizeof(a.lane) / sizeof(a.lane[0]));
  for (int i = 0; i < n; ++i) r.lane[i] = f(a.lane[i]);
  return r;
}

template <typename V>
Mask compare_lanes(KernelContext& ctx, Cost c, Cmp op, const V& a, const V& b) {
  charge(ctx, c);
  Mask m;
  constexpr int n = static_cast<int>(sizeof(a.lane) / sizeof(a.lane[0]));
  for (int i = 0; i < n; ++i) m.bits |= static_cast<uint64_t>(cmp(op, a.lane[i], b.lane[i])) << i;
  return m;
}

template <typename V>
V select_lanes(KernelContext& ctx, Cost c, Mask m, const V& a, const V& b) {
  charge(ctx, c);
  V r;
  constexpr int n = static_cast<int>(sizeof(a.lane) / sizeof(a.lane[0]));
  for (int i = 0; i < n; ++i) r.lane[i] = m.test(i) ? a.lane[i] : b.lane[i];
  return r;
}

// Fixed pairwise tree, as the fp32 reductions (vector_ops.cpp).
template <typename T, int N, typename F>
T tree_reduce(const T (&lanes)[N], F f) {
  T t[N];
  for (int i = 0; i < N; ++i) t[i] = lanes[i];
  for (int s = N / 2; s > 0; s /= 2) {
    for (int i = 0; i < s; ++i) t[i] = f(t[i], t[i + s]);
  }
  return t[0];
}

template <typename T>
T smax(T a, T b) {
  return a > b ? a : b;
}
template <typename T>
T smin(T a, T b) {
  return a < b ? a : b;
}
template <typename T>
T sabs(T a) {
  return a < 0 ? wrap_neg(a) : a;
}

// fp32 to an integer type: rounded, NaN -> 0, saturated.
template <typename T>
T float_to_int(float x, Rounding mode) {
  const float r = mode == Rounding::kTowardZero ? std::trunc(x) : std::nearbyint(x);
  if (r != r) return 0;
  // -2^(bits-1) is exact in fp32; 2^(bits-1) is the first value past the top.
  constexpr float lo = -static_cast<float>(uint64_t{1} << (sizeof(T) * 8 - 1));
  if (r >= -lo) return std::numeric_limits<T>::max();
  if (r < lo) return std::numeric_limits<T>::min();
  return static_cast<T>(r);
}

}  // namespace

// ---- i32 ----
VecI32 add(KernelContext& ctx, const VecI32& a, const VecI32& b) { return map2(ctx, kI32Simple, a, b, wrap_add<int32_t>); }
VecI32 sub(KernelContext& ctx, const VecI32& a, const VecI32& b) { return map2(ctx, kI32Simple, a, b, wrap_sub<int32_t>); }
VecI32 mul(KernelContext& ctx, const VecI32& a, const VecI32& b) { return map2(ctx, kI32Simple, a, b, wrap_mul<int32_t>); }
VecI32 div(KernelContext& ctx, const VecI32& a, const VecI32& b) { return map2(ctx, kI32Div, a, b, trunc_div<int32_t>); }
VecI32 pow(KernelContext& ctx, const VecI32& a, const VecI32& b) { return map2(ctx, kI32Pow, a, b, wrap_pow<int32_t>); }
VecI32 max(KernelContext& ctx, const VecI32& a, const VecI32& b) { return map2(ctx, kI32Simple, a, b, smax<int32_t>); }
VecI32 min(KernelContext& ctx, const VecI32& a, const VecI32& b) { return map2(ctx, kI32Simple, a, b, smin<int32_t>); }
VecI32 neg(KernelContext& ctx, const VecI32& a) { return map1(ctx, kI32Simple, a, wrap_neg<int32_t>); }
VecI32 abs(KernelContext& ctx, const VecI32& a) { return map1(ctx, kI32Simple, a, sabs<int32_t>); }
Mask compare(KernelContext& ctx, Cmp op, const VecI32& a, const VecI32& b) {
  return compare_lanes(ctx, kI32Simple, op, a, b);
}
VecI32 select(KernelContext& ctx, Mask m, const VecI32& a, const VecI32& b) {
  return select_lanes(ctx, kI32Simple, m, a, b);
}
VecI32 broadcast_i32(KernelContext& ctx, int32_t x) {
  charge(ctx, kI32Simple);
  VecI32 r;
  for (int32_t& l : r.lane) l = x;
  return r;
}
VecI32 iota_i32(KernelContext& ctx, int32_t start) {
  charge(ctx, kI32Simple);
  VecI32 r;
  for (int i = 0; i < kI32Lanes; ++i) r.lane[i] = wrap_add<int32_t>(start, i);
  return r;
}
int32_t reduce_sum(KernelContext& ctx, const VecI32& a) {
  charge(ctx, kI32Reduce);
  return tree_reduce(a.lane, wrap_add<int32_t>);
}
int32_t reduce_max(KernelContext& ctx, const VecI32& a) {
  charge(ctx, kI32Reduce);
  return tree_reduce(a.lane, smax<int32_t>);
}
int32_t reduce_min(KernelContext& ctx, const VecI32& a) {
  charge(ctx, kI32Reduce);
  return tree_reduce(a.lane, smin<int32_t>);
}

// ---- i64 ----
VecI64 add(KernelContext& ctx, const VecI64& a, const VecI64& b) { return map2(ctx, kI64AddSub, a, b, wrap_add<int64_t>); }
VecI64 sub(KernelContext& ctx, const VecI64& a, const VecI64& b) { return map2(ctx, kI64AddSub, a, b, wrap_sub<int64_t>); }
VecI64 mul(KernelContext& ctx, const VecI64& a, const VecI64& b) { return map2(ctx, kI64Mul, a, b, wrap_mul<int64_t>); }
VecI64 div(KernelContext& ctx, const VecI64& a, const VecI64& b) { return map2(ctx, kI64Div, a, b, trunc_div<int64_t>); }
VecI64 pow(KernelContext& ctx, const VecI64& a, const VecI64& b) { return map2(ctx, kI64Pow, a, b, wrap_pow<int64_t>); }
VecI64 max(KernelContext& ctx, const VecI64& a, const VecI64& b) { return map2(ctx, kI64MaxMinAbs, a, b, smax<int64_t>); }
VecI64 min(KernelContext& ctx, const VecI64& a, const VecI64& b) { return map2(ctx, kI64MaxMinAbs, a, b, smin<int64_t>); }
VecI64 neg(KernelContext& ctx, const VecI64& a) { return map1(ctx, kI64AddSub, a, wrap_neg<int64_t>); }
VecI64 abs(KernelContext& ctx, const VecI64& a) { return map1(ctx, kI64MaxMinAbs, a, sabs<int64_t>); }
Mask compare(KernelContext& ctx, Cmp op, const VecI64& a, const VecI64& b) {
  return compare_lanes(ctx, kI64CmpSel, op, a, b);
}
VecI64 select(KernelContext& ctx, Mask m, const VecI64& a, const VecI64& b) {
  return select_lanes(ctx, kI64CmpSel, m, a, b);
}
VecI64 broadcast_i64(KernelContext& ctx, int64_t x) {
  charge(ctx, kI64AddSub);
  return VecI64::splat(x);
}
VecI64 iota_i64(KernelContext& ctx, int64_t start) {
  charge(ctx, kI64AddSub);
  VecI64 r;
  for (int i = 0; i < kI64Lanes; ++i) r.lane[i] = wrap_add<int64_t>(start, i);
  return r;
}
int64_t reduce_sum(KernelContext& ctx, const VecI64& a) {
  charge(ctx, kI64Reduce);
  return tree_reduce(a.lane, wrap_add<int64_t>);
}
int64_t reduce_max(KernelContext& ctx, const VecI64& a) {
  charge(ctx, kI64Reduce);
  return tree_reduce(a.lane, smax<int64_t>);
}
int64_t reduce_min(KernelContext& ctx, const VecI64& a) {
  charge(ctx, kI64Reduce);
  return tree_reduce(a.lane, smin<int64_t>);
}

// ---- bool ----
VecBool logical_and(KernelContext& ctx, const VecBool& a, const VecBool& b) {
  return map2(ctx, kI32Simple, a, b, [](uint8_t x, uint8_t y) { return static_cast<uint8_t>(x & y); });
}
VecBool logical_or(KernelContext& ctx, const VecBool& a, const VecBool& b) {
  return map2(ctx, kI32Simple, a, b, [](uint8_t x, uint8_t y) { return static_cast<uint8_t>(x | y); });
}
VecBool logical_xor(KernelContext& ctx, const VecBool& a, const VecBool& b) {
  return map2(ctx, kI32Simple, a, b, [](uint8_t x, uint8_t y) { return static_cast<uint8_t>(x ^ y); });
}
VecBool logical_not(KernelContext& ctx, const VecBool& a) {
  return map1(ctx, kI32Simple, a, [](uint8_t x) { return static_cast<uint8_t>(x ^ 1u); });
}
VecBool compare(KernelContext& ctx, Cmp op, const VecBool& a, const VecBool& b) {
  return map2(ctx, kI32Simple, a, b, [op](uint8_t x, uint8_t y) { return static_cast<uint8_t>(cmp(op, x, y)); });
}
VecBool select(KernelContext& ctx, const VecBool& cond, const VecBool& a, const VecBool& b) {
  charge(ctx, kI32Simple);
  VecBool r;
  for (int i = 0; i < kBoolLanes; ++i) r.lane[i] = cond.lane[i] != 0 ? a.lane[i] : b.lane[i];
  return r;
}
Mask bool_to_mask(KernelContext& ctx, const VecBool& v, int part) {
  charge(ctx, kI32Simple);
  Mask m;
  const int base = (part & 3) * kF32Lanes;
  for (int i = 0; i < kF32Lanes; ++i) m.bits |= static_cast<uint64_t>(v.lane[base + i] != 0) << i;
  return m;
}
void mask_to_bool(KernelContext& ctx, Mask m, int part, VecBool& v) {
  charge(ctx, kI32Simple);
  const int base = (part & 3) * kF32Lanes;
  for (int i = 0; i < kF32Lanes; ++i) v.lane[base + i] = m.test(i) ? 1 : 0;
}

// ---- conversions ----
VecI64 f32_to_i64(KernelContext& ctx, const VecF32& v, int half, Rounding r) {
  charge(ctx, kI64Convert);
  VecI64 out;
  const int base = (half & 1) * kI64Lanes;
  for (int i = 0; i < kI64Lanes; ++i) out.lane[i] = float_to_int<int64_t>(v.lane[base + i], r);
  return out;
}
VecF32 i64_to_f32(KernelContext& ctx, const VecI64& lo, const VecI64& hi) {
  charge(ctx, kI64Convert);
  charge(ctx, kI64Convert);
  VecF32 out;
  for (int i = 0; i < kI64Lanes; ++i) {
    out.lane[i] = static_cast<float>(lo.lane[i]);  // round to nearest even
    out.lane[kI64Lanes + i] = static_cast<float>(hi.lane[i]);
  }
  return out;
}
VecI64 i32_to_i64(KernelContext& ctx, const VecI32& v, int half) {
  charge(ctx, kI64Convert);
  VecI64 out;
  const int base = (half & 1) * kI64Lanes;
  for (int i = 0; i < kI64Lanes; ++i) out.lane[i] = v.lane[base + i];
  return out;
}
VecI32 i64_to_i32(KernelContext& ctx, const VecI64& lo, const VecI64& hi) {
  charge(ctx, kI64Convert);
  charge(ctx, kI64Convert);
  VecI32 out;
  for (int i = 0; i < kI64Lanes; ++i) {
    out.lane[i] = static_cast<int32_t>(static_cast<uint32_t>(lo.lane[i]));  // low 32 bits (C++20: modular)
    out.lane[kI64Lanes + i] = static_cast<int32_t>(static_cast<uint32_t>(hi.lane[i]));
  }
  return out;
}

}  // namespace kiln::kernels
