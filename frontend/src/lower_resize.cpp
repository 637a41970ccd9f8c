// Resize (and Upsample) onto the runtime's resize()/resize_scale(): 4-D
// NCHW, nearest or bilinear, over H and W only. Cubic, tf_crop_and_resize
// and tf_half_pixel_for_nn are refused by name.
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
  if (mode != "nearest" && mode != "linear" && mode != "bilinear") return "mode '" + mode + "' is not supported";
  const std::string coord = attr_string(c.node, "coordinate_transformation_mode", default_coord(c));
  if (!coord_of(coord)) return "coordinate_transformation_mode '" + coord + "' is not supported";
  const std::string nearest = attr_string(c.node, "nearest_mode", "round_prefer_floor");
  if (mode == "nearest" && !nearest_of(nearest)) return "nearest_mode '" + nearest + "' is not supported";
  if (attr_int(c.node, "antialias", 0) != 0) return std::string("antialias 1 is not supported");
  if (has_attr(c.node, "axes")) return std::string("the axes attribute is not supported");
  if (attr_string(c.node, "keep_aspect_ratio_policy", "stretch") != "stretch") return std::string("keep_aspect_ratio_policy other than stretch is not supported");
  const int s = scales_input(c.node, c.opset);
  // ONNX maps align_corners by the fractional length in * scale, which the
  // runtime's whole output length does not reproduce.
  if (coord == "align_corners" && !c.has_input(s + 1))
    return std::string("coordinate_transformation_mode align_corners with scales (not sizes) is not supported");
  return first_of({require_host(c, s, "scales"), require_host(c, s + 1, "sizes")});
}

Status resize_lower(LowerContext& c) {
  KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
  const std::string mode = attr_string(c.node, "mode", "nearest");
  const bool legacy = c.node.op_type() == "Upsample" || c.opset < 11;
  const auto coord = *coord_of(attr_string(c.node, "coordinate_transformation_mode", legacy ? "asymmetric" : "half_pixel"));
  // Resize-10 and Upsample round nearest down ("floor" of x / scale).
  const auto nearest = legacy ? rt::ResizeNearest::kFloor : *nearest_of(attr_string(c.node, "nearest_mode", "round_prefer_floor"));
  const auto m = mode == "nearest" ? rt::ResizeMode::kNearest : rt::ResizeMode::kLinear;
  const int s = scales_input(c.node, c.opset);
  std::vector<int64_t> sizes;
  std::vector<double> scales;
  if (c.has(s)) {
    KILN_ASSIGN_OR_RETURN(auto h, c.host(s));
    for (int64_t i = 0; i < h->numel(); ++i) scales.push_back(h->at(i));
  }
  if (c.has(s + 1)) { KILN_ASSIGN_OR_RETURN(sizes, c.host_ints(s + 1)); }
  if (!sizes.empty()) {
    if (sizes.size() != 4 || sizes[0] != x.dim(0) || sizes[1] != x.dim(1))
      return invalid_argument("sizes must be 4 values that keep N and C of " + x.describe());
    return put(c, rt::resize(x, {sizes[2], sizes[3]}, m, coord, nearest));
  }
  if (scales.size() != 4 || scales[0] != 1 || scales[1] != 1)
    return invalid_argument("scales must be 4 values with 1 for N and C");
  return put(c, rt::resize_scale(x, {scales[2], scales[3]}, m, coord, nearest));
}

}  // namespace

void add_resize_ops(OpTable& t) {
  t["Resize"] = {resize_check, resize_lower, {1, 2, 3}};
  t["Upsample"] = {resize_check, resize_lower, {1}};
}

}  // namespace kiln::frontend::detail
