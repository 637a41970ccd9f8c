// The kernel table's fused kernels: fused_elementwise programs (built with
// the public FusedProgramBuilder, checked against a reference that reads the
// instruction words itself) and the add_layer_norm / add_rms_norm pairs of
// outputs. fused_test.cpp checks that a fused chain gives exactly the bits of
// the unfused kernels, and the refusal of bad programs.
#include <string>
#include <vector>

#include "kernel_table.h"
#include "kiln/kernels/fused_program.h"

namespace kiln::kernels::test {
namespace {

using V = FusedProgramBuilder::Value;

void program(KernelCase& c, const FusedProgramBuilder& b) {
  KernelArgs args;
  const Status st = b.append_to(args);
  if (!st.ok()) {
    c.label += "_BAD_PROGRAM";  // fails the case: no kernel sees an empty program
    return;
  }
  c.ints.assign(args.ints.begin(), args.ints.begin() + args.num_ints);
  c.floats.assign(args.floats.begin(), args.floats.begin() + args.num_floats);
}

KernelCase fused_case(std::string label, DType d, std::vector<TensorSpec> in, TensorSpec out,
                      const FusedProgramBuilder& b) {
  KernelCase c = make_case("fused_elementwise", std::move(label), d, std::move(in), std::move(out), {}, {}, false);
  program(c, b);
  return c;
}

void add_fused_elementwise(std::vector<KernelCase>& cases, DType d) {
  {
    // The transformer MLP tail: (x + bias) * scale, then gelu; bias broadcasts.
    FusedProgramBuilder b(2);
    const V s = b.op(FusedOp::kAdd, b.input(0), b.input(1), d);
    const V y = b.op(FusedOp::kMul, s, b.constant(0.75f), d);
    b.op(FusedOp::kGeluErf, y, d);
    cases.push_back(fused_case("bias_scale_gelu_130x5x3", d, {T({130, 5, 3}, d, -2, 2), T({130}, d)},
                               T({130, 5, 3}, d), b));
  }
  {
    // A DAG: y = x * sigmoid(x) + a * b (silu by hand; x used twice), 3 inputs.
    FusedProgramBuilder b(3);
    const V sg = b.op(FusedOp::kSigmoid, b.input(0), d);
    const V sl = b.op(FusedOp::kMul, b.input(0), sg, d);
    const V ab = b.op(FusedOp::kMul, b.input(1), b.input(2), d);
    b.op(FusedOp::kAdd, sl, ab, d);
    cases.push_back(fused_case("dag_silu_fma_67x4x3", d,
                               {T({67, 4, 3}, d, -3, 3), T({67, 1, 3}, d), T({1, 4, 1}, d)}, T({67, 4, 3}, d), b));
  }
  {
    // Compare and select: where(x > t, x, clamp(y, lo, hi)); constants as operands.
    FusedProgramBuilder b(2);
    const V gt = b.op(FusedOp::kGt, b.input(0), b.constant(0.25f), DType::kBool);
    const V cl = b.op(FusedOp::kClamp, b.input(1), b.constant(-0.5f), b.constant(0.5f), d);
    b.op(FusedOp::kWhere, gt, b.input(0), cl, d);
    cases.push_back(fused_case("where_clamp_300x2", d, {T({300, 2}, d), T({300, 2}, d)}, T({300, 2}, d), b));
  }
  {
    // A bool output: (x >= y) and mask, from a bool input; f32 compare of
    // the inputs as loaded, so the result is exact.
    FusedProgramBuilder b(3);
    const V ge = b.op(FusedOp::kGe, b.input(0), b.input(1), DType::kBool);
    b.op(FusedOp::kLogicalAnd, ge, b.input(2), DType::kBool);
    KernelCase c = fused_case("bool_out_200x3", d, {T({200, 3}, d), T({200, 1}, d), B({200, 3})}, B({200, 3}), b);
    cases.push_back(c);
  }
  {
    // The most the launch holds: 7 inputs, 8 constants, 15 instructions;
    // mixed input dtypes (f32 and bool inputs next to d).
    FusedProgramBuilder b(7);
    V acc = b.op(FusedOp::kMul, b.input(0), b.constant(0.5f), DType::kF32);
    acc = b.op(FusedOp::kAdd, acc, b.input(1), DType::kF32);
    acc = b.op(FusedOp::kSub, acc, b.op(FusedOp::kMul, b.input(2), b.constant(0.25f), d), DType::kF32);
    acc = b.op(FusedOp::kMax, acc, b.input(3), d);
    acc = b.op(FusedOp::kMin, acc, b.constant(3.0f), d);
    acc = b.op(FusedOp::kLeakyRelu, acc, b.constant(0.1f), d);
    acc = b.op(FusedOp::kAdd, acc, b.op(FusedOp::kTanh, b.input(4), d), d);
    const V m = b.op(FusedOp::kLogicalNot, b.input(5), DType::kBool);
    acc = b.op(FusedOp::kWhere, m, acc, b.constant(-1.0f), d);
    acc = b.op(FusedOp::kDiv, acc, b.op(FusedOp::kAdd, b.op(FusedOp::kAbs, b.input(6), d), b.constant(1.0f), d), d);
    b.op(FusedOp::kHardSigmoid, acc, b.constant(0.2f), b.constant(0.5f), d);
    cases.push_back(fused_case("max_program_131x3", d,
                               {T({131, 3}, d), T({131, 3}, DType::kF32), T({131, 1}, d), T({1, 3}, d),
                                T({131, 3}, d), B({131, 3}), T({131, 3}, d)},
                               T({131, 3}, d), b));
  }
  {
    // A scalar input broadcast to the output; exp in f32, then cast.
    FusedProgramBuilder b(1);
    b.op(FusedOp::kCast, b.op(FusedOp::kExp, b.input(0), DType::kF32), d);
    cases.push_back(fused_case("scalar_in_257", d, {T({1}, d)}, T({257}, d), b));
  }
}

void add_add_norms(std::vector<KernelCase>& cases, DType d) {
  auto add = [&](const char* k, std::string label, std::vector<TensorSpec> in, std::vector<int64_t> shape,
                 std::vector<int64_t> ints, std::vector<float> floats) {
    cases.push_back(make_case(k, std::move(label), d, std::move(in), T(shape, d), std::move(ints), std::move(floats), true));
    cases.back().extra_outs.push_back(T(shape, d));  // sum = x + residual
  };
  const std::vector<int64_t> s67 = {67, 3}, s130 = {130, 3, 2};
  add("add_layer_norm", "affine_67x3", {T(s67, d, -3, 3), T(s67, d), T({67}, d, 0.5, 1.5), T({67}, d)}, s67, {},
      {1e-5f});
  add("add_layer_norm", "plain_bcast_130x3x2", {T(s130, d, -3, 3), T({130, 1, 2}, d)}, s130, {}, {});
  add("add_layer_norm", "k2_affine_130x3x2", {T(s130, d, -3, 3), T(s130, d), T({130, 3}, d, 0.5, 1.5), T({130, 3}, d)},
      s130, {2}, {1e-5f});
  add("add_rms_norm", "affine_67x3", {T(s67, d, -3, 3), T(s67, d), T({67}, d, 0.5, 1.5)}, s67, {}, {1e-6f});
  add("add_rms_norm", "plain_bcast_130x3x2", {T(s130, d, -3, 3), T({1, 3, 2}, d)}, s130, {}, {});
  add("add_rms_norm", "k3_300", {T({300}, d, -3, 3), T({300}, d)}, {300}, {1}, {});
}

}  // namespace

void add_fused_cases(std::vector<KernelCase>& cases) {
  for (DType d : {DType::kF32, DType::kBF16, DType::kF16}) {
    add_fused_elementwise(cases, d);
    add_add_norms(cases, d);
  }
}

}  // namespace kiln::kernels::test
