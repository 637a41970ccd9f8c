// Normalisations over the innermost k = ints[0] dims (default 1), i.e. ONNX
// LayerNormalization / RMSNormalization with axis = rank - k:
//   layer_norm (x: T, [gamma: T, beta: T,] out: T); floats[0] = epsilon (1e-5)
//     y = (x - mean) * rsqrt(var + eps) * gamma + beta, var biased; two passes
//     for the statistics (mean, then sum of squared deviations) and one for
//     the output.
//   rms_norm (x: T, [gamma: T,] out: T); floats[0] = epsilon (1e-6)
//     y = x * rsqrt(mean(x^2) + eps) * gamma
// gamma and beta have dims {d0, ..., d(k-1)}. One index point per group (one
// position of the outer dims k..4); a group is walked as its dim-0 rows, each
// in vectors, accumulating lane-wise, with one cross-lane reduction per
// statistic.
#include "kernel_util.h"
#include "kernels.h"

namespace kiln::kernels::lib {
namespace {

int norm_dims(const KernelArgs& args) { return static_cast<int>(args.int_or(0, 1)); }

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
  const int64_t k = args.int_or(0, 1);
  const int max_k = x.rank > 0 ? x.rank : 1;
  if (k < 1 || k > max_k) {
    return invalid_argument("ints[0] = " + std::to_string(k) + " normalised dims is outside 1.." +
                            std::to_string(max_k) + " (x has rank " + std::to_string(x.rank) + ")");
  }
  return validate_affine(args, static_cast<int>(k), 1, args.num_tensors - 2);
}

Status validate_layer_norm(const KernelArgs& args) {
  return validate_norm(args, 4, "(x, out) or (x, gamma, beta, out)");
}

Status validate_rms_norm(const KernelArgs& args) { return validate_norm(args, 3, "(x, out) or (x, gamma, out)"); }

// The dims that enumerate groups: dims 1..k-1 belong to the group, so they
// are 1 here and row_coord() over these dims yields a group's outer coords.
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

// A group of x: its outer coords and the shape of its dim-0 rows.
struct Group {
  Coord base;         // c[k..4] set, the rest 0
  Dims inner;         // dims 1..k-1 of x, 1 elsewhere
  int64_t rows = 1;   // product of inner
};

int64_t group_elements(const TensorDesc& x, int k) {
  int64_t n = 1;
  for (int d = 0; d < k; ++d) n *= x.dims[d];
  return n;
}

// 1/n for the means (0 for an empty group, which is never visited).
float inverse_count(const TensorDesc& x, int k) {
  const int64_t n = group_elements(x, k);
  return n > 0 ? 1.0f / static_cast<float>(n) : 0.0f;
}

// Calls f(c) for every vector of the group (rows outer, dim 0 inner).
template <typename F>
void for_each_group_vector(const TensorDesc& x, const Group& g, F&& f) {
  const int lanes = lanes_per_vector(x.dtype);
  for (int64_t r = 0; r < g.rows; ++r) {
    Coord c = row_coord(g.inner, r);
    for (int d = 1; d < kMaxDims; ++d) c[d] += g.base[d];
    for (c[0] = 0; c[0] < x.dims[0]; c[0] += lanes) f(c);
  }
}

// Calls f(group) for every group of the slice.
template <typename F>
void for_each_group(KernelContext& ctx, const TensorDesc& x, F&& f) {
  const int k = norm_dims(ctx.args());
  const Dims outer = outer_dims(x, k);
  Group g;
  g.inner = {1, 1, 1, 1, 1};
  for (int d = 1; d < k; ++d) g.inner[d] = x.dims[d];
  g.rows = g.inner[1] * g.inner[2] * g.inner[3] * g.inner[4];
  if (group_elements(x, k) == 0) return;
  const IndexSlice& s = ctx.slice();
  for (int64_t i = s.begin[0]; i < s.end[0] && !ctx.faulted(); ++i) {
    g.base = row_coord(outer, i);
    f(g);
  }
}

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

void layer_norm_run(KernelContext& ctx) {
  const TensorDesc& x = ctx.tensor(0);
  const bool affine = ctx.args().num_tensors == 4;
  const TensorDesc& out = ctx.tensor(ctx.args().num_tensors - 1);
  const float eps = ctx.args().float_or(0, 1e-5f);
  const int k = norm_dims(ctx.args());
  const int lanes = lanes_per_vector(x.dtype);
  const int64_t n0 = x.dims[0];
  const float inv_n = inverse_count(x, k);
  for_each_group(ctx, x, [&](const Group& g) {
    const float mean = group_sum(ctx, x, g, [&](const VecF32& a, const VecF32& v) { return add(ctx, a, v); }) * inv_n;
    // Variance: the tail vector's lanes past the row are masked to 0 (a pad
    // equal to the mean would not survive bf16 rounding).
    WideF32 acc = broadcast_wide(ctx, 0.0f, natural_halves(x.dtype));
    for_each_group_vector(x, g, [&](const Coord& c) {
      const WideF32 v = load_wide(ctx, x, c);
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
    for_each_group_vector(x, g, [&](const Coord& c) {
      WideF32 y = wide_map(ctx, load_wide(ctx, x, c), [&](const VecF32& v) { return mul(ctx, sub(ctx, v, mean), rstd); });
      if (affine) {
        const Coord a = affine_coord(c, k);
        const WideF32 gamma = load_wide(ctx, ctx.tensor(1), a);
        const WideF32 beta = load_wide(ctx, ctx.tensor(2), a);
        y = wide_map(ctx, y, gamma, beta,
                     [&](const VecF32& v, const VecF32& s, const VecF32& b) { return fma(ctx, v, s, b); });
      }
      store_wide(ctx, out, c, y);
    });
  });
}

void rms_norm_run(KernelContext& ctx) {
  const TensorDesc& x = ctx.tensor(0);
  const bool affine = ctx.args().num_tensors == 3;
  const TensorDesc& out = ctx.tensor(ctx.args().num_tensors - 1);
  const float eps = ctx.args().float_or(0, 1e-6f);
  const int k = norm_dims(ctx.args());
  const float inv_n = inverse_count(x, k);
  for_each_group(ctx, x, [&](const Group& g) {
    const float ms = group_sum(ctx, x, g, [&](const VecF32& a, const VecF32& v) { return fma(ctx, v, v, a); }) * inv_n;
    ctx.count(OpClass::kScalarAlu, 2);  // scaling and ms + eps
    const VecF32 r = rsqrt(ctx, broadcast(ctx, ms + eps));
    for_each_group_vector(x, g, [&](const Coord& c) {
      WideF32 y = wide_map(ctx, load_wide(ctx, x, c), [&](const VecF32& v) { return mul(ctx, v, r); });
      if (affine) {
        const WideF32 gamma = load_wide(ctx, ctx.tensor(1), affine_coord(c, k));
        y = wide_map(ctx, y, gamma, [&](const VecF32& v, const VecF32& s) { return mul(ctx, v, s); });
      }
      store_wide(ctx, out, c, y);
    });
  });
}

}  // namespace

void append_norm_kernels(std::vector<KernelDef>& out) {
  out.push_back(KernelDef{"layer_norm", layer_norm_run, norm_space, validate_layer_norm,
                          "layer_norm(x: T, [gamma: T{d0..d(k-1)}, beta: T{d0..d(k-1)},] out: T), T in {f32, bf16, f16}, "
                          "over the innermost ints[0] = k dims (default 1); floats[0] = epsilon (default 1e-5)",
                          0});
  out.push_back(KernelDef{"rms_norm", rms_norm_run, norm_space, validate_rms_norm,
                          "rms_norm(x: T, [gamma: T{d0..d(k-1)},] out: T), T in {f32, bf16, f16}, over the innermost "
                          "ints[0] = k dims (default 1); floats[0] = epsilon (default 1e-6)",
                          0});
}

}  // namespace kiln::kernels::lib
