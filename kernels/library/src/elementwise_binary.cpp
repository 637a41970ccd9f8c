// Elementwise binary kernels with numpy broadcasting:
//   add sub mul div max min pow    (a: T, b: T, out: T)
// Inputs are read through broadcast views (stride 0 on broadcast dims), so a
// broadcast along dim 0 costs one element read replicated into the vector.
// Per output vector: 2 loads, the op per 64 lanes, 1 store (+ bf16 conversions).
#include "kernel_util.h"
#include "kernels.h"

namespace kiln::kernels::lib {
namespace {

enum class BinaryOp { kAdd, kSub, kMul, kDiv, kMax, kMin, kPow };

template <BinaryOp op>
VecF32 apply(KernelContext& ctx, const VecF32& a, const VecF32& b) {
  switch (op) {
    case BinaryOp::kAdd: return add(ctx, a, b);
    case BinaryOp::kSub: return sub(ctx, a, b);
    case BinaryOp::kMul: return mul(ctx, a, b);
    case BinaryOp::kDiv: return div(ctx, a, b);
    case BinaryOp::kMax: return max(ctx, a, b);
    case BinaryOp::kMin: return min(ctx, a, b);
    case BinaryOp::kPow: return pow(ctx, a, b);
  }
  return a;
}

Status validate_binary(const KernelArgs& args) {
  KILN_RETURN_IF_ERROR(expect_tensor_count(args, 3, 3, "(a, b, out)"));
  const TensorDesc& a = args.tensors[0];
  const TensorDesc& b = args.tensors[1];
  const TensorDesc& out = args.tensors[2];
  KILN_RETURN_IF_ERROR(expect_float(out, "out"));
  KILN_RETURN_IF_ERROR(expect_same_dtype(a, out, "a", "out"));
  KILN_RETURN_IF_ERROR(expect_same_dtype(b, out, "b", "out"));
  KILN_RETURN_IF_ERROR(expect_broadcastable(a, out, "a"));
  return expect_broadcastable(b, out, "b");
}

IndexSpace binary_space(const KernelArgs& args) {
  return vector_row_space(args.tensors[2], lanes_per_vector(args.tensors[2].dtype));
}

template <BinaryOp op>
void binary_run(KernelContext& ctx) {
  const TensorDesc& out = ctx.tensor(2);
  const TensorDesc a = ctx.tensor(0).broadcast_view(out.dims, out.rank);
  const TensorDesc b = ctx.tensor(1).broadcast_view(out.dims, out.rank);
  for_each_vector(ctx, out, lanes_per_vector(out.dtype), [&](const Coord& c) {
    const WideF32 x = load_wide(ctx, a, c, 1.0f);
    const WideF32 y = load_wide(ctx, b, c, 1.0f);
    store_wide(ctx, out, c, wide_map(ctx, x, y, [&](const VecF32& p, const VecF32& q) { return apply<op>(ctx, p, q); }));
  });
}

KernelDef binary_def(const char* name, KernelFn run) {
  return KernelDef{name, run, binary_space, validate_binary,
                   std::string(name) + "(a: T, b: T, out: T), T in {f32, bf16}, a and b broadcast to out", 0};
}

}  // namespace

void append_binary_kernels(std::vector<KernelDef>& out) {
  out.push_back(binary_def("add", binary_run<BinaryOp::kAdd>));
  out.push_back(binary_def("sub", binary_run<BinaryOp::kSub>));
  out.push_back(binary_def("mul", binary_run<BinaryOp::kMul>));
  out.push_back(binary_def("div", binary_run<BinaryOp::kDiv>));
  out.push_back(binary_def("max", binary_run<BinaryOp::kMax>));
  out.push_back(binary_def("min", binary_run<BinaryOp::kMin>));
  out.push_back(binary_def("pow", binary_run<BinaryOp::kPow>));
}

}  // namespace kiln::kernels::lib
