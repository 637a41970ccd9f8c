#include "op_kind.h"

namespace kiln::runtime {

std::string_view op_name(OpKind op) {
  switch (op) {
    case OpKind::kAdd: return "add";
    case OpKind::kSub: return "sub";
    case OpKind::kMul: return "mul";
    case OpKind::kDiv: return "div";
    case OpKind::kMaximum: return "maximum";
    case OpKind::kMinimum: return "minimum";
    case OpKind::kPow: return "pow";
    case OpKind::kWhere: return "where";
    case OpKind::kNeg: return "neg";
    case OpKind::kAbs: return "abs";
    case OpKind::kExp: return "exp";
    case OpKind::kLog: return "log";
    case OpKind::kSqrt: return "sqrt";
    case OpKind::kRsqrt: return "rsqrt";
    case OpKind::kReciprocal: return "reciprocal";
    case OpKind::kRelu: return "relu";
    case OpKind::kSigmoid: return "sigmoid";
    case OpKind::kTanh: return "tanh";
    case OpKind::kSilu: return "silu";
    case OpKind::kGeluErf: return "gelu";
    case OpKind::kGeluTanh: return "gelu_tanh";
    case OpKind::kLeakyRelu: return "leaky_relu";
    case OpKind::kClamp: return "clamp";
    case OpKind::kElu: return "elu";
    case OpKind::kHardswish: return "hardswish";
    case OpKind::kHardsigmoid: return "hardsigmoid";
    case OpKind::kSoftplus: return "softplus";
    case OpKind::kCast: return "cast";
    case OpKind::kMatmul: return "matmul";
    case OpKind::kConv2d: return "conv2d";
    case OpKind::kReduceSum: return "sum";
    case OpKind::kReduceMean: return "mean";
    case OpKind::kReduceMax: return "amax";
    case OpKind::kReduceMin: return "amin";
    case OpKind::kArgmax: return "argmax";
    case OpKind::kArgmin: return "argmin";
    case OpKind::kSoftmax: return "softmax";
    case OpKind::kLogSoftmax: return "log_softmax";
    case OpKind::kLayerNorm: return "layer_norm";
    case OpKind::kRmsNorm: return "rms_norm";
    case OpKind::kBatchNorm: return "batch_norm";
    case OpKind::kMaxPool2d: return "max_pool2d";
    case OpKind::kAvgPool2d: return "avg_pool2d";
    case OpKind::kGlobalAvgPool2d: return "global_avg_pool2d";
    case OpKind::kGlobalMaxPool2d: return "global_max_pool2d";
    case OpKind::kCopy: return "copy";
    case OpKind::kConcat: return "concat";
    case OpKind::kGather: return "gather";
    case OpKind::kPad: return "pad";
    case OpKind::kFill: return "full";
    case OpKind::kArange: return "arange";
    case OpKind::kRandUniform: return "rand_uniform";
    case OpKind::kRandNormal: return "rand_normal";
    case OpKind::kFusedElementwise: return "fused_elementwise";
    case OpKind::kAddLayerNorm: return "add_layer_norm";
    case OpKind::kAddRmsNorm: return "add_rms_norm";
    case OpKind::kEq: return "eq";
    case OpKind::kNe: return "ne";
    case OpKind::kLt: return "lt";
    case OpKind::kLe: return "le";
    case OpKind::kGt: return "gt";
    case OpKind::kGe: return "ge";
    case OpKind::kResize: return "resize";
    case OpKind::kFusedSdpa: return "fused_sdpa";
    case OpKind::kCustom: return "custom";
    case OpKind::kErf: return "erf";
    case OpKind::kFloor: return "floor";
    case OpKind::kCeil: return "ceil";
    case OpKind::kRound: return "round";
    case OpKind::kSign: return "sign";
    case OpKind::kSin: return "sin";
    case OpKind::kCos: return "cos";
    case OpKind::kTan: return "tan";
    case OpKind::kAsin: return "asin";
    case OpKind::kAcos: return "acos";
    case OpKind::kAtan: return "atan";
    case OpKind::kSinh: return "sinh";
    case OpKind::kCosh: return "cosh";
    case OpKind::kAsinh: return "asinh";
    case OpKind::kAcosh: return "acosh";
    case OpKind::kAtanh: return "atanh";
    case OpKind::kFmod: return "fmod";
    case OpKind::kLogicalAnd: return "logical_and";
    case OpKind::kLogicalOr: return "logical_or";
    case OpKind::kLogicalXor: return "logical_xor";
    case OpKind::kLogicalNot: return "logical_not";
    case OpKind::kReduceProd: return "prod";
    case OpKind::kCumsum: return "cumsum";
    case OpKind::kCount: break;
  }
  return "unknown";
}

}  // namespace kiln::runtime
