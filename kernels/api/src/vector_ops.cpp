#include "kiln/kernels/vector_ops.h"

#include <cmath>

#include "lane_map.h"
#include <cstdint>
#include <limits>

namespace kiln::kernels {
namespace {

constexpr int N = kF32Lanes;

using detail::map1;

using detail::map2;

float fmax_nan(float a, float b) { return (a != a || b != b) ? std::numeric_limits<float>::quiet_NaN() : (a > b ? a : b); }
float fmin_nan(float a, float b) { return (a != a || b != b) ? std::numeric_limits<float>::quiet_NaN() : (a < b ? a : b); }

bool cmp(Cmp op, float a, float b) {
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

// Fixed pairwise tree: lanes i and i + s for s = 32, 16, ..., 1.
template <typename F>
float tree_reduce(const VecF32& a, F f) {
  float t[N];
  for (int i = 0; i < N; ++i) t[i] = a.lane[i];
  for (int s = N / 2; s > 0; s /= 2) {
    for (int i = 0; i < s; ++i) t[i] = f(t[i], t[i + s]);
  }
  return t[0];
}

}  // namespace

VecF32 add(KernelContext& ctx, const VecF32& a, const VecF32& b) {
  return map2(ctx, OpClass::kVectorAlu, a, b, [](float x, float y) { return x + y; });
}
VecF32 add(KernelContext& ctx, const VecF32& a, float b) {
  return map1(ctx, OpClass::kVectorAlu, a, [b](float x) { return x + b; });
}
VecF32 sub(KernelContext& ctx, const VecF32& a, const VecF32& b) {
  return map2(ctx, OpClass::kVectorAlu, a, b, [](float x, float y) { return x - y; });
}
VecF32 sub(KernelContext& ctx, const VecF32& a, float b) {
  return map1(ctx, OpClass::kVectorAlu, a, [b](float x) { return x - b; });
}
VecF32 sub(KernelContext& ctx, float a, const VecF32& b) {
  return map1(ctx, OpClass::kVectorAlu, b, [a](float y) { return a - y; });
}
VecF32 mul(KernelContext& ctx, const VecF32& a, const VecF32& b) {
  return map2(ctx, OpClass::kVectorAlu, a, b, [](float x, float y) { return x * y; });
}
VecF32 mul(KernelContext& ctx, const VecF32& a, float b) {
  return map1(ctx, OpClass::kVectorAlu, a, [b](float x) { return x * b; });
}

VecF32 fma(KernelContext& ctx, const VecF32& a, const VecF32& b, const VecF32& c) {
  ctx.count(OpClass::kVectorAlu);
  VecF32 r;
  for (int i = 0; i < N; ++i) r.lane[i] = std::fma(a.lane[i], b.lane[i], c.lane[i]);
  return r;
}
VecF32 fma(KernelContext& ctx, const VecF32& a, float b, const VecF32& c) {
  ctx.count(OpClass::kVectorAlu);
  VecF32 r;
  for (int i = 0; i < N; ++i) r.lane[i] = std::fma(a.lane[i], b, c.lane[i]);
  return r;
}
VecF32 fma(KernelContext& ctx, const VecF32& a, const VecF32& b, float c) {
  ctx.count(OpClass::kVectorAlu);
  VecF32 r;
  for (int i = 0; i < N; ++i) r.lane[i] = std::fma(a.lane[i], b.lane[i], c);
  return r;
}

VecF32 max(KernelContext& ctx, const VecF32& a, const VecF32& b) {
  return map2(ctx, OpClass::kVectorAlu, a, b, fmax_nan);
}
VecF32 max(KernelContext& ctx, const VecF32& a, float b) {
  return map1(ctx, OpClass::kVectorAlu, a, [b](float x) { return fmax_nan(x, b); });
}
VecF32 min(KernelContext& ctx, const VecF32& a, const VecF32& b) {
  return map2(ctx, OpClass::kVectorAlu, a, b, fmin_nan);
}
VecF32 min(KernelContext& ctx, const VecF32& a, float b) {
  return map1(ctx, OpClass::kVectorAlu, a, [b](float x) { return fmin_nan(x, b); });
}
VecF32 neg(KernelContext& ctx, const VecF32& a) {
  return map1(ctx, OpClass::kVectorAlu, a, [](float x) { return -x; });
}
VecF32 abs(KernelContext& ctx, const VecF32& a) {
  return map1(ctx, OpClass::kVectorAlu, a, [](float x) { return std::fabs(x); });
}

VecF32 div(KernelContext& ctx, const VecF32& a, const VecF32& b) {
  return map2(ctx, OpClass::kVectorDivSqrt, a, b, [](float x, float y) { return x / y; });
}

Mask compare(KernelContext& ctx, Cmp op, const VecF32& a, const VecF32& b) {
  ctx.count(OpClass::kVectorAlu);
  Mask m;
  for (int i = 0; i < N; ++i) m.bits |= static_cast<uint64_t>(cmp(op, a.lane[i], b.lane[i])) << i;
  return m;
}
Mask compare(KernelContext& ctx, Cmp op, const VecF32& a, float b) {
  ctx.count(OpClass::kVectorAlu);
  Mask m;
  for (int i = 0; i < N; ++i) m.bits |= static_cast<uint64_t>(cmp(op, a.lane[i], b)) << i;
  return m;
}

VecF32 select(KernelContext& ctx, Mask m, const VecF32& a, const VecF32& b) {
  ctx.count(OpClass::kVectorAlu);
  VecF32 r;
  for (int i = 0; i < N; ++i) r.lane[i] = m.test(i) ? a.lane[i] : b.lane[i];
  return r;
}
VecF32 select(KernelContext& ctx, Mask m, const VecF32& a, float b) {
  ctx.count(OpClass::kVectorAlu);
  VecF32 r;
  for (int i = 0; i < N; ++i) r.lane[i] = m.test(i) ? a.lane[i] : b;
  return r;
}
Mask mask_and(KernelContext& ctx, Mask a, Mask b) {
  ctx.count(OpClass::kVectorAlu);
  return Mask{a.bits & b.bits};
}
Mask mask_or(KernelContext& ctx, Mask a, Mask b) {
  ctx.count(OpClass::kVectorAlu);
  return Mask{a.bits | b.bits};
}
Mask mask_not(KernelContext& ctx, Mask a) {
  ctx.count(OpClass::kVectorAlu);
  return Mask{~a.bits};
}

VecF32 broadcast(KernelContext& ctx, float x) {
  ctx.count(OpClass::kVectorAlu);
  return VecF32::splat(x);
}
VecF32 iota(KernelContext& ctx, float start) {
  ctx.count(OpClass::kVectorAlu);
  VecF32 r;
  for (int i = 0; i < N; ++i) r.lane[i] = static_cast<float>(i) + start;
  return r;
}

float reduce_sum(KernelContext& ctx, const VecF32& a) {
  ctx.count(OpClass::kVectorReduce);
  return tree_reduce(a, [](float x, float y) { return x + y; });
}
float reduce_max(KernelContext& ctx, const VecF32& a) {
  ctx.count(OpClass::kVectorReduce);
  return tree_reduce(a, fmax_nan);
}
float reduce_min(KernelContext& ctx, const VecF32& a) {
  ctx.count(OpClass::kVectorReduce);
  return tree_reduce(a, fmin_nan);
}
float reduce_prod(KernelContext& ctx, const VecF32& a) {
  ctx.count(OpClass::kVectorReduce);
  return tree_reduce(a, [](float x, float y) { return x * y; });
}
VecF32 reduce_sum_bcast(KernelContext& ctx, const VecF32& a) { return broadcast(ctx, reduce_sum(ctx, a)); }
VecF32 reduce_max_bcast(KernelContext& ctx, const VecF32& a) { return broadcast(ctx, reduce_max(ctx, a)); }
VecF32 reduce_min_bcast(KernelContext& ctx, const VecF32& a) { return broadcast(ctx, reduce_min(ctx, a)); }

VecF32 bf16_to_f32(KernelContext& ctx, const VecBF16& v, int half) {
  ctx.count(OpClass::kVectorAlu);
  VecF32 r;
  const int base = (half & 1) * N;
  for (int i = 0; i < N; ++i) r.lane[i] = v.lane[base + i].to_float();
  return r;
}

VecBF16 f32_to_bf16(KernelContext& ctx, const VecF32& lo, const VecF32& hi) {
  ctx.count(OpClass::kVectorAlu, 2);
  VecBF16 r;
  for (int i = 0; i < N; ++i) {
    r.lane[i] = bf16::from_float(lo.lane[i]);
    r.lane[N + i] = bf16::from_float(hi.lane[i]);
  }
  return r;
}

VecI32 f32_to_i32(KernelContext& ctx, const VecF32& v, Rounding mode) {
  ctx.count(OpClass::kVectorAlu);
  VecI32 r;
  for (int i = 0; i < N; ++i) {
    // nearbyint uses the default rounding mode: nearest even.
    const float x = mode == Rounding::kTowardZero ? std::trunc(v.lane[i]) : std::nearbyint(v.lane[i]);
    if (x != x) r.lane[i] = 0;
    else if (x >= 2147483648.0f) r.lane[i] = std::numeric_limits<int32_t>::max();
    else if (x < -2147483648.0f) r.lane[i] = std::numeric_limits<int32_t>::min();
    else r.lane[i] = static_cast<int32_t>(x);
  }
  return r;
}

VecF32 i32_to_f32(KernelContext& ctx, const VecI32& v) {
  ctx.count(OpClass::kVectorAlu);
  VecF32 r;
  for (int i = 0; i < N; ++i) r.lane[i] = static_cast<float>(v.lane[i]);
  return r;
}

}  // namespace kiln::kernels
