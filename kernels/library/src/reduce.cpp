// Reductions along one axis (ints[0], default 0), keeping the reduced dim as 1:
//   reduce_sum reduce_mean reduce_max reduce_min reduce_prod   (in: T, out: T)
//   argmax argmin                                  (in: T, out: i32): first index of the extreme
//   argmax_last argmin_last                        (in: T, out: i32): last index of the extreme
// Axis 0 (along the vector): one index point per row; vectors of the row are
// combined lane-wise, then one cross-lane reduction gives the scalar result.
// Other axes: one index point per output vector; vectors one step apart along
// the axis are combined lane-wise, no cross-lane work. Sums and products accumulate in fp32.
#include <algorithm>
#include <limits>

#include "kernel_util.h"
#include "kernels.h"

namespace kiln::kernels::lib {
namespace {

enum class ReduceOp { kSum, kMean, kMax, kMin, kProd, kArgmax, kArgmin, kArgmaxLast, kArgminLast };

constexpr float kInf = std::numeric_limits<float>::infinity();

constexpr bool is_arg(ReduceOp op) {
  return op == ReduceOp::kArgmax || op == ReduceOp::kArgmin || op == ReduceOp::kArgmaxLast ||
         op == ReduceOp::kArgminLast;
}
constexpr bool is_arg_min(ReduceOp op) { return op == ReduceOp::kArgmin || op == ReduceOp::kArgminLast; }
constexpr bool is_arg_last(ReduceOp op) { return op == ReduceOp::kArgmaxLast || op == ReduceOp::kArgminLast; }

constexpr float identity(ReduceOp op) {
  if (op == ReduceOp::kProd) return 1.0f;
  if (op == ReduceOp::kMin || is_arg_min(op)) return kInf;
  if (op == ReduceOp::kMax || is_arg(op)) return -kInf;
  return 0.0f;
}

// The comparison that makes a new value the best so far: strict, so ties keep
// the first index, or not, so that they move to the last.
constexpr Cmp better(ReduceOp op) {
  if (is_arg_last(op)) return is_arg_min(op) ? Cmp::kLe : Cmp::kGe;
  return is_arg_min(op) ? Cmp::kLt : Cmp::kGt;
}

template <ReduceOp op>
VecF32 combine(KernelContext& ctx, const VecF32& a, const VecF32& b) {
  if constexpr (op == ReduceOp::kMax) return max(ctx, a, b);
  else if constexpr (op == ReduceOp::kMin) return min(ctx, a, b);
  else if constexpr (op == ReduceOp::kProd) return mul(ctx, a, b);
  else return add(ctx, a, b);
}

template <ReduceOp op>
Status validate_reduce(const KernelArgs& args) {
  KILN_RETURN_IF_ERROR(expect_tensor_count(args, 2, 2, "(in, out)"));
  const TensorDesc& in = args.tensors[0];
  const TensorDesc& out = args.tensors[1];
  KILN_RETURN_IF_ERROR(expect_float(in, "in"));
  if (is_arg(op)) {
    KILN_RETURN_IF_ERROR(expect_dtype(out, DType::kI32, "out"));
  } else {
    KILN_RETURN_IF_ERROR(expect_same_dtype(out, in, "out", "in"));
  }
  const int64_t axis = args.int_or(0, 0);
  KILN_RETURN_IF_ERROR(expect_axis(axis, in));
  if (in.dims[axis] < 1) return invalid_argument("in has no elements along axis " + std::to_string(axis));
  Dims want = in.dims;
  want[axis] = 1;
  return expect_dims(out, want, "out");
}

IndexSpace reduce_space(const KernelArgs& args) {
  const int64_t axis = args.int_or(0, 0);
  const TensorDesc& out = args.tensors[1];
  if (axis == 0) return row_space(out);
  return vector_row_space(out, lanes_per_vector(args.tensors[0].dtype));
}

// ---- axis 0 ----
template <ReduceOp op>
void reduce_rows(KernelContext& ctx, const TensorDesc& in, const TensorDesc& out) {
  const int lanes = lanes_per_vector(in.dtype);
  const int64_t n = in.dims[0];
  for_each_row(ctx, out, [&](Coord c) {
    WideF32 acc = load_wide(ctx, in, c, identity(op));
    for (c[0] = lanes; c[0] < n; c[0] += lanes) {
      const WideF32 v = load_wide(ctx, in, c, identity(op));
      acc = wide_map(ctx, acc, v, [&](const VecF32& p, const VecF32& q) { return combine<op>(ctx, p, q); });
    }
    c[0] = 0;
    float r = 0.0f;
    if constexpr (op == ReduceOp::kMax) r = wide_reduce_max(ctx, acc);
    else if constexpr (op == ReduceOp::kMin) r = wide_reduce_min(ctx, acc);
    else if constexpr (op == ReduceOp::kProd) r = wide_reduce_prod(ctx, acc);
    else r = wide_reduce_sum(ctx, acc);
    if constexpr (op == ReduceOp::kMean) {
      r *= 1.0f / static_cast<float>(n);
      ctx.count(OpClass::kScalarAlu);
    }
    ctx.store_scalar(out, c, r);
  });
}

template <ReduceOp op>
void arg_rows(KernelContext& ctx, const TensorDesc& in, const TensorDesc& out) {
  const int lanes = lanes_per_vector(in.dtype);
  const int64_t n = in.dims[0];
  for_each_row(ctx, out, [&](Coord c) {
    WideF32 best = load_wide(ctx, in, c, identity(op));
    WideF32 best_idx, idx;
    best_idx.halves = idx.halves = best.halves;
    for_each_half(ctx, best.halves, [&](int h) {
      idx.half[h] = best_idx.half[h] = iota(ctx, static_cast<float>(h * kF32Lanes));
    });
    for (c[0] = lanes; c[0] < n; c[0] += lanes) {
      const WideF32 v = load_wide(ctx, in, c, identity(op));
      for_each_half(ctx, v.halves, [&](int h) {
        idx.half[h] = add(ctx, idx.half[h], static_cast<float>(lanes));
        const Mask m = compare(ctx, better(op), v.half[h], best.half[h]);
        best.half[h] = select(ctx, m, v.half[h], best.half[h]);
        best_idx.half[h] = select(ctx, m, idx.half[h], best_idx.half[h]);
      });
    }
    c[0] = 0;
    // The smallest (largest) index among the lanes holding the extreme value.
    const float top = is_arg_min(op) ? wide_reduce_min(ctx, best) : wide_reduce_max(ctx, best);
    constexpr float none = is_arg_last(op) ? -kInf : kInf;
    const WideF32 cand = wide_map(ctx, best, best_idx, [&](const VecF32& b, const VecF32& i) {
      return select(ctx, compare(ctx, Cmp::kEq, b, top), i, none);
    });
    float index = is_arg_last(op) ? wide_reduce_max(ctx, cand) : wide_reduce_min(ctx, cand);
    // Lanes past the row's end hold the identity (+-inf) and can tie only
    // when every element is that infinity: then the last element is the answer.
    if constexpr (is_arg_last(op)) index = std::min(index, static_cast<float>(n - 1));
    ctx.store_scalar_i32(out, c, static_cast<int32_t>(index));
  });
}

// ---- other axes ----
template <ReduceOp op>
void reduce_across(KernelContext& ctx, const TensorDesc& in, const TensorDesc& out, int axis) {
  const int64_t n = in.dims[axis];
  for_each_vector(ctx, out, lanes_per_vector(in.dtype), [&](const Coord& c) {
    WideF32 acc = load_wide(ctx, in, c, identity(op));
    Coord at = c;
    for (at[axis] = 1; at[axis] < n; ++at[axis]) {
      const WideF32 v = load_wide(ctx, in, at, identity(op));
      acc = wide_map(ctx, acc, v, [&](const VecF32& p, const VecF32& q) { return combine<op>(ctx, p, q); });
    }
    if constexpr (op == ReduceOp::kMean) {
      const float scale = 1.0f / static_cast<float>(n);
      acc = wide_map(ctx, acc, [&](const VecF32& p) { return mul(ctx, p, scale); });
    }
    store_wide(ctx, out, c, acc);
  });
}

template <ReduceOp op>
void arg_across(KernelContext& ctx, const TensorDesc& in, const TensorDesc& out, int axis) {
  const int64_t n = in.dims[axis];
  for_each_vector(ctx, out, lanes_per_vector(in.dtype), [&](const Coord& c) {
    WideF32 best = load_wide(ctx, in, c, identity(op));
    WideF32 best_idx = broadcast_wide(ctx, 0.0f, best.halves);
    Coord at = c;
    for (at[axis] = 1; at[axis] < n; ++at[axis]) {
      const WideF32 v = load_wide(ctx, in, at, identity(op));
      const VecF32 j = broadcast(ctx, static_cast<float>(at[axis]));
      for_each_half(ctx, v.halves, [&](int h) {
        const Mask m = compare(ctx, better(op), v.half[h], best.half[h]);
        best.half[h] = select(ctx, m, v.half[h], best.half[h]);
        best_idx.half[h] = select(ctx, m, j, best_idx.half[h]);
      });
    }
    // The int32 result of a 128-lane bf16 step is two 64-lane vectors: two
    // conversions and two stores.
    Coord o = c;
    for (int h = 0; h < best.halves; ++h) {
      ctx.store(out, o, f32_to_i32(ctx, best_idx.half[h]));
      o[0] += kI32Lanes;
    }
  });
}

template <ReduceOp op>
void reduce_run(KernelContext& ctx) {
  const TensorDesc& in = ctx.tensor(0);
  const TensorDesc& out = ctx.tensor(1);
  const int axis = static_cast<int>(ctx.args().int_or(0, 0));
  if constexpr (is_arg(op)) {
    if (axis == 0) arg_rows<op>(ctx, in, out);
    else arg_across<op>(ctx, in, out, axis);
  } else {
    if (axis == 0) reduce_rows<op>(ctx, in, out);
    else reduce_across<op>(ctx, in, out, axis);
  }
}

}  // namespace

void append_reduce_kernels(std::vector<KernelDef>& out) {
  const std::string sig = "(in: T, out: T), T in {f32, bf16, f16}; ints[0] = axis; out.dims = in.dims with dims[axis] = 1";
  out.push_back(KernelDef{"reduce_sum", reduce_run<ReduceOp::kSum>, reduce_space, validate_reduce<ReduceOp::kSum>,
                          "reduce_sum" + sig, 0});
  out.push_back(KernelDef{"reduce_mean", reduce_run<ReduceOp::kMean>, reduce_space,
                          validate_reduce<ReduceOp::kMean>, "reduce_mean" + sig, 0});
  out.push_back(KernelDef{"reduce_max", reduce_run<ReduceOp::kMax>, reduce_space, validate_reduce<ReduceOp::kMax>,
                          "reduce_max" + sig, 0});
  out.push_back(KernelDef{"reduce_min", reduce_run<ReduceOp::kMin>, reduce_space, validate_reduce<ReduceOp::kMin>,
                          "reduce_min" + sig, 0});
  out.push_back(KernelDef{"reduce_prod", reduce_run<ReduceOp::kProd>, reduce_space,
                          validate_reduce<ReduceOp::kProd>, "reduce_prod" + sig, 0});
  out.push_back(KernelDef{"argmax", reduce_run<ReduceOp::kArgmax>, reduce_space,
                          validate_reduce<ReduceOp::kArgmax>,
                          "argmax(in: T, out: i32), T in {f32, bf16, f16}; ints[0] = axis; first index of the maximum",
                          0});
  out.push_back(KernelDef{"argmin", reduce_run<ReduceOp::kArgmin>, reduce_space,
                          validate_reduce<ReduceOp::kArgmin>,
                          "argmin(in: T, out: i32), T in {f32, bf16, f16}; ints[0] = axis; first index of the minimum",
                          0});
  out.push_back(KernelDef{"argmax_last", reduce_run<ReduceOp::kArgmaxLast>, reduce_space,
                          validate_reduce<ReduceOp::kArgmaxLast>,
                          "argmax_last(in: T, out: i32), T in {f32, bf16, f16}; ints[0] = axis; last index of the maximum",
                          0});
  out.push_back(KernelDef{"argmin_last", reduce_run<ReduceOp::kArgminLast>, reduce_space,
                          validate_reduce<ReduceOp::kArgminLast>,
                          "argmin_last(in: T, out: i32), T in {f32, bf16, f16}; ints[0] = axis; last index of the minimum",
                          0});
}

}  // namespace kiln::kernels::lib
