// Vector special functions. Each computes per lane with the host's fp32 libm
// (std::exp(float), std::erf(float), ...), which is deterministic for a given
// build and within a few ulps of the exact result, and counts its class:
//   kVectorDivSqrt          sqrt, rsqrt, reciprocal             (1 instruction)
//   kVectorTranscendental   exp, log, tanh, erf, sigmoid         (1 instruction)
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
// a ** b with C's powf semantics (negative base with a non-integer exponent is NaN).
VecF32 pow(KernelContext& ctx, const VecF32& a, const VecF32& b);

}  // namespace kiln::kernels
