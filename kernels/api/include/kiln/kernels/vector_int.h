// Integer and bool vector intrinsics, and the conversions between every
// register type (fp32, i32, i64, bool, masks).
//
// Integer semantics (both widths): two's complement, wrapping on overflow as
// C++'s unsigned arithmetic, PyTorch and ONNX do: add, sub, mul, neg and abs
// of the most negative value wrap (abs(INT_MIN) == INT_MIN). div truncates
// toward zero (C++, ONNX Div, torch.div(rounding_mode="trunc")); a division
// by zero gives 0 in that lane (numpy's result; CPUs trap, PyTorch raises on
// the CPU, ONNX leaves it undefined: the device must not stop, so it is 0),
// and INT_MIN / -1 wraps to INT_MIN. max/min/compares are exact. pow(a, b)
// is a ** b wrapping (exact modulo 2^width); a negative exponent gives the
// truncated 1 / a ** -b: 1 for a == 1, +-1 for a == -1, else 0 (0 ** -n too,
// as x / 0 is 0).
//
// VecI64 lanes are exact int64 values, 32 to a register. The TPC has no
// 64-bit integer datapath, so an i64 operation is counted as the 32-bit
// sequence that would emulate it on the register's (low, high) word pairs
// (chosen figures, not published ones):
//   instruction                    i32 (64 lanes)          i64 (32 lanes)
//   add sub neg broadcast iota     1 kVectorAlu            2 kVectorAlu
//   compare select                 1 kVectorAlu            2 kVectorAlu
//   max min abs                    1 kVectorAlu            4 kVectorAlu
//   mul                            1 kVectorAlu            5 kVectorAlu
//   div                            1 DivSqrt + 2 Alu       4 DivSqrt + 8 Alu
//   reduce_sum/max/min             1 kVectorReduce         2 kVectorReduce
//   pow (square and multiply over  93 kVectorAlu            756 kVectorAlu
//     every exponent bit)
// (i32 div: no integer divider either; a reciprocal and two correction steps.)
//
// Bool registers hold 256 lanes of 0/1 bytes, and byte instructions run all
// 256 lanes at once: logical and/or/xor/not, compare and select on VecBool are
// one kVectorAlu each. A Mask (64 lanes) moves to or from 64 lanes of a
// VecBool with one kVectorAlu.
//
// Conversions (kVectorAlu, per 64 lanes of fp32/i32/mask or 32 of i64):
//   f32 -> i32/i64     rounding per `Rounding`: nearest even (the default, as
//                      before) or toward zero (C casts, torch .to(), ONNX
//                      Cast); NaN becomes 0 and values outside the integer
//                      range saturate to its ends (ONNX leaves out-of-range
//                      casts undefined; saturation is deterministic)
//   i32 -> f32, i64 -> f32   round to nearest even
//   i32 -> i64 sign-extends; i64 -> i32 keeps the low 32 bits (wraps, as C++,
//                      PyTorch and ONNX Cast do)
//   i64 conversions count 2 per 32 lanes (emulated, as above)
//
// Free functions; thread-safe as long as each context is used by one thread.
#pragma once

#include <cstdint>

#include "kiln/kernels/kernel_context.h"
#include "kiln/kernels/vector.h"
#include "kiln/kernels/vector_ops.h"

namespace kiln::kernels {

// ---- i32 (64 lanes) ----
VecI32 add(KernelContext& ctx, const VecI32& a, const VecI32& b);
VecI32 sub(KernelContext& ctx, const VecI32& a, const VecI32& b);
VecI32 mul(KernelContext& ctx, const VecI32& a, const VecI32& b);
VecI32 div(KernelContext& ctx, const VecI32& a, const VecI32& b);
VecI32 pow(KernelContext& ctx, const VecI32& a, const VecI32& b);
VecI32 max(KernelContext& ctx, const VecI32& a, const VecI32& b);
VecI32 min(KernelContext& ctx, const VecI32& a, const VecI32& b);
VecI32 neg(KernelContext& ctx, const VecI32& a);
VecI32 abs(KernelContext& ctx, const VecI32& a);
Mask compare(KernelContext& ctx, Cmp op, const VecI32& a, const VecI32& b);
VecI32 select(KernelContext& ctx, Mask m, const VecI32& a, const VecI32& b);
VecI32 broadcast_i32(KernelContext& ctx, int32_t x);
VecI32 iota_i32(KernelContext& ctx, int32_t start = 0);  // lane i holds start + i (wrapping)
int32_t reduce_sum(KernelContext& ctx, const VecI32& a);  // wraps
int32_t reduce_max(KernelContext& ctx, const VecI32& a);
int32_t reduce_min(KernelContext& ctx, const VecI32& a);

// ---- i64 (32 lanes; masks use bits 0..31) ----
VecI64 add(KernelContext& ctx, const VecI64& a, const VecI64& b);
VecI64 sub(KernelContext& ctx, const VecI64& a, const VecI64& b);
VecI64 mul(KernelContext& ctx, const VecI64& a, const VecI64& b);
VecI64 div(KernelContext& ctx, const VecI64& a, const VecI64& b);
VecI64 pow(KernelContext& ctx, const VecI64& a, const VecI64& b);
VecI64 max(KernelContext& ctx, const VecI64& a, const VecI64& b);
VecI64 min(KernelContext& ctx, const VecI64& a, const VecI64& b);
VecI64 neg(KernelContext& ctx, const VecI64& a);
VecI64 abs(KernelContext& ctx, const VecI64& a);
Mask compare(KernelContext& ctx, Cmp op, const VecI64& a, const VecI64& b);
VecI64 select(KernelContext& ctx, Mask m, const VecI64& a, const VecI64& b);
VecI64 broadcast_i64(KernelContext& ctx, int64_t x);
VecI64 iota_i64(KernelContext& ctx, int64_t start = 0);  // lane i holds start + i (wrapping)
int64_t reduce_sum(KernelContext& ctx, const VecI64& a);  // wraps
int64_t reduce_max(KernelContext& ctx, const VecI64& a);
int64_t reduce_min(KernelContext& ctx, const VecI64& a);

// ---- bool (256 lanes of 0/1) ----
VecBool logical_and(KernelContext& ctx, const VecBool& a, const VecBool& b);
VecBool logical_or(KernelContext& ctx, const VecBool& a, const VecBool& b);
VecBool logical_xor(KernelContext& ctx, const VecBool& a, const VecBool& b);
VecBool logical_not(KernelContext& ctx, const VecBool& a);
// false < true; the result is a bool vector, not a Mask (256 lanes).
VecBool compare(KernelContext& ctx, Cmp op, const VecBool& a, const VecBool& b);
// Lane i is a[i] where cond[i] is 1, else b[i].
VecBool select(KernelContext& ctx, const VecBool& cond, const VecBool& a, const VecBool& b);
// Lanes [64 part, 64 part + 64) as a predicate; part in 0..3.
Mask bool_to_mask(KernelContext& ctx, const VecBool& v, int part);
// Writes m as 0/1 into lanes [64 part, 64 part + 64) of v; the other lanes
// are kept. part in 0..3.
void mask_to_bool(KernelContext& ctx, Mask m, int part, VecBool& v);

// ---- conversions ----
// (Rounding and f32_to_i32/i32_to_f32 are in vector_ops.h.)
// Lanes [32 half, 32 half + 32) of v as int64 (half 0 or 1).
VecI64 f32_to_i64(KernelContext& ctx, const VecF32& v, int half, Rounding r = Rounding::kNearestEven);
// lo fills lanes 0..31, hi lanes 32..63.
VecF32 i64_to_f32(KernelContext& ctx, const VecI64& lo, const VecI64& hi);
// Lanes [32 half, 32 half + 32) of v, sign-extended.
VecI64 i32_to_i64(KernelContext& ctx, const VecI32& v, int half);
// The low 32 bits of each lane: lo fills lanes 0..31, hi lanes 32..63.
VecI32 i64_to_i32(KernelContext& ctx, const VecI64& lo, const VecI64& hi);

}  // namespace kiln::kernels
