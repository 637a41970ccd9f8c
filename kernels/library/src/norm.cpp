// Normalisations along dim 0, one index point per row:
//   layer_norm (x: T, [gamma: T, beta: T,] out: T); floats[0] = epsilon (1e-5)
//     y = (x - mean) * rsqrt(var + eps) * gamma + beta, var biased; two passes
//     for the statistics (mean, then sum of squared deviations) and one for
//     the output.
//   rms_norm (x: T, [gamma: T,] out: T); floats[0] = epsilon (1e-6)
//     y = x * rsqrt(mean(x^2) + eps) * gamma
// gamma and beta have dims {d0}.
#include "kernel_util.h"
#include "kernels.h"

namespace kiln::kernels::lib {
namespace {

Status validate_affine(const KernelArgs& args, int first, int count) {
  const TensorDesc& x = args.tensors[0];
  const char* names[] = {"gamma", "beta"};
  Dims want = {x.dims[0], 1, 1, 1, 1};
  for (int i = 0; i < count; ++i) {
    const TensorDesc& t = args.tensors[static_cast<size_t>(first + i)];
    KILN_RETURN_IF_ERROR(expect_same_dtype(t, x, names[i], "x"));
    KILN_RETURN_IF_ERROR(expect_dims(t, want, names[i]));
  }
  return Status::ok_status();
}

Status validate_layer_norm(const KernelArgs& args) {
  KILN_RETURN_IF_ERROR(expect_tensor_count(args, 2, 4, "(x, out) or (x, gamma, beta, out)"));
  if (args.num_tensors == 3) return invalid_argument("expects tensors (x, out) or (x, gamma, beta, out), got 3");
  const TensorDesc& x = args.tensors[0];
  const TensorDesc& out = args.tensors[static_cast<size_t>(args.num_tensors - 1)];
  KILN_RETURN_IF_ERROR(expect_float(x, "x"));
  KILN_RETURN_IF_ERROR(expect_same_dtype(out, x, "out", "x"));
  KILN_RETURN_IF_ERROR(expect_same_dims(out, x, "out", "x"));
  return validate_affine(args, 1, args.num_tensors - 2);
}

Status validate_rms_norm(const KernelArgs& args) {
  KILN_RETURN_IF_ERROR(expect_tensor_count(args, 2, 3, "(x, out) or (x, gamma, out)"));
  const TensorDesc& x = args.tensors[0];
  const TensorDesc& out = args.tensors[static_cast<size_t>(args.num_tensors - 1)];
  KILN_RETURN_IF_ERROR(expect_float(x, "x"));
  KILN_RETURN_IF_ERROR(expect_same_dtype(out, x, "out", "x"));
  KILN_RETURN_IF_ERROR(expect_same_dims(out, x, "out", "x"));
  return validate_affine(args, 1, args.num_tensors - 2);
}

IndexSpace norm_space(const KernelArgs& args) { return row_space(args.tensors[0]); }

// Sum over a row of f(x) per half, reduced to a scalar.
template <typename F>
float row_sum(KernelContext& ctx, const TensorDesc& x, Coord c, F&& f) {
  const int lanes = lanes_per_vector(x.dtype);
  WideF32 acc = broadcast_wide(ctx, 0.0f, natural_halves(x.dtype));
  for (c[0] = 0; c[0] < x.dims[0]; c[0] += lanes) {
    const WideF32 v = load_wide(ctx, x, c);
    acc = wide_map(ctx, acc, v, [&](const VecF32& a, const VecF32& p) { return f(a, p); });
  }
  return wide_reduce_sum(ctx, acc);
}

void layer_norm_run(KernelContext& ctx) {
  const TensorDesc& x = ctx.tensor(0);
  const bool affine = ctx.args().num_tensors == 4;
  const TensorDesc& out = ctx.tensor(ctx.args().num_tensors - 1);
  const float eps = ctx.args().float_or(0, 1e-5f);
  const int lanes = lanes_per_vector(x.dtype);
  const int64_t n = x.dims[0];
  const float inv_n = 1.0f / static_cast<float>(n);
  for_each_row(ctx, x, [&](Coord c) {
    if (n == 0) return;
    const float mean = row_sum(ctx, x, c, [&](const VecF32& a, const VecF32& v) { return add(ctx, a, v); }) * inv_n;
    // Variance: the tail vector's lanes past the row are masked to 0 (a pad
    // equal to the mean would not survive bf16 rounding).
    WideF32 acc = broadcast_wide(ctx, 0.0f, natural_halves(x.dtype));
    for (c[0] = 0; c[0] < n; c[0] += lanes) {
      const WideF32 v = load_wide(ctx, x, c);
      const bool tail = n - c[0] < lanes;
      for_each_half(ctx, v.halves, [&](int h) {
        VecF32 d = sub(ctx, v.half[h], mean);
        const int64_t valid = n - c[0] - h * kF32Lanes;
        if (tail) d = select(ctx, Mask::first(static_cast<int>(valid)), d, 0.0f);
        acc.half[h] = fma(ctx, d, d, acc.half[h]);
      });
    }
    const float var = wide_reduce_sum(ctx, acc) * inv_n;
    ctx.count(OpClass::kScalarAlu, 3);  // two scalings and var + eps
    const VecF32 rstd = rsqrt(ctx, broadcast(ctx, var + eps));
    for (c[0] = 0; c[0] < n; c[0] += lanes) {
      WideF32 y = wide_map(ctx, load_wide(ctx, x, c), [&](const VecF32& v) { return mul(ctx, sub(ctx, v, mean), rstd); });
      if (affine) {
        const Coord g{c[0], 0, 0, 0, 0};
        const WideF32 gamma = load_wide(ctx, ctx.tensor(1), g);
        const WideF32 beta = load_wide(ctx, ctx.tensor(2), g);
        y = wide_map(ctx, y, gamma, beta, [&](const VecF32& v, const VecF32& s, const VecF32& b) { return fma(ctx, v, s, b); });
      }
      store_wide(ctx, out, c, y);
    }
  });
}

void rms_norm_run(KernelContext& ctx) {
  const TensorDesc& x = ctx.tensor(0);
  const bool affine = ctx.args().num_tensors == 3;
  const TensorDesc& out = ctx.tensor(ctx.args().num_tensors - 1);
  const float eps = ctx.args().float_or(0, 1e-6f);
  const int lanes = lanes_per_vector(x.dtype);
  const int64_t n = x.dims[0];
  const float inv_n = 1.0f / static_cast<float>(n);
  for_each_row(ctx, x, [&](Coord c) {
    if (n == 0) return;
    const float ms = row_sum(ctx, x, c, [&](const VecF32& a, const VecF32& v) { return fma(ctx, v, v, a); }) * inv_n;
    ctx.count(OpClass::kScalarAlu, 2);  // scaling and ms + eps
    const VecF32 r = rsqrt(ctx, broadcast(ctx, ms + eps));
    for (c[0] = 0; c[0] < n; c[0] += lanes) {
      WideF32 y = wide_map(ctx, load_wide(ctx, x, c), [&](const VecF32& v) { return mul(ctx, v, r); });
      if (affine) {
        const WideF32 gamma = load_wide(ctx, ctx.tensor(1), Coord{c[0], 0, 0, 0, 0});
        y = wide_map(ctx, y, gamma, [&](const VecF32& v, const VecF32& s) { return mul(ctx, v, s); });
      }
      store_wide(ctx, out, c, y);
    }
  });
}

}  // namespace

void append_norm_kernels(std::vector<KernelDef>& out) {
  out.push_back(KernelDef{"layer_norm", layer_norm_run, norm_space, validate_layer_norm,
                          "layer_norm(x: T, [gamma: T{d0}, beta: T{d0},] out: T), T in {f32, bf16}, along dim 0; "
                          "floats[0] = epsilon (default 1e-5)",
                          0});
  out.push_back(KernelDef{"rms_norm", rms_norm_run, norm_space, validate_rms_norm,
                          "rms_norm(x: T, [gamma: T{d0},] out: T), T in {f32, bf16}, along dim 0; "
                          "floats[0] = epsilon (default 1e-6)",
                          0});
}

}  // namespace kiln::kernels::lib
