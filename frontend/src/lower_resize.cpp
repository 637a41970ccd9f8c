// Resize (and Upsample) over H and W of 4-D NCHW inputs. Nearest and
// bilinear with the runtime's coordinate modes go to its resize() /
// resize_scale(); the rest of ONNX's separable interpolation (cubic,
// exclude_outside, tf_half_pixel_for_nn, align_corners with fractional
// scales) runs as two matrix products, Y = A_h X A_w^T, whose coefficient
// matrices depend only on the sizes, scales and attributes (as ONNX's
// reference computes them) and are made on the host as parameters.
// tf_crop_and_resize (an roi and an extrapolation value) is refused.
#include <cmath>

#include "lowering.h"

namespace kiln::frontend::detail {
namespace rt = kiln::runtime;

namespace {

// Input indices of scales and sizes: Resize-10 and Upsample take (X,
// scales); from 11, (X, roi, scales, sizes).
int scales_input(const onnx::NodeProto& n, int64_t opset) { return n.op_type() == "Upsample" || opset < 11 ? 1 : 2; }

std::optional<rt::ResizeCoord> coord_of(const std::string& s) {
  if (s == "half_pixel") return rt::ResizeCoord::kHalfPixel;
  if (s == "align_corners") return rt::ResizeCoord::kAlignCorners;
  if (s == "asymmetric") return rt::ResizeCoord::kAsymmetric;
  if (s == "pytorch_half_pixel") return rt::ResizeCoord::kPytorchHalfPixel;
  return std::nullopt;
}

bool known_coord(const std::string& s) { return coord_of(s) || s == "tf_half_pixel_for_nn" || s == "tf_crop_and_resize"; }

// ONNX's interpolation coefficients at fraction `ratio` in (0, 1] past the
// left neighbour: for the neighbours left-1, left, left+1, left+2 (cubic),
// left, left+1 (linear), or the nearest pixel.
std::vector<double> coefficients(const std::string& mode, double ratio, double a, const std::string& nearest) {
  if (mode == "cubic") {
    const double r = ratio, q = 1 - ratio;
    return {((a * (r + 1) - 5 * a) * (r + 1) + 8 * a) * (r + 1) - 4 * a, ((a + 2) * r - (a + 3)) * r * r + 1,
            ((a + 2) * q - (a + 3)) * q * q + 1, ((a * (q + 1) - 5 * a) * (q + 1) + 8 * a) * (q + 1) - 4 * a};
  }
  if (mode != "nearest") return {1 - ratio, ratio};
  if (ratio == 1) return {0, 1};
  bool right = false;
  if (nearest == "round_prefer_floor") right = ratio > 0.5;
  else if (nearest == "round_prefer_ceil") right = ratio >= 0.5;
  else right = nearest == "ceil";
  return {right ? 0.0 : 1.0, right ? 1.0 : 0.0};
}

// The [out, in] matrix of one axis (row o: the weights of the input pixels
// output o reads), after ONNX's reference: x_original from the coordinate
// mode, the neighbours nearest to it (ties to the left), indices clamped to
// the edge, or with exclude_outside, outside weights dropped and the rest
// renormalised.
// tf_crop_and_resize maps into [roi_start, roi_end] of the input; an output
// whose coordinate falls outside the input gets no weights and is marked
// in `outside` (it takes the extrapolation value).
struct Crop {
  double start = 0, end = 1;
};

std::vector<float> axis_matrix(int64_t in, int64_t out, double scale, const onnx::NodeProto& n, const std::string& coord,
                               const Crop& crop, std::vector<bool>* outside) {
  outside->assign(static_cast<std::size_t>(out), false);
  const std::string mode = attr_string(n, "mode", "nearest");
  const std::string nearest = attr_string(n, "nearest_mode", "round_prefer_floor");
  const double a = attr_float(n, "cubic_coeff_a", -0.75f);
  const bool exclude = attr_int(n, "exclude_outside", 0) != 0;
  const double out_len = scale * static_cast<double>(in);  // fractional for scales, as ONNX uses it
  std::vector<float> m(static_cast<std::size_t>(out * in), 0.0f);
  for (int64_t o = 0; o < out; ++o) {
    const auto x = static_cast<double>(o);
    double xo = 0;
    if (coord == "align_corners") xo = out_len == 1 ? 0 : x * static_cast<double>(in - 1) / (out_len - 1);
    else if (coord == "asymmetric") xo = x / scale;
    else if (coord == "pytorch_half_pixel") xo = out_len == 1 ? -0.5 : (x + 0.5) / scale - 0.5;
    else if (coord == "tf_half_pixel_for_nn") xo = (x + 0.5) / scale;
    else if (coord == "tf_crop_and_resize") {
      const auto last = static_cast<double>(in - 1);
      xo = out == 1 ? 0.5 * (crop.start + crop.end) * last
                    : crop.start * last + x * (crop.end - crop.start) * last / static_cast<double>(out - 1);
      if (xo < 0 || xo > last) {
        (*outside)[static_cast<std::size_t>(o)] = true;
        continue;
      }
    } else xo = (x + 0.5) / scale - 0.5;
    const double fl = std::floor(xo);
    const double ratio = xo == fl ? 1.0 : xo - fl;
    std::vector<double> w = coefficients(mode, ratio, a, nearest);
    // Neighbour indices: left-1 .. left+2 (cubic) or left .. left+1, where
    // left is floor(xo), one less at an exact pixel (ratio 1).
    const auto left = static_cast<int64_t>(fl) - (ratio == 1 ? 1 : 0);
    const int64_t first = w.size() == 4 ? left - 1 : left;
    if (exclude) {
      double sum = 0;
      for (std::size_t k = 0; k < w.size(); ++k) {
        const int64_t i = first + static_cast<int64_t>(k);
        if (i < 0 || i >= in) w[k] = 0;
        sum += w[k];
      }
      for (auto& v : w) v = sum != 0 ? v / sum : 0;
    }
    for (std::size_t k = 0; k < w.size(); ++k) {
      const int64_t i = std::clamp<int64_t>(first + static_cast<int64_t>(k), 0, in - 1);
      m[static_cast<std::size_t>(o * in + i)] += static_cast<float>(w[k]);
    }
  }
  return m;
}

// Whether the runtime's resize computes this node; else the matrix path.
bool runtime_resizes(const onnx::NodeProto& n, const std::string& coord, bool by_scales) {
  const std::string mode = attr_string(n, "mode", "nearest");
  return mode != "cubic" && attr_int(n, "exclude_outside", 0) == 0 && coord_of(coord) && !(coord == "align_corners" && by_scales);
}

std::optional<rt::ResizeNearest> nearest_of(const std::string& s) {
  if (s == "round_prefer_floor") return rt::ResizeNearest::kRoundPreferFloor;
  if (s == "round_prefer_ceil") return rt::ResizeNearest::kRoundPreferCeil;
  if (s == "floor") return rt::ResizeNearest::kFloor;
  if (s == "ceil") return rt::ResizeNearest::kCeil;
  return std::nullopt;
}

// Resize-10 and Upsample map coordinates asymmetrically (x / scale) and
// round nearest down; the attribute arrived in 11.
std::string default_coord(const CheckContext& c) {
  return c.node.op_type() == "Upsample" || c.opset < 11 ? "asymmetric" : "half_pixel";
}

std::string resize_check(const CheckContext& c) {
  std::string r = first_of({require_float(c, 0), c.rank(0) != 4 ? "only 4-D [N, C, H, W] inputs are supported" : ""});
  if (!r.empty()) return r;
  const std::string mode = attr_string(c.node, "mode", "nearest");
  if (mode != "nearest" && mode != "linear" && mode != "bilinear" && mode != "cubic") return "mode '" + mode + "' is not supported";
  const std::string coord = attr_string(c.node, "coordinate_transformation_mode", default_coord(c));
  if (!known_coord(coord)) return "coordinate_transformation_mode '" + coord + "' is not supported";
  const std::string nearest = attr_string(c.node, "nearest_mode", "round_prefer_floor");
  if (mode == "nearest" && !nearest_of(nearest)) return "nearest_mode '" + nearest + "' is not supported";
  if (attr_int(c.node, "antialias", 0) != 0) return std::string("antialias 1 is not supported");
  if (has_attr(c.node, "axes")) return std::string("the axes attribute is not supported");
  if (attr_string(c.node, "keep_aspect_ratio_policy", "stretch") != "stretch") return std::string("keep_aspect_ratio_policy other than stretch is not supported");
  const int s = scales_input(c.node, c.opset);
  return first_of({require_host(c, s, "scales"), require_host(c, s + 1, "sizes"),
                   coord == "tf_crop_and_resize" ? require_host(c, 1, "roi") : ""});
}

Status resize_lower(LowerContext& c) {
  KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
  const std::string mode = attr_string(c.node, "mode", "nearest");
  const bool legacy = c.node.op_type() == "Upsample" || c.opset < 11;
  const std::string coord_name = attr_string(c.node, "coordinate_transformation_mode", legacy ? "asymmetric" : "half_pixel");
  // Resize-10 and Upsample round nearest down ("floor" of x / scale).
  const auto nearest = legacy ? rt::ResizeNearest::kFloor : *nearest_of(attr_string(c.node, "nearest_mode", "round_prefer_floor"));
  const auto m = mode == "nearest" ? rt::ResizeMode::kNearest : rt::ResizeMode::kLinear;
  const int s = scales_input(c.node, c.opset);
  std::vector<int64_t> sizes;
  std::vector<double> scales;
  if (c.node.op_type() == "Upsample" && c.opset < 9) {  // scales an attribute then
    for (const auto& a : c.node.attribute())
      if (a.name() == "scales") scales.assign(a.floats().begin(), a.floats().end());
  } else if (c.has(s)) {
    KILN_ASSIGN_OR_RETURN(auto h, c.host(s));
    for (int64_t i = 0; i < h->numel(); ++i) scales.push_back(h->at(i));
  }
  if (c.has(s + 1)) { KILN_ASSIGN_OR_RETURN(sizes, c.host_ints(s + 1)); }
  const bool by_sizes = !sizes.empty();
  if (by_sizes) {
    if (sizes.size() != 4 || sizes[0] != x.dim(0) || sizes[1] != x.dim(1))
      return invalid_argument("sizes must be 4 values that keep N and C of " + x.describe());
    scales = {1, 1, static_cast<double>(sizes[2]) / static_cast<double>(x.dim(2)),
              static_cast<double>(sizes[3]) / static_cast<double>(x.dim(3))};
  } else if (scales.size() != 4 || scales[0] != 1 || scales[1] != 1 || scales[2] <= 0 || scales[3] <= 0) {
    return invalid_argument("scales must be 4 positive values with 1 for N and C");
  } else {
    sizes = {x.dim(0), x.dim(1), static_cast<int64_t>(std::floor(static_cast<double>(x.dim(2)) * scales[2])),
             static_cast<int64_t>(std::floor(static_cast<double>(x.dim(3)) * scales[3]))};
  }
  if (runtime_resizes(c.node, coord_name, !by_sizes)) {
    const auto coord = *coord_of(coord_name);
    if (by_sizes) return put(c, rt::resize(x, {sizes[2], sizes[3]}, m, coord, nearest));
    return put(c, rt::resize_scale(x, {scales[2], scales[3]}, m, coord, nearest));
  }
  if (sizes[2] < 1 || sizes[3] < 1) return invalid_argument("the output would be empty");
  // Y = A_h X A_w^T on the matrix engine.
  Crop crop_h, crop_w;
  if (coord_name == "tf_crop_and_resize") {
    if (!c.has(1)) return invalid_argument("tf_crop_and_resize needs roi");
    KILN_ASSIGN_OR_RETURN(auto roi, c.host(1));
    if (roi->numel() != 8) return invalid_argument("roi must hold 8 values (starts, then ends, of N, C, H, W)");
    crop_h = {roi->at(2), roi->at(6)};
    crop_w = {roi->at(3), roi->at(7)};
  }
  std::vector<bool> outside_h, outside_w;
  const std::vector<float> ah = axis_matrix(x.dim(2), sizes[2], scales[2], c.node, coord_name, crop_h, &outside_h);
  const std::vector<float> aw = axis_matrix(x.dim(3), sizes[3], scales[3], c.node, coord_name, crop_w, &outside_w);
  KILN_ASSIGN_OR_RETURN(Tensor h, c.rt.from_host(ah, {sizes[2], x.dim(2)}));
  KILN_ASSIGN_OR_RETURN(Tensor w, c.rt.from_host(aw, {sizes[3], x.dim(3)}));
  KILN_ASSIGN_OR_RETURN(w, w.transpose(0, 1));
  KILN_ASSIGN_OR_RETURN(Tensor xf, rt::cast(x, DType::kF32));
  KILN_ASSIGN_OR_RETURN(Tensor y, rt::matmul(xf, w));
  KILN_ASSIGN_OR_RETURN(y, rt::matmul(h, y));
  bool any_outside = false;
  std::vector<float> extrapolated(static_cast<std::size_t>(sizes[2] * sizes[3]), 0.0f);
  const float value = attr_float(c.node, "extrapolation_value", 0.0f);
  for (int64_t i = 0; i < sizes[2]; ++i)
    for (int64_t j = 0; j < sizes[3]; ++j)
      if (outside_h[static_cast<std::size_t>(i)] || outside_w[static_cast<std::size_t>(j)]) {
        extrapolated[static_cast<std::size_t>(i * sizes[3] + j)] = value;
        any_outside = true;
      }
  if (any_outside && value != 0) {
    KILN_ASSIGN_OR_RETURN(Tensor e, c.rt.from_host(extrapolated, {sizes[2], sizes[3]}));
    KILN_ASSIGN_OR_RETURN(y, rt::add(y, e));
  }
  return put(c, rt::cast(y, x.dtype()));
}

}  // namespace

void add_resize_ops(OpTable& t) {
  t["Resize"] = {resize_check, resize_lower, {1, 2, 3}};
  t["Upsample"] = {resize_check, resize_lower, {1}};
}

}  // namespace kiln::frontend::detail
