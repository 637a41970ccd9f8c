// Lowerings of ONNX's elementwise ops, activations, comparisons, casts.
#include <algorithm>
#include <cmath>
#include <limits>

#include "lowering.h"
#include "proto_io.h"

namespace kiln::frontend::detail {
namespace rt = kiln::runtime;

namespace {

constexpr std::initializer_list<DType> kNumeric = {DType::kF32, DType::kF16, DType::kBF16, DType::kI32, DType::kI64};

std::string same_dtype_inputs(const CheckContext& c) {
  const ValueInfo* first = c.info(0);
  for (int i = 1; i < c.node.input_size(); ++i) {
    const ValueInfo* v = c.info(i);
    if (first && v && first->dtype != v->dtype) return "inputs of different dtypes";
  }
  return "";
}

// a op b for every input, left to right (variadic Max/Min/Sum, binary ops).
void binary(OpTable& t, const std::string& name, Result<Tensor> (*fn)(const Tensor&, const Tensor&),
            std::initializer_list<DType> dtypes) {
  std::vector<DType> ok(dtypes);
  t[name] = {[ok](const CheckContext& c) {
               for (int i = 0; i < c.node.input_size(); ++i) {
                 const ValueInfo* v = c.info(i);
                 if (!v || !v->dtype) return std::string("input dtype unknown");
                 if (std::find(ok.begin(), ok.end(), *v->dtype) == ok.end())
                   return "dtype " + std::string(dtype_name(*v->dtype)) + " is not supported";
               }
               return same_dtype_inputs(c);
             },
             [fn](LowerContext& c) -> Status {
               KILN_ASSIGN_OR_RETURN(Tensor acc, c.in(0));
               for (int i = 1; i < c.inputs(); ++i) {
                 KILN_ASSIGN_OR_RETURN(Tensor x, c.in(i));
                 KILN_ASSIGN_OR_RETURN(acc, fn(acc, x));
               }
               c.out(0, acc);
               return {};
             }};
}

void unary(OpTable& t, const std::string& name, Result<Tensor> (*fn)(const Tensor&), bool ints = false) {
  t[name] = {[ints](const CheckContext& c) { return ints ? require_dtypes(c, 0, kNumeric) : require_float(c, 0); },
             [fn](LowerContext& c) -> Status {
               KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
               KILN_ASSIGN_OR_RETURN(Tensor y, fn(x));
               c.out(0, y);
               return {};
             }};
}

// An activation with float attributes: (x, attrs) -> y.
void activation(OpTable& t, const std::string& name, std::function<Result<Tensor>(const Tensor&, const onnx::NodeProto&)> fn) {
  t[name] = {[](const CheckContext& c) { return require_float(c, 0); },
             [fn](LowerContext& c) -> Status {
               KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
               KILN_ASSIGN_OR_RETURN(Tensor y, fn(x, c.node));
               c.out(0, y);
               return {};
             }};
}

// Clip of an integer tensor: max then min with the bounds as exact integer
// constants (an absent bound is the type's end, so it changes nothing).
Result<Tensor> int_clip(LowerContext& c, const Tensor& x, double lo, double hi) {
  const bool wide = x.dtype() == DType::kI64;
  const double type_lo = wide ? static_cast<double>(std::numeric_limits<int64_t>::min()) : std::numeric_limits<int32_t>::min();
  const double type_hi = wide ? static_cast<double>(std::numeric_limits<int64_t>::max()) : std::numeric_limits<int32_t>::max();
  const auto bound = [&](double v) -> Result<Tensor> {
    v = std::clamp(v, type_lo, type_hi);
    if (wide) {
      // 2^63 is no int64: the top of the range is the type's own maximum.
      const int64_t i = v >= 0x1p63 ? std::numeric_limits<int64_t>::max() : static_cast<int64_t>(v);
      return c.rt.from_host(std::vector<int64_t>{i}, {}, DType::kI64);
    }
    return c.rt.from_host(std::vector<int32_t>{static_cast<int32_t>(v)}, {}, DType::kI32);
  };
  KILN_ASSIGN_OR_RETURN(Tensor lo_t, bound(lo));
  KILN_ASSIGN_OR_RETURN(Tensor hi_t, bound(hi));
  KILN_ASSIGN_OR_RETURN(Tensor y, rt::maximum(x, lo_t));
  return rt::minimum(y, hi_t);
}

}  // namespace

void add_elementwise_ops(OpTable& t) {
  binary(t, "Add", &rt::add, kNumeric);
  binary(t, "Sub", &rt::sub, kNumeric);
  binary(t, "Mul", &rt::mul, kNumeric);
  // Integer Div truncates toward zero, as the kernel does (ONNX's reference
  // divides and casts back to the integer type).
  binary(t, "Div", &rt::div, kNumeric);
  binary(t, "Max", &rt::maximum, kNumeric);
  binary(t, "Min", &rt::minimum, kNumeric);
  binary(t, "Sum", &rt::add, kNumeric);
  binary(t, "Equal", &rt::eq, {DType::kF32, DType::kF16, DType::kBF16, DType::kI32, DType::kI64, DType::kBool});
  binary(t, "Less", &rt::lt, kNumeric);
  binary(t, "Greater", &rt::gt, kNumeric);
  binary(t, "LessOrEqual", &rt::le, kNumeric);
  binary(t, "GreaterOrEqual", &rt::ge, kNumeric);

  t["Mean"] = {[](const CheckContext& c) { return first_of({require_float(c, 0), same_dtype_inputs(c)}); },
               [](LowerContext& c) -> Status {
                 KILN_ASSIGN_OR_RETURN(Tensor acc, c.in(0));
                 for (int i = 1; i < c.inputs(); ++i) {
                   KILN_ASSIGN_OR_RETURN(Tensor x, c.in(i));
                   KILN_ASSIGN_OR_RETURN(acc, rt::add(acc, x));
                 }
                 KILN_ASSIGN_OR_RETURN(acc, rt::mul(acc, 1.0 / c.inputs()));
                 c.out(0, acc);
                 return {};
               }};

  // Pow's exponent may have another dtype than its base; the result has the
  // base's. A float base takes the exponent cast to its dtype (integers
  // exactly up to 2^24 in f32). An integer base with an integer exponent is
  // exact (wrapping, in the wider of the two widths); with a float exponent,
  // exact where the exponent is integral, else fp32 pow truncated to the
  // integer type (ONNX's reference computes in floats and casts back).
  t["Pow"] = {[](const CheckContext& c) { return first_of({require_dtypes(c, 0, kNumeric), require_dtypes(c, 1, kNumeric)}); },
              [](LowerContext& c) -> Status {
                KILN_ASSIGN_OR_RETURN(Tensor a, c.in(0));
                KILN_ASSIGN_OR_RETURN(Tensor b, c.in(1));
                if (is_float(a.dtype()) || !is_float(b.dtype())) {
                  const DType work = is_float(a.dtype()) || a.dtype() == b.dtype() ? a.dtype() : DType::kI64;
                  KILN_ASSIGN_OR_RETURN(Tensor base, rt::cast(a, work));
                  KILN_ASSIGN_OR_RETURN(b, rt::cast(b, work));
                  KILN_ASSIGN_OR_RETURN(Tensor y, rt::pow(base, b));
                  return put(c, rt::cast(y, a.dtype()));
                }
                KILN_ASSIGN_OR_RETURN(Tensor int_exponent, rt::cast(b, a.dtype()));
                KILN_ASSIGN_OR_RETURN(Tensor back, rt::cast(int_exponent, b.dtype()));
                KILN_ASSIGN_OR_RETURN(Tensor integral, rt::eq(back, b));
                KILN_ASSIGN_OR_RETURN(Tensor exact, rt::pow(a, int_exponent));
                KILN_ASSIGN_OR_RETURN(Tensor fa, rt::cast(a, DType::kF32));
                KILN_ASSIGN_OR_RETURN(Tensor fb, rt::cast(b, DType::kF32));
                KILN_ASSIGN_OR_RETURN(Tensor approx, rt::pow(fa, fb));
                KILN_ASSIGN_OR_RETURN(approx, rt::cast(approx, a.dtype()));
                return put(c, rt::where(integral, exact, approx));
              }};

  unary(t, "Neg", &rt::neg, true);  // integers wrap: -INT_MIN is INT_MIN
  unary(t, "Abs", &rt::abs, true);
  unary(t, "Exp", &rt::exp);
  unary(t, "Log", &rt::log);
  unary(t, "Sqrt", &rt::sqrt);
  unary(t, "Reciprocal", &rt::reciprocal);
  unary(t, "Relu", &rt::relu);
  unary(t, "Sigmoid", &rt::sigmoid);
  unary(t, "Tanh", &rt::tanh);
  unary(t, "Softplus", &rt::softplus);
  unary(t, "HardSwish", &rt::hardswish);

  activation(t, "LeakyRelu", [](const Tensor& x, const onnx::NodeProto& n) { return rt::leaky_relu(x, attr_float(n, "alpha", 0.01f)); });
  activation(t, "Elu", [](const Tensor& x, const onnx::NodeProto& n) { return rt::elu(x, attr_float(n, "alpha", 1.0f)); });
  // Selu = gamma * elu(x, alpha).
  activation(t, "Selu", [](const Tensor& x, const onnx::NodeProto& n) -> Result<Tensor> {
    KILN_ASSIGN_OR_RETURN(Tensor e, rt::elu(x, attr_float(n, "alpha", 1.67326319217681884765625f)));
    return rt::mul(e, attr_float(n, "gamma", 1.05070102214813232421875f));
  });
  // HardSigmoid = clamp(alpha x + beta, 0, 1) for any alpha and beta (the
  // runtime's hardsigmoid is PyTorch's alpha = 1/6).
  activation(t, "HardSigmoid", [](const Tensor& x, const onnx::NodeProto& n) -> Result<Tensor> {
    KILN_ASSIGN_OR_RETURN(Tensor y, rt::mul(x, attr_float(n, "alpha", 0.2f)));
    KILN_ASSIGN_OR_RETURN(y, rt::add(y, attr_float(n, "beta", 0.5f)));
    return rt::clamp(y, 0.0, 1.0);
  });

  // Clip: bounds are attributes before opset 11, optional inputs after.
  t["Clip"] = {[](const CheckContext& c) {
                 return first_of({require_dtypes(c, 0, kNumeric), c.opset >= 11 ? require_host(c, 1, "min") : "",
                                  c.opset >= 11 ? require_host(c, 2, "max") : ""});
               },
               [](LowerContext& c) -> Status {
                 KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
                 double lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
                 if (c.opset < 11) {
                   lo = attr_float(c.node, "min", -std::numeric_limits<float>::infinity());
                   hi = attr_float(c.node, "max", std::numeric_limits<float>::infinity());
                 } else {
                   if (c.has(1)) { KILN_ASSIGN_OR_RETURN(lo, c.host_scalar(1)); }
                   if (c.has(2)) { KILN_ASSIGN_OR_RETURN(hi, c.host_scalar(2)); }
                 }
                 // ONNX's min > max gives max everywhere; clamp's order of
                 // application does the same (lower bound first, then upper).
                 if (!is_float(x.dtype())) return put(c, int_clip(c, x, lo, hi));
                 KILN_ASSIGN_OR_RETURN(Tensor y, rt::clamp(x, lo, hi));
                 c.out(0, y);
                 return {};
               }};

  t["Where"] = {[](const CheckContext& c) {
                  return first_of({require_dtypes(c, 0, {DType::kBool}), require_dtypes(c, 1, kNumeric),
                                   require_dtypes(c, 2, kNumeric)});
                },
                [](LowerContext& c) -> Status {
                  KILN_ASSIGN_OR_RETURN(Tensor cond, c.in(0));
                  KILN_ASSIGN_OR_RETURN(Tensor a, c.in(1));
                  KILN_ASSIGN_OR_RETURN(Tensor b, c.in(2));
                  KILN_ASSIGN_OR_RETURN(Tensor y, rt::where(cond, a, b));
                  c.out(0, y);
                  return {};
                }};

  t["Cast"] = {[](const CheckContext& c) {
                 const int64_t to = attr_int(c.node, "to", 0);
                 if (!to_kiln_dtype(static_cast<int32_t>(to))) return "cast to " + onnx_dtype_name(static_cast<int32_t>(to)) + " is not supported";
                 return require_dtypes(c, 0, {DType::kF32, DType::kF16, DType::kBF16, DType::kI32, DType::kI64, DType::kBool});
               },
               [](LowerContext& c) -> Status {
                 KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
                 KILN_ASSIGN_OR_RETURN(Tensor y, rt::cast(x, *to_kiln_dtype(static_cast<int32_t>(attr_int(c.node, "to", 0)))));
                 c.out(0, y);
                 return {};
               }};

  t["Identity"] = {[](const CheckContext& c) { return std::string(); },
                   [](LowerContext& c) -> Status {
                     KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
                     c.out(0, x);
                     return {};
                   }};
}

}  // namespace kiln::frontend::detail
