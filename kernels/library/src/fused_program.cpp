#include "kiln/kernels/fused_program.h"

#include <string>

namespace kiln::kernels {
namespace {

struct OpInfo {
  FusedOp op;
  const char* name;
};

constexpr OpInfo kOps[] = {
    {FusedOp::kNeg, "neg"}, {FusedOp::kAbs, "abs"}, {FusedOp::kExp, "exp"}, {FusedOp::kLog, "log"},
    {FusedOp::kSqrt, "sqrt"}, {FusedOp::kRsqrt, "rsqrt"}, {FusedOp::kReciprocal, "reciprocal"},
    {FusedOp::kRelu, "relu"}, {FusedOp::kSigmoid, "sigmoid"}, {FusedOp::kTanh, "tanh"}, {FusedOp::kSilu, "silu"},
    {FusedOp::kGeluErf, "gelu_erf"}, {FusedOp::kGeluTanh, "gelu_tanh"}, {FusedOp::kHardSwish, "hardswish"},
    {FusedOp::kSoftplus, "softplus"}, {FusedOp::kLogicalNot, "logical_not"}, {FusedOp::kCast, "cast"},
    {FusedOp::kAdd, "add"}, {FusedOp::kSub, "sub"}, {FusedOp::kMul, "mul"}, {FusedOp::kDiv, "div"},
    {FusedOp::kMax, "max"}, {FusedOp::kMin, "min"}, {FusedOp::kPow, "pow"}, {FusedOp::kEq, "eq"},
    {FusedOp::kNe, "ne"}, {FusedOp::kLt, "lt"}, {FusedOp::kLe, "le"}, {FusedOp::kGt, "gt"}, {FusedOp::kGe, "ge"},
    {FusedOp::kLogicalAnd, "logical_and"}, {FusedOp::kLogicalOr, "logical_or"},
    {FusedOp::kLogicalXor, "logical_xor"}, {FusedOp::kLeakyRelu, "leaky_relu"}, {FusedOp::kElu, "elu"},
    {FusedOp::kWhere, "where"}, {FusedOp::kClamp, "clamp"}, {FusedOp::kHardSigmoid, "hardsigmoid"},
    {FusedOp::kErf, "erf"}, {FusedOp::kFloor, "floor"}, {FusedOp::kCeil, "ceil"}, {FusedOp::kRound, "round"},
    {FusedOp::kSign, "sign"}, {FusedOp::kFmod, "fmod"}, {FusedOp::kSin, "sin"}, {FusedOp::kCos, "cos"},
    {FusedOp::kTan, "tan"}, {FusedOp::kAsin, "asin"}, {FusedOp::kAcos, "acos"}, {FusedOp::kAtan, "atan"},
    {FusedOp::kSinh, "sinh"}, {FusedOp::kCosh, "cosh"}, {FusedOp::kAsinh, "asinh"}, {FusedOp::kAcosh, "acosh"},
    {FusedOp::kAtanh, "atanh"},
};

const OpInfo* find_op(uint8_t opcode) {
  for (const OpInfo& o : kOps) {
    if (static_cast<uint8_t>(o.op) == opcode) return &o;
  }
  return nullptr;
}

bool is_logical(FusedOp op) {
  return op == FusedOp::kLogicalNot || op == FusedOp::kLogicalAnd || op == FusedOp::kLogicalOr ||
         op == FusedOp::kLogicalXor;
}

bool fused_value_dtype(DType d) { return is_float(d) || d == DType::kBool; }

std::string field(int i) { return "ints[" + std::to_string(i) + "]"; }

}  // namespace

int fused_op_arity(uint8_t opcode) {
  if (find_op(opcode) == nullptr) return 0;
  return opcode < 32 || opcode >= 96 ? 1 : opcode < 64 ? 2 : 3;
}

std::string_view fused_op_name(uint8_t opcode) {
  const OpInfo* o = find_op(opcode);
  return o != nullptr ? o->name : "invalid";
}

bool fused_op_gives_bool(FusedOp op) {
  switch (op) {
    case FusedOp::kEq:
    case FusedOp::kNe:
    case FusedOp::kLt:
    case FusedOp::kLe:
    case FusedOp::kGt:
    case FusedOp::kGe: return true;
    default: return is_logical(op);
  }
}

Result<FusedProgram> decode_fused_program(const KernelArgs& args) {
  const auto bad = [](const std::string& what) { return Result<FusedProgram>(invalid_argument(what)); };
  FusedProgram p;
  p.num_inputs = args.num_tensors - 1;
  p.num_constants = args.num_floats;
  if (p.num_inputs < 1 || p.num_inputs > kFusedMaxInputs) {
    return bad("expects tensors (in_0, ..., in_{k-1}, out) with k in 1.." + std::to_string(kFusedMaxInputs) +
               ", got " + std::to_string(args.num_tensors) + " tensors");
  }
  if (args.num_ints < 1) return bad("ints[0] (the instruction count) is missing");
  const int64_t n = args.ints[0];
  if (n < 1 || n > kFusedMaxOps) {
    return bad("ints[0] = " + std::to_string(n) + " instructions is outside 1.." + std::to_string(kFusedMaxOps));
  }
  if (args.num_ints != 1 + n) {
    return bad("ints[0] = " + std::to_string(n) + " instructions needs " + std::to_string(1 + n) +
               " ints, got " + std::to_string(args.num_ints));
  }
  std::vector<DType> value_dtype;
  for (int i = 0; i < p.num_inputs; ++i) {
    const DType d = args.tensors[static_cast<size_t>(i)].dtype;
    if (!fused_value_dtype(d)) {
      return bad("input " + std::to_string(i) + " has dtype " + std::string(dtype_name(d)) +
                 "; expected f32, bf16, f16 or bool");
    }
    value_dtype.push_back(d);
  }
  for (int i = 0; i < p.num_constants; ++i) value_dtype.push_back(DType::kF32);
  for (int j = 0; j < n; ++j) {
    const int at = 1 + j;
    const auto word = static_cast<uint64_t>(args.ints[static_cast<size_t>(at)]);
    if ((word >> 40) != 0) return bad(field(at) + ": bits 40..63 must be zero");
    const auto opcode = static_cast<uint8_t>(word & 0xff);
    const int arity = fused_op_arity(opcode);
    if (arity == 0) return bad(field(at) + ": opcode " + std::to_string(opcode) + " is not an operation");
    FusedInstruction ins;
    ins.op = static_cast<FusedOp>(opcode);
    const int operand[3] = {static_cast<int>((word >> 8) & 0xff), static_cast<int>((word >> 16) & 0xff),
                            static_cast<int>((word >> 24) & 0xff)};
    const char* names[3] = {"a", "b", "c"};
    const int defined = static_cast<int>(value_dtype.size());
    for (int o = 0; o < 3; ++o) {
      if (o >= arity && operand[o] != 0) {
        return bad(field(at) + ": operand " + names[o] + " = " + std::to_string(operand[o]) + " must be 0 for " +
                   std::string(fused_op_name(opcode)) + " (" + std::to_string(arity) + " operand" +
                   (arity > 1 ? "s" : "") + ")");
      }
      if (o < arity && operand[o] >= defined) {
        return bad(field(at) + ": operand " + names[o] + " = " + std::to_string(operand[o]) +
                   " names no value defined before instruction " + std::to_string(j) + " (values 0.." +
                   std::to_string(defined - 1) + ")");
      }
    }
    ins.a = operand[0];
    ins.b = operand[1];
    ins.c = operand[2];
    const auto raw_dtype = static_cast<uint8_t>((word >> 32) & 0xff);
    if (!is_valid_dtype(raw_dtype) || !fused_value_dtype(static_cast<DType>(raw_dtype))) {
      return bad(field(at) + ": result dtype " + std::to_string(raw_dtype) + " is not f32, bf16, f16 or bool");
    }
    ins.result = static_cast<DType>(raw_dtype);
    if (fused_op_gives_bool(ins.op) && ins.result != DType::kBool) {
      return bad(field(at) + ": " + std::string(fused_op_name(opcode)) + " gives bool, not " +
                 std::string(dtype_name(ins.result)));
    }
    if (is_logical(ins.op)) {
      for (int o = 0; o < arity; ++o) {
        if (value_dtype[static_cast<size_t>(operand[o])] != DType::kBool) {
          return bad(field(at) + ": " + std::string(fused_op_name(opcode)) + " operand " + names[o] +
                     " is not bool");
        }
      }
    }
    value_dtype.push_back(ins.result);
    p.ops.push_back(ins);
  }
  const TensorDesc& out = args.tensors[static_cast<size_t>(p.num_inputs)];
  if (p.ops.back().result != out.dtype) {
    return bad(field(static_cast<int>(n)) + ": the last instruction gives " +
               std::string(dtype_name(p.ops.back().result)) + " but out has dtype " +
               std::string(dtype_name(out.dtype)));
  }
  return p;
}

FusedProgramBuilder::Value FusedProgramBuilder::constant(float x) {
  constants_.push_back(x);
  return Value{1, static_cast<uint8_t>(constants_.size() - 1)};
}

FusedProgramBuilder::Value FusedProgramBuilder::op(FusedOp op, Value a, DType result) {
  ops_.push_back(Op{op, a, Value{}, Value{}, 1, result});
  return Value{2, static_cast<uint8_t>(ops_.size() - 1)};
}

FusedProgramBuilder::Value FusedProgramBuilder::op(FusedOp op, Value a, Value b, DType result) {
  ops_.push_back(Op{op, a, b, Value{}, 2, result});
  return Value{2, static_cast<uint8_t>(ops_.size() - 1)};
}

FusedProgramBuilder::Value FusedProgramBuilder::op(FusedOp op, Value a, Value b, Value c, DType result) {
  ops_.push_back(Op{op, a, b, c, 3, result});
  return Value{2, static_cast<uint8_t>(ops_.size() - 1)};
}

Status FusedProgramBuilder::append_to(KernelArgs& args) const {
  if (ops_.empty() || static_cast<int>(ops_.size()) > kFusedMaxOps) {
    return invalid_argument("fused program has " + std::to_string(ops_.size()) + " instructions; expected 1.." +
                            std::to_string(kFusedMaxOps));
  }
  if (args.num_floats != 0 || args.num_ints != 0) {
    return invalid_argument("fused program: the launch already holds scalars; the program must be all of them");
  }
  if (static_cast<int>(constants_.size()) > kFusedMaxConstants) {
    return invalid_argument("fused program has " + std::to_string(constants_.size()) + " constants; at most " +
                            std::to_string(kFusedMaxConstants));
  }
  const int k = num_inputs_, f = static_cast<int>(constants_.size());
  Status st = Status::ok_status();
  const auto index = [&](Value v, size_t j) {
    const int limit = v.kind == 0 ? k : v.kind == 1 ? f : static_cast<int>(j);
    if (v.index >= limit && st.ok()) {
      st = invalid_argument("fused program instruction " + std::to_string(j) + " uses a value that is not defined");
    }
    return v.kind == 0 ? v.index : v.kind == 1 ? k + v.index : k + f + v.index;
  };
  std::vector<int64_t> words;
  for (size_t j = 0; j < ops_.size(); ++j) {
    const Op& o = ops_[j];
    const int a = index(o.a, j);
    const int b = o.arity > 1 ? index(o.b, j) : 0;
    const int c = o.arity > 2 ? index(o.c, j) : 0;
    if (a > 0xff || b > 0xff || c > 0xff) return invalid_argument("fused program value index past 255");
    words.push_back(encode_fused_instruction(o.op, a, b, c, o.result));
  }
  if (!st.ok()) return st;
  for (float x : constants_) args.add_float(x);
  args.add_int(static_cast<int64_t>(ops_.size()));
  for (int64_t w : words) args.add_int(w);
  return Status::ok_status();
}

}  // namespace kiln::kernels
