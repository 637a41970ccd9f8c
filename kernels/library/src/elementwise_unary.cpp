// Elementwise unary kernels (in: T, out: T), same dims:
//   neg abs exp log sqrt rsqrt reciprocal relu leaky_relu gelu_erf gelu_tanh
//   silu sigmoid tanh clamp elu hardswish hardsigmoid softplus
// Activations are composed from intrinsics, so their cost is what they issue
// (e.g. gelu_erf: 3 mul + add + erf per 64 lanes). Parameters (floats) and
// their defaults:
//   leaky_relu  slope (0.01)
//   clamp       min (-inf), max (+inf); NaN bounds are rejected
//   elu         alpha (1)
//   hardsigmoid alpha (0.2), beta (0.5)
#include <cmath>
#include <limits>

#include "kernel_util.h"
#include "kernels.h"

namespace kiln::kernels::lib {
namespace {

enum class UnaryOp {
  kNeg, kAbs, kExp, kLog, kSqrt, kRsqrt, kReciprocal, kRelu, kLeakyRelu, kGeluErf, kGeluTanh, kSilu, kSigmoid, kTanh,
  kClamp, kElu, kHardSwish, kHardSigmoid, kSoftplus
};

constexpr float kInf = std::numeric_limits<float>::infinity();

struct UnaryParams {
  float a = 0.0f, b = 0.0f;
};

template <UnaryOp op>
UnaryParams unary_params(const KernelArgs& args) {
  switch (op) {
    case UnaryOp::kLeakyRelu: return {args.float_or(0, 0.01f), 0.0f};
    case UnaryOp::kClamp: return {args.float_or(0, -kInf), args.float_or(1, kInf)};
    case UnaryOp::kElu: return {args.float_or(0, 1.0f), 0.0f};
    case UnaryOp::kHardSigmoid: return {args.float_or(0, 0.2f), args.float_or(1, 0.5f)};
    default: return {};
  }
}

constexpr float kInvSqrt2 = 0.70710678118654752440f;
constexpr float kSqrt2OverPi = 0.79788456080286535588f;

template <UnaryOp op>
VecF32 apply(KernelContext& ctx, const VecF32& x, const UnaryParams& p) {
  switch (op) {
    case UnaryOp::kNeg: return neg(ctx, x);
    case UnaryOp::kAbs: return abs(ctx, x);
    case UnaryOp::kExp: return exp(ctx, x);
    case UnaryOp::kLog: return log(ctx, x);
    case UnaryOp::kSqrt: return sqrt(ctx, x);
    case UnaryOp::kRsqrt: return rsqrt(ctx, x);
    case UnaryOp::kReciprocal: return reciprocal(ctx, x);
    case UnaryOp::kRelu: return max(ctx, x, 0.0f);
    case UnaryOp::kLeakyRelu: return select(ctx, compare(ctx, Cmp::kGt, x, 0.0f), x, mul(ctx, x, p.a));
    case UnaryOp::kGeluErf: {
      const VecF32 e = erf(ctx, mul(ctx, x, kInvSqrt2));
      return mul(ctx, mul(ctx, x, 0.5f), add(ctx, e, 1.0f));
    }
    case UnaryOp::kGeluTanh: {
      const VecF32 x3 = mul(ctx, mul(ctx, x, x), x);
      const VecF32 inner = mul(ctx, fma(ctx, x3, 0.044715f, x), kSqrt2OverPi);
      return mul(ctx, mul(ctx, x, 0.5f), add(ctx, tanh(ctx, inner), 1.0f));
    }
    case UnaryOp::kSilu: return mul(ctx, x, sigmoid(ctx, x));
    case UnaryOp::kSigmoid: return sigmoid(ctx, x);
    case UnaryOp::kTanh: return tanh(ctx, x);
    // min after max: with min > max every lane is max (numpy.clip, ONNX Clip).
    case UnaryOp::kClamp: return min(ctx, max(ctx, x, p.a), p.b);
    case UnaryOp::kElu: {
      const VecF32 neg_part = mul(ctx, sub(ctx, exp(ctx, x), 1.0f), p.a);
      return select(ctx, compare(ctx, Cmp::kGt, x, 0.0f), x, neg_part);
    }
    case UnaryOp::kHardSwish: {
      const VecF32 gate = min(ctx, max(ctx, add(ctx, mul(ctx, x, 1.0f / 6.0f), 0.5f), 0.0f), 1.0f);
      return mul(ctx, x, gate);
    }
    case UnaryOp::kHardSigmoid: return min(ctx, max(ctx, add(ctx, mul(ctx, x, p.a), p.b), 0.0f), 1.0f);
    case UnaryOp::kSoftplus: {
      // max(x, 0) + log(1 + exp(-|x|)): exp(-|x|) <= 1 cannot overflow, so a
      // large x gives x where log(1 + exp(x)) would give inf.
      const VecF32 tail = log(ctx, add(ctx, exp(ctx, neg(ctx, abs(ctx, x))), 1.0f));
      return add(ctx, max(ctx, x, 0.0f), tail);
    }
  }
  return x;
}

template <UnaryOp op>
Status validate_unary(const KernelArgs& args) {
  KILN_RETURN_IF_ERROR(expect_tensor_count(args, 2, 2, "(in, out)"));
  const TensorDesc& in = args.tensors[0];
  const TensorDesc& out = args.tensors[1];
  KILN_RETURN_IF_ERROR(expect_float(out, "out"));
  KILN_RETURN_IF_ERROR(expect_same_dtype(in, out, "in", "out"));
  if constexpr (op == UnaryOp::kClamp) {
    const UnaryParams p = unary_params<op>(args);
    if (std::isnan(p.a) || std::isnan(p.b)) return invalid_argument("clamp bounds floats[0..2) must not be NaN");
  }
  return expect_same_dims(in, out, "in", "out");
}

IndexSpace unary_space(const KernelArgs& args) {
  return vector_row_space(args.tensors[1], lanes_per_vector(args.tensors[1].dtype));
}

template <UnaryOp op>
void unary_run(KernelContext& ctx) {
  const TensorDesc& in = ctx.tensor(0);
  const TensorDesc& out = ctx.tensor(1);
  const UnaryParams p = unary_params<op>(ctx.args());
  for_each_vector(ctx, out, lanes_per_vector(out.dtype), [&](const Coord& c) {
    const WideF32 x = load_wide(ctx, in, c, 1.0f);
    store_wide(ctx, out, c, wide_map(ctx, x, [&](const VecF32& v) { return apply<op>(ctx, v, p); }));
  });
}

template <UnaryOp op>
KernelDef unary_def(const char* name, const char* extra = "") {
  return KernelDef{name, unary_run<op>, unary_space, validate_unary<op>,
                   std::string(name) + "(in: T, out: T), T in {f32, bf16}, same dims" + extra, 0};
}

}  // namespace

void append_unary_kernels(std::vector<KernelDef>& out) {
  out.push_back(unary_def<UnaryOp::kNeg>("neg"));
  out.push_back(unary_def<UnaryOp::kAbs>("abs"));
  out.push_back(unary_def<UnaryOp::kExp>("exp"));
  out.push_back(unary_def<UnaryOp::kLog>("log"));
  out.push_back(unary_def<UnaryOp::kSqrt>("sqrt"));
  out.push_back(unary_def<UnaryOp::kRsqrt>("rsqrt"));
  out.push_back(unary_def<UnaryOp::kReciprocal>("reciprocal"));
  out.push_back(unary_def<UnaryOp::kRelu>("relu"));
  out.push_back(unary_def<UnaryOp::kLeakyRelu>("leaky_relu", "; floats[0] = slope (default 0.01)"));
  out.push_back(unary_def<UnaryOp::kGeluErf>("gelu_erf"));
  out.push_back(unary_def<UnaryOp::kGeluTanh>("gelu_tanh"));
  out.push_back(unary_def<UnaryOp::kSilu>("silu"));
  out.push_back(unary_def<UnaryOp::kSigmoid>("sigmoid"));
  out.push_back(unary_def<UnaryOp::kTanh>("tanh"));
  out.push_back(unary_def<UnaryOp::kClamp>("clamp", "; floats[0] = min (default -inf), floats[1] = max (default +inf)"));
  out.push_back(unary_def<UnaryOp::kElu>("elu", "; floats[0] = alpha (default 1)"));
  out.push_back(unary_def<UnaryOp::kHardSwish>("hardswish"));
  out.push_back(unary_def<UnaryOp::kHardSigmoid>("hardsigmoid",
                                                 "; floats[0] = alpha (default 0.2), floats[1] = beta (default 0.5)"));
  out.push_back(unary_def<UnaryOp::kSoftplus>("softplus"));
}

}  // namespace kiln::kernels::lib
