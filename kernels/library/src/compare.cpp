// Kernels with a bool output, numpy broadcasting of the inputs to out:
//   eq ne lt le gt ge              (a: T, b: T, out: bool), T any dtype
//       IEEE compares for floats (NaN compares unequal: ne is true, the
//       others false), exact for integers, false < true for bool
//   logical_and logical_or logical_xor   (a: bool, b: bool, out: bool)
//   logical_not                    (in: bool, out: bool), same dims
// A step is one vector of T (bool: 256 lanes): the compare per 64 lanes (one
// per 128 for bf16/f16, two per 32 for i64: vector_int.h), one mask-to-bool
// move, and one partial bool store of the step's lanes. Logical ops are one
// byte instruction per 256 lanes.
#include "elementwise_ops.h"
#include "kernel_util.h"
#include "kernels.h"

namespace kiln::kernels::lib {
namespace {

Status validate_compare(const KernelArgs& args) {
  KILN_RETURN_IF_ERROR(expect_tensor_count(args, 3, 3, "(a, b, out)"));
  const TensorDesc& a = args.tensors[0];
  const TensorDesc& b = args.tensors[1];
  const TensorDesc& out = args.tensors[2];
  KILN_RETURN_IF_ERROR(expect_dtype(out, DType::kBool, "out"));
  KILN_RETURN_IF_ERROR(expect_same_dtype(b, a, "b", "a"));
  KILN_RETURN_IF_ERROR(expect_broadcastable(a, out, "a"));
  return expect_broadcastable(b, out, "b");
}

IndexSpace compare_space(const KernelArgs& args) {
  return vector_row_space(args.tensors[2], lanes_per_vector(args.tensors[0].dtype));
}

template <FusedOp op>
void compare_run(KernelContext& ctx) {
  const TensorDesc& out = ctx.tensor(2);
  const TensorDesc a = ctx.tensor(0).broadcast_view(out.dims, out.rank);
  const TensorDesc b = ctx.tensor(1).broadcast_view(out.dims, out.rank);
  const Cmp cmp = compare_of(op);
  const int lanes = lanes_per_vector(a.dtype);
  for_each_vector(ctx, out, lanes, [&](const Coord& c) {
    VecBool r{};
    switch (a.dtype) {
      case DType::kBool: r = compare(ctx, cmp, ctx.load_bool(a, c), ctx.load_bool(b, c)); break;
      case DType::kI32: mask_to_bool(ctx, compare(ctx, cmp, ctx.load_i32(a, c), ctx.load_i32(b, c)), 0, r); break;
      case DType::kI64: mask_to_bool(ctx, compare(ctx, cmp, ctx.load_i64(a, c), ctx.load_i64(b, c)), 0, r); break;
      case DType::kF32:
      case DType::kBF16:
      case DType::kF16: {
        const WideF32 x = load_wide(ctx, a, c), y = load_wide(ctx, b, c);
        for_each_half(ctx, x.halves, [&](int h) { mask_to_bool(ctx, compare(ctx, cmp, x.half[h], y.half[h]), h, r); });
        break;
      }
    }
    ctx.store(out, c, r, lanes);
  });
}

Status validate_logical(const KernelArgs& args) {
  KILN_RETURN_IF_ERROR(expect_tensor_count(args, 3, 3, "(a, b, out)"));
  const char* names[] = {"a", "b", "out"};
  for (int i = 0; i < 3; ++i) KILN_RETURN_IF_ERROR(expect_dtype(args.tensors[static_cast<size_t>(i)], DType::kBool, names[i]));
  KILN_RETURN_IF_ERROR(expect_broadcastable(args.tensors[0], args.tensors[2], "a"));
  return expect_broadcastable(args.tensors[1], args.tensors[2], "b");
}

Status validate_not(const KernelArgs& args) {
  KILN_RETURN_IF_ERROR(expect_tensor_count(args, 2, 2, "(in, out)"));
  KILN_RETURN_IF_ERROR(expect_dtype(args.tensors[0], DType::kBool, "in"));
  KILN_RETURN_IF_ERROR(expect_dtype(args.tensors[1], DType::kBool, "out"));
  return expect_same_dims(args.tensors[0], args.tensors[1], "in", "out");
}

IndexSpace logical_space(const KernelArgs& args) {
  return vector_row_space(args.tensors[static_cast<size_t>(args.num_tensors - 1)], kBoolLanes);
}

template <FusedOp op>
void logical_run(KernelContext& ctx) {
  const TensorDesc& out = ctx.tensor(2);
  const TensorDesc a = ctx.tensor(0).broadcast_view(out.dims, out.rank);
  const TensorDesc b = ctx.tensor(1).broadcast_view(out.dims, out.rank);
  for_each_vector(ctx, out, kBoolLanes, [&](const Coord& c) {
    const VecBool x = ctx.load_bool(a, c), y = ctx.load_bool(b, c);
    if constexpr (op == FusedOp::kLogicalAnd) ctx.store(out, c, logical_and(ctx, x, y));
    else if constexpr (op == FusedOp::kLogicalOr) ctx.store(out, c, logical_or(ctx, x, y));
    else ctx.store(out, c, logical_xor(ctx, x, y));
  });
}

void not_run(KernelContext& ctx) {
  const TensorDesc& in = ctx.tensor(0);
  const TensorDesc& out = ctx.tensor(1);
  for_each_vector(ctx, out, kBoolLanes, [&](const Coord& c) { ctx.store(out, c, logical_not(ctx, ctx.load_bool(in, c))); });
}

template <FusedOp op>
KernelDef compare_def(const char* name) {
  return KernelDef{name, compare_run<op>, compare_space, validate_compare,
                   std::string(name) + "(a: T, b: T, out: bool), T any dtype, a and b broadcast to out", 0};
}

template <FusedOp op>
KernelDef logical_def(const char* name) {
  return KernelDef{name, logical_run<op>, logical_space, validate_logical,
                   std::string(name) + "(a: bool, b: bool, out: bool), a and b broadcast to out", 0};
}

}  // namespace

void append_compare_kernels(std::vector<KernelDef>& out) {
  out.push_back(compare_def<FusedOp::kEq>("eq"));
  out.push_back(compare_def<FusedOp::kNe>("ne"));
  out.push_back(compare_def<FusedOp::kLt>("lt"));
  out.push_back(compare_def<FusedOp::kLe>("le"));
  out.push_back(compare_def<FusedOp::kGt>("gt"));
  out.push_back(compare_def<FusedOp::kGe>("ge"));
  out.push_back(logical_def<FusedOp::kLogicalAnd>("logical_and"));
  out.push_back(logical_def<FusedOp::kLogicalOr>("logical_or"));
  out.push_back(logical_def<FusedOp::kLogicalXor>("logical_xor"));
  out.push_back(KernelDef{"logical_not", not_run, logical_space, validate_not,
                          "logical_not(in: bool, out: bool), same dims", 0});
}

}  // namespace kiln::kernels::lib
