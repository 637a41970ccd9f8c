// batch_norm, inference form (ONNX BatchNormalization, training_mode 0):
//   (x: T, scale: T{C}, bias: T{C}, mean: T{C}, var: T{C}, out: T), same dims
//   ints[0] = channel axis (default 0; C = x.dims[axis]); floats[0] = epsilon
//   (default 1e-5). y = (x - mean) / sqrt(var + eps) * scale + bias.
// The four parameters fold into a per-channel affine map computed once per
// channel and slice, a = scale * rsqrt(var + eps) and b = bias - mean * a, so
// each element costs one fma.
// Index space {channel groups, outer positions}: the outer positions (dims
// above the axis) are the split dim, so every core gets work, and each core
// walks its channels outermost so it folds each channel's factors once.
//   axis 0 (NHWC, C innermost): a channel group is one vector of channels; a
//     and b are vectors loaded from the parameters; an outer position is a row.
//   axis > 0 (NCHW): a channel group is one channel; a and b are scalars
//     broadcast to vectors; an outer position's block (dims below the axis) is
//     walked in vectors along dim 0.
#include "kernel_util.h"
#include "kernels.h"

namespace kiln::kernels::lib {
namespace {

constexpr int kParams = 4;  // scale, bias, mean, var
constexpr const char* kParamNames[kParams] = {"scale", "bias", "mean", "var"};

Status validate_batch_norm(const KernelArgs& args) {
  KILN_RETURN_IF_ERROR(expect_tensor_count(args, 6, 6, "(x, scale, bias, mean, var, out)"));
  const TensorDesc& x = args.tensors[0];
  const TensorDesc& out = args.tensors[5];
  KILN_RETURN_IF_ERROR(expect_float(x, "x"));
  const int64_t axis = args.int_or(0, 0);
  KILN_RETURN_IF_ERROR(expect_axis(axis, x));
  const Dims want = {x.dims[axis], 1, 1, 1, 1};
  for (int i = 0; i < kParams; ++i) {
    const TensorDesc& p = args.tensors[static_cast<size_t>(1 + i)];
    KILN_RETURN_IF_ERROR(expect_same_dtype(p, x, kParamNames[i], "x"));
    KILN_RETURN_IF_ERROR(expect_dims(p, want, kParamNames[i]));
  }
  KILN_RETURN_IF_ERROR(expect_same_dtype(out, x, "out", "x"));
  KILN_RETURN_IF_ERROR(expect_same_dims(out, x, "out", "x"));
  const float eps = args.float_or(0, 1e-5f);
  if (!(eps >= 0.0f)) return invalid_argument("epsilon floats[0] = " + std::to_string(eps) + " must be >= 0");
  return Status::ok_status();
}

// Dims whose rows (row_coord) enumerate the outer positions: dims 1..axis
// are 1, so only the coords above the axis vary.
Dims outer_dims(const TensorDesc& x, int axis) {
  Dims d = x.dims;
  for (int i = 1; i <= axis; ++i) d[i] = 1;
  return d;
}

IndexSpace batch_norm_space(const KernelArgs& args) {
  const TensorDesc& x = args.tensors[0];
  const int axis = static_cast<int>(args.int_or(0, 0));
  const Dims outer = outer_dims(x, axis);
  IndexSpace s;
  s.rank = 2;
  s.size[0] = axis == 0 ? ceil_div(x.dims[0], lanes_per_vector(x.dtype)) : x.dims[axis];
  s.size[1] = outer[1] * outer[2] * outer[3] * outer[4];
  return s;
}

// Folds the parameters at c into (a, b) lane-wise: a = scale * rsqrt(var +
// eps), b = bias - mean * a.
void fold(KernelContext& ctx, const WideF32 p[kParams], float eps, WideF32* a, WideF32* b) {
  *a = wide_map(ctx, p[0], p[3], [&](const VecF32& scale, const VecF32& var) {
    return mul(ctx, rsqrt(ctx, add(ctx, var, eps)), scale);
  });
  *b = wide_map(ctx, p[1], p[2], *a, [&](const VecF32& bias, const VecF32& mean, const VecF32& s) {
    return sub(ctx, bias, mul(ctx, mean, s));
  });
}

WideF32 apply_fold(KernelContext& ctx, const WideF32& x, const WideF32& a, const WideF32& b) {
  return wide_map(ctx, x, a, b, [&](const VecF32& xv, const VecF32& av, const VecF32& bv) { return fma(ctx, xv, av, bv); });
}

void batch_norm_channels_inner(KernelContext& ctx, const TensorDesc& x, const TensorDesc& out, float eps) {
  const int lanes = lanes_per_vector(x.dtype);
  const IndexSlice& s = ctx.slice();
  for (int64_t v = s.begin[0]; v < s.end[0] && !ctx.faulted(); ++v) {
    const Coord pc{v * lanes, 0, 0, 0, 0};
    WideF32 p[kParams];
    for (int i = 0; i < kParams; ++i) p[i] = load_wide(ctx, ctx.tensor(1 + i), pc);
    WideF32 a, b;
    fold(ctx, p, eps, &a, &b);
    for (int64_t row = s.begin[1]; row < s.end[1]; ++row) {
      Coord c = row_coord(x.dims, row);
      c[0] = pc[0];
      store_wide(ctx, out, c, apply_fold(ctx, load_wide(ctx, x, c), a, b));
    }
  }
}

void batch_norm_channels_outer(KernelContext& ctx, const TensorDesc& x, const TensorDesc& out, int axis, float eps) {
  const int lanes = lanes_per_vector(x.dtype);
  const int halves = natural_halves(x.dtype);
  const IndexSlice& s = ctx.slice();
  const Dims outer = outer_dims(x, axis);
  // The block below the axis: dims 1..axis-1 (dim 0 is walked in vectors).
  Dims block = {1, 1, 1, 1, 1};
  for (int d = 1; d < axis; ++d) block[d] = x.dims[d];
  const int64_t block_rows = block[1] * block[2] * block[3] * block[4];
  for (int64_t ch = s.begin[0]; ch < s.end[0] && !ctx.faulted(); ++ch) {
    // One scalar per parameter, widened to a vector so the fold is the same
    // code as for axis 0.
    WideF32 p[kParams];
    for (int i = 0; i < kParams; ++i) {
      p[i] = broadcast_wide(ctx, ctx.load_scalar(ctx.tensor(1 + i), Coord{ch, 0, 0, 0, 0}), halves);
    }
    WideF32 a, b;
    fold(ctx, p, eps, &a, &b);
    for (int64_t o = s.begin[1]; o < s.end[1]; ++o) {
      Coord base = row_coord(outer, o);
      base[axis] = ch;
      for (int64_t r = 0; r < block_rows; ++r) {
        Coord c = row_coord(block, r);
        for (int d = axis; d < kMaxDims; ++d) c[d] = base[d];
        for (c[0] = 0; c[0] < x.dims[0]; c[0] += lanes) {
          store_wide(ctx, out, c, apply_fold(ctx, load_wide(ctx, x, c), a, b));
        }
      }
    }
  }
}

void batch_norm_run(KernelContext& ctx) {
  const TensorDesc& x = ctx.tensor(0);
  const TensorDesc& out = ctx.tensor(5);
  const int axis = static_cast<int>(ctx.args().int_or(0, 0));
  const float eps = ctx.args().float_or(0, 1e-5f);
  if (axis == 0) batch_norm_channels_inner(ctx, x, out, eps);
  else batch_norm_channels_outer(ctx, x, out, axis, eps);
}

}  // namespace

void append_batch_norm_kernels(std::vector<KernelDef>& out) {
  out.push_back(KernelDef{"batch_norm", batch_norm_run, batch_norm_space, validate_batch_norm,
                          "batch_norm(x: T, scale: T{C}, bias: T{C}, mean: T{C}, var: T{C}, out: T), T in {f32, bf16, f16}; "
                          "ints[0] = channel axis (default 0), floats[0] = epsilon (default 1e-5); inference",
                          0});
}

}  // namespace kiln::kernels::lib
