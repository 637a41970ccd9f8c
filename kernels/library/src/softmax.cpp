// softmax and log_softmax along dim 0 (in: T, out: T), same dims.
// One index point per row, three passes over the row (as a TPC kernel without
// room for the row in local memory would do):
//   1. m = max(x)                    (pad lanes read -inf)
//   2. s = sum(exp(x - m))           (exp(-inf) = 0 for the pad lanes)
//   3. softmax: exp(x - m) / s       log_softmax: x - m - log(s)
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
  return expect_same_dims(args.tensors[0], args.tensors[1], "in", "out");
}

IndexSpace softmax_space(const KernelArgs& args) { return row_space(args.tensors[1]); }

template <bool kLog>
void softmax_run(KernelContext& ctx) {
  const TensorDesc& in = ctx.tensor(0);
  const TensorDesc& out = ctx.tensor(1);
  const int lanes = lanes_per_vector(in.dtype);
  const int64_t n = in.dims[0];
  for_each_row(ctx, out, [&](Coord c) {
    if (n == 0) return;
    // Pass 1: row maximum.
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

}  // namespace

void append_softmax_kernels(std::vector<KernelDef>& out) {
  out.push_back(KernelDef{"softmax", softmax_run<false>, softmax_space, validate_softmax,
                          "softmax(in: T, out: T), T in {f32, bf16}, along dim 0", 0});
  out.push_back(KernelDef{"log_softmax", softmax_run<true>, softmax_space, validate_softmax,
                          "log_softmax(in: T, out: T), T in {f32, bf16}, along dim 0", 0});
}

}  // namespace kiln::kernels::lib
