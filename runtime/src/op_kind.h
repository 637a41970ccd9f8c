// The runtime's op set: what a graph node can be. Composite ops (linear,
// attention, ...) are built from these by the op functions (ops.h) or made
// by the compiler's fusion passes (the kFused* kinds).
//
// Internal to kiln_runtime.
#pragma once

#include <cstdint>
#include <string_view>

namespace kiln::runtime {

enum class OpKind : uint8_t {
  // Elementwise, numpy broadcasting.
  kAdd, kSub, kMul, kDiv, kMaximum, kMinimum, kPow,
  kWhere,
  // Unary.
  kNeg, kAbs, kExp, kLog, kSqrt, kRsqrt, kReciprocal, kRelu, kSigmoid, kTanh, kSilu, kGeluErf, kGeluTanh,
  kLeakyRelu, kClamp, kElu, kHardswish, kHardsigmoid, kSoftplus,
  kCast,
  // Matrix engine.
  kMatmul,  // batched: [..., m, k] x [..., k, n] (attrs.ints[0]: has bias; [1]: activation)
  kConv2d,  // NCHW x KCRS
  // Reductions and normalisation.
  kReduceSum, kReduceMean, kReduceMax, kReduceMin, kArgmax, kArgmin,
  kSoftmax, kLogSoftmax,
  kLayerNorm, kRmsNorm, kBatchNorm,
  // Pooling (NCHW at the API).
  kMaxPool2d, kAvgPool2d, kGlobalAvgPool2d, kGlobalMaxPool2d,
  // Data movement.
  kCopy,  // materialises a view densely
  kConcat, kGather, kPad,
  // Made on the device.
  kFill, kArange, kRandUniform, kRandNormal,
  // Made by the fusion passes.
  kFusedElementwise,  // attrs: the fused_elementwise program (kiln/kernels/fused_program.h)
  kAddLayerNorm, kAddRmsNorm,  // outputs: the normalised sum, the sum
  // Comparisons, numpy broadcasting, a bool result. Last, so that the kinds
  // before keep the numbers cache keys were made with.
  kEq, kNe, kLt, kLe, kGt, kGe,
  // Appended for the same reason. NCHW at the API, NHWC node (as pooling).
  kResize,  // attrs.ints: mode, coordinate transformation, nearest mode; floats: {} or {scale_w, scale_h}
  // Appended likewise. Flash attention (sdpa_lowering.h): inputs q, k, v[, mask
  // expanded to [..., L, S]]; attrs.ints: causal, has_mask; floats: scale.
  // Lowers to many jobs on the MME, TPC and DMA queues.
  kFusedSdpa,
  // A registered custom op run by a kernel (kiln/runtime/custom_op.h). attrs.ints: the op's id, its
  // kernel's id (bits of the uint64s), then the kernel's int scalars; floats: its float scalars.
  kCustom,
  // Appended likewise: more elementwise math. Unary, float.
  kErf, kFloor, kCeil, kRound, kSign, kSin, kCos, kTan, kAsin, kAcos, kAtan, kSinh, kCosh, kAsinh, kAcosh, kAtanh,
  kFmod,                                 // binary, C's fmod (truncated), floats and ints
  kLogicalAnd, kLogicalOr, kLogicalXor,  // binary, bool
  kLogicalNot,                           // unary, bool
  kReduceProd,                           // as kReduceSum
  kCumsum,                               // attrs.ints: axis, exclusive, reverse
  kCount
};

std::string_view op_name(OpKind op);

constexpr bool is_unary(OpKind op) {
  return (op >= OpKind::kNeg && op <= OpKind::kSoftplus) || (op >= OpKind::kErf && op <= OpKind::kAtanh) ||
         op == OpKind::kLogicalNot;
}
constexpr bool is_binary(OpKind op) {
  return (op >= OpKind::kAdd && op <= OpKind::kPow) || (op >= OpKind::kFmod && op <= OpKind::kLogicalXor);
}
constexpr bool is_compare(OpKind op) { return op >= OpKind::kEq && op <= OpKind::kGe; }

}  // namespace kiln::runtime
