// Elementwise ops: numpy broadcasting, one vector-core kernel each.
#include "ops_util.h"

namespace kiln::runtime {

namespace {

// `result`: the output's dtype if not the inputs' (a comparison's bool).
Result<Tensor> binary(OpKind op, const Tensor& a, const Tensor& b, std::optional<DType> result = std::nullopt) {
  KILN_RETURN_IF_ERROR(check_defined(op_name(op), {&a, &b}));
  KILN_RETURN_IF_ERROR(same_dtype(op_name(op), a, b));
  const auto shape = broadcast_shapes(a.shape(), b.shape());
  if (!shape) {
    return op_error(op_name(op), "shapes do not broadcast: " + a.describe() + " and " + b.describe());
  }
  if (static_cast<int>(shape->size()) > kMaxRank) return op_error(op_name(op), "more than 5 dims");
  return rt_of(a).record1(op, {}, {a, b}, *shape, result.value_or(a.dtype()), std::string(op_name(op)));
}

Status bool_dtype(std::string_view op, const Tensor& x) {
  if (x.dtype() != DType::kBool) return op_error(op, "needs a bool tensor, got " + x.describe());
  return {};
}

Result<Tensor> logical_binary(OpKind op, const Tensor& a, const Tensor& b) {
  KILN_RETURN_IF_ERROR(check_defined(op_name(op), {&a, &b}));
  KILN_RETURN_IF_ERROR(bool_dtype(op_name(op), a));
  KILN_RETURN_IF_ERROR(bool_dtype(op_name(op), b));
  return binary(op, a, b);
}

Result<Tensor> unary(OpKind op, const Tensor& x, std::vector<double> floats = {}) {
  KILN_RETURN_IF_ERROR(check_defined(op_name(op), {&x}));
  // neg and abs also take integers (their kernels wrap: -INT_MIN is INT_MIN).
  const bool int_ok = (op == OpKind::kNeg || op == OpKind::kAbs) && (x.dtype() == DType::kI32 || x.dtype() == DType::kI64);
  if (!int_ok) KILN_RETURN_IF_ERROR(float_dtype(op_name(op), x));
  Attrs attrs;
  attrs.floats = std::move(floats);
  return rt_of(x).record1(op, std::move(attrs), {x}, x.shape(), x.dtype(), std::string(op_name(op)));
}

Result<Tensor> scalar_like(const Tensor& a, double value) {
  KILN_RETURN_IF_ERROR(rt_of(a).check_open("scalar"));
  return a.runtime().full({}, value, a.dtype());
}

}  // namespace

Result<Tensor> add(const Tensor& a, const Tensor& b) { return binary(OpKind::kAdd, a, b); }
Result<Tensor> sub(const Tensor& a, const Tensor& b) { return binary(OpKind::kSub, a, b); }
Result<Tensor> mul(const Tensor& a, const Tensor& b) { return binary(OpKind::kMul, a, b); }
Result<Tensor> div(const Tensor& a, const Tensor& b) { return binary(OpKind::kDiv, a, b); }
Result<Tensor> maximum(const Tensor& a, const Tensor& b) { return binary(OpKind::kMaximum, a, b); }
Result<Tensor> minimum(const Tensor& a, const Tensor& b) { return binary(OpKind::kMinimum, a, b); }
Result<Tensor> pow(const Tensor& a, const Tensor& b) { return binary(OpKind::kPow, a, b); }

Result<Tensor> eq(const Tensor& a, const Tensor& b) { return binary(OpKind::kEq, a, b, DType::kBool); }
Result<Tensor> ne(const Tensor& a, const Tensor& b) { return binary(OpKind::kNe, a, b, DType::kBool); }
Result<Tensor> lt(const Tensor& a, const Tensor& b) { return binary(OpKind::kLt, a, b, DType::kBool); }
Result<Tensor> le(const Tensor& a, const Tensor& b) { return binary(OpKind::kLe, a, b, DType::kBool); }
Result<Tensor> gt(const Tensor& a, const Tensor& b) { return binary(OpKind::kGt, a, b, DType::kBool); }
Result<Tensor> ge(const Tensor& a, const Tensor& b) { return binary(OpKind::kGe, a, b, DType::kBool); }

Result<Tensor> add(const Tensor& a, double b) {
  KILN_RETURN_IF_ERROR(check_defined("add", {&a}));
  KILN_ASSIGN_OR_RETURN(Tensor s, scalar_like(a, b));
  return add(a, s);
}

Result<Tensor> mul(const Tensor& a, double b) {
  KILN_RETURN_IF_ERROR(check_defined("mul", {&a}));
  KILN_ASSIGN_OR_RETURN(Tensor s, scalar_like(a, b));
  return mul(a, s);
}

Result<Tensor> where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  KILN_RETURN_IF_ERROR(check_defined("where", {&cond, &a, &b}));
  KILN_RETURN_IF_ERROR(same_dtype("where", a, b));
  // The kernel reads a bool condition, or one of the values' dtype (non-zero is true).
  if (cond.dtype() != DType::kBool) KILN_RETURN_IF_ERROR(same_dtype("where", cond, a));
  auto shape = broadcast_shapes(a.shape(), b.shape());
  if (shape) shape = broadcast_shapes(*shape, cond.shape());
  if (!shape) {
    return op_error("where", "shapes do not broadcast: " + cond.describe() + ", " + a.describe() + ", " + b.describe());
  }
  return rt_of(a).record1(OpKind::kWhere, {}, {cond, a, b}, *shape, a.dtype(), "where");
}

Result<Tensor> neg(const Tensor& x) { return unary(OpKind::kNeg, x); }
Result<Tensor> abs(const Tensor& x) { return unary(OpKind::kAbs, x); }
Result<Tensor> exp(const Tensor& x) { return unary(OpKind::kExp, x); }
Result<Tensor> log(const Tensor& x) { return unary(OpKind::kLog, x); }
Result<Tensor> sqrt(const Tensor& x) { return unary(OpKind::kSqrt, x); }
Result<Tensor> rsqrt(const Tensor& x) { return unary(OpKind::kRsqrt, x); }
Result<Tensor> reciprocal(const Tensor& x) { return unary(OpKind::kReciprocal, x); }
Result<Tensor> relu(const Tensor& x) { return unary(OpKind::kRelu, x); }
Result<Tensor> sigmoid(const Tensor& x) { return unary(OpKind::kSigmoid, x); }
Result<Tensor> tanh(const Tensor& x) { return unary(OpKind::kTanh, x); }
Result<Tensor> silu(const Tensor& x) { return unary(OpKind::kSilu, x); }
Result<Tensor> gelu(const Tensor& x, bool tanh_approximation) {
  return unary(tanh_approximation ? OpKind::kGeluTanh : OpKind::kGeluErf, x);
}
Result<Tensor> leaky_relu(const Tensor& x, double slope) { return unary(OpKind::kLeakyRelu, x, {slope}); }
Result<Tensor> clamp(const Tensor& x, double lo, double hi) { return unary(OpKind::kClamp, x, {lo, hi}); }
Result<Tensor> elu(const Tensor& x, double alpha) { return unary(OpKind::kElu, x, {alpha}); }
Result<Tensor> hardswish(const Tensor& x) { return unary(OpKind::kHardswish, x); }
Result<Tensor> hardsigmoid(const Tensor& x) { return unary(OpKind::kHardsigmoid, x, {0.2, 0.5}); }
Result<Tensor> softplus(const Tensor& x) { return unary(OpKind::kSoftplus, x); }

Result<Tensor> erf(const Tensor& x) { return unary(OpKind::kErf, x); }
Result<Tensor> floor(const Tensor& x) { return unary(OpKind::kFloor, x); }
Result<Tensor> ceil(const Tensor& x) { return unary(OpKind::kCeil, x); }
Result<Tensor> round(const Tensor& x) { return unary(OpKind::kRound, x); }
Result<Tensor> sign(const Tensor& x) { return unary(OpKind::kSign, x); }
Result<Tensor> sin(const Tensor& x) { return unary(OpKind::kSin, x); }
Result<Tensor> cos(const Tensor& x) { return unary(OpKind::kCos, x); }
Result<Tensor> tan(const Tensor& x) { return unary(OpKind::kTan, x); }
Result<Tensor> asin(const Tensor& x) { return unary(OpKind::kAsin, x); }
Result<Tensor> acos(const Tensor& x) { return unary(OpKind::kAcos, x); }
Result<Tensor> atan(const Tensor& x) { return unary(OpKind::kAtan, x); }
Result<Tensor> sinh(const Tensor& x) { return unary(OpKind::kSinh, x); }
Result<Tensor> cosh(const Tensor& x) { return unary(OpKind::kCosh, x); }
Result<Tensor> asinh(const Tensor& x) { return unary(OpKind::kAsinh, x); }
Result<Tensor> acosh(const Tensor& x) { return unary(OpKind::kAcosh, x); }
Result<Tensor> atanh(const Tensor& x) { return unary(OpKind::kAtanh, x); }

Result<Tensor> fmod(const Tensor& a, const Tensor& b) {
  KILN_RETURN_IF_ERROR(check_defined("fmod", {&a, &b}));
  if (a.dtype() == DType::kBool) return op_error("fmod", "needs a float or integer tensor, got " + a.describe());
  return binary(OpKind::kFmod, a, b);
}

Result<Tensor> logical_and(const Tensor& a, const Tensor& b) { return logical_binary(OpKind::kLogicalAnd, a, b); }
Result<Tensor> logical_or(const Tensor& a, const Tensor& b) { return logical_binary(OpKind::kLogicalOr, a, b); }
Result<Tensor> logical_xor(const Tensor& a, const Tensor& b) { return logical_binary(OpKind::kLogicalXor, a, b); }
Result<Tensor> logical_not(const Tensor& x) {
  KILN_RETURN_IF_ERROR(check_defined("logical_not", {&x}));
  KILN_RETURN_IF_ERROR(bool_dtype("logical_not", x));
  return rt_of(x).record1(OpKind::kLogicalNot, {}, {x}, x.shape(), DType::kBool, "logical_not");
}

Result<Tensor> cast(const Tensor& x, DType dtype) {
  KILN_RETURN_IF_ERROR(check_defined("cast", {&x}));
  if (x.dtype() == dtype) return x;
  return rt_of(x).record1(OpKind::kCast, {}, {x}, x.shape(), dtype, "cast");
}

Result<Tensor> contiguous(const Tensor& x) {
  KILN_RETURN_IF_ERROR(check_defined("contiguous", {&x}));
  if (x.is_contiguous()) return x;
  return rt_of(x).record1(OpKind::kCopy, {}, {x}, x.shape(), x.dtype(), "contiguous");
}

}  // namespace kiln::runtime
