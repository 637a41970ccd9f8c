// The kernel test table, in the style of ggml's test-backend-ops: one list of
// cases -- every built-in kernel, fp32 and bf16, shapes that are not multiples
// of the vector width (64 fp32 / 128 bf16 lanes), broadcast cases, parameters
// -- each run through run_kernel_on_host on 3 cores and compared element by
// element with the double-precision host reference (reference.cpp).
//
// Tolerances, |got - want| <= atol + rtol * |want|:
//   fp32: rtol 1e-5, atol 1e-6 (1e-5 for kernels that accumulate: sums, means,
//         cumsum, softmax, layer/rms norms, average pooling)
//   bf16: rtol 1e-2 (1.3 to 2.5 bf16 ulps; an ulp is 2^-7 of the binade),
//         atol 1e-3; inputs are exact bf16 values, compute is fp32, the
//         output is rounded once, so the error is about half an ulp
//   cast into bf16: rtol 2^-8 (half an ulp), atol 0
//   data movement (pad too), argmax/argmin, max/min, clamp, max pooling: exact
// Input buffers are registered read-only with the MemoryPort and the output
// region is exactly the output tensor, so a kernel that writes an input or past
// its output faults; the output starts as all-ones bytes (NaN), so an element
// left unwritten fails the comparison.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "kiln/kernels/kernel_api.h"
#include "kiln/kernels/library.h"
#include "reference.h"

namespace kiln::kernels::test {
namespace {

struct TensorSpec {
  std::vector<int64_t> dims;  // innermost first
  DType dtype = DType::kF32;
  double lo = -1.0, hi = 1.0;
  bool integral = false;  // whole numbers in [lo, hi)
};

struct KernelCase {
  std::string kernel;
  std::string label;
  DType dtype = DType::kF32;  // the dtype the case is filed under
  std::vector<TensorSpec> inputs;
  TensorSpec out;
  std::vector<int64_t> ints;
  std::vector<float> floats;
  double rtol = 0.0, atol = 0.0;
};

TensorSpec T(std::vector<int64_t> dims, DType dt, double lo = -1.0, double hi = 1.0) {
  return TensorSpec{std::move(dims), dt, lo, hi, false};
}
TensorSpec I(std::vector<int64_t> dims, double lo, double hi) { return TensorSpec{std::move(dims), DType::kI32, lo, hi, true}; }

void set_tol(KernelCase& c, bool accumulates, bool exact) {
  if (exact) {
    c.rtol = c.atol = 0.0;
  } else if (c.out.dtype == DType::kBF16) {
    c.rtol = 1e-2;
    c.atol = 1e-3;
  } else {
    c.rtol = 1e-5;
    c.atol = accumulates ? 1e-5 : 1e-6;
  }
}

KernelCase make_case(std::string kernel, std::string label, DType dt, std::vector<TensorSpec> in, TensorSpec out,
                     std::vector<int64_t> ints = {}, std::vector<float> floats = {}, bool accumulates = false,
                     bool exact = false) {
  KernelCase c{std::move(kernel), std::move(label), dt, std::move(in), std::move(out), std::move(ints), std::move(floats)};
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
  for (const char* op : {"add", "sub", "mul", "div", "max", "min", "pow"}) {
    const std::string k = op;
    const double alo = k == "pow" ? 0.5 : -2.0, ahi = 2.0;
    const double blo = k == "div" ? 0.5 : -2.0, bhi = 2.0;
    const size_t n = k == "add" ? all.size() : 3;
    for (size_t i = 0; i < n; ++i) {
      cases.push_back(make_case(k, all[i].label, d, {T(all[i].a, d, alo, ahi), T(all[i].b, d, blo, bhi)},
                                T(all[i].out, d), {}, {}, false, k == "max" || k == "min"));
    }
  }
  struct Unary { const char* op; std::vector<float> floats; };
  const std::vector<Unary> unaries = {
      {"neg", {}}, {"abs", {}}, {"exp", {}}, {"log", {}}, {"sqrt", {}}, {"rsqrt", {}}, {"reciprocal", {}},
      {"relu", {}}, {"leaky_relu", {0.2f}}, {"gelu_erf", {}}, {"gelu_tanh", {}}, {"silu", {}}, {"sigmoid", {}},
      {"tanh", {}}, {"clamp", {-0.5f, 0.75f}}, {"elu", {0.5f}}, {"hardswish", {}}, {"hardsigmoid", {0.3f, 0.4f}},
      {"softplus", {}}};
  for (const Unary& u : unaries) {
    const std::string k = u.op;
    const bool positive = k == "log" || k == "sqrt" || k == "rsqrt" || k == "reciprocal";
    const double lo = positive ? 0.1 : -4.0, hi = 4.0;
    const bool exact = k == "neg" || k == "abs" || k == "relu" || k == "clamp";
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
  const DType other = d == DType::kF32 ? DType::kBF16 : DType::kF32;
  cases.push_back(make_case("cast", std::string("to_") + std::string(dtype_name(other)) + "_131x3", d,
                            {T({131, 3}, d, -100, 100)}, T({131, 3}, other)));
  cases.back().rtol = 1.0 / 256;  // rounding into bf16 errs by at most half an ulp: 2^-8 relative
  cases.back().atol = 0.0;
  cases.push_back(make_case("cast", "copy_131x3", d, {T({131, 3}, d, -100, 100)}, T({131, 3}, d), {}, {}, false, true));
  TensorSpec cond = T({67, 1, 3}, d, 0, 2);
  cond.integral = true;
  cases.push_back(make_case("where", "bcast_67x4x3", d, {cond, T({67, 4, 3}, d), T({1, 4, 1}, d)}, T({67, 4, 3}, d),
                            {}, {}, false, true));
  TensorSpec cond2 = T({200}, d, 0, 2);
  cond2.integral = true;
  cases.push_back(make_case("where", "same_200", d, {cond2, T({200}, d), T({200}, d)}, T({200}, d), {}, {}, false, true));
}

void add_reductions(std::vector<KernelCase>& cases, DType d) {
  struct R { const char* label; std::vector<int64_t> in; size_t axis; };
  const std::vector<R> shapes = {{"130x3x2_axis0", {130, 3, 2}, 0},
                                 {"130x3x2_axis1", {130, 3, 2}, 1},
                                 {"130x3x2_axis2", {130, 3, 2}, 2},
                                 {"300_axis0", {300}, 0}};
  for (const char* op : {"reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "argmax", "argmin"}) {
    const std::string k = op;
    const bool exact = k != "reduce_sum" && k != "reduce_mean";
    const bool arg = k == "argmax" || k == "argmin";
    for (const R& r : shapes) {
      const TensorSpec out = arg ? TensorSpec{reduced(r.in, r.axis), DType::kI32} : T(reduced(r.in, r.axis), d);
      cases.push_back(make_case(k, r.label, d, {T(r.in, d, -4, 4)}, out, {static_cast<int64_t>(r.axis)}, {}, true, exact));
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
  for (DType d : {DType::kF32, DType::kBF16}) {
    add_elementwise(cases, d);
    add_reductions(cases, d);
    add_data_movement(cases, d);
    add_pooling(cases, d);
  }
  // Data movement also moves int32.
  const DType i = DType::kI32;
  cases.push_back(make_case("permute", "swap01_67x5x3", i, {I({67, 5, 3}, -1000, 1000)}, TensorSpec{{5, 67, 3}, i},
                            {1, 0, 2}, {}, false, true));
  cases.push_back(make_case("gather", "embedding_70x9", i, {I({70, 9}, -1000, 1000), I({4}, 0, 9)},
                            TensorSpec{{70, 4}, i}, {1}, {}, false, true));
  cases.push_back(make_case("pad", "constant_67x3", i, {I({67, 3}, -1000, 1000)}, TensorSpec{{74, 4}, i},
                            {2, 1, 5, 0}, {-7.0f}, false, true));
  cases.push_back(make_case("pad", "reflect_67x5x3", i, {I({67, 5, 3}, -1000, 1000)}, TensorSpec{{74, 7, 6}, i},
                            {3, 2, 1, 4, 0, 2, 1}, {}, false, true));
  cases.push_back(make_case("pad", "edge_70x4", i, {I({70, 4}, -1000, 1000)}, TensorSpec{{135, 5}, i},
                            {60, 0, 5, 1, 2}, {}, false, true));
  return cases;
}

// ---- running a case ----

struct Buffer {
  std::vector<uint8_t> bytes;
  TensorDesc desc;
};

Buffer make_buffer(const TensorSpec& s) {
  Buffer b;
  int64_t n = 1;
  for (int64_t x : s.dims) n *= x;
  b.bytes.assign(static_cast<size_t>(n) * dtype_size(s.dtype), 0xff);
  b.desc = TensorDesc::contiguous(reinterpret_cast<uint64_t>(b.bytes.data()), s.dtype,
                                  std::span<const int64_t>(s.dims.data(), s.dims.size()));
  return b;
}

Shape shape_of(const std::vector<int64_t>& dims) {
  Shape s = {1, 1, 1, 1, 1};
  for (size_t i = 0; i < dims.size(); ++i) s[i] = dims[i];
  return s;
}

// Fills the buffer with random values and returns them exactly as stored.
RefTensor fill(Buffer& b, const TensorSpec& s, std::mt19937& rng) {
  RefTensor r;
  r.dims = shape_of(s.dims);
  r.rank = static_cast<int>(s.dims.size());
  std::uniform_real_distribution<double> dist(s.lo, s.hi);
  const size_t n = b.bytes.size() / dtype_size(s.dtype);
  for (size_t i = 0; i < n; ++i) {
    double v = dist(rng);
    if (s.integral || s.dtype == DType::kI32) v = std::floor(v);
    if (s.dtype == DType::kF32) {
      const float f = static_cast<float>(v);
      std::memcpy(b.bytes.data() + 4 * i, &f, 4);
      v = f;
    } else if (s.dtype == DType::kBF16) {
      const bf16 h = bf16::from_float(static_cast<float>(v));
      std::memcpy(b.bytes.data() + 2 * i, &h, 2);
      v = h.to_float();
    } else {
      const auto k = static_cast<int32_t>(v);
      std::memcpy(b.bytes.data() + 4 * i, &k, 4);
    }
    r.v.push_back(v);
  }
  return r;
}

double read_element(const Buffer& b, size_t i) {
  switch (b.desc.dtype) {
    case DType::kF32: {
      float f;
      std::memcpy(&f, b.bytes.data() + 4 * i, 4);
      return f;
    }
    case DType::kBF16: {
      uint16_t h;
      std::memcpy(&h, b.bytes.data() + 2 * i, 2);
      return bf16::from_bits(h).to_float();
    }
    case DType::kI32: {
      int32_t k;
      std::memcpy(&k, b.bytes.data() + 4 * i, 4);
      return k;
    }
    case DType::kF16:
    case DType::kI64:
    case DType::kBool: break;  // no case uses them yet
  }
  return 0.0;
}

const KernelRegistry& builtin_registry() {
  static const KernelRegistry* registry = [] {
    auto* r = new KernelRegistry();
    EXPECT_TRUE(register_builtin_kernels(*r).ok());
    return r;
  }();
  return *registry;
}

std::string case_name_of(const KernelCase& c) {
  return c.kernel + "_" + std::string(dtype_name(c.dtype)) + "_" + c.label;
}

class KernelTable : public ::testing::TestWithParam<KernelCase> {};

TEST_P(KernelTable, MatchesReference) {
  const KernelCase& kc = GetParam();
  std::mt19937 rng(static_cast<uint32_t>(kernel_id(kc.kernel + kc.label)) ^ static_cast<uint32_t>(kc.dtype));
  HostMemoryPort port;
  KernelArgs args;
  std::vector<Buffer> inputs;
  std::vector<RefTensor> refs;
  inputs.reserve(kc.inputs.size());
  for (const TensorSpec& s : kc.inputs) {
    inputs.push_back(make_buffer(s));
    refs.push_back(fill(inputs.back(), s, rng));
    port.add_region(inputs.back().bytes.data(), inputs.back().bytes.size(), /*writable=*/false);
    args.add_tensor(inputs.back().desc);
  }
  Buffer out = make_buffer(kc.out);
  port.add_region(out.bytes.data(), out.bytes.size(), /*writable=*/true);
  args.add_tensor(out.desc);
  for (int64_t v : kc.ints) args.add_int(v);
  for (float v : kc.floats) args.add_float(v);

  auto run = run_kernel_on_host(builtin_registry(), kc.kernel, args, port, /*cores=*/3);
  ASSERT_TRUE(run.ok()) << run.status().to_string();
  ASSERT_FALSE(run->fault.has_value()) << run->status().to_string();
  EXPECT_GT(run->total.total_instructions(), 0u);

  const RefTensor want = reference(kc.kernel, refs, shape_of(kc.out.dims), kc.ints, kc.floats);
  ASSERT_EQ(want.v.size(), out.bytes.size() / dtype_size(kc.out.dtype));
  int bad = 0;
  double worst = 0.0;
  double closest = 0.0;  // largest error / allowance seen: how near the tolerance the case runs
  for (size_t i = 0; i < want.v.size(); ++i) {
    const double got = read_element(out, i);
    const double err = std::fabs(got - want.v[i]);
    const double allowed = kc.atol + kc.rtol * std::fabs(want.v[i]);
    if (err > 0.0) closest = std::max(closest, allowed > 0.0 ? err / allowed : INFINITY);
    if (!(err <= allowed)) {  // also catches NaN
      if (++bad <= 5) ADD_FAILURE() << "element " << i << ": got " << got << ", want " << want.v[i] << " (error " << err
                                    << " > " << allowed << ")";
      worst = std::max(worst, err);
    }
  }
  RecordProperty("error_over_tolerance", std::to_string(closest));
  if (std::getenv("KILN_TABLE_VERBOSE") != nullptr) std::printf("%-40s %.3f\n", case_name_of(kc).c_str(), closest);
  EXPECT_EQ(bad, 0) << bad << " of " << want.v.size() << " elements outside tolerance; worst error " << worst;
}

void PrintTo(const KernelCase& c, std::ostream* os) {
  *os << c.kernel << " " << dtype_name(c.dtype) << " " << c.label << " (rtol " << c.rtol << ", atol " << c.atol << ")";
}

std::string case_name(const ::testing::TestParamInfo<KernelCase>& info) {
  return case_name_of(info.param);
}

INSTANTIATE_TEST_SUITE_P(Builtin, KernelTable, ::testing::ValuesIn(build_cases()), case_name);

TEST(KernelTableCoverage, EveryBuiltinKernelHasF32AndBf16Cases) {
  std::set<std::pair<std::string, DType>> have;
  for (const KernelCase& c : build_cases()) have.insert({c.kernel, c.dtype});
  for (const std::string& name : builtin_kernel_names()) {
    EXPECT_TRUE(have.count({name, DType::kF32})) << name << " has no f32 case";
    EXPECT_TRUE(have.count({name, DType::kBF16})) << name << " has no bf16 case";
  }
  EXPECT_EQ(builtin_registry().size(), builtin_kernel_names().size());
}

// Runs a case's launch on `cores` cores and returns the summed counters.
SliceCounters counters_of(const KernelCase& kc, int cores) {
  std::mt19937 rng(1);
  HostMemoryPort port;
  KernelArgs args;
  std::vector<Buffer> buffers;
  buffers.reserve(kc.inputs.size() + 1);
  for (size_t i = 0; i <= kc.inputs.size(); ++i) {
    const bool is_out = i == kc.inputs.size();
    const TensorSpec& s = is_out ? kc.out : kc.inputs[i];
    buffers.push_back(make_buffer(s));
    if (!is_out) fill(buffers.back(), s, rng);
    port.add_region(buffers.back().bytes.data(), buffers.back().bytes.size(), is_out);
    args.add_tensor(buffers.back().desc);
  }
  for (int64_t v : kc.ints) args.add_int(v);
  for (float v : kc.floats) args.add_float(v);
  auto run = run_kernel_on_host(builtin_registry(), kc.kernel, args, port, cores);
  EXPECT_TRUE(run.ok()) << run.status().to_string();
  return run.ok() ? run->total : SliceCounters{};
}

// The instruction counts behind library.h's descriptions: axes other than 0
// are walked a vector at a time without cross-lane work, batch_norm folds its
// factors once per channel and core, cumsum along dim 0 scans chunks.
TEST(KernelTableShape, WorkIsVectorisedAsDescribed) {
  const DType f = DType::kF32;
  // {67, 5, 3} along axis 1: 2 vectors x 3 lines, 3 passes of 5 steps.
  const SliceCounters sm = counters_of(make_case("softmax", "", f, {T({67, 5, 3}, f)}, T({67, 5, 3}, f), {1}), 3);
  EXPECT_EQ(sm.count(OpClass::kVectorReduce), 0u);
  EXPECT_EQ(sm.count(OpClass::kVectorLoad), 2u * 3 * 3 * 5);
  const SliceCounters cs = counters_of(make_case("cumsum", "", f, {T({67, 9, 2}, f)}, T({67, 9, 2}, f), {1}), 3);
  EXPECT_EQ(cs.count(OpClass::kVectorReduce), 0u);
  EXPECT_EQ(cs.count(OpClass::kVectorLoad), 2u * 2 * 9);
  // A row of 300: chunks of 18, 17 of them; one cross-lane sum per chunk
  // after the first, and each chunk position loaded once per pass.
  const SliceCounters row = counters_of(make_case("cumsum", "", f, {T({300}, f)}, T({300}, f), {0}), 3);
  EXPECT_EQ(row.count(OpClass::kVectorReduce), 16u);
  EXPECT_EQ(row.count(OpClass::kVectorLoad), 2u * 18);
  EXPECT_EQ(row.count(OpClass::kVectorStore), 18u);
  // NHWC {70, 5, 3, 2}: 30 rows split over 3 cores, each folding both
  // channel vectors once: 6 rsqrt for 2100 elements.
  const std::vector<int64_t> c70 = {70};
  const SliceCounters nhwc = counters_of(
      make_case("batch_norm", "", f, {T({70, 5, 3, 2}, f), T(c70, f), T(c70, f), T(c70, f), T(c70, f, 0.5, 2)},
                T({70, 5, 3, 2}, f), {0}),
      3);
  EXPECT_EQ(nhwc.count(OpClass::kVectorDivSqrt), 6u);
  // NCHW {9, 7, 5, 2}: the 2 batch entries go to 2 cores, each folding the
  // 5 channels once.
  const std::vector<int64_t> c5 = {5};
  const SliceCounters nchw = counters_of(
      make_case("batch_norm", "", f, {T({9, 7, 5, 2}, f), T(c5, f), T(c5, f), T(c5, f), T(c5, f, 0.5, 2)},
                T({9, 7, 5, 2}, f), {2}),
      3);
  EXPECT_EQ(nchw.count(OpClass::kVectorDivSqrt), 10u);
  EXPECT_EQ(nchw.count(OpClass::kScalarLoad), 40u);
}

// Launches every new parameter can get wrong: each is refused before any slice
// runs, with a message that names the problem.
TEST(KernelTableValidation, BadParametersAreNamed) {
  struct Bad {
    std::string kernel;
    std::vector<std::vector<int64_t>> dims;  // f32 tensors at a dummy address
    std::vector<int64_t> ints;
    std::vector<float> floats;
    std::string needle;
  };
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<Bad> bad = {
      {"softmax", {{5, 3}, {5, 3}}, {2}, {}, "axis 2 is outside 0..1"},
      {"cumsum", {{5, 3}, {5, 3}}, {0, 2}, {}, "exclusive ints[1] = 2 must be 0 or 1"},
      {"layer_norm", {{5, 3}, {5, 3}}, {3}, {}, "ints[0] = 3 normalised dims is outside 1..2"},
      {"rms_norm", {{5, 3}, {5}, {5, 3}}, {2}, {}, "gamma has dims {5}; expected {5, 3, 1, 1, 1}"},
      {"max_pool2d", {{4, 5, 5}, {4, 4, 4}}, {2, 2, 1, 1, 0, 0, 0, 0, 1}, {}, "dilation_w 0 must be >= 1"},
      {"max_pool2d", {{4, 5, 6}, {4, 4, 4}}, {2, 2, 2, 2, 1, 1, 0, 1, 1, 1}, {}, "expected {4, 3, 4, 1, 1}"},
      {"avg_pool2d", {{4, 5, 6}, {4, 3, 4}}, {2, 2, 2, 2, 1, 1, 0, 1, 1, 1, 0, 2}, {}, "pad_h_end 2"},
      {"avg_pool2d", {{4, 5, 6}, {4, 3, 4}}, std::vector<int64_t>(13, 1), {}, "at most 12 ints, got 13"},
      {"global_avg_pool2d", {{4, 5, 6}, {4, 1, 2}}, {}, {}, "expected {4, 1, 1, 1, 1}"},
      {"batch_norm", {{4, 3}, {3}, {4}, {4}, {4}, {4, 3}}, {0}, {}, "scale has dims {3}; expected {4, 1, 1, 1, 1}"},
      {"batch_norm", {{4, 3}, {3}, {3}, {3}, {3}, {4, 3}}, {1}, {-1.0f}, "epsilon floats[0]"},
      {"pad", {{3, 2}, {8, 2}}, {3, 0, 2, 0, 1}, {}, "must be smaller than in.dims[0] = 3 to reflect"},
      {"pad", {{3, 2}, {5, 2}}, {1, 1}, {}, "got 2 ints"},
      {"pad", {{3, 2}, {3, 2}}, {0, 0, 0, 0, 3}, {}, "mode ints[4] = 3"},
      {"pad", {{3, 2}, {4, 2}}, {1, 0, 1, 0}, {}, "out has dims {4, 2}; expected {5, 2, 1, 1, 1}"},
      {"clamp", {{5}, {5}}, {}, {nan, 1.0f}, "must not be NaN"},
      {"argmin", {{5, 3}, {1, 3}}, {}, {}, "out has dtype f32; expected i32"},
  };
  for (const Bad& b : bad) {
    KernelArgs args;
    for (const auto& dims : b.dims) {
      args.add_tensor(TensorDesc::contiguous(0x1000, DType::kF32, std::span<const int64_t>(dims.data(), dims.size())));
    }
    for (int64_t v : b.ints) args.add_int(v);
    for (float v : b.floats) args.add_float(v);
    const KernelDef* def = builtin_registry().find(b.kernel);
    ASSERT_NE(def, nullptr) << b.kernel;
    const Status st = validate_kernel_launch(*def, args);
    EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument) << b.kernel << ": " << st.to_string();
    EXPECT_NE(st.message().find(b.needle), std::string::npos) << b.kernel << ": " << st.to_string();
  }
}

}  // namespace
}  // namespace kiln::kernels::test
