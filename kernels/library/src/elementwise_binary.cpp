// Elementwise binary kernels with numpy broadcasting:
//   add sub mul div max min pow  (a: T, b: T, out: T), T in {f32, bf16, f16, i32, i64}
//                             (integer pow: vector_int.h, wrapping)
//   fmod                      (a: T, b: T, out: T), T in {f32, bf16, f16, i32, i64}:
//                             C's fmod, the remainder of a / b truncated toward
//                             zero, with a's sign (ints: x fmod 0 = x, floats NaN)
// Inputs are read through broadcast views (stride 0 on broadcast dims), so a
// broadcast along dim 0 costs one element read replicated into the vector.
// Per output vector: 2 loads, the op, 1 store. Floats compute in fp32
// (elementwise_ops.cpp, shared with fused_elementwise) and round once when
// stored; integers compute exactly in their width (vector_int.h: wrapping,
// division toward zero, x / 0 = 0).
#include "elementwise_ops.h"
#include "kernel_util.h"
#include "kernels.h"

namespace kiln::kernels::lib {
namespace {

template <FusedOp op>
Status validate_binary(const KernelArgs& args) {
  KILN_RETURN_IF_ERROR(expect_tensor_count(args, 3, 3, "(a, b, out)"));
  const TensorDesc& a = args.tensors[0];
  const TensorDesc& b = args.tensors[1];
  const TensorDesc& out = args.tensors[2];
  KILN_RETURN_IF_ERROR(expect_one_of(out, kNumericDTypes, "out"));
  KILN_RETURN_IF_ERROR(expect_same_dtype(a, out, "a", "out"));
  KILN_RETURN_IF_ERROR(expect_same_dtype(b, out, "b", "out"));
  KILN_RETURN_IF_ERROR(expect_broadcastable(a, out, "a"));
  return expect_broadcastable(b, out, "b");
}

IndexSpace binary_space(const KernelArgs& args) {
  return vector_row_space(args.tensors[2], lanes_per_vector(args.tensors[2].dtype));
}

template <typename V>
V int_binary(KernelContext& ctx, FusedOp op, const V& a, const V& b) {
  switch (op) {
    case FusedOp::kAdd: return add(ctx, a, b);
    case FusedOp::kSub: return sub(ctx, a, b);
    case FusedOp::kMul: return mul(ctx, a, b);
    case FusedOp::kDiv: return div(ctx, a, b);
    case FusedOp::kMax: return max(ctx, a, b);
    case FusedOp::kPow: return pow(ctx, a, b);
    // Exact: the truncating division's product never exceeds |a|.
    case FusedOp::kFmod: return sub(ctx, a, mul(ctx, div(ctx, a, b), b));
    default: return min(ctx, a, b);
  }
}

template <FusedOp op>
void binary_run(KernelContext& ctx) {
  const TensorDesc& out = ctx.tensor(2);
  const TensorDesc a = ctx.tensor(0).broadcast_view(out.dims, out.rank);
  const TensorDesc b = ctx.tensor(1).broadcast_view(out.dims, out.rank);
  const int lanes = lanes_per_vector(out.dtype);
  if (out.dtype == DType::kI32) {
    for_each_vector(ctx, out, lanes, [&](const Coord& c) {
      ctx.store(out, c, int_binary(ctx, op, ctx.load_i32(a, c, 1), ctx.load_i32(b, c, 1)));
    });
    return;
  }
  if (out.dtype == DType::kI64) {
    for_each_vector(ctx, out, lanes, [&](const Coord& c) {
      ctx.store(out, c, int_binary(ctx, op, ctx.load_i64(a, c, 1), ctx.load_i64(b, c, 1)));
    });
    return;
  }
  for_each_vector(ctx, out, lanes, [&](const Coord& c) {
    const WideF32 x = load_wide(ctx, a, c, 1.0f);
    const WideF32 y = load_wide(ctx, b, c, 1.0f);
    store_wide(ctx, out, c, wide_map(ctx, x, y, [&](const VecF32& p, const VecF32& q) {
                 return apply_float_op(ctx, op, p, q, q);
               }));
  });
}

template <FusedOp op>
KernelDef binary_def(const char* name) {
  const char* types = "T in {f32, bf16, f16, i32, i64}";
  return KernelDef{name, binary_run<op>, binary_space, validate_binary<op>,
                   std::string(name) + "(a: T, b: T, out: T), " + types + ", a and b broadcast to out", 0};
}

}  // namespace

void append_binary_kernels(std::vector<KernelDef>& out) {
  out.push_back(binary_def<FusedOp::kAdd>("add"));
  out.push_back(binary_def<FusedOp::kSub>("sub"));
  out.push_back(binary_def<FusedOp::kMul>("mul"));
  out.push_back(binary_def<FusedOp::kDiv>("div"));
  out.push_back(binary_def<FusedOp::kMax>("max"));
  out.push_back(binary_def<FusedOp::kMin>("min"));
  out.push_back(binary_def<FusedOp::kPow>("pow"));
  out.push_back(binary_def<FusedOp::kFmod>("fmod"));
}

}  // namespace kiln::kernels::lib
