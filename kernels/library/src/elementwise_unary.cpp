// Elementwise unary kernels (in: T, out: T), same dims, T in {f32, bf16, f16}
// (neg and abs also i32 and i64, exact and wrapping: abs(INT_MIN) == INT_MIN):
//   neg abs exp log sqrt rsqrt reciprocal relu leaky_relu gelu_erf gelu_tanh
//   silu sigmoid tanh clamp elu hardswish hardsigmoid softplus erf
//   floor ceil round (half to even) sign (0, -0 and NaN unchanged)
//   sin cos tan asin acos atan sinh cosh asinh acosh atanh
// Activations are composed from intrinsics (elementwise_ops.cpp, shared with
// fused_elementwise), so their cost is what they issue (e.g. gelu_erf: 3 mul
// + add + erf per 64 lanes, or per 128 for bf16/f16). Parameters (floats) and
// their defaults:
//   leaky_relu  slope (0.01)
//   clamp       min (-inf), max (+inf); NaN bounds are rejected
//   elu         alpha (1)
//   hardsigmoid alpha (0.2), beta (0.5)
#include <cmath>
#include <limits>

#include "elementwise_ops.h"
#include "kernel_util.h"
#include "kernels.h"

namespace kiln::kernels::lib {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// The parameters of an op, as the second and third operands of its lane math.
struct UnaryParams {
  float b = 0.0f, c = 0.0f;
};

UnaryParams unary_params(FusedOp op, const KernelArgs& args) {
  switch (op) {
    case FusedOp::kLeakyRelu: return {args.float_or(0, 0.01f), 0.0f};
    case FusedOp::kClamp: return {args.float_or(0, -kInf), args.float_or(1, kInf)};
    case FusedOp::kElu: return {args.float_or(0, 1.0f), 0.0f};
    case FusedOp::kHardSigmoid: return {args.float_or(0, 0.2f), args.float_or(1, 0.5f)};
    default: return {};
  }
}

// neg and abs also take the integer dtypes.
constexpr bool takes_int(FusedOp op) { return op == FusedOp::kNeg || op == FusedOp::kAbs; }

template <FusedOp op>
Status validate_unary(const KernelArgs& args) {
  KILN_RETURN_IF_ERROR(expect_tensor_count(args, 2, 2, "(in, out)"));
  const TensorDesc& in = args.tensors[0];
  const TensorDesc& out = args.tensors[1];
  KILN_RETURN_IF_ERROR(takes_int(op) ? expect_one_of(out, kNumericDTypes, "out") : expect_float(out, "out"));
  KILN_RETURN_IF_ERROR(expect_same_dtype(in, out, "in", "out"));
  if constexpr (op == FusedOp::kClamp) {
    const UnaryParams p = unary_params(op, args);
    if (std::isnan(p.b) || std::isnan(p.c)) return invalid_argument("clamp bounds floats[0..2) must not be NaN");
  }
  return expect_same_dims(in, out, "in", "out");
}

IndexSpace unary_space(const KernelArgs& args) {
  return vector_row_space(args.tensors[1], lanes_per_vector(args.tensors[1].dtype));
}

template <typename V>
V int_unary(KernelContext& ctx, FusedOp op, const V& x) {
  return op == FusedOp::kNeg ? neg(ctx, x) : abs(ctx, x);
}

template <FusedOp op>
void unary_run(KernelContext& ctx) {
  const TensorDesc& in = ctx.tensor(0);
  const TensorDesc& out = ctx.tensor(1);
  const int lanes = lanes_per_vector(out.dtype);
  if constexpr (takes_int(op)) {
    if (out.dtype == DType::kI32) {
      for_each_vector(ctx, out, lanes, [&](const Coord& c) { ctx.store(out, c, int_unary(ctx, op, ctx.load_i32(in, c))); });
      return;
    }
    if (out.dtype == DType::kI64) {
      for_each_vector(ctx, out, lanes, [&](const Coord& c) { ctx.store(out, c, int_unary(ctx, op, ctx.load_i64(in, c))); });
      return;
    }
  }
  const UnaryParams p = unary_params(op, ctx.args());
  const VecF32 b = VecF32::splat(p.b), cc = VecF32::splat(p.c);  // scalar operands: free
  for_each_vector(ctx, out, lanes, [&](const Coord& c) {
    const WideF32 x = load_wide(ctx, in, c, 1.0f);
    store_wide(ctx, out, c, wide_map(ctx, x, [&](const VecF32& v) { return apply_float_op(ctx, op, v, b, cc); }));
  });
}

template <FusedOp op>
KernelDef unary_def(const char* name, const char* extra = "") {
  const char* types = takes_int(op) ? "T in {f32, bf16, f16, i32, i64}" : "T in {f32, bf16, f16}";
  return KernelDef{name, unary_run<op>, unary_space, validate_unary<op>,
                   std::string(name) + "(in: T, out: T), " + types + ", same dims" + extra, 0};
}

}  // namespace

void append_unary_kernels(std::vector<KernelDef>& out) {
  out.push_back(unary_def<FusedOp::kNeg>("neg"));
  out.push_back(unary_def<FusedOp::kAbs>("abs"));
  out.push_back(unary_def<FusedOp::kExp>("exp"));
  out.push_back(unary_def<FusedOp::kLog>("log"));
  out.push_back(unary_def<FusedOp::kSqrt>("sqrt"));
  out.push_back(unary_def<FusedOp::kRsqrt>("rsqrt"));
  out.push_back(unary_def<FusedOp::kReciprocal>("reciprocal"));
  out.push_back(unary_def<FusedOp::kRelu>("relu"));
  out.push_back(unary_def<FusedOp::kLeakyRelu>("leaky_relu", "; floats[0] = slope (default 0.01)"));
  out.push_back(unary_def<FusedOp::kGeluErf>("gelu_erf"));
  out.push_back(unary_def<FusedOp::kGeluTanh>("gelu_tanh"));
  out.push_back(unary_def<FusedOp::kSilu>("silu"));
  out.push_back(unary_def<FusedOp::kSigmoid>("sigmoid"));
  out.push_back(unary_def<FusedOp::kTanh>("tanh"));
  out.push_back(unary_def<FusedOp::kClamp>("clamp", "; floats[0] = min (default -inf), floats[1] = max (default +inf)"));
  out.push_back(unary_def<FusedOp::kElu>("elu", "; floats[0] = alpha (default 1)"));
  out.push_back(unary_def<FusedOp::kHardSwish>("hardswish"));
  out.push_back(unary_def<FusedOp::kHardSigmoid>("hardsigmoid",
                                                 "; floats[0] = alpha (default 0.2), floats[1] = beta (default 0.5)"));
  out.push_back(unary_def<FusedOp::kSoftplus>("softplus"));
  out.push_back(unary_def<FusedOp::kErf>("erf"));
  out.push_back(unary_def<FusedOp::kFloor>("floor"));
  out.push_back(unary_def<FusedOp::kCeil>("ceil"));
  out.push_back(unary_def<FusedOp::kRound>("round"));
  out.push_back(unary_def<FusedOp::kSign>("sign"));
  out.push_back(unary_def<FusedOp::kSin>("sin"));
  out.push_back(unary_def<FusedOp::kCos>("cos"));
  out.push_back(unary_def<FusedOp::kTan>("tan"));
  out.push_back(unary_def<FusedOp::kAsin>("asin"));
  out.push_back(unary_def<FusedOp::kAcos>("acos"));
  out.push_back(unary_def<FusedOp::kAtan>("atan"));
  out.push_back(unary_def<FusedOp::kSinh>("sinh"));
  out.push_back(unary_def<FusedOp::kCosh>("cosh"));
  out.push_back(unary_def<FusedOp::kAsinh>("asinh"));
  out.push_back(unary_def<FusedOp::kAcosh>("acosh"));
  out.push_back(unary_def<FusedOp::kAtanh>("atanh"));
}

}  // namespace kiln::kernels::lib
