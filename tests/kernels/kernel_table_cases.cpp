// The kernel table's float cases (f32, bf16 and f16) and the helpers every
// group uses; build_cases() assembles the whole table.
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "kernel_table.h"

namespace kiln::kernels::test {

TensorSpec T(std::vector<int64_t> dims, DType dt, double lo, double hi) {
  TensorSpec s;
  s.dims = std::move(dims);
  s.dtype = dt;
  s.lo = lo;
  s.hi = hi;
  return s;
}
TensorSpec I(std::vector<int64_t> dims, double lo, double hi) {
  TensorSpec s = T(std::move(dims), DType::kI32, lo, hi);
  s.integral = true;
  return s;
}
TensorSpec Full(std::vector<int64_t> dims, DType dt) {
  TensorSpec s = T(std::move(dims), dt);
  s.integral = true;
  s.full_range = true;
  return s;
}
TensorSpec B(std::vector<int64_t> dims) { return T(std::move(dims), DType::kBool, 0.0, 1.0); }

void set_tol(KernelCase& c, bool accumulates, bool exact) {
  if (exact || !is_float(c.out.dtype)) {
    c.rtol = c.atol = 0.0;
  } else if (c.out.dtype == DType::kBF16) {
    c.rtol = 1e-2;
    c.atol = 1e-3;
  } else if (c.out.dtype == DType::kF16) {
    c.rtol = 2e-3;
    c.atol = 1e-4;
  } else {
    c.rtol = 1e-5;
    c.atol = accumulates ? 1e-5 : 1e-6;
  }
}

KernelCase make_case(std::string kernel, std::string label, DType dt, std::vector<TensorSpec> in, TensorSpec out,
                     std::vector<int64_t> ints, std::vector<float> floats, bool accumulates, bool exact) {
  KernelCase c;
  c.kernel = std::move(kernel);
  c.label = std::move(label);
  c.dtype = dt;
  c.inputs = std::move(in);
  c.out = std::move(out);
  c.ints = std::move(ints);
  c.floats = std::move(floats);
  set_tol(c, accumulates, exact);
  return c;
}

std::vector<int64_t> reduced(std::vector<int64_t> dims, size_t axis) {
  dims[axis] = 1;
  return dims;
}

void add_elementwise(std::vector<KernelCase>& cases, DType d) {
  struct Shape3 { const char* label; std::vector<int64_t> a, b, out; };
  const std::vector<Shape3> all = {
      {"same_67x3", {67, 3}, {67, 3}, {67, 3}},
      {"bcast_both_67x4x3", {67, 1, 3}, {1, 4, 1}, {67, 4, 3}},
      {"bcast_dim0_129x2", {129, 2}, {1, 2}, {129, 2}},
      {"bcast_rows_130x4x3", {130, 4, 3}, {130, 1, 3}, {130, 4, 3}},
      {"scalar_lhs_200", {1}, {200}, {200}},
  };
  for (const char* op : {"add", "sub", "mul", "div", "max", "min", "pow", "fmod"}) {
    const std::string k = op;
    const double alo = k == "pow" ? 0.5 : -2.0, ahi = 2.0;
    const double blo = k == "div" || k == "fmod" ? 0.5 : -2.0, bhi = 2.0;
    const size_t n = k == "add" ? all.size() : 3;
    for (size_t i = 0; i < n; ++i) {
      cases.push_back(make_case(k, all[i].label, d, {T(all[i].a, d, alo, ahi), T(all[i].b, d, blo, bhi)},
                                T(all[i].out, d), {}, {}, false, k == "max" || k == "min" || k == "fmod"));
    }
  }
  struct Unary { const char* op; std::vector<float> floats; };
  const std::vector<Unary> unaries = {
      {"neg", {}}, {"abs", {}}, {"exp", {}}, {"log", {}}, {"sqrt", {}}, {"rsqrt", {}}, {"reciprocal", {}},
      {"relu", {}}, {"leaky_relu", {0.2f}}, {"gelu_erf", {}}, {"gelu_tanh", {}}, {"silu", {}}, {"sigmoid", {}},
      {"tanh", {}}, {"clamp", {-0.5f, 0.75f}}, {"elu", {0.5f}}, {"hardswish", {}}, {"hardsigmoid", {0.3f, 0.4f}},
      {"softplus", {}}, {"erf", {}}, {"floor", {}}, {"ceil", {}}, {"round", {}}, {"sign", {}}, {"sin", {}},
      {"cos", {}}, {"tan", {}}, {"asin", {}}, {"acos", {}}, {"atan", {}}, {"sinh", {}}, {"cosh", {}}, {"asinh", {}},
      {"acosh", {}}, {"atanh", {}}};
  for (const Unary& u : unaries) {
    const std::string k = u.op;
    const bool positive = k == "log" || k == "sqrt" || k == "rsqrt" || k == "reciprocal";
    const bool unit = k == "asin" || k == "acos" || k == "atanh";  // inside (-1, 1)
    double lo = positive ? 0.1 : unit ? -0.9 : k == "tan" ? -1.4 : -4.0;
    double hi = unit ? 0.9 : k == "tan" ? 1.4 : 4.0;
    if (k == "acosh") lo = 1.1;
    const bool exact = k == "neg" || k == "abs" || k == "relu" || k == "clamp" || k == "floor" || k == "ceil" ||
                       k == "round" || k == "sign";
    for (const auto& shape : {std::vector<int64_t>{67, 3}, std::vector<int64_t>{257, 2}}) {
      const std::string label = std::to_string(shape[0]) + "x" + std::to_string(shape[1]);
      cases.push_back(make_case(k, label, d, {T(shape, d, lo, hi)}, T(shape, d), {}, u.floats, false, exact));
    }
  }
  // Parameter defaults, and clamp with an infinite bound. Clamp bounds are
  // exact in bf16, since an output equal to a bound is that bound rounded.
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<int64_t> s130 = {130, 3};
  cases.push_back(make_case("clamp", "max_only_130x3", d, {T(s130, d, -4, 4)}, T(s130, d), {}, {-inf, 0.25f}, false, true));
  cases.push_back(make_case("clamp", "min_only_130x3", d, {T(s130, d, -4, 4)}, T(s130, d), {}, {-1.5f}, false, true));
  cases.push_back(make_case("clamp", "unbounded_130x3", d, {T(s130, d, -4, 4)}, T(s130, d), {}, {}, false, true));
  cases.push_back(make_case("elu", "default_130x3", d, {T(s130, d, -4, 4)}, T(s130, d)));
  cases.push_back(make_case("hardsigmoid", "default_130x3", d, {T(s130, d, -4, 4)}, T(s130, d)));
  cases.push_back(make_case("softplus", "wide_range_130x3", d, {T(s130, d, -30, 30)}, T(s130, d)));
}

void add_reductions(std::vector<KernelCase>& cases, DType d) {
  struct R { const char* label; std::vector<int64_t> in; size_t axis; };
  const std::vector<R> shapes = {{"130x3x2_axis0", {130, 3, 2}, 0},
                                 {"130x3x2_axis1", {130, 3, 2}, 1},
                                 {"130x3x2_axis2", {130, 3, 2}, 2},
                                 {"300_axis0", {300}, 0}};
  for (const char* op : {"reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod", "argmax", "argmin",
                         "argmax_last", "argmin_last"}) {
    const std::string k = op;
    const bool exact = k != "reduce_sum" && k != "reduce_mean" && k != "reduce_prod";
    const bool arg = k.rfind("arg", 0) == 0;
    // Products of values near 1 stay in range over 300 elements.
    const double lo = k == "reduce_prod" ? 0.9 : -4, hi = k == "reduce_prod" ? 1.1 : 4;
    for (const R& r : shapes) {
      const TensorSpec out = arg ? TensorSpec{reduced(r.in, r.axis), DType::kI32} : T(reduced(r.in, r.axis), d);
      cases.push_back(make_case(k, r.label, d, {T(r.in, d, lo, hi)}, out, {static_cast<int64_t>(r.axis)}, {}, true, exact));
    }
  }
  for (const char* op : {"softmax", "log_softmax"}) {
    for (const auto& shape : {std::vector<int64_t>{1}, std::vector<int64_t>{67, 3}, std::vector<int64_t>{300, 2}}) {
      std::string label = std::to_string(shape[0]);
      if (shape.size() > 1) {
        label += 'x';
        label += std::to_string(shape[1]);
      }
      cases.push_back(make_case(op, label, d, {T(shape, d, -5, 5)}, T(shape, d), {}, {}, true));
    }
    // Any axis: the walk along the axis is vectorised along dim 0.
    struct A { const char* label; std::vector<int64_t> shape; int64_t axis; };
    for (const A& a : {A{"67x5x3_axis0", {67, 5, 3}, 0}, A{"67x5x3_axis1", {67, 5, 3}, 1},
                       A{"67x5x3_axis2", {67, 5, 3}, 2}, A{"130x7_axis1", {130, 7}, 1},
                       A{"5x3x4x9_axis3", {5, 3, 4, 9}, 3}, A{"70x1x2_axis1", {70, 1, 2}, 1}}) {
      cases.push_back(make_case(op, a.label, d, {T(a.shape, d, -5, 5)}, T(a.shape, d), {a.axis}, {}, true));
    }
  }
  cases.push_back(make_case("layer_norm", "affine_67x3", d, {T({67, 3}, d, -3, 3), T({67}, d, 0.5, 1.5), T({67}, d)},
                            T({67, 3}, d), {}, {1e-5f}, true));
  cases.push_back(make_case("layer_norm", "plain_200x2", d, {T({200, 2}, d, -3, 3)}, T({200, 2}, d), {}, {1e-5f}, true));
  cases.push_back(make_case("rms_norm", "affine_67x3", d, {T({67, 3}, d, -3, 3), T({67}, d, 0.5, 1.5)}, T({67, 3}, d),
                            {}, {1e-6f}, true));
  cases.push_back(make_case("rms_norm", "plain_300", d, {T({300}, d, -3, 3)}, T({300}, d), {}, {1e-6f}, true));
  // Over the innermost k dims (ONNX axis = rank - k); gamma/beta span those dims.
  cases.push_back(make_case("layer_norm", "k2_affine_67x3x2", d,
                            {T({67, 3, 2}, d, -3, 3), T({67, 3}, d, 0.5, 1.5), T({67, 3}, d)}, T({67, 3, 2}, d), {2},
                            {1e-5f}, true));
  cases.push_back(make_case("layer_norm", "k3_plain_9x5x3x2", d, {T({9, 5, 3, 2}, d, -3, 3)}, T({9, 5, 3, 2}, d), {3},
                            {1e-5f}, true));
  cases.push_back(make_case("layer_norm", "k2_all_130x3", d, {T({130, 3}, d, -3, 3), T({130, 3}, d, 0.5, 1.5),
                            T({130, 3}, d)}, T({130, 3}, d), {2}, {}, true));
  cases.push_back(make_case("rms_norm", "k2_affine_67x3x2", d, {T({67, 3, 2}, d, -3, 3), T({67, 3}, d, 0.5, 1.5)},
                            T({67, 3, 2}, d), {2}, {1e-6f}, true));
  cases.push_back(make_case("rms_norm", "k3_plain_9x5x3x2", d, {T({9, 5, 3, 2}, d, -3, 3)}, T({9, 5, 3, 2}, d), {3},
                            {}, true));
  // batch_norm: NHWC (channel axis 0), NCHW (axis 2) and a middle axis.
  struct B { const char* label; std::vector<int64_t> shape; int64_t axis; std::vector<float> floats; };
  for (const B& b : {B{"nhwc_70x5x3x2", {70, 5, 3, 2}, 0, {}}, B{"nchw_9x7x5x2", {9, 7, 5, 2}, 2, {}},
                     B{"axis1_67x3x4_eps", {67, 3, 4}, 1, {1e-3f}}, B{"c130_130x4", {130, 4}, 0, {}},
                     B{"axis3_5x4x3x6", {5, 4, 3, 6}, 3, {}}}) {
    const std::vector<int64_t> c = {b.shape[static_cast<size_t>(b.axis)]};
    cases.push_back(make_case("batch_norm", b.label, d,
                              {T(b.shape, d, -3, 3), T(c, d, 0.5, 1.5), T(c, d), T(c, d), T(c, d, 0.5, 2.0)},
                              T(b.shape, d), {b.axis}, b.floats));
  }
  // cumsum: ints = {axis, exclusive, reverse}.
  struct S { const char* label; std::vector<int64_t> shape; std::vector<int64_t> ints; };
  for (const S& c : {S{"150x3_axis0", {150, 3}, {0}}, S{"150x3_axis0_exclusive_reverse", {150, 3}, {0, 1, 1}},
                     S{"67x9x2_axis1", {67, 9, 2}, {1}}, S{"67x9x2_axis1_exclusive", {67, 9, 2}, {1, 1, 0}},
                     S{"130x4x5_axis2_reverse", {130, 4, 5}, {2, 0, 1}}, S{"300_axis0_exclusive", {300}, {0, 1}},
                     S{"5x2_axis0_reverse", {5, 2}, {0, 0, 1}}, S{"1x7_axis1", {1, 7}, {1}}}) {
    cases.push_back(make_case("cumsum", c.label, d, {T(c.shape, d)}, T(c.shape, d), c.ints, {}, true));
  }
  // Past 64 x 64 elements the chunk count stops at 64 and chunks grow. Inputs
  // in [0, 1): a signed 4100-term fp32 running sum strays near the tolerance
  // wherever it crosses 0 (fp32 accumulation, not the kernel).
  cases.push_back(make_case("cumsum", "4100_axis0_positive", d, {T({4100}, d, 0, 1)}, T({4100}, d), {0}, {}, true));
}

void add_data_movement(std::vector<KernelCase>& cases, DType d) {
  auto exact = [&](std::string k, std::string label, std::vector<TensorSpec> in, TensorSpec out, std::vector<int64_t> ints) {
    cases.push_back(make_case(std::move(k), std::move(label), d, std::move(in), std::move(out), std::move(ints), {},
                              false, true));
  };
  exact("permute", "swap01_67x5x3", {T({67, 5, 3}, d)}, T({5, 67, 3}, d), {1, 0, 2});
  exact("permute", "rotate_67x5x3", {T({67, 5, 3}, d)}, T({3, 67, 5}, d), {2, 0, 1});
  exact("permute", "keep0_67x5x3", {T({67, 5, 3}, d)}, T({67, 3, 5}, d), {0, 2, 1});
  exact("permute", "4d_3x4x5x6", {T({3, 4, 5, 6}, d)}, T({6, 4, 3, 5}, d), {3, 1, 0, 2});
  exact("slice", "strided_100x7x3", {T({100, 7, 3}, d)}, T({40, 2, 3}, d), {5, 1, 0, 0, 0, 2, 3, 1, 1, 1});
  exact("slice", "offset_80x4", {T({80, 4}, d)}, T({70, 4}, d), {3, 0});
  exact("concat", "axis0_3_inputs", {T({30, 3}, d), T({70, 3}, d), T({5, 3}, d)}, T({105, 3}, d), {0});
  exact("concat", "axis1_67x5x2", {T({67, 2, 2}, d), T({67, 3, 2}, d)}, T({67, 5, 2}, d), {1});
  exact("concat", "axis2_20x2x4", {T({20, 2, 1}, d), T({20, 2, 3}, d)}, T({20, 2, 4}, d), {2});
  exact("gather", "embedding_130x50", {T({130, 50}, d), I({7, 3}, -50, 50)}, T({130, 7, 3}, d), {1});
  exact("gather", "axis0_20x6", {T({20, 6}, d), I({5}, -20, 20)}, T({5, 6}, d), {0});
  exact("gather", "axis2_5x4x6", {T({5, 4, 6}, d), I({3}, 0, 6)}, T({5, 4, 3}, d), {2});
  // pad: ints = {before per dim, after per dim, [mode]}; floats[0] = constant.
  cases.push_back(make_case("pad", "constant_67x3", d, {T({67, 3}, d)}, T({74, 4}, d), {2, 1, 5, 0}, {1.5f}, false,
                            true));
  exact("pad", "constant_default_130x2x3", {T({130, 2, 3}, d)}, T({131, 5, 3}, d), {0, 3, 0, 1, 0, 0});
  exact("pad", "reflect_67x5x3", {T({67, 5, 3}, d)}, T({74, 7, 6}, d), {3, 2, 1, 4, 0, 2, 1});
  exact("pad", "edge_130x4", {T({130, 4}, d)}, T({271, 9}, d), {1, 3, 140, 2, 2});
  exact("pad", "crop_constant_100x6", {T({100, 6}, d)}, T({102, 7}, d), {-3, 2, 5, -1});
  exact("pad", "crop_reflect_70x5", {T({70, 5}, d)}, T({71, 8}, d), {-2, 4, 3, -1, 1});
  exact("pad", "crop_edge_200x3", {T({200, 3}, d)}, T({63, 3}, d), {-140, 0, 3, 0, 2});
}

void add_pooling(std::vector<KernelCase>& cases, DType d) {
  for (const char* op : {"max_pool2d", "avg_pool2d"}) {
    const bool is_max = std::string(op) == "max_pool2d";
    cases.push_back(make_case(op, "k3s2p1_70x9x7x2", d, {T({70, 9, 7, 2}, d)}, T({70, 5, 4, 2}, d), {3, 3, 2, 2, 1, 1},
                              {}, true, is_max));
    cases.push_back(make_case(op, "k2_130x6x4", d, {T({130, 6, 4}, d)}, T({130, 3, 2}, d), {2, 2}, {}, true, is_max));
    // ints = {kw, kh, sw, sh, pw, ph, count_include_pad, dw, dh, ceil_mode, pw_end, ph_end}.
    // Dilation 2: the 3-tap window spans 5; out = (11 - 5) + 1 by (9 - 5) + 1.
    cases.push_back(make_case(op, "d2_k3s1_70x11x9x2", d, {T({70, 11, 9, 2}, d)}, T({70, 7, 5, 2}, d),
                              {3, 3, 1, 1, 0, 0, 0, 2, 2}, {}, true, is_max));
    // ceil_mode adds a partial last window along W: ceil((10 - 3) / 2) + 1 = 5.
    cases.push_back(make_case(op, "ceil_k3s2_70x10x7", d, {T({70, 10, 7}, d)}, T({70, 5, 3}, d),
                              {3, 3, 2, 2, 0, 0, 0, 1, 1, 1}, {}, true, is_max));
    // W = 5, k 2, s 2, pad 1: ceil gives 4 but the 4th window would start in
    // the right padding (3 * 2 >= 5 + 1), so 3; H = 6 keeps its 4th window.
    cases.push_back(make_case(op, "ceil_drop_k2s2p1_130x5x6", d, {T({130, 5, 6}, d)}, T({130, 3, 4}, d),
                              {2, 2, 2, 2, 1, 1, 0, 1, 1, 1}, {}, true, is_max));
    // Asymmetric pads with dilation and ceil_mode: W 9, k 3, s 2, d 2, pads
    // 1/0 -> ceil(5 / 2) + 1 = 4; H 8, k 2, s 3, d 3, pads 0/1 -> ceil(5 / 3) + 1 = 3.
    cases.push_back(make_case(op, "asym_d_ceil_67x9x8x2", d, {T({67, 9, 8, 2}, d)}, T({67, 4, 3, 2}, d),
                              {3, 2, 2, 3, 1, 0, 0, 2, 3, 1, 0, 1}, {}, true, is_max));
  }
  cases.push_back(make_case("avg_pool2d", "k3s2p1_include_pad", d, {T({70, 9, 7, 2}, d)}, T({70, 5, 4, 2}, d),
                            {3, 3, 2, 2, 1, 1, 1}, {}, true));
  cases.push_back(make_case("avg_pool2d", "ceil_drop_include_pad", d, {T({130, 5, 6}, d)}, T({130, 3, 4}, d),
                            {2, 2, 2, 2, 1, 1, 1, 1, 1, 1}, {}, true));
  cases.push_back(make_case("avg_pool2d", "asym_d_ceil_include_pad", d, {T({67, 9, 8, 2}, d)}, T({67, 4, 3, 2}, d),
                            {3, 2, 2, 3, 1, 0, 1, 2, 3, 1, 0, 1}, {}, true));
  for (const char* op : {"global_max_pool2d", "global_avg_pool2d"}) {
    const bool is_max = std::string(op) == "global_max_pool2d";
    cases.push_back(make_case(op, "70x5x3x2", d, {T({70, 5, 3, 2}, d)}, T({70, 1, 1, 2}, d), {}, {}, true, is_max));
    cases.push_back(make_case(op, "130x7x9", d, {T({130, 7, 9}, d)}, T({130, 1, 1}, d), {}, {}, true, is_max));
  }
}

std::vector<KernelCase> build_cases() {
  std::vector<KernelCase> cases;
  for (DType d : {DType::kF32, DType::kBF16, DType::kF16}) {
    add_elementwise(cases, d);
    add_reductions(cases, d);
    add_data_movement(cases, d);
    add_pooling(cases, d);
    add_resize(cases, d);
  }
  add_dtype_cases(cases);
  add_fused_cases(cases);
  add_sdpa_cases(cases);
  return cases;
}

}  // namespace kiln::kernels::test
