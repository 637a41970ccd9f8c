// resize (in: F{C, W, H, N}, out: F{C, W', H', N}): ONNX Resize over W and H.
//   ints[0] = mode: 0 nearest (default), 1 linear (bilinear over W and H);
//   ints[1] = coordinate transformation: 0 half_pixel (default), 1
//     align_corners, 2 asymmetric, 3 pytorch_half_pixel;
//   ints[2] = nearest mode: 0 round_prefer_floor (default), 1
//     round_prefer_ceil, 2 floor, 3 ceil;
//   floats = {} or {scale_w, scale_h}: the scales the transformation divides by
//     (ONNX's `scales` input, PyTorch's scale_factor); without them the scale
//     is out / in (ONNX's `sizes`). align_corners ignores them, as in ONNX.
// The layout is the pooling kernels': vectorised along C, so every output
// vector is 1 (nearest) or up to 4 (linear) whole input vectors combined with
// weights that are the same for every lane -- no gathers. The runtime passes
// an NCHW tensor as this view.
//
// Coordinates. With scale = out / in the source coordinate of output x is a
// rational number, computed exactly in integers (W, H <= 2^24 keep it inside
// int64): half_pixel ((2x + 1) in - out) / (2 out), asymmetric x in / out,
// align_corners x (in - 1) / (out - 1) (0 when out == 1), pytorch_half_pixel
// as half_pixel but 0 when out == 1. So ties (x.5) are exact and the nearest
// mode decides them as ONNX says. With explicit scales the coordinate is fp32
// on the scalar unit: (x + 0.5) / s - 0.5 or x / s.
// nearest: round_prefer_floor is ceil(x - 0.5), round_prefer_ceil floor(x +
// 0.5); the index is clamped to [0, in - 1]. The value is copied, not
// computed, so nearest is exact.
// linear: the coordinate is clamped to [0, in - 1] (ONNX's edge padding and
// PyTorch's clamp give the same values), i0 = floor, w = frac, and the result
// is (1 - wy) ((1 - wx) a + wx b) + wy ((1 - wx) c + wx d) in fp32, rounded
// once when stored. A tap of weight 0 is not read: an integer coordinate (an
// exact upsample's aligned pixels, the clamped edges) is a copy.
// Cost: the mapping of a row's W and H coordinates is scalar work done once
// per output row; each output vector is its taps' loads, the lerps (a mul and
// an fma per pair) and one store.
#include <cmath>

#include "kernel_util.h"
#include "kernels.h"

namespace kiln::kernels::lib {
namespace {

constexpr int64_t kMaxResizeExtent = int64_t{1} << 24;

enum class ResizeMode : int64_t { kNearest = 0, kLinear = 1 };
enum class CoordMode : int64_t { kHalfPixel = 0, kAlignCorners = 1, kAsymmetric = 2, kPytorchHalfPixel = 3 };
enum class NearestMode : int64_t { kRoundPreferFloor = 0, kRoundPreferCeil = 1, kFloor = 2, kCeil = 3 };

struct ResizeParams {
  ResizeMode mode = ResizeMode::kNearest;
  CoordMode coord = CoordMode::kHalfPixel;
  NearestMode nearest = NearestMode::kRoundPreferFloor;
  bool scaled = false;  // explicit scales
  float scale_w = 0.0f, scale_h = 0.0f;
};

ResizeParams resize_params(const KernelArgs& args) {
  ResizeParams p;
  p.mode = static_cast<ResizeMode>(args.int_or(0, 0));
  p.coord = static_cast<CoordMode>(args.int_or(1, 0));
  p.nearest = static_cast<NearestMode>(args.int_or(2, 0));
  p.scaled = args.num_floats == 2;
  p.scale_w = args.float_or(0, 0.0f);
  p.scale_h = args.float_or(1, 0.0f);
  return p;
}

Status validate_resize(const KernelArgs& args) {
  KILN_RETURN_IF_ERROR(expect_tensor_count(args, 2, 2, "(in, out)"));
  const TensorDesc& in = args.tensors[0];
  const TensorDesc& out = args.tensors[1];
  KILN_RETURN_IF_ERROR(expect_float(in, "in"));
  KILN_RETURN_IF_ERROR(expect_same_dtype(out, in, "out", "in"));
  if (in.rank != 4 || out.rank != 4) {
    return invalid_argument("in and out must have rank 4 ({C, W, H, N}), got ranks " + std::to_string(in.rank) +
                            " and " + std::to_string(out.rank));
  }
  if (args.num_ints > 3) {
    return invalid_argument("takes at most 3 ints {mode, coordinate_transformation, nearest_mode}, got " +
                            std::to_string(args.num_ints));
  }
  const int64_t mode = args.int_or(0, 0), coord = args.int_or(1, 0), nearest = args.int_or(2, 0);
  if (mode < 0 || mode > 1) {
    return invalid_argument("mode ints[0] = " + std::to_string(mode) + " is not 0 (nearest) or 1 (linear)");
  }
  if (coord < 0 || coord > 3) {
    return invalid_argument("coordinate transformation ints[1] = " + std::to_string(coord) +
                            " is not 0 (half_pixel), 1 (align_corners), 2 (asymmetric) or 3 (pytorch_half_pixel)");
  }
  if (nearest < 0 || nearest > 3) {
    return invalid_argument("nearest mode ints[2] = " + std::to_string(nearest) +
                            " is not 0 (round_prefer_floor), 1 (round_prefer_ceil), 2 (floor) or 3 (ceil)");
  }
  if (args.num_floats != 0 && args.num_floats != 2) {
    return invalid_argument("takes no floats or {scale_w, scale_h}, got " + std::to_string(args.num_floats));
  }
  for (int i = 0; i < args.num_floats; ++i) {
    const float s = args.floats[static_cast<size_t>(i)];
    if (!(std::isfinite(s) && s > 0.0f)) {
      std::string msg = i == 0 ? "scale_w" : "scale_h";
      msg += " floats[" + std::to_string(i) + "] = " + std::to_string(s) + " must be finite and > 0";
      return invalid_argument(msg);
    }
  }
  for (int d = 1; d <= 2; ++d) {
    const char* axis = d == 1 ? "W" : "H";
    for (const TensorDesc* t : {&in, &out}) {
      const int64_t n = t->dims[d];
      if (n < 1 || n > kMaxResizeExtent) {
        std::string msg = t == &in ? "in" : "out";
        msg += " has " + std::string(axis) + " = " + std::to_string(n) + "; resize needs 1.." +
               std::to_string(kMaxResizeExtent);
        return invalid_argument(msg);
      }
    }
  }
  const Dims want = {in.dims[0], out.dims[1], out.dims[2], in.dims[3], 1};
  return expect_dims(out, want, "out");
}

IndexSpace resize_space(const KernelArgs& args) {
  return vector_row_space(args.tensors[1], lanes_per_vector(args.tensors[1].dtype));
}

int64_t floor_div(int64_t a, int64_t b) {  // b > 0
  const int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

// Where output coordinate x of an axis reads: taps i0 and i1 with weights
// 1 - w and w (i1 == i0 and w == 0 for a single tap).
struct AxisTaps {
  int64_t i0 = 0, i1 = 0;
  float w = 0.0f;
};

AxisTaps clamp_nearest(int64_t i, int64_t in) {
  AxisTaps t;
  t.i0 = t.i1 = i < 0 ? 0 : (i >= in ? in - 1 : i);
  return t;
}

// From the exact source coordinate num / den (den > 0).
AxisTaps taps_exact(const ResizeParams& p, int64_t num, int64_t den, int64_t in) {
  const int64_t fl = floor_div(num, den), rem = num - fl * den;  // rem in [0, den)
  if (p.mode == ResizeMode::kNearest) {
    bool up = false;
    switch (p.nearest) {
      case NearestMode::kRoundPreferFloor: up = 2 * rem > den; break;
      case NearestMode::kRoundPreferCeil: up = 2 * rem >= den; break;
      case NearestMode::kFloor: up = false; break;
      case NearestMode::kCeil: up = rem > 0; break;
    }
    return clamp_nearest(fl + (up ? 1 : 0), in);
  }
  AxisTaps t;
  if (num < 0) return t;  // clamped to 0
  if (fl >= in - 1) {
    t.i0 = t.i1 = in - 1;
    return t;
  }
  t.i0 = fl;
  if (rem == 0) {
    t.i1 = fl;
    return t;
  }
  t.i1 = fl + 1;
  t.w = static_cast<float>(rem) / static_cast<float>(den);
  return t;
}

// From an fp32 source coordinate (explicit scales).
AxisTaps taps_float(const ResizeParams& p, float x, int64_t in) {
  if (p.mode == ResizeMode::kNearest) {
    float r = 0.0f;
    switch (p.nearest) {
      case NearestMode::kRoundPreferFloor: r = std::ceil(x - 0.5f); break;
      case NearestMode::kRoundPreferCeil: r = std::floor(x + 0.5f); break;
      case NearestMode::kFloor: r = std::floor(x); break;
      case NearestMode::kCeil: r = std::ceil(x); break;
    }
    // A tiny scale makes x huge: clamp in float before converting.
    const float hi = static_cast<float>(in - 1);
    return clamp_nearest(static_cast<int64_t>(r < 0.0f ? 0.0f : (r > hi ? hi : r)), in);
  }
  AxisTaps t;
  const float hi = static_cast<float>(in - 1);
  if (!(x > 0.0f)) return t;
  if (x >= hi) {
    t.i0 = t.i1 = in - 1;
    return t;
  }
  const float fl = std::floor(x);
  t.i0 = static_cast<int64_t>(fl);
  t.w = x - fl;  // exact in fp32
  t.i1 = t.w == 0.0f ? t.i0 : t.i0 + 1;
  return t;
}

AxisTaps map_axis(KernelContext& ctx, const ResizeParams& p, int64_t x, int64_t in, int64_t out, float scale) {
  ctx.count(OpClass::kScalarAlu, 4);  // the coordinate, its floor, the weight and the clamp
  if (p.coord == CoordMode::kAlignCorners) {
    return out == 1 ? taps_exact(p, 0, 1, in) : taps_exact(p, x * (in - 1), out - 1, in);
  }
  if (p.coord == CoordMode::kPytorchHalfPixel && out == 1) return taps_exact(p, 0, 1, in);
  const bool half = p.coord != CoordMode::kAsymmetric;
  if (p.scaled) {
    const float xf = static_cast<float>(x);
    return taps_float(p, half ? (xf + 0.5f) / scale - 0.5f : xf / scale, in);
  }
  return half ? taps_exact(p, (2 * x + 1) * in - out, 2 * out, in) : taps_exact(p, x * in, out, in);
}

// (1 - w) a + w b, the pair's lerp: one mul and one fma.
WideF32 lerp(KernelContext& ctx, const WideF32& a, const WideF32& b, float w) {
  return wide_map(ctx, a, b, [&](const VecF32& va, const VecF32& vb) { return fma(ctx, vb, w, mul(ctx, va, 1.0f - w)); });
}

void resize_run(KernelContext& ctx) {
  const TensorDesc& in = ctx.tensor(0);
  const TensorDesc& out = ctx.tensor(1);
  const ResizeParams p = resize_params(ctx.args());
  const int lanes = lanes_per_vector(out.dtype);
  const int halves = natural_halves(in.dtype);
  const IndexSlice& s = ctx.slice();
  for (int64_t row = s.begin[1]; row < s.end[1] && !ctx.faulted(); ++row) {
    Coord c = row_coord(out.dims, row);
    const AxisTaps tx = map_axis(ctx, p, c[1], in.dims[1], out.dims[1], p.scale_w);
    const AxisTaps ty = map_axis(ctx, p, c[2], in.dims[2], out.dims[2], p.scale_h);
    const bool two_x = tx.i1 != tx.i0, two_y = ty.i1 != ty.i0;
    for (int64_t v = s.begin[0]; v < s.end[0]; ++v) {
      c[0] = v * lanes;
      ctx.count(OpClass::kScalarAlu);  // the taps' addresses
      const Coord a{c[0], tx.i0, ty.i0, c[3], 0};
      if (!two_x && !two_y) {
        copy_vector(ctx, in, a, out, c);
        continue;
      }
      WideF32 top = load_wide(ctx, in, a, 0.0f, halves);
      if (two_x) top = lerp(ctx, top, load_wide(ctx, in, Coord{c[0], tx.i1, ty.i0, c[3], 0}, 0.0f, halves), tx.w);
      if (two_y) {
        WideF32 bottom = load_wide(ctx, in, Coord{c[0], tx.i0, ty.i1, c[3], 0}, 0.0f, halves);
        if (two_x) {
          bottom = lerp(ctx, bottom, load_wide(ctx, in, Coord{c[0], tx.i1, ty.i1, c[3], 0}, 0.0f, halves), tx.w);
        }
        top = lerp(ctx, top, bottom, ty.w);
      }
      store_wide(ctx, out, c, top);
    }
  }
}

}  // namespace

void append_resize_kernels(std::vector<KernelDef>& out) {
  out.push_back(KernelDef{"resize", resize_run, resize_space, validate_resize,
                          "resize(in: F{C, W, H, N}, out: F{C, W', H', N}), F in {f32, bf16, f16}; ints = {mode (0 "
                          "nearest, 1 linear), coordinate transformation (0 half_pixel, 1 align_corners, 2 "
                          "asymmetric, 3 pytorch_half_pixel), nearest mode (0 round_prefer_floor, 1 "
                          "round_prefer_ceil, 2 floor, 3 ceil)}; floats = {} or {scale_w, scale_h}",
                          0});
}

}  // namespace kiln::kernels::lib
