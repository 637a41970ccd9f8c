// Lowerings of the ONNX reductions that are compositions of runtime ops
// (ReduceL1, ReduceL2, ReduceSumSquare, ReduceLogSum, ReduceLogSumExp) or a
// runtime reduction of their own (ReduceProd), ArgMax/ArgMin's
// select_last_index, Hardmax, and the CumSum scan. ReduceSum/Mean/Max/Min and the first-index
// ArgMax/ArgMin are in lower_nn.cpp; this extends those entries.
#include <algorithm>
#include <numeric>

#include "lowering.h"

namespace kiln::frontend::detail {
namespace rt = kiln::runtime;

namespace {

// Axes are an attribute before opset 18 and an optional input from it.
bool axes_input(const CheckContext& c) { return c.opset >= 18; }

std::string reduce_check(const CheckContext& c) {
  return first_of({require_float(c, 0), axes_input(c) ? require_host(c, 1, "axes") : "",
                   c.rank(0) < 0 ? "input rank unknown" : ""});
}

// The reduced dims, or nullopt when the node reduces nothing
// (noop_with_empty_axes with empty axes, or a rank-0 input).
Result<std::optional<std::vector<int>>> reduced_dims(LowerContext& c, const Tensor& x) {
  std::vector<int64_t> axes;
  bool given = false;
  if (c.opset >= 18) {
    if (c.has(1)) {
      KILN_ASSIGN_OR_RETURN(axes, c.host_ints(1));
      given = true;
    }
  } else if (auto a = attr_ints(c.node, "axes")) {
    axes = *a;
    given = true;
  }
  if (x.rank() == 0) return std::optional<std::vector<int>>();
  if (axes.empty()) {
    if (given && attr_int(c.node, "noop_with_empty_axes", 0) != 0) return std::optional<std::vector<int>>();
    axes.resize(static_cast<std::size_t>(x.rank()));
    std::iota(axes.begin(), axes.end(), 0);
  }
  std::vector<int> dims;
  for (int64_t a : axes) {
    KILN_ASSIGN_OR_RETURN(int d, axis_of(a, x.rank(), "axis"));
    dims.push_back(d);
  }
  return std::optional<std::vector<int>>(dims);
}

// A reduction as elementwise `before`, a runtime reduction, elementwise
// `after`. With nothing to reduce, the node is the elementwise parts alone
// (a reduction over no axes), as ONNX's reference does.
using Elementwise = Result<Tensor> (*)(const Tensor&);
using Reduction = Result<Tensor> (*)(const Tensor&, std::vector<int>, bool);

Result<Tensor> square(const Tensor& x) { return rt::mul(x, x); }

void composed(OpTable& t, const std::string& name, Elementwise before, Reduction reduce, Elementwise after) {
  t[name] = {reduce_check, [before, reduce, after](LowerContext& c) -> Status {
               KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
               KILN_ASSIGN_OR_RETURN(auto dims, reduced_dims(c, x));
               if (before) { KILN_ASSIGN_OR_RETURN(x, before(x)); }
               if (dims) { KILN_ASSIGN_OR_RETURN(x, reduce(x, *dims, attr_int(c.node, "keepdims", 1) != 0)); }
               if (after) { KILN_ASSIGN_OR_RETURN(x, after(x)); }
               c.out(0, x);
               return {};
             }};
}

// log(sum(exp(x - m))) + m with m the max (so exp cannot overflow), m taken
// as 0 where it is infinite (all -inf, or a +inf present) so that x - m is no
// NaN there.
Result<Tensor> log_sum_exp(LowerContext& c, const Tensor& x, const std::vector<int>& dims, bool keep) {
  KILN_ASSIGN_OR_RETURN(Tensor m, rt::amax(x, dims, true));
  KILN_ASSIGN_OR_RETURN(Tensor zero, c.rt.full({}, 0.0, x.dtype()));
  KILN_ASSIGN_OR_RETURN(Tensor m_minus_m, rt::sub(m, m));
  KILN_ASSIGN_OR_RETURN(Tensor finite, rt::eq(m_minus_m, zero));
  KILN_ASSIGN_OR_RETURN(m, rt::where(finite, m, zero));
  KILN_ASSIGN_OR_RETURN(Tensor shifted, rt::sub(x, m));
  KILN_ASSIGN_OR_RETURN(shifted, rt::exp(shifted));
  KILN_ASSIGN_OR_RETURN(Tensor s, rt::sum(shifted, dims, true));
  KILN_ASSIGN_OR_RETURN(s, rt::log(s));
  KILN_ASSIGN_OR_RETURN(s, rt::add(s, m));
  if (keep) return s;
  runtime::Shape shape;
  for (int d = 0; d < x.rank(); ++d)
    if (std::find(dims.begin(), dims.end(), d) == dims.end()) shape.push_back(x.dim(d));
  return s.reshape(shape);
}

// ArgMax/ArgMin with select_last_index; the first-index form stays the
// entry lower_nn.cpp made.
void extend_arg(OpTable& t, const std::string& name, bool is_max) {
  const OpLowering first = t.at(name);
  t[name] = {[first](const CheckContext& c) {
               if (attr_int(c.node, "select_last_index", 0) == 0) return first.check(c);
               return first_of({require_float(c, 0), c.rank(0) < 1 ? "rank unknown or 0" : ""});
             },
             [first, is_max](LowerContext& c) -> Status {
               if (attr_int(c.node, "select_last_index", 0) == 0) return first.lower(c);
               KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
               KILN_ASSIGN_OR_RETURN(int axis, axis_of(attr_int(c.node, "axis", 0), x.rank(), "axis"));
               const bool keep = attr_int(c.node, "keepdims", 1) != 0;
               KILN_ASSIGN_OR_RETURN(Tensor i, is_max ? rt::argmax(x, axis, keep, true) : rt::argmin(x, axis, keep, true));
               return put(c, rt::cast(i, DType::kI64));
             }};
}

// Hardmax: 1 at the first maximum along the axis, 0 elsewhere, as
// argmax == position. Before opset 13 the input is seen as 2-D, flattened at
// `axis` (default 1), like Softmax.
Result<Tensor> hardmax(LowerContext& c, const Tensor& x, int axis) {
  KILN_ASSIGN_OR_RETURN(Tensor best, rt::argmax(x, axis, true));
  KILN_ASSIGN_OR_RETURN(Tensor positions, c.rt.arange(x.dim(axis), DType::kI32));
  runtime::Shape along(static_cast<std::size_t>(x.rank()), 1);
  along[static_cast<std::size_t>(axis)] = x.dim(axis);
  KILN_ASSIGN_OR_RETURN(positions, positions.reshape(along));
  KILN_ASSIGN_OR_RETURN(Tensor hot, rt::eq(best, positions));
  return rt::cast(hot, x.dtype());
}

}  // namespace

void add_reduce_ops(OpTable& t) {
  composed(t, "ReduceL1", &rt::abs, &rt::sum, nullptr);
  composed(t, "ReduceL2", &square, &rt::sum, &rt::sqrt);
  composed(t, "ReduceSumSquare", &square, &rt::sum, nullptr);
  composed(t, "ReduceLogSum", nullptr, &rt::sum, &rt::log);
  composed(t, "ReduceProd", nullptr, &rt::prod, nullptr);
  t["ReduceLogSumExp"] = {reduce_check, [](LowerContext& c) -> Status {
                            KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
                            KILN_ASSIGN_OR_RETURN(auto dims, reduced_dims(c, x));
                            if (!dims) { c.out(0, x); return {}; }  // log(exp(x)) over no axes
                            return put(c, log_sum_exp(c, x, *dims, attr_int(c.node, "keepdims", 1) != 0));
                          }};

  // CumSum: the axis is an input (a rank-0 or one-element tensor).
  t["CumSum"] = {[](const CheckContext& c) {
                   return first_of({require_float(c, 0), require_host(c, 1, "axis"),
                                    c.rank(0) < 1 ? "rank unknown or 0" : ""});
                 },
                 [](LowerContext& c) -> Status {
                   KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
                   KILN_ASSIGN_OR_RETURN(double axis_value, c.host_scalar(1));
                   KILN_ASSIGN_OR_RETURN(int axis, axis_of(static_cast<int64_t>(axis_value), x.rank(), "axis"));
                   return put(c, rt::cumsum(x, axis, attr_int(c.node, "exclusive", 0) != 0,
                                            attr_int(c.node, "reverse", 0) != 0));
                 }};

  extend_arg(t, "ArgMax", true);
  extend_arg(t, "ArgMin", false);

  t["Hardmax"] = {[](const CheckContext& c) { return first_of({require_float(c, 0), c.rank(0) < 1 ? "rank unknown or 0" : ""}); },
                  [](LowerContext& c) -> Status {
                    KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
                    if (c.opset >= 13) {
                      KILN_ASSIGN_OR_RETURN(int axis, axis_of(attr_int(c.node, "axis", -1), x.rank(), "axis"));
                      return put(c, hardmax(c, x, axis));
                    }
                    KILN_ASSIGN_OR_RETURN(int axis, axis_of(attr_int(c.node, "axis", 1), x.rank(), "axis"));
                    int64_t outer = 1, inner = 1;
                    for (int i = 0; i < x.rank(); ++i) (i < axis ? outer : inner) *= x.dim(i);
                    KILN_ASSIGN_OR_RETURN(Tensor flat, x.reshape({outer, inner}));
                    KILN_ASSIGN_OR_RETURN(Tensor y, hardmax(c, flat, 1));
                    return put(c, y.reshape(x.shape()));
                  }};
}

}  // namespace kiln::frontend::detail
