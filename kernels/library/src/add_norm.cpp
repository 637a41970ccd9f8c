// Residual add and normalisation in one kernel (the transformer block's
// "x + residual, then norm"), both results written:
//   add_layer_norm (x: T, residual: T, [gamma: T, beta: T,] out: T, sum: T)
//   add_rms_norm   (x: T, residual: T, [gamma: T,] out: T, sum: T)
// sum = x + residual (residual broadcasts to x), rounded to T; out is
// layer_norm / rms_norm of sum over the innermost k = ints[0] dims (default
// 1) with floats[0] = epsilon (default 1e-5 / 1e-6) -- the bits of add
// followed by the norm kernel. T in {f32, bf16, f16}; statistics in fp32.
// Per group: one pass reads x and residual once, writes sum and accumulates
// the first statistic; the norm's remaining passes read sum back (norm_util.h).
#include "kernels.h"
#include "norm_util.h"

namespace kiln::kernels::lib {
namespace {

template <bool layer>
Status validate_add_norm(const KernelArgs& args) {
  const char* layout = layer ? "(x, residual, out, sum) or (x, residual, gamma, beta, out, sum)"
                             : "(x, residual, out, sum) or (x, residual, gamma, out, sum)";
  KILN_RETURN_IF_ERROR(expect_tensor_count(args, 4, layer ? 6 : 5, layout));
  if (layer && args.num_tensors == 5) return invalid_argument(std::string("expects tensors ") + layout + ", got 5");
  const TensorDesc& x = args.tensors[0];
  const TensorDesc& r = args.tensors[1];
  const TensorDesc& out = args.tensors[static_cast<size_t>(args.num_tensors - 2)];
  const TensorDesc& sum = args.tensors[static_cast<size_t>(args.num_tensors - 1)];
  KILN_RETURN_IF_ERROR(expect_float(x, "x"));
  KILN_RETURN_IF_ERROR(expect_same_dtype(r, x, "residual", "x"));
  KILN_RETURN_IF_ERROR(expect_broadcastable(r, x, "residual"));
  KILN_RETURN_IF_ERROR(expect_same_dtype(out, x, "out", "x"));
  KILN_RETURN_IF_ERROR(expect_same_dims(out, x, "out", "x"));
  KILN_RETURN_IF_ERROR(expect_same_dtype(sum, x, "sum", "x"));
  KILN_RETURN_IF_ERROR(expect_same_dims(sum, x, "sum", "x"));
  KILN_RETURN_IF_ERROR(validate_norm_dims(args, x));
  return validate_affine(args, norm_dims(args), 2, args.num_tensors - 4);
}

template <bool layer>
void add_norm_run(KernelContext& ctx) {
  const TensorDesc& x = ctx.tensor(0);
  const TensorDesc r = ctx.tensor(1).broadcast_view(x.dims, x.rank);
  const int n = ctx.args().num_tensors;
  const TensorDesc& out = ctx.tensor(n - 2);
  const TensorDesc& sum = ctx.tensor(n - 1);
  Affine affine;
  if (n > 4) affine = Affine{&ctx.tensor(2), layer ? &ctx.tensor(3) : nullptr};
  const float eps = ctx.args().float_or(0, layer ? 1e-5f : 1e-6f);
  const float inv_n = inverse_count(x, norm_dims(ctx.args()));
  for_each_group(ctx, x, [&](const Group& g) {
    WideF32 acc = broadcast_wide(ctx, 0.0f, natural_halves(x.dtype));
    for_each_group_vector(x, g, [&](const Coord& c) {
      // Lanes past the row load 0 from both, so they add nothing.
      const WideF32 s = round_wide(
          ctx, wide_map(ctx, load_wide(ctx, x, c), load_wide(ctx, r, c), [&](const VecF32& p, const VecF32& q) {
            return add(ctx, p, q);
          }),
          x.dtype);
      store_wide(ctx, sum, c, s);
      acc = wide_map(ctx, acc, s, [&](const VecF32& a, const VecF32& v) {
        return layer ? add(ctx, a, v) : fma(ctx, v, v, a);
      });
    });
    const float stat = wide_reduce_sum(ctx, acc) * inv_n;
    if (layer) layer_norm_finish(ctx, sum, out, g, stat, eps, affine);
    else rms_norm_finish(ctx, sum, out, g, stat, eps, affine);
  });
}

}  // namespace

void append_add_norm_kernels(std::vector<KernelDef>& out) {
  out.push_back(KernelDef{"add_layer_norm", add_norm_run<true>, norm_space, validate_add_norm<true>,
                          "add_layer_norm(x: T, residual: T, [gamma: T, beta: T,] out: T, sum: T), T in {f32, bf16, "
                          "f16}; sum = x + residual, out = layer_norm(sum) over the innermost ints[0] = k dims; "
                          "floats[0] = epsilon (default 1e-5)",
                          0});
  out.push_back(KernelDef{"add_rms_norm", add_norm_run<false>, norm_space, validate_add_norm<false>,
                          "add_rms_norm(x: T, residual: T, [gamma: T,] out: T, sum: T), T in {f32, bf16, f16}; "
                          "sum = x + residual, out = rms_norm(sum) over the innermost ints[0] = k dims; floats[0] = "
                          "epsilon (default 1e-6)",
                          0});
}

}  // namespace kiln::kernels::lib
