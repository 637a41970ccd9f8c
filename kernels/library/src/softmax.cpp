// softmax and log_softmax (in: T, out: T), same dims, along ints[0] = axis
// (default 0, the innermost). Three passes over each line along the axis (as a
// TPC kernel without room for the line in local memory would do):
//   1. m = max(x)
//   2. s = sum(exp(x - m))
//   3. softmax: exp(x - m) / s       log_softmax: x - m - log(s)
// Axis 0: one index point per row; the passes combine the row's vectors
// lane-wise and one cross-lane reduction per pass gives the scalar m and s.
// Other axes: one index point per vector of the output with the axis
// collapsed; the passes walk the axis a whole vector at a time, so every lane
// carries its own line's m and s and there is no cross-lane work at all.
#include <limits>

#include "kernel_util.h"
#include "kernels.h"

namespace kiln::kernels::lib {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

Status validate_softmax(const KernelArgs& args) {
  KILN_RETURN_IF_ERROR(expect_tensor_count(args, 2, 2, "(in, out)"));
  KILN_RETURN_IF_ERROR(expect_float(args.tensors[1], "out"));
  KILN_RETURN_IF_ERROR(expect_same_dtype(args.tensors[0], args.tensors[1], "in", "out"));
  KILN_RETURN_IF_ERROR(expect_axis(args.int_or(0, 0), args.tensors[0]));
  return expect_same_dims(args.tensors[0], args.tensors[1], "in", "out");
}

IndexSpace softmax_space(const KernelArgs& args) {
  const int axis = static_cast<int>(args.int_or(0, 0));
  const TensorDesc& out = args.tensors[1];
  if (axis == 0) return row_space(out);
  return vector_row_space(collapse_axis(out, axis), lanes_per_vector(out.dtype));
}

template <bool kLog>
void softmax_rows(KernelContext& ctx, const TensorDesc& in, const TensorDesc& out) {
  const int lanes = lanes_per_vector(in.dtype);
  const int64_t n = in.dims[0];
  for_each_row(ctx, out, [&](Coord c) {
    if (n == 0) return;
    // Pass 1: row maximum. Pad lanes read -inf, which exp() in pass 2 turns to 0.
    WideF32 acc = load_wide(ctx, in, c, kNegInf);
    for (c[0] = lanes; c[0] < n; c[0] += lanes) {
      const WideF32 v = load_wide(ctx, in, c, kNegInf);
      acc = wide_map(ctx, acc, v, [&](const VecF32& p, const VecF32& q) { return max(ctx, p, q); });
    }
    const float m = wide_reduce_max(ctx, acc);
    // Pass 2: sum of exp(x - m).
    WideF32 sum = broadcast_wide(ctx, 0.0f, acc.halves);
    for (c[0] = 0; c[0] < n; c[0] += lanes) {
      const WideF32 v = load_wide(ctx, in, c, kNegInf);
      sum = wide_map(ctx, sum, v, [&](const VecF32& s, const VecF32& x) { return add(ctx, s, exp(ctx, sub(ctx, x, m))); });
    }
    const VecF32 total = broadcast(ctx, wide_reduce_sum(ctx, sum));
    // Pass 3: normalise.
    if constexpr (kLog) {
      const VecF32 shift = add(ctx, log(ctx, total), m);  // m + log(s)
      for (c[0] = 0; c[0] < n; c[0] += lanes) {
        const WideF32 v = load_wide(ctx, in, c, 0.0f);
        store_wide(ctx, out, c, wide_map(ctx, v, [&](const VecF32& x) { return sub(ctx, x, shift); }));
      }
    } else {
      const VecF32 inv = reciprocal(ctx, total);
      for (c[0] = 0; c[0] < n; c[0] += lanes) {
        const WideF32 v = load_wide(ctx, in, c, 0.0f);
        store_wide(ctx, out, c, wide_map(ctx, v, [&](const VecF32& x) { return mul(ctx, exp(ctx, sub(ctx, x, m)), inv); }));
      }
    }
  });
}

template <bool kLog>
void softmax_across(KernelContext& ctx, const TensorDesc& in, const TensorDesc& out, int axis) {
  const int64_t n = in.dims[axis];
  if (n == 0) return;
  // Lanes past the end of dim 0 read 0 in every pass: finite values whose
  // results the stores drop.
  for_each_vector(ctx, collapse_axis(out, axis), lanes_per_vector(in.dtype), [&](const Coord& c) {
    Coord at = c;
    WideF32 m = load_wide(ctx, in, c);
    for (at[axis] = 1; at[axis] < n; ++at[axis]) {
      const WideF32 v = load_wide(ctx, in, at);
      m = wide_map(ctx, m, v, [&](const VecF32& p, const VecF32& q) { return max(ctx, p, q); });
    }
    WideF32 sum = broadcast_wide(ctx, 0.0f, m.halves);
    for (at[axis] = 0; at[axis] < n; ++at[axis]) {
      const WideF32 v = load_wide(ctx, in, at);
      sum = wide_map(ctx, sum, v, m, [&](const VecF32& s, const VecF32& x, const VecF32& mx) {
        return add(ctx, s, exp(ctx, sub(ctx, x, mx)));
      });
    }
    if constexpr (kLog) {
      const WideF32 shift =
          wide_map(ctx, sum, m, [&](const VecF32& s, const VecF32& mx) { return add(ctx, log(ctx, s), mx); });
      for (at[axis] = 0; at[axis] < n; ++at[axis]) {
        const WideF32 v = load_wide(ctx, in, at);
        const WideF32 y = wide_map(ctx, v, shift, [&](const VecF32& x, const VecF32& sh) { return sub(ctx, x, sh); });
        store_wide(ctx, out, at, y);
      }
    } else {
      const WideF32 inv = wide_map(ctx, sum, [&](const VecF32& s) { return reciprocal(ctx, s); });
      for (at[axis] = 0; at[axis] < n; ++at[axis]) {
        const WideF32 v = load_wide(ctx, in, at);
        store_wide(ctx, out, at, wide_map(ctx, v, m, inv, [&](const VecF32& x, const VecF32& mx, const VecF32& r) {
                     return mul(ctx, exp(ctx, sub(ctx, x, mx)), r);
                   }));
      }
    }
  });
}

template <bool kLog>
void softmax_run(KernelContext& ctx) {
  const int axis = static_cast<int>(ctx.args().int_or(0, 0));
  if (axis == 0) softmax_rows<kLog>(ctx, ctx.tensor(0), ctx.tensor(1));
  else softmax_across<kLog>(ctx, ctx.tensor(0), ctx.tensor(1), axis);
}

}  // namespace

void append_softmax_kernels(std::vector<KernelDef>& out) {
  out.push_back(KernelDef{"softmax", softmax_run<false>, softmax_space, validate_softmax,
                          "softmax(in: T, out: T), T in {f32, bf16, f16}; ints[0] = axis (default 0)", 0});
  out.push_back(KernelDef{"log_softmax", softmax_run<true>, softmax_space, validate_softmax,
                          "log_softmax(in: T, out: T), T in {f32, bf16, f16}; ints[0] = axis (default 0)", 0});
}

}  // namespace kiln::kernels::lib
