// cast (in: f32|bf16, out: f32|bf16): conversion with round-to-nearest-even
// into bf16; both dtypes equal is a copy.
// where (cond: T, a: T, b: T, out: T): out = cond != 0 ? a : b, with numpy
// broadcasting of all three inputs to out.
#include "kernel_util.h"
#include "kernels.h"

namespace kiln::kernels::lib {
namespace {

Status validate_cast(const KernelArgs& args) {
  KILN_RETURN_IF_ERROR(expect_tensor_count(args, 2, 2, "(in, out)"));
  KILN_RETURN_IF_ERROR(expect_float(args.tensors[0], "in"));
  KILN_RETURN_IF_ERROR(expect_float(args.tensors[1], "out"));
  return expect_same_dims(args.tensors[0], args.tensors[1], "in", "out");
}

// A step covers one vector of the narrower dtype: 128 elements when either
// side is bf16 (one bf16 load or store, two fp32 ones), else 64.
int cast_lanes(const KernelArgs& args) {
  return args.tensors[0].dtype == DType::kBF16 || args.tensors[1].dtype == DType::kBF16 ? kBF16Lanes : kF32Lanes;
}

IndexSpace cast_space(const KernelArgs& args) { return vector_row_space(args.tensors[1], cast_lanes(args)); }

void cast_run(KernelContext& ctx) {
  const TensorDesc& in = ctx.tensor(0);
  const TensorDesc& out = ctx.tensor(1);
  const int lanes = cast_lanes(ctx.args());
  const int halves = lanes / kF32Lanes;
  if (in.dtype == out.dtype) {
    // One step is exactly one vector of the shared dtype: a plain copy.
    for_each_vector(ctx, out, lanes, [&](const Coord& c) { copy_vector(ctx, in, c, out, c); });
    return;
  }
  // Converting is one vector instruction per 64 lanes (per fp32 register).
  for_each_vector(ctx, out, lanes, [&](const Coord& c) {
    const WideF32 w = load_wide(ctx, in, c, 0.0f, halves);
    ctx.count(OpClass::kVectorAlu, static_cast<uint64_t>(halves));
    store_wide(ctx, out, c, w);
  });
}

Status validate_where(const KernelArgs& args) {
  KILN_RETURN_IF_ERROR(expect_tensor_count(args, 4, 4, "(cond, a, b, out)"));
  const TensorDesc& out = args.tensors[3];
  KILN_RETURN_IF_ERROR(expect_float(out, "out"));
  const char* names[] = {"cond", "a", "b"};
  for (int i = 0; i < 3; ++i) {
    KILN_RETURN_IF_ERROR(expect_same_dtype(args.tensors[static_cast<size_t>(i)], out, names[i], "out"));
    KILN_RETURN_IF_ERROR(expect_broadcastable(args.tensors[static_cast<size_t>(i)], out, names[i]));
  }
  return Status::ok_status();
}

IndexSpace where_space(const KernelArgs& args) {
  return vector_row_space(args.tensors[3], lanes_per_vector(args.tensors[3].dtype));
}

void where_run(KernelContext& ctx) {
  const TensorDesc& out = ctx.tensor(3);
  const TensorDesc cond = ctx.tensor(0).broadcast_view(out.dims, out.rank);
  const TensorDesc a = ctx.tensor(1).broadcast_view(out.dims, out.rank);
  const TensorDesc b = ctx.tensor(2).broadcast_view(out.dims, out.rank);
  for_each_vector(ctx, out, lanes_per_vector(out.dtype), [&](const Coord& c) {
    const WideF32 m = load_wide(ctx, cond, c);
    const WideF32 x = load_wide(ctx, a, c);
    const WideF32 y = load_wide(ctx, b, c);
    store_wide(ctx, out, c, wide_map(ctx, m, x, y, [&](const VecF32& p, const VecF32& q, const VecF32& r) {
                 return select(ctx, compare(ctx, Cmp::kNe, p, 0.0f), q, r);
               }));
  });
}

}  // namespace

void append_cast_where_kernels(std::vector<KernelDef>& out) {
  out.push_back(KernelDef{"cast", cast_run, cast_space, validate_cast,
                          "cast(in: f32|bf16, out: f32|bf16), same dims; rounds to nearest even into bf16", 0});
  out.push_back(KernelDef{"where", where_run, where_space, validate_where,
                          "where(cond: T, a: T, b: T, out: T), T in {f32, bf16}; out = cond != 0 ? a : b; "
                          "inputs broadcast to out",
                          0});
}

}  // namespace kiln::kernels::lib
