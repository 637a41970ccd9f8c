// Vector special functions. Each computes per lane with the host's fp32 libm
// (std::exp(float), std::erf(float), ...), which is deterministic for a given
// build and within a few ulps of the exact result, and counts its class:
//   kVectorDivSqrt          sqrt, rsqrt, reciprocal             (1 instruction)
//   kVectorTranscendental   exp, log, tanh, erf, sigmoid, the trigonometric and
//                           hyperbolic functions and their inverses (1 instruction)
//   kVectorDivSqrt          fmod                                 (1 instruction)
//   kVectorAlu              floor, ceil, round_half_even          (1 instruction)
//   pow                     = log, mul, exp: 2 kVectorTranscendental + 1 kVectorAlu
// Domain errors follow IEEE: log of a negative is NaN, sqrt(-1) is NaN,
// reciprocal(0) is +inf.
#pragma once

#include "kiln/kernels/kernel_context.h"
#include "kiln/kernels/vector.h"

namespace kiln::kernels {

VecF32 sqrt(KernelContext& ctx, const VecF32& a);
VecF32 rsqrt(KernelContext& ctx, const VecF32& a);       // 1 / sqrt(a)
VecF32 reciprocal(KernelContext& ctx, const VecF32& a);  // 1 / a

VecF32 exp(KernelContext& ctx, const VecF32& a);
VecF32 log(KernelContext& ctx, const VecF32& a);
VecF32 tanh(KernelContext& ctx, const VecF32& a);
VecF32 erf(KernelContext& ctx, const VecF32& a);
VecF32 sigmoid(KernelContext& ctx, const VecF32& a);  // 1 / (1 + exp(-a))
// Trigonometric (radians) and hyperbolic functions and their inverses.
VecF32 sin(KernelContext& ctx, const VecF32& a);
VecF32 cos(KernelContext& ctx, const VecF32& a);
VecF32 tan(KernelContext& ctx, const VecF32& a);
VecF32 asin(KernelContext& ctx, const VecF32& a);
VecF32 acos(KernelContext& ctx, const VecF32& a);
VecF32 atan(KernelContext& ctx, const VecF32& a);
VecF32 sinh(KernelContext& ctx, const VecF32& a);
VecF32 cosh(KernelContext& ctx, const VecF32& a);
VecF32 asinh(KernelContext& ctx, const VecF32& a);
VecF32 acosh(KernelContext& ctx, const VecF32& a);
VecF32 atanh(KernelContext& ctx, const VecF32& a);

// The nearest integral value below, above, or nearest with ties to even (not
// the host's rounding mode), kept in fp32; NaN, infinities and values beyond
// 2^23 come back unchanged (they are integral already).
VecF32 floor(KernelContext& ctx, const VecF32& a);
VecF32 ceil(KernelContext& ctx, const VecF32& a);
VecF32 round_half_even(KernelContext& ctx, const VecF32& a);

// C's fmodf: a - trunc(a / b) * b, exact, with a's sign; NaN for b == 0.
VecF32 fmod(KernelContext& ctx, const VecF32& a, const VecF32& b);

// a ** b with C's powf semantics (negative base with a non-integer exponent is NaN).
VecF32 pow(KernelContext& ctx, const VecF32& a, const VecF32& b);

}  // namespace kiln::kernels
