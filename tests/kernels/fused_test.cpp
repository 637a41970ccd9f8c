// fused_elementwise and the add_* norms against the unfused kernels: the
// fused launch must give exactly the bytes of the chain of single kernels
// (intermediates rounded to their dtype), read each input once and write the
// output once. Bad programs are refused with the field named; the builder
// refuses what does not fit.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kiln/kernels/fused_program.h"
#include "kiln/kernels/kernel_api.h"
#include "kiln/kernels/library.h"
#include "builtin_registry.h"

namespace kiln::kernels {
namespace {

// A host tensor with its own bytes.
struct Buf {
  std::vector<uint8_t> bytes;
  TensorDesc desc;
};

Buf make(DType d, std::vector<int64_t> dims) {
  Buf b;
  int64_t n = 1;
  for (int64_t x : dims) n *= x;
  b.bytes.assign(static_cast<size_t>(n) * dtype_size(d), 0xff);
  b.desc = TensorDesc::contiguous(reinterpret_cast<uint64_t>(b.bytes.data()), d,
                                  std::span<const int64_t>(dims.data(), dims.size()));
  return b;
}

// Random values in [lo, hi) (floats) or 0/1 (bool).
Buf random(DType d, std::vector<int64_t> dims, std::mt19937& rng, float lo = -3.0f, float hi = 3.0f) {
  Buf b = make(d, std::move(dims));
  std::uniform_real_distribution<float> dist(lo, hi);
  const size_t n = b.bytes.size() / dtype_size(d);
  for (size_t i = 0; i < n; ++i) {
    const float v = dist(rng);
    uint8_t* p = b.bytes.data() + i * dtype_size(d);
    if (d == DType::kF32) std::memcpy(p, &v, 4);
    else if (d == DType::kBF16) { const bf16 h = bf16::from_float(v); std::memcpy(p, &h, 2); }
    else if (d == DType::kF16) { const f16 h = f16::from_float(v); std::memcpy(p, &h, 2); }
    else *p = v > 0 ? 1 : 0;
  }
  return b;
}

Buf constant(DType d, float v) {
  Buf b = make(d, {1});
  if (d == DType::kF32) std::memcpy(b.bytes.data(), &v, 4);
  else if (d == DType::kBF16) { const bf16 h = bf16::from_float(v); std::memcpy(b.bytes.data(), &h, 2); }
  else { const f16 h = f16::from_float(v); std::memcpy(b.bytes.data(), &h, 2); }
  return b;
}

// Runs `kernel` over tensors (inputs then outputs) on 3 cores; every buffer
// is registered writable (the chain's intermediates are outputs, then inputs).
SliceCounters run(const std::string& kernel, std::vector<Buf*> tensors, std::vector<int64_t> ints = {},
                  std::vector<float> floats = {}) {
  HostMemoryPort port;
  KernelArgs args;
  for (Buf* t : tensors) {
    port.add_region(t->bytes.data(), t->bytes.size(), true);
    args.add_tensor(t->desc);
  }
  for (int64_t v : ints) args.add_int(v);
  for (float v : floats) args.add_float(v);
  auto r = run_kernel_on_host(testing::builtin_registry(), kernel, args, port, 3);
  EXPECT_TRUE(r.ok()) << kernel << ": " << r.status().to_string();
  if (!r.ok()) return {};
  EXPECT_FALSE(r->fault.has_value()) << kernel << ": " << r->status().to_string();
  return r->total;
}

SliceCounters run_program(const FusedProgramBuilder& b, std::vector<Buf*> tensors) {
  KernelArgs args;
  EXPECT_TRUE(b.append_to(args).ok());
  return run("fused_elementwise", std::move(tensors), std::vector<int64_t>(args.ints.begin(), args.ints.begin() + args.num_ints),
             std::vector<float>(args.floats.begin(), args.floats.begin() + args.num_floats));
}

using V = FusedProgramBuilder::Value;

// Every byte written: the 0xff fill (a NaN or 255) is gone everywhere. A
// bool is 0 or 1; a float of 0xffff.. would be a NaN the inputs cannot make.
bool fully_written(const Buf& b) {
  const size_t size = dtype_size(b.desc.dtype);
  for (size_t i = 0; i < b.bytes.size(); i += size) {
    bool all_ff = true;
    for (size_t k = 0; k < size; ++k) all_ff = all_ff && b.bytes[i + k] == 0xff;
    if (all_ff) return false;
  }
  return true;
}

class FusedMatchesUnfused : public ::testing::TestWithParam<DType> {};

// (x + bias) * 0.75 -> gelu_erf -> leaky_relu(0.1) -> hardsigmoid(0.3, 0.4).
TEST_P(FusedMatchesUnfused, ActivationChain) {
  const DType d = GetParam();
  std::mt19937 rng(7);
  Buf x = random(d, {200, 5, 3}, rng), bias = random(d, {200}, rng), scale = constant(d, 0.75f);
  Buf s = make(d, {200, 5, 3}), y = make(d, {200, 5, 3}), g = make(d, {200, 5, 3}), l = make(d, {200, 5, 3}),
      want = make(d, {200, 5, 3}), got = make(d, {200, 5, 3});
  run("add", {&x, &bias, &s});
  run("mul", {&s, &scale, &y});
  run("gelu_erf", {&y, &g});
  run("leaky_relu", {&g, &l}, {}, {0.1f});
  run("hardsigmoid", {&l, &want}, {}, {0.3f, 0.4f});

  FusedProgramBuilder b(2);
  V v = b.op(FusedOp::kAdd, b.input(0), b.input(1), d);
  v = b.op(FusedOp::kMul, v, b.constant(0.75f), d);
  v = b.op(FusedOp::kGeluErf, v, d);
  v = b.op(FusedOp::kLeakyRelu, v, b.constant(0.1f), d);
  b.op(FusedOp::kHardSigmoid, v, b.constant(0.3f), b.constant(0.4f), d);
  const SliceCounters c = run_program(b, {&x, &bias, &got});
  EXPECT_TRUE(fully_written(want));
  EXPECT_EQ(got.bytes, want.bytes);
  // One pass: each input loaded once per step, the output stored once.
  const uint64_t steps = (d == DType::kF32 ? 4 : 2) * 15;  // ceil(200 / lanes) x 15 rows
  EXPECT_EQ(c.count(OpClass::kVectorLoad), 2 * steps);
  EXPECT_EQ(c.count(OpClass::kVectorStore), steps);
}

// The opcodes past 95 and the later unary/binary ones: fmod(sin(x) * 3, y) ->
// round -> sign * atanh(cos(x) * 0.5) -> floor, bit for bit.
TEST_P(FusedMatchesUnfused, MathChain) {
  const DType d = GetParam();
  std::mt19937 rng(11);
  Buf x = random(d, {130, 3}, rng), y = random(d, {130, 3}, rng, 0.5f, 2.0f), three = constant(d, 3.0f),
      half = constant(d, 0.5f);
  Buf s = make(d, {130, 3}), s3 = make(d, {130, 3}), m = make(d, {130, 3}), r = make(d, {130, 3}),
      sg = make(d, {130, 3}), c = make(d, {130, 3}), ch = make(d, {130, 3}), at = make(d, {130, 3}),
      p = make(d, {130, 3}), want = make(d, {130, 3}), got = make(d, {130, 3});
  run("sin", {&x, &s});
  run("mul", {&s, &three, &s3});
  run("fmod", {&s3, &y, &m});
  run("round", {&m, &r});
  run("sign", {&r, &sg});
  run("cos", {&x, &c});
  run("mul", {&c, &half, &ch});
  run("atanh", {&ch, &at});
  run("mul", {&sg, &at, &p});
  run("floor", {&p, &want});

  FusedProgramBuilder b(2);
  V v = b.op(FusedOp::kSin, b.input(0), d);
  v = b.op(FusedOp::kMul, v, b.constant(3.0f), d);
  v = b.op(FusedOp::kFmod, v, b.input(1), d);
  v = b.op(FusedOp::kRound, v, d);
  v = b.op(FusedOp::kSign, v, d);
  V w = b.op(FusedOp::kCos, b.input(0), d);
  w = b.op(FusedOp::kMul, w, b.constant(0.5f), d);
  w = b.op(FusedOp::kAtanh, w, d);
  v = b.op(FusedOp::kMul, v, w, d);
  b.op(FusedOp::kFloor, v, d);
  run_program(b, {&x, &y, &got});
  EXPECT_TRUE(fully_written(want));
  EXPECT_EQ(got.bytes, want.bytes);
}

// where(x > 0.25, x, clamp(y, -0.5, 0.5)) and a bool output (x >= y) and m.
TEST_P(FusedMatchesUnfused, CompareSelectAndBool) {
  const DType d = GetParam();
  std::mt19937 rng(8);
  Buf x = random(d, {131, 3}, rng), y = random(d, {131, 3}, rng), m = random(DType::kBool, {131, 3}, rng);
  Buf t = constant(d, 0.25f), gt = make(DType::kBool, {131, 3}), cl = make(d, {131, 3}), want = make(d, {131, 3}),
      got = make(d, {131, 3});
  run("gt", {&x, &t, &gt});
  run("clamp", {&y, &cl}, {}, {-0.5f, 0.5f});
  run("where", {&gt, &x, &cl, &want});
  FusedProgramBuilder b(2);
  const V c = b.op(FusedOp::kGt, b.input(0), b.constant(0.25f), DType::kBool);
  b.op(FusedOp::kWhere, c, b.input(0), b.op(FusedOp::kClamp, b.input(1), b.constant(-0.5f), b.constant(0.5f), d), d);
  run_program(b, {&x, &y, &got});
  EXPECT_TRUE(fully_written(want));
  EXPECT_EQ(got.bytes, want.bytes);

  Buf ge = make(DType::kBool, {131, 3}), want_b = make(DType::kBool, {131, 3}), got_b = make(DType::kBool, {131, 3});
  run("ge", {&x, &y, &ge});
  run("logical_and", {&ge, &m, &want_b});
  FusedProgramBuilder bb(3);
  bb.op(FusedOp::kLogicalAnd, bb.op(FusedOp::kGe, bb.input(0), bb.input(1), DType::kBool), bb.input(2), DType::kBool);
  run_program(bb, {&x, &y, &m, &got_b});
  EXPECT_TRUE(fully_written(want_b));
  EXPECT_EQ(got_b.bytes, want_b.bytes);
}

// add_layer_norm / add_rms_norm give the bytes of add followed by the norm.
TEST_P(FusedMatchesUnfused, AddNorms) {
  const DType d = GetParam();
  std::mt19937 rng(9);
  Buf x = random(d, {300, 4}, rng), r = random(d, {300, 4}, rng), gamma = random(d, {300}, rng, 0.5f, 1.5f),
      beta = random(d, {300}, rng);
  Buf s = make(d, {300, 4}), want = make(d, {300, 4}), got = make(d, {300, 4}), got_sum = make(d, {300, 4});
  run("add", {&x, &r, &s});
  run("layer_norm", {&s, &gamma, &beta, &want}, {}, {1e-5f});
  run("add_layer_norm", {&x, &r, &gamma, &beta, &got, &got_sum}, {}, {1e-5f});
  EXPECT_TRUE(fully_written(s) && fully_written(want));
  EXPECT_EQ(got_sum.bytes, s.bytes);
  EXPECT_EQ(got.bytes, want.bytes);
  run("rms_norm", {&s, &gamma, &want});
  run("add_rms_norm", {&x, &r, &gamma, &got, &got_sum});
  EXPECT_EQ(got_sum.bytes, s.bytes);
  EXPECT_EQ(got.bytes, want.bytes);
}

INSTANTIATE_TEST_SUITE_P(Float, FusedMatchesUnfused, ::testing::Values(DType::kF32, DType::kBF16, DType::kF16),
                         [](const ::testing::TestParamInfo<DType>& i) { return std::string(dtype_name(i.param)); });

// Every field of the encoding that can be wrong is refused at launch, naming it.
TEST(FusedProgram, BadProgramsAreNamed) {
  const auto word = [](FusedOp op, int a, int b, int c, DType d) { return encode_fused_instruction(op, a, b, c, d); };
  const DType f = DType::kF32;
  struct Bad {
    std::vector<int64_t> ints;
    std::vector<float> floats;
    std::string needle;
    DType in0 = DType::kF32, out = DType::kF32;
    std::vector<int64_t> in1_dims = {8};
  };
  const std::vector<Bad> bad = {
      {{}, {}, "ints[0] (the instruction count) is missing"},
      {{0}, {}, "ints[0] = 0 instructions is outside 1..15"},
      {{16}, {}, "ints[0] = 16 instructions is outside 1..15"},
      {{2, word(FusedOp::kNeg, 0, 0, 0, f)}, {}, "needs 3 ints, got 2"},
      {{1, 90}, {}, "ints[1]: opcode 90 is not an operation"},
      {{1, 0}, {}, "ints[1]: opcode 0 is not an operation"},
      {{1, word(FusedOp::kAdd, 0, 2, 0, f)}, {}, "ints[1]: operand b = 2 names no value defined before instruction 0"},
      {{2, word(FusedOp::kNeg, 0, 0, 0, f), word(FusedOp::kAdd, 0, 4, 0, f)}, {1.0f},
       "ints[2]: operand b = 4 names no value defined before instruction 1 (values 0..3)"},
      {{1, word(FusedOp::kNeg, 0, 1, 0, f)}, {}, "ints[1]: operand b = 1 must be 0 for neg (1 operand)"},
      {{1, word(FusedOp::kAdd, 0, 1, 1, f)}, {}, "ints[1]: operand c = 1 must be 0 for add (2 operands)"},
      {{1, word(FusedOp::kNeg, 0, 0, 0, DType::kI32)}, {}, "ints[1]: result dtype 2 is not f32, bf16, f16 or bool"},
      {{1, word(FusedOp::kNeg, 0, 0, 0, f) | (int64_t{9} << 32)}, {}, "ints[1]: result dtype 9"},
      {{1, word(FusedOp::kNeg, 0, 0, 0, f) | (int64_t{1} << 40)}, {}, "ints[1]: bits 40..63 must be zero"},
      {{1, word(FusedOp::kLt, 0, 1, 0, f)}, {}, "ints[1]: lt gives bool, not f32"},
      {{1, word(FusedOp::kLogicalAnd, 0, 1, 0, DType::kBool)}, {}, "ints[1]: logical_and operand a is not bool",
       DType::kF32, DType::kBool},
      {{1, word(FusedOp::kNeg, 0, 0, 0, f)}, {}, "the last instruction gives f32 but out has dtype bf16", DType::kF32,
       DType::kBF16},
      {{1, word(FusedOp::kNeg, 0, 0, 0, f)}, {}, "input 0 has dtype i32; expected f32, bf16, f16 or bool",
       DType::kI32},
      {{1, word(FusedOp::kAdd, 0, 1, 0, f)}, {}, "in_1 dims {3} do not broadcast to out dims {8}", DType::kF32,
       DType::kF32, {3}},
  };
  const KernelDef* def = testing::builtin_registry().find("fused_elementwise");
  ASSERT_NE(def, nullptr);
  for (const Bad& b : bad) {
    KernelArgs args;
    args.add_tensor(TensorDesc::contiguous(0x1000, b.in0, {8}));
    args.add_tensor(TensorDesc::contiguous(0x2000, DType::kF32,
                                           std::span<const int64_t>(b.in1_dims.data(), b.in1_dims.size())));
    args.add_tensor(TensorDesc::contiguous(0x3000, b.out, {8}));
    for (int64_t v : b.ints) args.add_int(v);
    for (float v : b.floats) args.add_float(v);
    const Status st = validate_kernel_launch(*def, args);
    EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument) << b.needle << ": " << st.to_string();
    EXPECT_NE(st.message().find(b.needle), std::string::npos) << st.to_string();
  }
  // No inputs at all.
  KernelArgs lone;
  lone.add_tensor(TensorDesc::contiguous(0x1000, DType::kF32, {8}));
  lone.add_int(1).add_int(encode_fused_instruction(FusedOp::kNeg, 0, 0, 0, f));
  EXPECT_NE(validate_kernel_launch(*def, lone).message().find("k in 1..7, got 1 tensors"), std::string::npos);
}

TEST(FusedProgram, BuilderRefusesWhatDoesNotFit) {
  FusedProgramBuilder b(1);
  KernelArgs args;
  EXPECT_FALSE(b.append_to(args).ok());  // no instructions
  V v = b.input(0);
  for (int i = 0; i < kFusedMaxOps; ++i) v = b.op(FusedOp::kNeg, v, DType::kF32);
  EXPECT_TRUE(b.append_to(args).ok());
  EXPECT_EQ(args.num_ints, 1 + kFusedMaxOps);
  EXPECT_FALSE(b.append_to(args).ok());  // args already hold scalars
  b.op(FusedOp::kNeg, v, DType::kF32);
  KernelArgs fresh;
  EXPECT_FALSE(b.append_to(fresh).ok());  // 16 instructions

  FusedProgramBuilder c(1);
  V k = c.input(0);
  for (int i = 0; i <= kFusedMaxConstants; ++i) k = c.op(FusedOp::kAdd, k, c.constant(1.0f), DType::kF32);
  EXPECT_NE(c.append_to(fresh).message().find("constants"), std::string::npos);

  FusedProgramBuilder u(1);
  u.op(FusedOp::kNeg, u.input(3), DType::kF32);  // input 3 of 1
  EXPECT_NE(u.append_to(fresh).message().find("not defined"), std::string::npos);

  EXPECT_EQ(fused_op_arity(static_cast<uint8_t>(FusedOp::kWhere)), 3);
  EXPECT_EQ(fused_op_arity(200), 0);
  EXPECT_EQ(fused_op_name(static_cast<uint8_t>(FusedOp::kGeluTanh)), "gelu_tanh");
}

}  // namespace
}  // namespace kiln::kernels
