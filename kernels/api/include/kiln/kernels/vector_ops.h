// Vector intrinsics: arithmetic, compare/select, broadcast, lane index,
// cross-lane reductions and dtype conversion.
//
// Each call computes on all 64 lanes (fp32 math, IEEE single precision, round
// to nearest even) and counts one instruction of its class in `ctx`:
//   OpClass::kVectorAlu     add sub mul fma max min neg abs, compares, select,
//                           mask ops, broadcast, iota, every conversion (per 64 lanes)
//   OpClass::kVectorDivSqrt div (see vector_math.h for sqrt/rsqrt/reciprocal)
//   OpClass::kVectorReduce  reduce_sum/max/min (the *_bcast forms add one kVectorAlu)
// Operands may be a vector or a scalar (a scalar operand is broadcast for
// free, as TPC instructions accept one). max/min propagate NaN (like
// torch.maximum). Reductions combine lanes in a fixed pairwise tree, so their
// result never depends on anything but the input.
//
// Integer, bool and i64 intrinsics: vector_int.h.
//
// Free functions; thread-safe as long as each context is used by one thread.
#pragma once

#include "kiln/kernels/kernel_context.h"
#include "kiln/kernels/vector.h"

namespace kiln::kernels {

// ---- arithmetic (kVectorAlu) ----
VecF32 add(KernelContext& ctx, const VecF32& a, const VecF32& b);
VecF32 add(KernelContext& ctx, const VecF32& a, float b);
VecF32 sub(KernelContext& ctx, const VecF32& a, const VecF32& b);
VecF32 sub(KernelContext& ctx, const VecF32& a, float b);
VecF32 sub(KernelContext& ctx, float a, const VecF32& b);
VecF32 mul(KernelContext& ctx, const VecF32& a, const VecF32& b);
VecF32 mul(KernelContext& ctx, const VecF32& a, float b);
// a * b + c with a single rounding (std::fma per lane).
VecF32 fma(KernelContext& ctx, const VecF32& a, const VecF32& b, const VecF32& c);
VecF32 fma(KernelContext& ctx, const VecF32& a, float b, const VecF32& c);
VecF32 fma(KernelContext& ctx, const VecF32& a, const VecF32& b, float c);
VecF32 max(KernelContext& ctx, const VecF32& a, const VecF32& b);
VecF32 max(KernelContext& ctx, const VecF32& a, float b);
VecF32 min(KernelContext& ctx, const VecF32& a, const VecF32& b);
VecF32 min(KernelContext& ctx, const VecF32& a, float b);
VecF32 neg(KernelContext& ctx, const VecF32& a);
VecF32 abs(KernelContext& ctx, const VecF32& a);

// ---- division (kVectorDivSqrt): correctly rounded IEEE division ----
VecF32 div(KernelContext& ctx, const VecF32& a, const VecF32& b);

// ---- compare (kVectorAlu): IEEE semantics, NaN compares unequal ----
enum class Cmp { kLt, kLe, kGt, kGe, kEq, kNe };
Mask compare(KernelContext& ctx, Cmp op, const VecF32& a, const VecF32& b);
Mask compare(KernelContext& ctx, Cmp op, const VecF32& a, float b);
inline Mask cmp_lt(KernelContext& ctx, const VecF32& a, const VecF32& b) { return compare(ctx, Cmp::kLt, a, b); }
inline Mask cmp_le(KernelContext& ctx, const VecF32& a, const VecF32& b) { return compare(ctx, Cmp::kLe, a, b); }
inline Mask cmp_gt(KernelContext& ctx, const VecF32& a, const VecF32& b) { return compare(ctx, Cmp::kGt, a, b); }
inline Mask cmp_ge(KernelContext& ctx, const VecF32& a, const VecF32& b) { return compare(ctx, Cmp::kGe, a, b); }
inline Mask cmp_eq(KernelContext& ctx, const VecF32& a, const VecF32& b) { return compare(ctx, Cmp::kEq, a, b); }
inline Mask cmp_ne(KernelContext& ctx, const VecF32& a, const VecF32& b) { return compare(ctx, Cmp::kNe, a, b); }

// ---- select and masks (kVectorAlu) ----
// Lane i is a[i] where m has lane i set, else b[i].
VecF32 select(KernelContext& ctx, Mask m, const VecF32& a, const VecF32& b);
VecF32 select(KernelContext& ctx, Mask m, const VecF32& a, float b);
Mask mask_and(KernelContext& ctx, Mask a, Mask b);
Mask mask_or(KernelContext& ctx, Mask a, Mask b);
Mask mask_not(KernelContext& ctx, Mask a);

// ---- broadcast and lane index (kVectorAlu) ----
VecF32 broadcast(KernelContext& ctx, float x);
// Lane i holds float(i) + start.
VecF32 iota(KernelContext& ctx, float start = 0.0f);

// ---- cross-lane reductions (kVectorReduce) ----
float reduce_sum(KernelContext& ctx, const VecF32& a);
float reduce_max(KernelContext& ctx, const VecF32& a);
float reduce_min(KernelContext& ctx, const VecF32& a);
float reduce_prod(KernelContext& ctx, const VecF32& a);
// The reduction broadcast back to every lane (kVectorReduce + kVectorAlu).
VecF32 reduce_sum_bcast(KernelContext& ctx, const VecF32& a);
VecF32 reduce_max_bcast(KernelContext& ctx, const VecF32& a);
VecF32 reduce_min_bcast(KernelContext& ctx, const VecF32& a);

// ---- conversion (kVectorAlu per 64 lanes) ----
// Lanes [64*half, 64*half + 64) of a bf16 vector, widened exactly (1 instruction).
VecF32 bf16_to_f32(KernelContext& ctx, const VecBF16& v, int half);
// Packs lo into lanes 0..63 and hi into 64..127, rounding to nearest even (2 instructions).
VecBF16 f32_to_bf16(KernelContext& ctx, const VecF32& lo, const VecF32& hi);
// Float to integer: to nearest even (the default) or toward zero (C casts,
// ONNX Cast). NaN becomes 0, values outside int32 saturate.
enum class Rounding { kNearestEven, kTowardZero };
VecI32 f32_to_i32(KernelContext& ctx, const VecF32& v, Rounding r = Rounding::kNearestEven);
VecF32 i32_to_f32(KernelContext& ctx, const VecI32& v);

}  // namespace kiln::kernels
