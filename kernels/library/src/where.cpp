// where (cond, a: T, b: T, out: T): out = cond != 0 ? a : b, T any dtype,
// numpy broadcasting of all three inputs to out. cond is bool, or T itself
// (non-zero is true; a NaN is true, as numpy's bool(nan)).
// A step is one vector of T: three loads (a bool cond reads only the step's
// lanes), the mask per 64 lanes (per 128 for bf16/f16; bool T selects 256
// byte lanes at once), the select, one store.
#include "kernel_util.h"
#include "kernels.h"

namespace kiln::kernels::lib {
namespace {

Status validate_where(const KernelArgs& args) {
  KILN_RETURN_IF_ERROR(expect_tensor_count(args, 4, 4, "(cond, a, b, out)"));
  const TensorDesc& out = args.tensors[3];
  if (args.tensors[0].dtype != DType::kBool && args.tensors[0].dtype != out.dtype) {
    return invalid_argument("cond has dtype " + std::string(dtype_name(args.tensors[0].dtype)) +
                            "; expected bool or out's dtype " + std::string(dtype_name(out.dtype)));
  }
  KILN_RETURN_IF_ERROR(expect_same_dtype(args.tensors[1], out, "a", "out"));
  KILN_RETURN_IF_ERROR(expect_same_dtype(args.tensors[2], out, "b", "out"));
  const char* names[] = {"cond", "a", "b"};
  for (int i = 0; i < 3; ++i) {
    KILN_RETURN_IF_ERROR(expect_broadcastable(args.tensors[static_cast<size_t>(i)], out, names[i]));
  }
  return Status::ok_status();
}

IndexSpace where_space(const KernelArgs& args) {
  return vector_row_space(args.tensors[3], lanes_per_vector(args.tensors[3].dtype));
}

// The condition of one step as masks: masks[h] covers lanes [64 h, 64 h + 64).
struct CondMasks {
  Mask m[2];
};

CondMasks cond_masks(KernelContext& ctx, const TensorDesc& cond, const Coord& c, int lanes) {
  CondMasks r;
  if (cond.dtype == DType::kBool) {
    const VecBool v = ctx.load_bool(cond, c, lanes);
    for_each_half(ctx, lanes > kF32Lanes ? 2 : 1, [&](int h) { r.m[h] = bool_to_mask(ctx, v, h); });
    return r;
  }
  switch (cond.dtype) {
    case DType::kI32: r.m[0] = compare(ctx, Cmp::kNe, ctx.load_i32(cond, c), VecI32{}); break;
    case DType::kI64: r.m[0] = compare(ctx, Cmp::kNe, ctx.load_i64(cond, c), VecI64{}); break;
    default: {
      const WideF32 w = load_wide(ctx, cond, c);
      // x != 0 is true for NaN (IEEE: NaN compares unequal).
      for_each_half(ctx, w.halves, [&](int h) { r.m[h] = compare(ctx, Cmp::kNe, w.half[h], 0.0f); });
      break;
    }
  }
  return r;
}

void where_run(KernelContext& ctx) {
  const TensorDesc& out = ctx.tensor(3);
  const TensorDesc cond = ctx.tensor(0).broadcast_view(out.dims, out.rank);
  const TensorDesc a = ctx.tensor(1).broadcast_view(out.dims, out.rank);
  const TensorDesc b = ctx.tensor(2).broadcast_view(out.dims, out.rank);
  const int lanes = lanes_per_vector(out.dtype);
  for_each_vector(ctx, out, lanes, [&](const Coord& c) {
    if (out.dtype == DType::kBool) {
      ctx.store(out, c, select(ctx, ctx.load_bool(cond, c), ctx.load_bool(a, c), ctx.load_bool(b, c)));
      return;
    }
    const CondMasks m = cond_masks(ctx, cond, c, lanes);
    switch (out.dtype) {
      case DType::kI32: ctx.store(out, c, select(ctx, m.m[0], ctx.load_i32(a, c), ctx.load_i32(b, c))); break;
      case DType::kI64: ctx.store(out, c, select(ctx, m.m[0], ctx.load_i64(a, c), ctx.load_i64(b, c))); break;
      default: {
        const WideF32 x = load_wide(ctx, a, c), y = load_wide(ctx, b, c);
        WideF32 r;
        r.halves = x.halves;
        for_each_half(ctx, x.halves, [&](int h) { r.half[h] = select(ctx, m.m[h], x.half[h], y.half[h]); });
        store_wide(ctx, out, c, r);
        break;
      }
    }
  });
}

}  // namespace

void append_where_kernels(std::vector<KernelDef>& out) {
  out.push_back(KernelDef{"where", where_run, where_space, validate_where,
                          "where(cond: bool|T, a: T, b: T, out: T), T any dtype; out = cond != 0 ? a : b; inputs "
                          "broadcast to out",
                          0});
}

}  // namespace kiln::kernels::lib
