// Lowerings of ONNX's elementwise math and logic beyond the basic arithmetic
// (lower_elementwise.cpp): trigonometric and hyperbolic functions, rounding,
// Sign, Erf, IsNaN/IsInf, And/Or/Xor/Not, Mod, CastLike and the activations
// that are compositions of runtime ops (Softsign, Celu, ThresholdedRelu,
// Shrink, PRelu). Every result is computed on the device.
#include <cmath>
#include <limits>

#include "lowering.h"
#include "proto_io.h"

namespace kiln::frontend::detail {
namespace rt = kiln::runtime;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// A rank-0 constant of like's dtype, made on its device.
Result<Tensor> scalar(LowerContext& c, const Tensor& like, double value) { return c.rt.full({}, value, like.dtype()); }

void float_unary(OpTable& t, const std::string& name, Result<Tensor> (*fn)(const Tensor&)) {
  t[name] = {[](const CheckContext& c) { return require_float(c, 0); },
             [fn](LowerContext& c) -> Status {
               KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
               return put(c, fn(x));
             }};
}

void bool_binary(OpTable& t, const std::string& name, Result<Tensor> (*fn)(const Tensor&, const Tensor&)) {
  t[name] = {[](const CheckContext& c) {
               return first_of({require_dtypes(c, 0, {DType::kBool}), require_dtypes(c, 1, {DType::kBool})});
             },
             [fn](LowerContext& c) -> Status {
               KILN_ASSIGN_OR_RETURN(Tensor a, c.in(0));
               KILN_ASSIGN_OR_RETURN(Tensor b, c.in(1));
               return put(c, fn(a, b));
             }};
}

// Python's remainder (the sign of the divisor) from C's: r + b where r is
// non-zero and its sign differs from b's. Exact for integers.
Result<Tensor> floor_mod(LowerContext& c, const Tensor& a, const Tensor& b) {
  KILN_ASSIGN_OR_RETURN(Tensor r, rt::fmod(a, b));
  KILN_ASSIGN_OR_RETURN(Tensor zero, scalar(c, a, 0.0));
  KILN_ASSIGN_OR_RETURN(Tensor nonzero, rt::ne(r, zero));
  KILN_ASSIGN_OR_RETURN(Tensor r_negative, rt::lt(r, zero));
  KILN_ASSIGN_OR_RETURN(Tensor b_negative, rt::lt(b, zero));
  KILN_ASSIGN_OR_RETURN(Tensor signs_differ, rt::logical_xor(r_negative, b_negative));
  KILN_ASSIGN_OR_RETURN(Tensor fix, rt::logical_and(nonzero, signs_differ));
  KILN_ASSIGN_OR_RETURN(Tensor shifted, rt::add(r, b));
  return rt::where(fix, shifted, r);
}

}  // namespace

void add_math_ops(OpTable& t) {
  float_unary(t, "Erf", &rt::erf);
  float_unary(t, "Floor", &rt::floor);
  float_unary(t, "Ceil", &rt::ceil);
  float_unary(t, "Round", &rt::round);
  // Sign: the kernel for floats; integers as (x > 0) - (x < 0), exact.
  t["Sign"] = {[](const CheckContext& c) {
                 return require_dtypes(c, 0, {DType::kF32, DType::kF16, DType::kBF16, DType::kI32, DType::kI64});
               },
               [](LowerContext& c) -> Status {
                 KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
                 if (is_float(x.dtype())) return put(c, rt::sign(x));
                 KILN_ASSIGN_OR_RETURN(Tensor zero, scalar(c, x, 0.0));
                 KILN_ASSIGN_OR_RETURN(Tensor pos, rt::gt(x, zero));
                 KILN_ASSIGN_OR_RETURN(Tensor neg, rt::lt(x, zero));
                 KILN_ASSIGN_OR_RETURN(pos, rt::cast(pos, x.dtype()));
                 KILN_ASSIGN_OR_RETURN(neg, rt::cast(neg, x.dtype()));
                 return put(c, rt::sub(pos, neg));
               }};
  float_unary(t, "Sin", &rt::sin);
  float_unary(t, "Cos", &rt::cos);
  float_unary(t, "Tan", &rt::tan);
  float_unary(t, "Asin", &rt::asin);
  float_unary(t, "Acos", &rt::acos);
  float_unary(t, "Atan", &rt::atan);
  float_unary(t, "Sinh", &rt::sinh);
  float_unary(t, "Cosh", &rt::cosh);
  float_unary(t, "Asinh", &rt::asinh);
  float_unary(t, "Acosh", &rt::acosh);
  float_unary(t, "Atanh", &rt::atanh);

  bool_binary(t, "And", &rt::logical_and);
  bool_binary(t, "Or", &rt::logical_or);
  bool_binary(t, "Xor", &rt::logical_xor);
  t["Not"] = {[](const CheckContext& c) { return require_dtypes(c, 0, {DType::kBool}); },
              [](LowerContext& c) -> Status {
                KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
                return put(c, rt::logical_not(x));
              }};

  // IEEE compares: NaN is the one value unequal to itself.
  t["IsNaN"] = {[](const CheckContext& c) { return require_float(c, 0); },
                [](LowerContext& c) -> Status {
                  KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
                  return put(c, rt::ne(x, x));
                }};
  t["IsInf"] = {[](const CheckContext& c) { return require_float(c, 0); },
                [](LowerContext& c) -> Status {
                  KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
                  KILN_ASSIGN_OR_RETURN(Tensor pos_inf, scalar(c, x, kInf));
                  KILN_ASSIGN_OR_RETURN(Tensor neg_inf, scalar(c, x, -kInf));
                  KILN_ASSIGN_OR_RETURN(Tensor is_pos, rt::eq(x, pos_inf));
                  KILN_ASSIGN_OR_RETURN(Tensor is_neg, rt::eq(x, neg_inf));
                  const bool pos = attr_int(c.node, "detect_positive", 1) != 0;
                  const bool neg = attr_int(c.node, "detect_negative", 1) != 0;
                  if (pos && neg) return put(c, rt::logical_or(is_pos, is_neg));
                  if (pos) return put(c, is_pos);
                  if (neg) return put(c, is_neg);
                  return put(c, rt::logical_and(is_pos, is_neg));  // detects nothing: false everywhere
                }};

  // Mod: fmod 1 is C's fmod (any numeric type); fmod 0, integers only, takes
  // the divisor's sign as Python's % does.
  t["Mod"] = {[](const CheckContext& c) {
                const bool c_fmod = attr_int(c.node, "fmod", 0) != 0;
                std::string r = first_of({require_dtypes(c, 0, {DType::kF32, DType::kF16, DType::kBF16, DType::kI32, DType::kI64}),
                                          require_dtypes(c, 1, {DType::kF32, DType::kF16, DType::kBF16, DType::kI32, DType::kI64})});
                if (!r.empty()) return r;
                if (c.info(0)->dtype != c.info(1)->dtype) return std::string("inputs of different dtypes");
                const DType d = *c.info(0)->dtype;
                if (!c_fmod && (d == DType::kF32 || d == DType::kF16 || d == DType::kBF16))
                  return std::string("fmod 0 with floating-point inputs is invalid (the spec requires fmod 1)");
                return std::string();
              },
              [](LowerContext& c) -> Status {
                KILN_ASSIGN_OR_RETURN(Tensor a, c.in(0));
                KILN_ASSIGN_OR_RETURN(Tensor b, c.in(1));
                if (attr_int(c.node, "fmod", 0) != 0) return put(c, rt::fmod(a, b));
                return put(c, floor_mod(c, a, b));
              }};

  t["CastLike"] = {[](const CheckContext& c) {
                     const std::initializer_list<DType> ok = {DType::kF32, DType::kF16, DType::kBF16, DType::kI32,
                                                              DType::kI64, DType::kBool};
                     return first_of({require_dtypes(c, 0, ok), require_dtypes(c, 1, ok)});
                   },
                   [](LowerContext& c) -> Status {
                     KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
                     KILN_ASSIGN_OR_RETURN(Tensor like, c.in(1));
                     return put(c, rt::cast(x, like.dtype()));
                   }};

  // Softsign = x / (1 + |x|).
  float_unary(t, "Softsign", [](const Tensor& x) -> Result<Tensor> {
    KILN_ASSIGN_OR_RETURN(Tensor a, rt::abs(x));
    KILN_ASSIGN_OR_RETURN(a, rt::add(a, 1.0));
    return rt::div(x, a);
  });

  // Celu = x for x > 0, else alpha (exp(x / alpha) - 1): elu's negative side
  // scaled by alpha; the positive side is x itself, not x / alpha * alpha.
  t["Celu"] = {[](const CheckContext& c) {
                 if (attr_float(c.node, "alpha", 1.0f) == 0.0f) return std::string("alpha 0 is invalid");
                 return require_float(c, 0);
               },
               [](LowerContext& c) -> Status {
                 KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
                 const double alpha = attr_float(c.node, "alpha", 1.0f);
                 KILN_ASSIGN_OR_RETURN(Tensor scaled, rt::mul(x, 1.0 / alpha));
                 KILN_ASSIGN_OR_RETURN(Tensor neg_side, rt::elu(scaled, 1.0));
                 KILN_ASSIGN_OR_RETURN(neg_side, rt::mul(neg_side, alpha));
                 KILN_ASSIGN_OR_RETURN(Tensor zero, scalar(c, x, 0.0));
                 KILN_ASSIGN_OR_RETURN(Tensor positive, rt::gt(x, zero));
                 return put(c, rt::where(positive, x, neg_side));
               }};

  // ThresholdedRelu = x where x > alpha, else 0.
  t["ThresholdedRelu"] = {[](const CheckContext& c) { return require_float(c, 0); },
                          [](LowerContext& c) -> Status {
                            KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
                            KILN_ASSIGN_OR_RETURN(Tensor alpha, scalar(c, x, attr_float(c.node, "alpha", 1.0f)));
                            KILN_ASSIGN_OR_RETURN(Tensor zero, scalar(c, x, 0.0));
                            KILN_ASSIGN_OR_RETURN(Tensor keep, rt::gt(x, alpha));
                            return put(c, rt::where(keep, x, zero));
                          }};

  // Shrink: x + bias below -lambd, x - bias above lambd, else 0.
  t["Shrink"] = {[](const CheckContext& c) { return require_float(c, 0); },
                 [](LowerContext& c) -> Status {
                   KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
                   const double lambd = attr_float(c.node, "lambd", 0.5f), bias = attr_float(c.node, "bias", 0.0f);
                   KILN_ASSIGN_OR_RETURN(Tensor lo, scalar(c, x, -lambd));
                   KILN_ASSIGN_OR_RETURN(Tensor hi, scalar(c, x, lambd));
                   KILN_ASSIGN_OR_RETURN(Tensor zero, scalar(c, x, 0.0));
                   KILN_ASSIGN_OR_RETURN(Tensor below, rt::lt(x, lo));
                   KILN_ASSIGN_OR_RETURN(Tensor above, rt::gt(x, hi));
                   KILN_ASSIGN_OR_RETURN(Tensor x_plus, rt::add(x, bias));
                   KILN_ASSIGN_OR_RETURN(Tensor x_minus, rt::add(x, -bias));
                   KILN_ASSIGN_OR_RETURN(Tensor upper, rt::where(above, x_minus, zero));
                   return put(c, rt::where(below, x_plus, upper));
                 }};

  // PRelu = slope * x where x < 0, else x. From opset 7 the slope broadcasts
  // to x unidirectionally; before, a 1-D slope holds one value per channel
  // (dim 1 of x), as PyTorch's PReLU exported at opset 6 has it.
  t["PRelu"] = {[](const CheckContext& c) {
                  std::string r = first_of({require_float(c, 0), require_float(c, 1)});
                  if (r.empty() && c.info(0)->dtype != c.info(1)->dtype) r = "inputs of different dtypes";
                  return r;
                },
                [](LowerContext& c) -> Status {
                  KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
                  KILN_ASSIGN_OR_RETURN(Tensor slope, c.in(1));
                  if (c.opset < 7 && slope.rank() == 1 && x.rank() > 2 && slope.dim(0) == x.dim(1) && slope.dim(0) > 1) {
                    runtime::Shape per_channel{slope.dim(0)};
                    for (int i = 2; i < x.rank(); ++i) per_channel.push_back(1);
                    KILN_ASSIGN_OR_RETURN(slope, slope.reshape(per_channel));
                  }
                  KILN_ASSIGN_OR_RETURN(Tensor zero, scalar(c, x, 0.0));
                  KILN_ASSIGN_OR_RETURN(Tensor negative, rt::lt(x, zero));
                  KILN_ASSIGN_OR_RETURN(Tensor scaled, rt::mul(x, slope));
                  return put(c, rt::where(negative, scaled, x));
                }};
}

}  // namespace kiln::frontend::detail
