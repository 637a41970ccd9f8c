// Elementwise unary kernels (in: T, out: T), same dims:
//   neg abs exp log sqrt rsqrt reciprocal relu leaky_relu gelu_erf gelu_tanh
//   silu sigmoid tanh
// Activations are composed from intrinsics, so their cost is what they issue
// (e.g. gelu_erf: 3 mul + add + erf per 64 lanes).
#include <cmath>

#include "kernel_util.h"
#include "kernels.h"

namespace kiln::kernels::lib {
namespace {

enum class UnaryOp {
  kNeg, kAbs, kExp, kLog, kSqrt, kRsqrt, kReciprocal, kRelu, kLeakyRelu, kGeluErf, kGeluTanh, kSilu, kSigmoid, kTanh
};

constexpr float kInvSqrt2 = 0.70710678118654752440f;
constexpr float kSqrt2OverPi = 0.79788456080286535588f;

template <UnaryOp op>
VecF32 apply(KernelContext& ctx, const VecF32& x, float param) {
  switch (op) {
    case UnaryOp::kNeg: return neg(ctx, x);
    case UnaryOp::kAbs: return abs(ctx, x);
    case UnaryOp::kExp: return exp(ctx, x);
    case UnaryOp::kLog: return log(ctx, x);
    case UnaryOp::kSqrt: return sqrt(ctx, x);
    case UnaryOp::kRsqrt: return rsqrt(ctx, x);
    case UnaryOp::kReciprocal: return reciprocal(ctx, x);
    case UnaryOp::kRelu: return max(ctx, x, 0.0f);
    case UnaryOp::kLeakyRelu: return select(ctx, compare(ctx, Cmp::kGt, x, 0.0f), x, mul(ctx, x, param));
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
  }
  return x;
}

Status validate_unary(const KernelArgs& args) {
  KILN_RETURN_IF_ERROR(expect_tensor_count(args, 2, 2, "(in, out)"));
  const TensorDesc& in = args.tensors[0];
  const TensorDesc& out = args.tensors[1];
  KILN_RETURN_IF_ERROR(expect_float(out, "out"));
  KILN_RETURN_IF_ERROR(expect_same_dtype(in, out, "in", "out"));
  return expect_same_dims(in, out, "in", "out");
}

IndexSpace unary_space(const KernelArgs& args) {
  return vector_row_space(args.tensors[1], lanes_per_vector(args.tensors[1].dtype));
}

template <UnaryOp op>
void unary_run(KernelContext& ctx) {
  const TensorDesc& in = ctx.tensor(0);
  const TensorDesc& out = ctx.tensor(1);
  const float param = ctx.args().float_or(0, 0.01f);
  for_each_vector(ctx, out, lanes_per_vector(out.dtype), [&](const Coord& c) {
    const WideF32 x = load_wide(ctx, in, c, 1.0f);
    store_wide(ctx, out, c, wide_map(ctx, x, [&](const VecF32& v) { return apply<op>(ctx, v, param); }));
  });
}

KernelDef unary_def(const char* name, KernelFn run, const char* extra = "") {
  return KernelDef{name, run, unary_space, validate_unary,
                   std::string(name) + "(in: T, out: T), T in {f32, bf16}, same dims" + extra, 0};
}

}  // namespace

void append_unary_kernels(std::vector<KernelDef>& out) {
  out.push_back(unary_def("neg", unary_run<UnaryOp::kNeg>));
  out.push_back(unary_def("abs", unary_run<UnaryOp::kAbs>));
  out.push_back(unary_def("exp", unary_run<UnaryOp::kExp>));
  out.push_back(unary_def("log", unary_run<UnaryOp::kLog>));
  out.push_back(unary_def("sqrt", unary_run<UnaryOp::kSqrt>));
  out.push_back(unary_def("rsqrt", unary_run<UnaryOp::kRsqrt>));
  out.push_back(unary_def("reciprocal", unary_run<UnaryOp::kReciprocal>));
  out.push_back(unary_def("relu", unary_run<UnaryOp::kRelu>));
  out.push_back(unary_def("leaky_relu", unary_run<UnaryOp::kLeakyRelu>, "; floats[0] = slope (default 0.01)"));
  out.push_back(unary_def("gelu_erf", unary_run<UnaryOp::kGeluErf>));
  out.push_back(unary_def("gelu_tanh", unary_run<UnaryOp::kGeluTanh>));
  out.push_back(unary_def("silu", unary_run<UnaryOp::kSilu>));
  out.push_back(unary_def("sigmoid", unary_run<UnaryOp::kSigmoid>));
  out.push_back(unary_def("tanh", unary_run<UnaryOp::kTanh>));
}

}  // namespace kiln::kernels::lib
