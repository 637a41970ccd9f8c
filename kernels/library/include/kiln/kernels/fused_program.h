// The program of the `fused_elementwise` kernel: a short list of elementwise
// operations over the kernel's inputs and scalar constants, run in one pass
// over memory (each input read once, the output written once). A runtime's
// fusion pass turns a chain such as add -> mul -> gelu into one launch.
//
// Launch: fused_elementwise(in_0, ..., in_{k-1}, out), k in 1..7 (the launch
// carries at most 8 tensors). Every input broadcasts to out (numpy rules, as
// the binary kernels). Inputs are f32, bf16, f16 or bool; out is f32, bf16,
// f16 or bool. Values are computed in fp32 lanes.
//
// Encoding, in the launch's scalars:
//   floats[0..f)     the constants, f in 0..8
//   ints[0]          n, the number of instructions, 1..kFusedMaxOps (15)
//   ints[1..1+n)     one instruction per int64 word:
//                      bits  0..7   opcode (FusedOp)
//                      bits  8..15  operand a (a value index)
//                      bits 16..23  operand b (0 when the op has fewer operands)
//                      bits 24..31  operand c (0 when the op has fewer operands)
//                      bits 32..39  result dtype: f32, bf16, f16 or bool (DType value)
//                      bits 40..63  zero
//   num_ints must be exactly 1 + n.
// Value indices: 0..k-1 are the inputs (tensor i), k..k+f-1 the constants
// (floats[i - k]), and k+f+j the result of instruction j. An operand must name
// a value defined before its instruction. Every instruction's result is
// rounded to its result dtype (bf16/f16 to nearest even, bool to x != 0, NaN
// true), exactly as storing it to a tensor of that dtype and loading it back
// would: a fused chain gives the bits the unfused chain of library kernels
// gives. The last instruction's result is the output; its result dtype must
// be out's dtype.
//
// The kernel validates the whole program at launch and names the bad field
// ("ints[3]: operand b = 9 names no value defined before instruction 2").
//
// Operations (bool operands are 0 or 1; comparisons and logical ops give a
// bool result, which must be declared bool):
//   unary    neg abs exp log sqrt rsqrt reciprocal relu sigmoid tanh silu
//            gelu_erf gelu_tanh hardswish softplus erf floor ceil round sign
//            sin cos tan asin acos atan sinh cosh asinh acosh atanh
//                          (as the kernels of those names)
//            logical_not   (a == 0)
//            cast          a, rounded to the result dtype
//   binary   add sub mul div max min pow fmod
//            eq ne lt le gt ge        IEEE compares (NaN compares unequal)
//            logical_and logical_or logical_xor   (operands != 0)
//            leaky_relu (x, slope)    elu (x, alpha)
//   ternary  where (cond, x, y): cond != 0 ? x : y
//            clamp (x, lo, hi): min(max(x, lo), hi)
//            hardsigmoid (x, alpha, beta)
//
// FusedProgramBuilder assembles a program; value handles stay valid whatever
// order inputs, constants and instructions are added in.
//
// Value types and free functions; thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/common/status.h"
#include "kiln/kernels/kernel_args.h"

namespace kiln::kernels {

inline constexpr int kFusedMaxOps = 15;
inline constexpr int kFusedMaxInputs = kMaxTensorArgs - 1;  // 7
inline constexpr int kFusedMaxConstants = kMaxFloatArgs;    // 8

// Opcodes. The ranges give the arity: 1..31 and 96..127 unary, 32..63
// binary, 64..95 ternary. The numeric values are part of the encoding and
// never change.
enum class FusedOp : uint8_t {
  kNeg = 1, kAbs = 2, kExp = 3, kLog = 4, kSqrt = 5, kRsqrt = 6, kReciprocal = 7, kRelu = 8, kSigmoid = 9,
  kTanh = 10, kSilu = 11, kGeluErf = 12, kGeluTanh = 13, kHardSwish = 14, kSoftplus = 15, kLogicalNot = 16,
  kCast = 17, kErf = 18, kFloor = 19, kCeil = 20, kRound = 21, kSign = 22,
  kAdd = 32, kSub = 33, kMul = 34, kDiv = 35, kMax = 36, kMin = 37, kPow = 38, kEq = 39, kNe = 40, kLt = 41,
  kLe = 42, kGt = 43, kGe = 44, kLogicalAnd = 45, kLogicalOr = 46, kLogicalXor = 47, kLeakyRelu = 48, kElu = 49,
  kFmod = 50,
  kWhere = 64, kClamp = 65, kHardSigmoid = 66,
  kSin = 96, kCos = 97, kTan = 98, kAsin = 99, kAcos = 100, kAtan = 101, kSinh = 102, kCosh = 103, kAsinh = 104,
  kAcosh = 105, kAtanh = 106,
};

// Operands of an opcode: 1, 2 or 3; 0 for a byte that is no opcode.
int fused_op_arity(uint8_t opcode);
// "add", "gelu_erf", ...; "invalid" for a byte that is no opcode.
std::string_view fused_op_name(uint8_t opcode);
// True for eq ne lt le gt ge and the logical ops: their result is bool.
bool fused_op_gives_bool(FusedOp op);

// One instruction word (see the encoding above).
constexpr int64_t encode_fused_instruction(FusedOp op, int a, int b, int c, DType result) {
  return static_cast<int64_t>(static_cast<uint64_t>(op) | (static_cast<uint64_t>(a & 0xff) << 8) |
                              (static_cast<uint64_t>(b & 0xff) << 16) | (static_cast<uint64_t>(c & 0xff) << 24) |
                              (static_cast<uint64_t>(result) << 32));
}

// A decoded instruction.
struct FusedInstruction {
  FusedOp op = FusedOp::kNeg;
  int a = 0, b = 0, c = 0;  // value indices (unused ones 0)
  DType result = DType::kF32;
};

// A decoded, validated program.
struct FusedProgram {
  int num_inputs = 0;
  int num_constants = 0;
  std::vector<FusedInstruction> ops;
};

// Decodes and checks the program of a fused_elementwise launch with
// `num_inputs` inputs (the dtypes are the tensors' own: args.tensors[0..k)
// and the output args.tensors[k]). Every check of the encoding above; the
// message names the field.
Result<FusedProgram> decode_fused_program(const KernelArgs& args);

// Builds a program. Usage:
//   FusedProgramBuilder b(2);                        // two inputs
//   auto s = b.op(FusedOp::kAdd, b.input(0), b.input(1), DType::kBF16);
//   auto y = b.op(FusedOp::kMul, s, b.constant(0.5f), DType::kBF16);
//   b.op(FusedOp::kGeluErf, y, DType::kBF16);
//   KernelArgs args; (add the 2 inputs and the output) ; b.append_to(args);
class FusedProgramBuilder {
 public:
  // A value: an input, a constant or an instruction's result.
  struct Value {
    uint8_t kind = 0;  // 0 input, 1 constant, 2 result
    uint8_t index = 0;
  };

  explicit FusedProgramBuilder(int num_inputs) : num_inputs_(num_inputs) {}

  Value input(int i) const { return Value{0, static_cast<uint8_t>(i)}; }
  Value constant(float x);
  Value op(FusedOp op, Value a, DType result);
  Value op(FusedOp op, Value a, Value b, DType result);
  Value op(FusedOp op, Value a, Value b, Value c, DType result);

  int num_ops() const { return static_cast<int>(ops_.size()); }
  // Appends the program's ints and floats to args, which must hold no
  // scalars yet. Fails (kInvalidArgument) past a capacity or on a handle
  // that names nothing; the kernel's validation does the rest.
  Status append_to(KernelArgs& args) const;

 private:
  struct Op {
    FusedOp op;
    Value a, b, c;
    int arity;
    DType result;
  };
  int num_inputs_;
  std::vector<float> constants_;
  std::vector<Op> ops_;
};

}  // namespace kiln::kernels
