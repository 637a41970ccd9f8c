#include "elementwise_ops.h"

namespace kiln::kernels::lib {
namespace {

constexpr float kInvSqrt2 = 0.70710678118654752440f;
constexpr float kSqrt2OverPi = 0.79788456080286535588f;

VecF32 from_mask(KernelContext& ctx, Mask m) { return select(ctx, m, VecF32::splat(1.0f), 0.0f); }

}  // namespace

Cmp compare_of(FusedOp op) {
  switch (op) {
    case FusedOp::kEq: return Cmp::kEq;
    case FusedOp::kNe: return Cmp::kNe;
    case FusedOp::kLt: return Cmp::kLt;
    case FusedOp::kLe: return Cmp::kLe;
    case FusedOp::kGt: return Cmp::kGt;
    default: return Cmp::kGe;
  }
}

VecF32 apply_float_op(KernelContext& ctx, FusedOp op, const VecF32& x, const VecF32& b, const VecF32& c) {
  switch (op) {
    case FusedOp::kNeg: return neg(ctx, x);
    case FusedOp::kAbs: return abs(ctx, x);
    case FusedOp::kExp: return exp(ctx, x);
    case FusedOp::kLog: return log(ctx, x);
    case FusedOp::kSqrt: return sqrt(ctx, x);
    case FusedOp::kRsqrt: return rsqrt(ctx, x);
    case FusedOp::kReciprocal: return reciprocal(ctx, x);
    case FusedOp::kRelu: return max(ctx, x, 0.0f);
    case FusedOp::kSigmoid: return sigmoid(ctx, x);
    case FusedOp::kTanh: return tanh(ctx, x);
    case FusedOp::kSilu: return mul(ctx, x, sigmoid(ctx, x));
    case FusedOp::kGeluErf: {
      const VecF32 e = erf(ctx, mul(ctx, x, kInvSqrt2));
      return mul(ctx, mul(ctx, x, 0.5f), add(ctx, e, 1.0f));
    }
    case FusedOp::kGeluTanh: {
      const VecF32 x3 = mul(ctx, mul(ctx, x, x), x);
      const VecF32 inner = mul(ctx, fma(ctx, x3, 0.044715f, x), kSqrt2OverPi);
      return mul(ctx, mul(ctx, x, 0.5f), add(ctx, tanh(ctx, inner), 1.0f));
    }
    case FusedOp::kHardSwish: {
      const VecF32 gate = min(ctx, max(ctx, add(ctx, mul(ctx, x, 1.0f / 6.0f), 0.5f), 0.0f), 1.0f);
      return mul(ctx, x, gate);
    }
    case FusedOp::kSoftplus: {
      // max(x, 0) + log(1 + exp(-|x|)): exp(-|x|) <= 1 cannot overflow, so a
      // large x gives x where log(1 + exp(x)) would give inf.
      const VecF32 tail = log(ctx, add(ctx, exp(ctx, neg(ctx, abs(ctx, x))), 1.0f));
      return add(ctx, max(ctx, x, 0.0f), tail);
    }
    case FusedOp::kLogicalNot: return from_mask(ctx, compare(ctx, Cmp::kEq, x, 0.0f));
    case FusedOp::kCast: return x;
    case FusedOp::kErf: return erf(ctx, x);
    case FusedOp::kFloor: return floor(ctx, x);
    case FusedOp::kCeil: return ceil(ctx, x);
    case FusedOp::kRound: return round_half_even(ctx, x);
    // Zeros (of either sign) and NaN come back as they are.
    case FusedOp::kSign:
      return select(ctx, compare(ctx, Cmp::kGt, x, 0.0f), VecF32::splat(1.0f),
                    select(ctx, compare(ctx, Cmp::kLt, x, 0.0f), VecF32::splat(-1.0f), x));
    case FusedOp::kSin: return sin(ctx, x);
    case FusedOp::kCos: return cos(ctx, x);
    case FusedOp::kTan: return tan(ctx, x);
    case FusedOp::kAsin: return asin(ctx, x);
    case FusedOp::kAcos: return acos(ctx, x);
    case FusedOp::kAtan: return atan(ctx, x);
    case FusedOp::kSinh: return sinh(ctx, x);
    case FusedOp::kCosh: return cosh(ctx, x);
    case FusedOp::kAsinh: return asinh(ctx, x);
    case FusedOp::kAcosh: return acosh(ctx, x);
    case FusedOp::kAtanh: return atanh(ctx, x);
    case FusedOp::kFmod: return fmod(ctx, x, b);
    case FusedOp::kAdd: return add(ctx, x, b);
    case FusedOp::kSub: return sub(ctx, x, b);
    case FusedOp::kMul: return mul(ctx, x, b);
    case FusedOp::kDiv: return div(ctx, x, b);
    case FusedOp::kMax: return max(ctx, x, b);
    case FusedOp::kMin: return min(ctx, x, b);
    case FusedOp::kPow: return pow(ctx, x, b);
    case FusedOp::kEq:
    case FusedOp::kNe:
    case FusedOp::kLt:
    case FusedOp::kLe:
    case FusedOp::kGt:
    case FusedOp::kGe: return from_mask(ctx, compare(ctx, compare_of(op), x, b));
    case FusedOp::kLogicalAnd:
    case FusedOp::kLogicalOr:
    case FusedOp::kLogicalXor: {
      const Mask p = compare(ctx, Cmp::kNe, x, 0.0f), q = compare(ctx, Cmp::kNe, b, 0.0f);
      Mask m;
      if (op == FusedOp::kLogicalAnd) m = mask_and(ctx, p, q);
      else if (op == FusedOp::kLogicalOr) m = mask_or(ctx, p, q);
      else m = mask_and(ctx, mask_or(ctx, p, q), mask_not(ctx, mask_and(ctx, p, q)));
      return from_mask(ctx, m);
    }
    case FusedOp::kLeakyRelu: return select(ctx, compare(ctx, Cmp::kGt, x, 0.0f), x, mul(ctx, x, b));
    case FusedOp::kElu: {
      const VecF32 neg_part = mul(ctx, sub(ctx, exp(ctx, x), 1.0f), b);
      return select(ctx, compare(ctx, Cmp::kGt, x, 0.0f), x, neg_part);
    }
    case FusedOp::kWhere: return select(ctx, compare(ctx, Cmp::kNe, x, 0.0f), b, c);
    // min after max: with min > max every lane is max (numpy.clip, ONNX Clip).
    case FusedOp::kClamp: return min(ctx, max(ctx, x, b), c);
    case FusedOp::kHardSigmoid: return min(ctx, max(ctx, add(ctx, mul(ctx, x, b), c), 0.0f), 1.0f);
  }
  return x;
}

}  // namespace kiln::kernels::lib
