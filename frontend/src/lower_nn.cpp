// Lowerings of ONNX's matrix, convolution, pooling, normalisation and
// reduction ops.
#include <numeric>

#include "lowering.h"

namespace kiln::frontend::detail {
namespace rt = kiln::runtime;

namespace {

std::string only_first_output(const CheckContext& c) {
  for (int i = 1; i < c.node.output_size(); ++i)
    if (!c.node.output(i).empty()) return "output " + std::to_string(i) + " is not supported";
  return "";
}

// Reduce*: axes from an attribute (and, for ReduceSum from opset 13, an
// input); keepdims; noop_with_empty_axes.
std::string reduce_axes_check(const CheckContext& c, bool axes_input) {
  std::string r = require_float(c, 0);
  if (!r.empty()) return r;
  if (axes_input) r = require_host(c, 1, "axes");
  if (!r.empty()) return r;
  if (c.rank(0) < 0) return "input rank unknown";
  return "";
}

LowerFn reduce_lower(Result<Tensor> (*fn)(const Tensor&, std::vector<int>, bool), bool axes_input) {
  return [fn, axes_input](LowerContext& c) -> Status {
    KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
    std::vector<int64_t> axes;
    bool given = false;
    if (axes_input) {
      if (c.has(1)) { KILN_ASSIGN_OR_RETURN(axes, c.host_ints(1)); given = true; }
    } else if (auto a = attr_ints(c.node, "axes")) {
      axes = *a;
      given = true;
    }
    const bool keep = attr_int(c.node, "keepdims", 1) != 0;
    if (axes.empty()) {
      if (given && attr_int(c.node, "noop_with_empty_axes", 0) != 0) { c.out(0, x); return {}; }
      axes.resize(static_cast<std::size_t>(x.rank()));
      std::iota(axes.begin(), axes.end(), 0);
    }
    std::vector<int> dims;
    for (int64_t a : axes) { KILN_ASSIGN_OR_RETURN(int d, axis_of(a, x.rank(), "axis")); dims.push_back(d); }
    if (x.rank() == 0) { c.out(0, x); return {}; }
    return put(c, fn(x, dims, keep));
  };
}

// Softmax before opset 13 flattens to 2-D at `axis` (default 1) and
// normalises the whole trailing block; from 13 it is one axis (default -1).
LowerFn softmax_lower(Result<Tensor> (*fn)(const Tensor&, int)) {
  return [fn](LowerContext& c) -> Status {
    KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
    if (c.opset >= 13) {
      KILN_ASSIGN_OR_RETURN(int axis, axis_of(attr_int(c.node, "axis", -1), x.rank(), "axis"));
      return put(c, fn(x, axis));
    }
    KILN_ASSIGN_OR_RETURN(int axis, axis_of(attr_int(c.node, "axis", 1), x.rank(), "axis"));
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < x.rank(); ++i) (i < axis ? outer : inner) *= x.dim(i);
    KILN_ASSIGN_OR_RETURN(Tensor flat, x.reshape({outer, inner}));
    KILN_ASSIGN_OR_RETURN(Tensor y, fn(flat, 1));
    return put(c, y.reshape(x.shape()));
  };
}

}  // namespace

void add_nn_ops(OpTable& t) {
  // MatMul: numpy semantics; a 1-D operand gains a dim that is dropped after.
  t["MatMul"] = {[](const CheckContext& c) {
                   return first_of({require_float(c, 0), require_float(c, 1),
                                    c.rank(0) < 1 || c.rank(1) < 1 ? "operand rank unknown or 0" : ""});
                 },
                 [](LowerContext& c) -> Status {
                   KILN_ASSIGN_OR_RETURN(Tensor a, c.in(0));
                   KILN_ASSIGN_OR_RETURN(Tensor b, c.in(1));
                   const bool a1 = a.rank() == 1, b1 = b.rank() == 1;
                   if (a1) { KILN_ASSIGN_OR_RETURN(a, a.unsqueeze(0)); }
                   if (b1) { KILN_ASSIGN_OR_RETURN(b, b.unsqueeze(1)); }
                   KILN_ASSIGN_OR_RETURN(Tensor y, rt::matmul(a, b));
                   if (b1) { KILN_ASSIGN_OR_RETURN(y, y.squeeze(-1)); }
                   if (a1) { KILN_ASSIGN_OR_RETURN(y, y.squeeze(-1 - (b1 ? 0 : 1))); }
                   c.out(0, y);
                   return {};
                 }};

  // Gemm: alpha * A' B' + beta * C.
  t["Gemm"] = {[](const CheckContext& c) {
                 return first_of({require_float(c, 0), require_float(c, 1), c.has_input(2) ? require_float(c, 2) : ""});
               },
               [](LowerContext& c) -> Status {
                 KILN_ASSIGN_OR_RETURN(Tensor a, c.in(0));
                 KILN_ASSIGN_OR_RETURN(Tensor b, c.in(1));
                 if (attr_int(c.node, "transA", 0)) { KILN_ASSIGN_OR_RETURN(a, a.transpose(0, 1)); }
                 if (attr_int(c.node, "transB", 0)) { KILN_ASSIGN_OR_RETURN(b, b.transpose(0, 1)); }
                 KILN_ASSIGN_OR_RETURN(Tensor y, rt::matmul(a, b));
                 const float alpha = attr_float(c.node, "alpha", 1.0f), beta = attr_float(c.node, "beta", 1.0f);
                 if (alpha != 1.0f) { KILN_ASSIGN_OR_RETURN(y, rt::mul(y, alpha)); }
                 if (c.has(2) && beta != 0.0f) {
                   KILN_ASSIGN_OR_RETURN(Tensor bias, c.in(2));
                   if (beta != 1.0f) { KILN_ASSIGN_OR_RETURN(bias, rt::mul(bias, beta)); }
                   KILN_ASSIGN_OR_RETURN(y, rt::add(y, bias));
                 }
                 c.out(0, y);
                 return {};
               }};

  t["GlobalAveragePool"] = {[](const CheckContext& c) { return first_of({require_float(c, 0), c.rank(0) != 4 ? "only [N, C, H, W] inputs" : ""}); },
                            [](LowerContext& c) -> Status {
                              KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
                              return put(c, rt::global_avg_pool2d(x));
                            }};
  t["GlobalMaxPool"] = {[](const CheckContext& c) { return first_of({require_float(c, 0), c.rank(0) != 4 ? "only [N, C, H, W] inputs" : ""}); },
                        [](LowerContext& c) -> Status {
                          KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
                          return put(c, rt::global_max_pool2d(x));
                        }};

  // BatchNormalization: inference with the given statistics, or (opset 14+
  // training_mode) with the batch's own, also giving the updated running
  // mean and variance (population variance, momentum-weighted).
  t["BatchNormalization"] = {[](const CheckContext& c) {
                               const bool training = attr_int(c.node, "training_mode", 0) != 0;
                               if (c.opset < 9 && has_attr(c.node, "spatial") && attr_int(c.node, "spatial", 1) != 1) return std::string("spatial 0 is not supported");
                               if (!training && c.opset >= 14) {
                                 std::string r = only_first_output(c);
                                 if (!r.empty()) return r;
                               }
                               if (c.opset < 14 && c.node.output_size() > 1) return std::string("the training outputs of opsets before 14 are not supported");
                               return first_of({require_float(c, 0), c.rank(0) < 2 ? "input rank below 2" : ""});
                             },
                             [](LowerContext& c) -> Status {
                               KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
                               KILN_ASSIGN_OR_RETURN(Tensor scale, c.in(1));
                               KILN_ASSIGN_OR_RETURN(Tensor bias, c.in(2));
                               KILN_ASSIGN_OR_RETURN(Tensor mean, c.in(3));
                               KILN_ASSIGN_OR_RETURN(Tensor var, c.in(4));
                               const double eps = attr_float(c.node, "epsilon", 1e-5f);
                               if (attr_int(c.node, "training_mode", 0) == 0) return put(c, rt::batch_norm(x, mean, var, scale, bias, eps));
                               std::vector<int> dims;
                               for (int d = 0; d < x.rank(); ++d) if (d != 1) dims.push_back(d);
                               KILN_ASSIGN_OR_RETURN(Tensor batch_mean, rt::mean(x, dims, true));
                               KILN_ASSIGN_OR_RETURN(Tensor centred, rt::sub(x, batch_mean));
                               KILN_ASSIGN_OR_RETURN(Tensor sq, rt::mul(centred, centred));
                               KILN_ASSIGN_OR_RETURN(Tensor batch_var, rt::mean(sq, dims, true));
                               KILN_ASSIGN_OR_RETURN(Tensor inv_std, rt::add(batch_var, eps));
                               KILN_ASSIGN_OR_RETURN(inv_std, rt::rsqrt(inv_std));
                               rt::Shape per_channel = batch_mean.shape();
                               KILN_ASSIGN_OR_RETURN(Tensor s, scale.reshape(per_channel));
                               KILN_ASSIGN_OR_RETURN(Tensor b, bias.reshape(per_channel));
                               KILN_ASSIGN_OR_RETURN(Tensor y, rt::mul(centred, inv_std));
                               KILN_ASSIGN_OR_RETURN(y, rt::mul(y, s));
                               KILN_ASSIGN_OR_RETURN(y, rt::add(y, b));
                               c.out(0, y);
                               const double momentum = attr_float(c.node, "momentum", 0.9f);
                               const Tensor* batch_stats[2] = {&batch_mean, &batch_var};
                               const Tensor* running[2] = {&mean, &var};
                               for (int k = 0; k < 2; ++k) {
                                 if (c.node.output_size() <= k + 1 || c.node.output(k + 1).empty()) continue;
                                 KILN_ASSIGN_OR_RETURN(Tensor stat, batch_stats[k]->reshape(running[k]->shape()));
                                 KILN_ASSIGN_OR_RETURN(Tensor old_part, rt::mul(*running[k], momentum));
                                 KILN_ASSIGN_OR_RETURN(Tensor new_part, rt::mul(stat, 1 - momentum));
                                 KILN_ASSIGN_OR_RETURN(Tensor updated, rt::add(old_part, new_part));
                                 c.out(k + 1, updated);
                               }
                               return {};
                             }};

  // Dropout at inference: y = x and an all-true mask. Training (a random
  // mask) is refused; training_mode must be absent.
  t["Dropout"] = {[](const CheckContext& c) {
                    if (c.opset < 7 && attr_int(c.node, "is_test", 0) == 0) return std::string("is_test 0 (training) is not supported");
                    if (c.has_input(2)) return std::string("the training_mode input is not supported (training draws a random mask)");
                    return require_dtypes(c, 0, {DType::kF32, DType::kF16, DType::kBF16});
                  },
                  [](LowerContext& c) -> Status {
                    KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
                    c.out(0, x);
                    if (c.node.output_size() > 1 && !c.node.output(1).empty()) {
                      KILN_ASSIGN_OR_RETURN(Tensor mask, device_full(c.rt, x.shape(), 1, DType::kBool));
                      c.out(1, mask);
                    }
                    return {};
                  }};

  t["Softmax"] = {[](const CheckContext& c) { return first_of({require_float(c, 0), c.rank(0) < 1 ? "rank unknown or 0" : ""}); },
                  softmax_lower(&rt::softmax)};
  t["LogSoftmax"] = {[](const CheckContext& c) { return first_of({require_float(c, 0), c.rank(0) < 1 ? "rank unknown or 0" : ""}); },
                     softmax_lower(&rt::log_softmax)};

  // LayerNormalization (opset 17): over dims axis.. with Scale/B of exactly
  // those dims (broadcastable smaller ones are not handled yet).
  t["LayerNormalization"] = {[](const CheckContext& c) {
                               std::string r = first_of({require_float(c, 0), only_first_output(c)});
                               if (!r.empty()) return r;
                               const int rank = c.rank(0);
                               if (rank < 1) return std::string("rank unknown");
                               const int64_t axis = attr_int(c.node, "axis", -1);
                               const int64_t a = axis < 0 ? axis + rank : axis;
                               for (int i : {1, 2}) {
                                 if (!c.has_input(i)) continue;
                                 const ValueInfo* v = c.info(i);
                                 if (!v || !v->shape || static_cast<int64_t>(v->shape->size()) != rank - a)
                                   return "input " + std::to_string(i) + " must have the normalised dims' shape";
                               }
                               return std::string();
                             },
                             [](LowerContext& c) -> Status {
                               KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
                               KILN_ASSIGN_OR_RETURN(int axis, axis_of(attr_int(c.node, "axis", -1), x.rank(), "axis"));
                               std::optional<Tensor> w, b;
                               if (c.has(1)) { KILN_ASSIGN_OR_RETURN(w, c.in(1)); }
                               if (c.has(2)) { KILN_ASSIGN_OR_RETURN(b, c.in(2)); }
                               return put(c, rt::layer_norm(x, x.rank() - axis, w, b, attr_float(c.node, "epsilon", 1e-5f)));
                             }};

  t["ReduceSum"] = {[](const CheckContext& c) { return reduce_axes_check(c, c.opset >= 13); },
                    [](LowerContext& c) -> Status { return reduce_lower(&rt::sum, c.opset >= 13)(c); }};
  t["ReduceMean"] = {[](const CheckContext& c) { return reduce_axes_check(c, false); }, reduce_lower(&rt::mean, false)};
  t["ReduceMax"] = {[](const CheckContext& c) { return reduce_axes_check(c, false); }, reduce_lower(&rt::amax, false)};
  t["ReduceMin"] = {[](const CheckContext& c) { return reduce_axes_check(c, false); }, reduce_lower(&rt::amin, false)};

  // ArgMax/ArgMin: int32 indices from the runtime, int64 as ONNX wants.
  for (const char* name : {"ArgMax", "ArgMin"}) {
    const bool is_max = std::string(name) == "ArgMax";
    t[name] = {[](const CheckContext& c) {
                 if (attr_int(c.node, "select_last_index", 0) != 0) return std::string("select_last_index 1 is not supported");
                 return first_of({require_float(c, 0), c.rank(0) < 1 ? "rank unknown or 0" : ""});
               },
               [is_max](LowerContext& c) -> Status {
                 KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
                 KILN_ASSIGN_OR_RETURN(int axis, axis_of(attr_int(c.node, "axis", 0), x.rank(), "axis"));
                 const bool keep = attr_int(c.node, "keepdims", 1) != 0;
                 KILN_ASSIGN_OR_RETURN(Tensor i, is_max ? rt::argmax(x, axis, keep) : rt::argmin(x, axis, keep));
                 return put(c, rt::cast(i, DType::kI64));
               }};
  }
}

}  // namespace kiln::frontend::detail
