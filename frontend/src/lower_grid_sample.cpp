// GridSample (opset 16) for 4-D inputs, bilinear, nearest or bicubic, with zeros,
// border or reflection padding, composed on the device: the grid is
// unnormalised to pixel coordinates, neighbours' flat indices are computed
// (floor from a truncating cast), their values gathered with index_select
// from the flattened input and weighted. Coordinates follow PyTorch's
// grid_sample, which ONNX's op mirrors. RoiAlign samples the same way at
// points spread over each region's bins (sampling_ratio > 0) and averages
// them with avg_pool2d.
#include <array>

#include "lowering.h"

namespace kiln::frontend::detail {
namespace rt = kiln::runtime;

namespace {

Result<Tensor> scalar(runtime::Runtime& rt, double v) { return rt.full({}, v, DType::kF32); }

// floor(v) of f32 v: the cast truncates toward zero, so one less where that overshot.
Result<Tensor> floor_of(runtime::Runtime& rt, const Tensor& v) {
  KILN_ASSIGN_OR_RETURN(Tensor t, rt::cast(v, DType::kI32));
  KILN_ASSIGN_OR_RETURN(t, rt::cast(t, DType::kF32));
  KILN_ASSIGN_OR_RETURN(Tensor over, rt::gt(t, v));
  KILN_ASSIGN_OR_RETURN(Tensor less, rt::add(t, -1.0));
  return rt::where(over, less, t);
}

// Round half to even (C's nearbyint, as PyTorch's nearest sampling).
Result<Tensor> round_even(runtime::Runtime& rt, const Tensor& v) {
  KILN_ASSIGN_OR_RETURN(Tensor half_up, rt::add(v, 0.5));
  KILN_ASSIGN_OR_RETURN(Tensor r, floor_of(rt, half_up));
  KILN_ASSIGN_OR_RETURN(Tensor diff, rt::sub(r, v));
  KILN_ASSIGN_OR_RETURN(Tensor half, scalar(rt, 0.5));
  KILN_ASSIGN_OR_RETURN(Tensor tie, rt::eq(diff, half));
  KILN_ASSIGN_OR_RETURN(Tensor r2, rt::mul(r, 0.5));
  KILN_ASSIGN_OR_RETURN(r2, floor_of(rt, r2));
  KILN_ASSIGN_OR_RETURN(r2, rt::mul(r2, 2.0));
  KILN_ASSIGN_OR_RETURN(Tensor odd, rt::ne(r2, r));
  KILN_ASSIGN_OR_RETURN(Tensor down, rt::add(r, -1.0));
  KILN_ASSIGN_OR_RETURN(Tensor both, rt::where(tie, odd, tie));  // tie && odd (bools)
  return rt::where(both, down, r);
}

// PyTorch's reflect_coordinates: reflect v into [twice_low / 2, twice_high / 2].
Result<Tensor> reflect(runtime::Runtime& rt, const Tensor& v, double twice_low, double twice_high) {
  if (twice_low == twice_high) return rt.full(v.shape(), 0, DType::kF32);
  const double low = twice_low / 2, span = (twice_high - twice_low) / 2;
  KILN_ASSIGN_OR_RETURN(Tensor a, rt::add(v, -low));
  KILN_ASSIGN_OR_RETURN(a, rt::abs(a));
  KILN_ASSIGN_OR_RETURN(Tensor span_t, scalar(rt, span));
  KILN_ASSIGN_OR_RETURN(Tensor q, rt::div(a, span_t));
  KILN_ASSIGN_OR_RETURN(q, floor_of(rt, q));
  KILN_ASSIGN_OR_RETURN(Tensor extra, rt::mul(q, span));
  KILN_ASSIGN_OR_RETURN(extra, rt::sub(a, extra));
  KILN_ASSIGN_OR_RETURN(Tensor q2, rt::mul(q, 0.5));
  KILN_ASSIGN_OR_RETURN(q2, floor_of(rt, q2));
  KILN_ASSIGN_OR_RETURN(q2, rt::mul(q2, 2.0));
  KILN_ASSIGN_OR_RETURN(Tensor even, rt::eq(q2, q));
  KILN_ASSIGN_OR_RETURN(Tensor forward, rt::add(extra, low));
  KILN_ASSIGN_OR_RETURN(Tensor back, rt::neg(extra));
  KILN_ASSIGN_OR_RETURN(back, rt::add(back, span + low));
  return rt::where(even, forward, back);
}

// Pixel coordinate of normalised grid values g along a dim of `size`.
Result<Tensor> unnormalise(const Tensor& g, int64_t size, bool align) {
  const auto n = static_cast<double>(size);
  KILN_ASSIGN_OR_RETURN(Tensor v, rt::add(g, 1.0));
  if (align) return rt::mul(v, (n - 1) / 2);
  KILN_ASSIGN_OR_RETURN(v, rt::mul(v, n));
  KILN_ASSIGN_OR_RETURN(v, rt::add(v, -1.0));
  return rt::mul(v, 0.5);
}

// A pixel coordinate after the padding mode (zeros: as is, read as 0 outside).
Result<Tensor> padded_coordinate(runtime::Runtime& rt, Tensor v, int64_t size, bool align, const std::string& padding) {
  const auto n = static_cast<double>(size);
  if (padding == "border") return rt::clamp(v, 0, n - 1);
  if (padding == "reflection") {
    KILN_ASSIGN_OR_RETURN(v, align ? reflect(rt, v, 0, 2 * (n - 1)) : reflect(rt, v, -1, 2 * n - 1));
    return rt::clamp(v, 0, n - 1);
  }
  return v;
}

Result<Tensor> source_coordinate(runtime::Runtime& rt, const Tensor& g, int64_t size, bool align, const std::string& padding) {
  KILN_ASSIGN_OR_RETURN(Tensor v, unnormalise(g, size, align));
  return padded_coordinate(rt, v, size, align, padding);
}

// The cubic convolution weights (A = -0.75, as PyTorch's bicubic) of the
// taps at -1, 0, 1, 2 from the floor, for fractions t.
Result<std::array<Tensor, 4>> cubic_weights(const Tensor& t) {
  constexpr double a = -0.75;
  // Outer taps (distance s in [1, 2]): ((a s - 5a) s + 8a) s - 4a; inner (s in [0, 1]): ((a + 2) s - (a + 3)) s s + 1.
  auto outer = [](const Tensor& s) -> Result<Tensor> {
    KILN_ASSIGN_OR_RETURN(Tensor r, rt::mul(s, a));
    KILN_ASSIGN_OR_RETURN(r, rt::add(r, -5 * a));
    KILN_ASSIGN_OR_RETURN(r, rt::mul(r, s));
    KILN_ASSIGN_OR_RETURN(r, rt::add(r, 8 * a));
    KILN_ASSIGN_OR_RETURN(r, rt::mul(r, s));
    return rt::add(r, -4 * a);
  };
  auto inner = [](const Tensor& s) -> Result<Tensor> {
    KILN_ASSIGN_OR_RETURN(Tensor r, rt::mul(s, a + 2));
    KILN_ASSIGN_OR_RETURN(r, rt::add(r, -(a + 3)));
    KILN_ASSIGN_OR_RETURN(r, rt::mul(r, s));
    KILN_ASSIGN_OR_RETURN(r, rt::mul(r, s));
    return rt::add(r, 1.0);
  };
  KILN_ASSIGN_OR_RETURN(Tensor t1, rt::add(t, 1.0));
  KILN_ASSIGN_OR_RETURN(Tensor u, rt::neg(t));
  KILN_ASSIGN_OR_RETURN(Tensor u1, rt::add(u, 1.0));
  KILN_ASSIGN_OR_RETURN(Tensor u2, rt::add(u, 2.0));
  KILN_ASSIGN_OR_RETURN(Tensor w0, outer(t1));
  KILN_ASSIGN_OR_RETURN(Tensor w1, inner(t));
  KILN_ASSIGN_OR_RETURN(Tensor w2, inner(u1));
  KILN_ASSIGN_OR_RETURN(Tensor w3, outer(u2));
  return std::array<Tensor, 4>{w0, w1, w2, w3};
}

struct Sampler {
  runtime::Runtime& rt;
  Tensor flat;     // X flattened
  Tensor nc_base;  // (n * C + c) * H * W as [N, C, 1, 1] int32
  int64_t h, w;

  // X at integer-valued f32 coordinates (y, x) [N, Ho, Wo], 0 outside.
  Result<Tensor> at(const Tensor& y, const Tensor& x) {
    KILN_ASSIGN_OR_RETURN(Tensor zero, scalar(rt, 0));
    KILN_ASSIGN_OR_RETURN(Tensor hy, scalar(rt, static_cast<double>(h)));
    KILN_ASSIGN_OR_RETURN(Tensor wx, scalar(rt, static_cast<double>(w)));
    KILN_ASSIGN_OR_RETURN(Tensor v0, rt::ge(y, zero));
    KILN_ASSIGN_OR_RETURN(Tensor v1, rt::lt(y, hy));
    KILN_ASSIGN_OR_RETURN(Tensor v2, rt::ge(x, zero));
    KILN_ASSIGN_OR_RETURN(Tensor v3, rt::lt(x, wx));
    KILN_ASSIGN_OR_RETURN(Tensor valid, rt::where(v0, v1, v0));
    KILN_ASSIGN_OR_RETURN(valid, rt::where(valid, v2, valid));
    KILN_ASSIGN_OR_RETURN(valid, rt::where(valid, v3, valid));
    KILN_ASSIGN_OR_RETURN(Tensor yc, rt::clamp(y, 0, static_cast<double>(h - 1)));
    KILN_ASSIGN_OR_RETURN(Tensor xc, rt::clamp(x, 0, static_cast<double>(w - 1)));
    KILN_ASSIGN_OR_RETURN(Tensor pos, rt::mul(yc, static_cast<double>(w)));
    KILN_ASSIGN_OR_RETURN(pos, rt::add(pos, xc));
    KILN_ASSIGN_OR_RETURN(pos, rt::cast(pos, DType::kI32));
    KILN_ASSIGN_OR_RETURN(pos, pos.unsqueeze(1));
    KILN_ASSIGN_OR_RETURN(pos, rt::add(pos, nc_base));
    KILN_ASSIGN_OR_RETURN(Tensor v, rt::index_select(flat, 0, pos));
    KILN_ASSIGN_OR_RETURN(valid, valid.unsqueeze(1));
    return rt::where(valid, v, zero);
  }
};

Status grid_sample(LowerContext& c) {
  KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
  KILN_ASSIGN_OR_RETURN(Tensor grid, c.in(1));
  if (x.rank() != 4 || grid.rank() != 4 || grid.dim(3) != 2 || grid.dim(0) != x.dim(0))
    return invalid_argument("X " + x.describe() + " and grid " + grid.describe() + " are not [N, C, H, W] and [N, Ho, Wo, 2]");
  if (x.numel() > 2147483647) return invalid_argument("X has more than 2^31 elements");
  const bool align = attr_int(c.node, "align_corners", 0) != 0;
  const std::string padding = attr_string(c.node, "padding_mode", "zeros");
  const std::string mode = attr_string(c.node, "mode", "bilinear");
  const int64_t n = x.dim(0), ch = x.dim(1), h = x.dim(2), w = x.dim(3);
  KILN_ASSIGN_OR_RETURN(Tensor gx, grid.slice(3, 0, 1));
  KILN_ASSIGN_OR_RETURN(gx, gx.squeeze(3));
  KILN_ASSIGN_OR_RETURN(Tensor gy, grid.slice(3, 1, 2));
  KILN_ASSIGN_OR_RETURN(gy, gy.squeeze(3));
  KILN_ASSIGN_OR_RETURN(Tensor nc, c.rt.arange(n * ch, DType::kI32));
  KILN_ASSIGN_OR_RETURN(nc, rt::mul(nc, static_cast<double>(h * w)));
  KILN_ASSIGN_OR_RETURN(nc, nc.reshape({n, ch, 1, 1}));
  KILN_ASSIGN_OR_RETURN(Tensor flat, x.reshape({x.numel()}));
  Sampler s{c.rt, flat, nc, h, w};
  if (mode == "bicubic") {
    // 16 taps around the unnormalised point, each tap's coordinate taken
    // through the padding mode on its own (PyTorch's get_value_bounded).
    KILN_ASSIGN_OR_RETURN(Tensor ux, unnormalise(gx, w, align));
    KILN_ASSIGN_OR_RETURN(Tensor uy, unnormalise(gy, h, align));
    KILN_ASSIGN_OR_RETURN(Tensor fx, floor_of(c.rt, ux));
    KILN_ASSIGN_OR_RETURN(Tensor fy, floor_of(c.rt, uy));
    KILN_ASSIGN_OR_RETURN(Tensor tx, rt::sub(ux, fx));
    KILN_ASSIGN_OR_RETURN(Tensor ty, rt::sub(uy, fy));
    KILN_ASSIGN_OR_RETURN(auto wxs, cubic_weights(tx));
    KILN_ASSIGN_OR_RETURN(auto wys, cubic_weights(ty));
    std::optional<Tensor> sum;
    for (int i = 0; i < 4; ++i) {
      KILN_ASSIGN_OR_RETURN(Tensor yi, rt::add(fy, static_cast<double>(i - 1)));
      KILN_ASSIGN_OR_RETURN(yi, padded_coordinate(c.rt, yi, h, align, padding));
      for (int j = 0; j < 4; ++j) {
        KILN_ASSIGN_OR_RETURN(Tensor xj, rt::add(fx, static_cast<double>(j - 1)));
        KILN_ASSIGN_OR_RETURN(xj, padded_coordinate(c.rt, xj, w, align, padding));
        KILN_ASSIGN_OR_RETURN(Tensor v, s.at(yi, xj));
        KILN_ASSIGN_OR_RETURN(Tensor weight, rt::mul(wys[static_cast<std::size_t>(i)], wxs[static_cast<std::size_t>(j)]));
        KILN_ASSIGN_OR_RETURN(weight, weight.unsqueeze(1));
        KILN_ASSIGN_OR_RETURN(v, rt::mul(v, weight));
        if (sum) { KILN_ASSIGN_OR_RETURN(v, rt::add(*sum, v)); }
        sum = v;
      }
    }
    return put(c, *sum);
  }
  KILN_ASSIGN_OR_RETURN(Tensor ix, source_coordinate(c.rt, gx, w, align, padding));
  KILN_ASSIGN_OR_RETURN(Tensor iy, source_coordinate(c.rt, gy, h, align, padding));
  if (mode == "nearest") {
    KILN_ASSIGN_OR_RETURN(Tensor ry, round_even(c.rt, iy));
    KILN_ASSIGN_OR_RETURN(Tensor rx, round_even(c.rt, ix));
    return put(c, s.at(ry, rx));
  }
  KILN_ASSIGN_OR_RETURN(Tensor x0, floor_of(c.rt, ix));
  KILN_ASSIGN_OR_RETURN(Tensor y0, floor_of(c.rt, iy));
  KILN_ASSIGN_OR_RETURN(Tensor x1, rt::add(x0, 1.0));
  KILN_ASSIGN_OR_RETURN(Tensor y1, rt::add(y0, 1.0));
  KILN_ASSIGN_OR_RETURN(Tensor wx1, rt::sub(ix, x0));
  KILN_ASSIGN_OR_RETURN(Tensor wy1, rt::sub(iy, y0));
  KILN_ASSIGN_OR_RETURN(Tensor wx0, rt::sub(x1, ix));
  KILN_ASSIGN_OR_RETURN(Tensor wy0, rt::sub(y1, iy));
  std::optional<Tensor> sum;
  const Tensor* ys[2] = {&y0, &y1};
  const Tensor* xs[2] = {&x0, &x1};
  const Tensor* wys[2] = {&wy0, &wy1};
  const Tensor* wxs[2] = {&wx0, &wx1};
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 2; ++b) {
      KILN_ASSIGN_OR_RETURN(Tensor v, s.at(*ys[a], *xs[b]));
      KILN_ASSIGN_OR_RETURN(Tensor weight, rt::mul(*wys[a], *wxs[b]));
      KILN_ASSIGN_OR_RETURN(weight, weight.unsqueeze(1));
      KILN_ASSIGN_OR_RETURN(v, rt::mul(v, weight));
      if (sum) { KILN_ASSIGN_OR_RETURN(v, rt::add(*sum, v)); }
      sum = v;
    }
  return put(c, *sum);
}

// RoiAlign, mode avg, after ONNX's reference (Caffe2's bilinear rules: a
// sample beyond [-1, size] reads 0, one below 0 is read at 0, one at or
// past the last pixel at the last pixel).
Status roi_align(LowerContext& c) {
  KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
  KILN_ASSIGN_OR_RETURN(Tensor rois, c.in(1));
  KILN_ASSIGN_OR_RETURN(Tensor batch, c.in(2));
  if (x.rank() != 4 || rois.rank() != 2 || rois.dim(1) != 4 || batch.numel() != rois.dim(0))
    return invalid_argument("X " + x.describe() + ", rois " + rois.describe() + " and batch_indices " + batch.describe() +
                            " are not [N, C, H, W], [R, 4] and [R]");
  if (x.numel() > 2147483647) return invalid_argument("X has more than 2^31 elements");
  const int64_t n_rois = rois.dim(0), ch = x.dim(1), h = x.dim(2), w = x.dim(3);
  const int64_t oh = attr_int(c.node, "output_height", 1), ow = attr_int(c.node, "output_width", 1);
  const int64_t sr = attr_int(c.node, "sampling_ratio", 0);
  const double scale = attr_float(c.node, "spatial_scale", 1.0f);
  const bool half_pixel = attr_string(c.node, "coordinate_transformation_mode", "half_pixel") == "half_pixel";
  // Region corners in pixels, [R, 1] each.
  std::array<Tensor, 4> corner;
  for (int k = 0; k < 4; ++k) {
    KILN_ASSIGN_OR_RETURN(Tensor v, rois.slice(1, k, k + 1));
    KILN_ASSIGN_OR_RETURN(v, rt::mul(v, scale));
    if (half_pixel) { KILN_ASSIGN_OR_RETURN(v, rt::add(v, -0.5)); }
    corner[static_cast<std::size_t>(k)] = v;
  }
  // Sample coordinates along one axis: start + frac * bin, frac[k] = k / sr + ((k % sr) + 0.5) / sr of a bin.
  auto samples = [&](const Tensor& start, const Tensor& end, int64_t bins) -> Result<Tensor> {
    KILN_ASSIGN_OR_RETURN(Tensor len, rt::sub(end, start));
    if (!half_pixel) {
      KILN_ASSIGN_OR_RETURN(Tensor one, scalar(c.rt, 1.0));
      KILN_ASSIGN_OR_RETURN(len, rt::maximum(len, one));
    }
    KILN_ASSIGN_OR_RETURN(Tensor bin, rt::mul(len, 1.0 / static_cast<double>(bins)));
    std::vector<float> frac;
    for (int64_t k = 0; k < bins * sr; ++k)
      frac.push_back(static_cast<float>(static_cast<double>(k / sr) + (static_cast<double>(k % sr) + 0.5) / static_cast<double>(sr)));
    KILN_ASSIGN_OR_RETURN(Tensor f, c.rt.from_host(frac, {1, bins * sr}));
    KILN_ASSIGN_OR_RETURN(Tensor p, rt::mul(f, bin));
    return rt::add(p, start);
  };
  KILN_ASSIGN_OR_RETURN(Tensor ys, samples(corner[1], corner[3], oh));  // [R, oh * sr]
  KILN_ASSIGN_OR_RETURN(Tensor xs, samples(corner[0], corner[2], ow));  // [R, ow * sr]
  // Per axis: the low and high pixel, their weights, and whether the sample counts.
  struct Axis {
    Tensor low, high, w_low, w_high, inside;
  };
  auto axis = [&](const Tensor& v, int64_t size) -> Result<Axis> {
    const auto n = static_cast<double>(size);
    KILN_ASSIGN_OR_RETURN(Tensor lowest, scalar(c.rt, -1.0));
    KILN_ASSIGN_OR_RETURN(Tensor highest, scalar(c.rt, n));
    KILN_ASSIGN_OR_RETURN(Tensor lo_ok, rt::ge(v, lowest));
    KILN_ASSIGN_OR_RETURN(Tensor hi_ok, rt::le(v, highest));
    KILN_ASSIGN_OR_RETURN(Tensor inside, rt::where(lo_ok, hi_ok, lo_ok));
    KILN_ASSIGN_OR_RETURN(Tensor p, rt::clamp(v, 0, n - 1));
    KILN_ASSIGN_OR_RETURN(Tensor low, floor_of(c.rt, p));
    KILN_ASSIGN_OR_RETURN(Tensor high, rt::add(low, 1.0));
    KILN_ASSIGN_OR_RETURN(high, rt::clamp(high, 0, n - 1));
    KILN_ASSIGN_OR_RETURN(Tensor w_high, rt::sub(p, low));
    KILN_ASSIGN_OR_RETURN(Tensor w_low, rt::neg(w_high));
    KILN_ASSIGN_OR_RETURN(w_low, rt::add(w_low, 1.0));
    return Axis{low, high, w_low, w_high, inside};
  };
  KILN_ASSIGN_OR_RETURN(Axis ay, axis(ys, h));
  KILN_ASSIGN_OR_RETURN(Axis ax, axis(xs, w));
  // Flat index (b * C + c) * H * W + y * W + x as [R, C, Sy, Sx].
  KILN_ASSIGN_OR_RETURN(Tensor b, rt::cast(batch, DType::kI32));
  KILN_ASSIGN_OR_RETURN(b, rt::mul(b, static_cast<double>(ch * h * w)));
  KILN_ASSIGN_OR_RETURN(b, b.reshape({n_rois, 1, 1, 1}));
  KILN_ASSIGN_OR_RETURN(Tensor cs, c.rt.arange(ch, DType::kI32));
  KILN_ASSIGN_OR_RETURN(cs, rt::mul(cs, static_cast<double>(h * w)));
  KILN_ASSIGN_OR_RETURN(cs, cs.reshape({1, ch, 1, 1}));
  KILN_ASSIGN_OR_RETURN(Tensor base, rt::add(b, cs));
  KILN_ASSIGN_OR_RETURN(Tensor flat, x.reshape({x.numel()}));
  auto at = [&](const Tensor& yv, const Tensor& xv) -> Result<Tensor> {
    KILN_ASSIGN_OR_RETURN(Tensor yi, rt::mul(yv, static_cast<double>(w)));
    KILN_ASSIGN_OR_RETURN(yi, rt::cast(yi, DType::kI32));
    KILN_ASSIGN_OR_RETURN(yi, yi.reshape({n_rois, 1, oh * sr, 1}));
    KILN_ASSIGN_OR_RETURN(Tensor xi, rt::cast(xv, DType::kI32));
    KILN_ASSIGN_OR_RETURN(xi, xi.reshape({n_rois, 1, 1, ow * sr}));
    KILN_ASSIGN_OR_RETURN(Tensor pos, rt::add(yi, xi));
    KILN_ASSIGN_OR_RETURN(pos, rt::add(pos, base));
    return rt::index_select(flat, 0, pos);
  };
  auto col = [&](const Tensor& v) { return v.reshape({n_rois, 1, oh * sr, 1}); };
  auto row = [&](const Tensor& v) { return v.reshape({n_rois, 1, 1, ow * sr}); };
  std::optional<Tensor> sum;
  const Tensor* yv[2] = {&ay.low, &ay.high};
  const Tensor* yw[2] = {&ay.w_low, &ay.w_high};
  const Tensor* xv[2] = {&ax.low, &ax.high};
  const Tensor* xw[2] = {&ax.w_low, &ax.w_high};
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j) {
      KILN_ASSIGN_OR_RETURN(Tensor v, at(*yv[i], *xv[j]));
      KILN_ASSIGN_OR_RETURN(Tensor wy, col(*yw[i]));
      KILN_ASSIGN_OR_RETURN(Tensor wx, row(*xw[j]));
      KILN_ASSIGN_OR_RETURN(Tensor weight, rt::mul(wy, wx));
      KILN_ASSIGN_OR_RETURN(v, rt::mul(v, weight));
      if (sum) { KILN_ASSIGN_OR_RETURN(v, rt::add(*sum, v)); }
      sum = v;
    }
  KILN_ASSIGN_OR_RETURN(Tensor in_y, col(ay.inside));
  KILN_ASSIGN_OR_RETURN(Tensor in_x, row(ax.inside));
  KILN_ASSIGN_OR_RETURN(Tensor inside, rt::where(in_y, in_x, in_y));
  KILN_ASSIGN_OR_RETURN(Tensor zero, scalar(c.rt, 0));
  KILN_ASSIGN_OR_RETURN(Tensor samples_v, rt::where(inside, *sum, zero));
  rt::Pool2dOptions o;
  o.kernel_h = o.kernel_w = o.stride_h = o.stride_w = sr;
  return put(c, rt::avg_pool2d(samples_v, o));
}

}  // namespace

void add_grid_sample_ops(OpTable& t) {
  t["RoiAlign"] = {[](const CheckContext& c) {
                     if (attr_string(c.node, "mode", "avg") != "avg") return std::string("mode max is not supported");
                     if (attr_int(c.node, "sampling_ratio", 0) < 1)
                       return std::string("sampling_ratio 0 (a per-region sample count from the data) is not supported");
                     return first_of({require_dtypes(c, 0, {DType::kF32}), require_dtypes(c, 1, {DType::kF32}),
                                      require_dtypes(c, 2, {DType::kI32, DType::kI64}), c.rank(0) != 4 ? "X must be [N, C, H, W]" : ""});
                   },
                   roi_align};
  t["GridSample"] = {[](const CheckContext& c) {
                       const std::string mode = attr_string(c.node, "mode", "bilinear");
                       if (mode != "bilinear" && mode != "nearest" && mode != "bicubic") return "mode '" + mode + "' is not supported";
                       const std::string padding = attr_string(c.node, "padding_mode", "zeros");
                       if (padding != "zeros" && padding != "border" && padding != "reflection") return "padding_mode '" + padding + "' is not supported";
                       return first_of({require_dtypes(c, 0, {DType::kF32}), require_dtypes(c, 1, {DType::kF32}),
                                        c.rank(0) != 4 ? "only 4-D [N, C, H, W] inputs are supported" : ""});
                     },
                     grid_sample};
}

}  // namespace kiln::frontend::detail
