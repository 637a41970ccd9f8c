// Normalisations over the innermost k = ints[0] dims (default 1), i.e. ONNX
// LayerNormalization / RMSNormalization with axis = rank - k:
//   layer_norm (x: T, [gamma: T, beta: T,] out: T); floats[0] = epsilon (1e-5)
//     y = (x - mean) * rsqrt(var + eps) * gamma + beta, var biased; two passes
//     for the statistics (mean, then sum of squared deviations) and one for
//     the output.
//   rms_norm (x: T, [gamma: T,] out: T); floats[0] = epsilon (1e-6)
//     y = x * rsqrt(mean(x^2) + eps) * gamma
// T in {f32, bf16, f16}; statistics accumulate in fp32. gamma and beta have
// dims {d0, ..., d(k-1)}. Groups and their walk: norm_util.h.
#include "kernels.h"
#include "norm_util.h"

namespace kiln::kernels::lib {

Status validate_affine(const KernelArgs& args, int k, int first, int count) {
  const TensorDesc& x = args.tensors[0];
  const char* names[] = {"gamma", "beta"};
  Dims want = {1, 1, 1, 1, 1};
  for (int d = 0; d < k; ++d) want[d] = x.dims[d];
  for (int i = 0; i < count; ++i) {
    const TensorDesc& t = args.tensors[static_cast<size_t>(first + i)];
    KILN_RETURN_IF_ERROR(expect_same_dtype(t, x, names[i], "x"));
    KILN_RETURN_IF_ERROR(expect_dims(t, want, names[i]));
  }
  return Status::ok_status();
}

Status validate_norm_dims(const KernelArgs& args, const TensorDesc& x) {
  const int64_t k = args.int_or(0, 1);
  const int max_k = x.rank > 0 ? x.rank : 1;
  if (k < 1 || k > max_k) {
    return invalid_argument("ints[0] = " + std::to_string(k) + " normalised dims is outside 1.." +
                            std::to_string(max_k) + " (x has rank " + std::to_string(x.rank) + ")");
  }
  return Status::ok_status();
}

Dims outer_dims(const TensorDesc& x, int k) {
  Dims d = x.dims;
  for (int i = 1; i < k; ++i) d[i] = 1;
  return d;
}

IndexSpace norm_space(const KernelArgs& args) {
  const TensorDesc& x = args.tensors[0];
  const Dims outer = outer_dims(x, norm_dims(args));
  IndexSpace s;
  s.size[0] = outer[1] * outer[2] * outer[3] * outer[4];
  return s;
}

int64_t group_elements(const TensorDesc& x, int k) {
  int64_t n = 1;
  for (int d = 0; d < k; ++d) n *= x.dims[d];
  return n;
}

float inverse_count(const TensorDesc& x, int k) {
  const int64_t n = group_elements(x, k);
  return n > 0 ? 1.0f / static_cast<float>(n) : 0.0f;
}

namespace {

// gamma and beta are indexed by the coords inside the group.
Coord affine_coord(const Coord& c, int k) {
  Coord g{0, 0, 0, 0, 0};
  for (int d = 0; d < k; ++d) g[d] = c[d];
  return g;
}

// Sum over a group of f(acc, x) per half, reduced to a scalar.
template <typename F>
float group_sum(KernelContext& ctx, const TensorDesc& x, const Group& g, F&& f) {
  WideF32 acc = broadcast_wide(ctx, 0.0f, natural_halves(x.dtype));
  for_each_group_vector(x, g, [&](const Coord& c) {
    const WideF32 v = load_wide(ctx, x, c);
    acc = wide_map(ctx, acc, v, [&](const VecF32& a, const VecF32& p) { return f(a, p); });
  });
  return wide_reduce_sum(ctx, acc);
}

Status validate_norm(const KernelArgs& args, int max_tensors, const char* layout) {
  KILN_RETURN_IF_ERROR(expect_tensor_count(args, 2, max_tensors, layout));
  if (max_tensors == 4 && args.num_tensors == 3) {
    return invalid_argument(std::string("expects tensors ") + layout + ", got 3");
  }
  const TensorDesc& x = args.tensors[0];
  const TensorDesc& out = args.tensors[static_cast<size_t>(args.num_tensors - 1)];
  KILN_RETURN_IF_ERROR(expect_float(x, "x"));
  KILN_RETURN_IF_ERROR(expect_same_dtype(out, x, "out", "x"));
  KILN_RETURN_IF_ERROR(expect_same_dims(out, x, "out", "x"));
  KILN_RETURN_IF_ERROR(validate_norm_dims(args, x));
  return validate_affine(args, norm_dims(args), 1, args.num_tensors - 2);
}

Status validate_layer_norm(const KernelArgs& args) {
  return validate_norm(args, 4, "(x, out) or (x, gamma, beta, out)");
}

Status validate_rms_norm(const KernelArgs& args) { return validate_norm(args, 3, "(x, out) or (x, gamma, out)"); }

void layer_norm_run(KernelContext& ctx) {
  const TensorDesc& x = ctx.tensor(0);
  const int n = ctx.args().num_tensors;
  const Affine affine = n == 4 ? Affine{&ctx.tensor(1), &ctx.tensor(2)} : Affine{};
  const TensorDesc& out = ctx.tensor(n - 1);
  const float eps = ctx.args().float_or(0, 1e-5f);
  const float inv_n = inverse_count(x, norm_dims(ctx.args()));
  for_each_group(ctx, x, [&](const Group& g) {
    const float mean = group_sum(ctx, x, g, [&](const VecF32& a, const VecF32& v) { return add(ctx, a, v); }) * inv_n;
    layer_norm_finish(ctx, x, out, g, mean, eps, affine);
  });
}

void rms_norm_run(KernelContext& ctx) {
  const TensorDesc& x = ctx.tensor(0);
  const int n = ctx.args().num_tensors;
  const Affine affine = n == 3 ? Affine{&ctx.tensor(1), nullptr} : Affine{};
  const TensorDesc& out = ctx.tensor(n - 1);
  const float eps = ctx.args().float_or(0, 1e-6f);
  const float inv_n = inverse_count(x, norm_dims(ctx.args()));
  for_each_group(ctx, x, [&](const Group& g) {
    const float ms = group_sum(ctx, x, g, [&](const VecF32& a, const VecF32& v) { return fma(ctx, v, v, a); }) * inv_n;
    rms_norm_finish(ctx, x, out, g, ms, eps, affine);
  });
}

}  // namespace

void layer_norm_finish(KernelContext& ctx, const TensorDesc& src, const TensorDesc& out, const Group& g, float mean,
                       float eps, const Affine& affine) {
  const int k = norm_dims(ctx.args());
  const int lanes = lanes_per_vector(src.dtype);
  const int64_t n0 = src.dims[0];
  const float inv_n = inverse_count(src, k);
  // Variance: the tail vector's lanes past the row are masked to 0 (a pad
  // equal to the mean would not survive bf16 rounding).
  WideF32 acc = broadcast_wide(ctx, 0.0f, natural_halves(src.dtype));
  for_each_group_vector(src, g, [&](const Coord& c) {
    const WideF32 v = load_wide(ctx, src, c);
    const bool tail = n0 - c[0] < lanes;
    for_each_half(ctx, v.halves, [&](int h) {
      VecF32 d = sub(ctx, v.half[h], mean);
      const int64_t valid = n0 - c[0] - h * kF32Lanes;
      if (tail) d = select(ctx, Mask::first(static_cast<int>(valid)), d, 0.0f);
      acc.half[h] = fma(ctx, d, d, acc.half[h]);
    });
  });
  const float var = wide_reduce_sum(ctx, acc) * inv_n;
  ctx.count(OpClass::kScalarAlu, 3);  // two scalings and var + eps
  const VecF32 rstd = rsqrt(ctx, broadcast(ctx, var + eps));
  for_each_group_vector(src, g, [&](const Coord& c) {
    WideF32 y = wide_map(ctx, load_wide(ctx, src, c), [&](const VecF32& v) { return mul(ctx, sub(ctx, v, mean), rstd); });
    if (affine.gamma != nullptr) {
      const Coord a = affine_coord(c, k);
      const WideF32 gamma = load_wide(ctx, *affine.gamma, a);
      const WideF32 beta = load_wide(ctx, *affine.beta, a);
      y = wide_map(ctx, y, gamma, beta,
                   [&](const VecF32& v, const VecF32& s, const VecF32& b) { return fma(ctx, v, s, b); });
    }
    store_wide(ctx, out, c, y);
  });
}

void rms_norm_finish(KernelContext& ctx, const TensorDesc& src, const TensorDesc& out, const Group& g, float ms,
                     float eps, const Affine& affine) {
  const int k = norm_dims(ctx.args());
  ctx.count(OpClass::kScalarAlu, 2);  // scaling and ms + eps
  const VecF32 r = rsqrt(ctx, broadcast(ctx, ms + eps));
  for_each_group_vector(src, g, [&](const Coord& c) {
    WideF32 y = wide_map(ctx, load_wide(ctx, src, c), [&](const VecF32& v) { return mul(ctx, v, r); });
    if (affine.gamma != nullptr) {
      const WideF32 gamma = load_wide(ctx, *affine.gamma, affine_coord(c, k));
      y = wide_map(ctx, y, gamma, [&](const VecF32& v, const VecF32& s) { return mul(ctx, v, s); });
    }
    store_wide(ctx, out, c, y);
  });
}

void append_norm_kernels(std::vector<KernelDef>& out) {
  out.push_back(KernelDef{"layer_norm", layer_norm_run, norm_space, validate_layer_norm,
                          "layer_norm(x: T, [gamma: T{d0..d(k-1)}, beta: T{d0..d(k-1)},] out: T), T in {f32, bf16, "
                          "f16}, over the innermost ints[0] = k dims (default 1); floats[0] = epsilon (default 1e-5)",
                          0});
  out.push_back(KernelDef{"rms_norm", rms_norm_run, norm_space, validate_rms_norm,
                          "rms_norm(x: T, [gamma: T{d0..d(k-1)},] out: T), T in {f32, bf16, f16}, over the innermost "
                          "ints[0] = k dims (default 1); floats[0] = epsilon (default 1e-6)",
                          0});
}

}  // namespace kiln::kernels::lib
