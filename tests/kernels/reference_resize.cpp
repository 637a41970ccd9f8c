// Reference of the resize kernel: ONNX Resize (opset 13+) as its operator
// spec and its numpy reference implementation state it, in double, written
// without the kernel's integer coordinate arithmetic.
#include <algorithm>
#include <cmath>

#include "reference.h"

namespace kiln::kernels::test {
namespace {

// x_original for output coordinate x of an axis of `in` -> `out` elements.
// With sizes ONNX's scale is out / in; (x + 0.5) / scale is written as
// (x + 0.5) * in / out, the same number, so an exact tie (x.5) stays exact
// in double instead of depending on how out / in rounds.
double original(int64_t coord, int64_t x, int64_t in, int64_t out, bool scaled, double scale) {
  const double xd = static_cast<double>(x), n_in = static_cast<double>(in), n_out = static_cast<double>(out);
  switch (coord) {
    case 1:  // align_corners
      return out == 1 ? 0.0 : xd * (n_in - 1) / (n_out - 1);
    case 2:  // asymmetric
      return scaled ? xd / scale : xd * n_in / n_out;
    case 3:  // pytorch_half_pixel
      if (out == 1) return 0.0;
      [[fallthrough]];
    default:  // half_pixel
      return scaled ? (xd + 0.5) / scale - 0.5 : (xd + 0.5) * n_in / n_out - 0.5;
  }
}

int64_t nearest_index(int64_t nearest_mode, double x, int64_t in) {
  double r = 0.0;
  switch (nearest_mode) {
    case 1: r = std::floor(x + 0.5); break;  // round_prefer_ceil
    case 2: r = std::floor(x); break;
    case 3: r = std::ceil(x); break;
    default: r = std::ceil(x - 0.5); break;  // round_prefer_floor
  }
  return std::clamp<int64_t>(static_cast<int64_t>(r), 0, in - 1);
}

// Linear: the two neighbours floor(x) and floor(x) + 1 of the edge-padded
// input with weights 1 - ratio and ratio.
struct Taps {
  int64_t i0, i1;
  double w0, w1;
};
Taps linear_taps(double x, int64_t in) {
  const double fl = std::floor(x), ratio = x - fl;
  const auto i = static_cast<int64_t>(fl);
  return Taps{std::clamp<int64_t>(i, 0, in - 1), std::clamp<int64_t>(i + 1, 0, in - 1), 1.0 - ratio, ratio};
}

}  // namespace

RefTensor resize_reference(const RefTensor& in, const Shape& out_dims, const std::vector<int64_t>& ints,
                           const std::vector<float>& floats) {
  const int64_t mode = ints.size() > 0 ? ints[0] : 0, coord = ints.size() > 1 ? ints[1] : 0,
                nearest = ints.size() > 2 ? ints[2] : 0;
  const bool scaled = floats.size() == 2;
  RefTensor out;
  out.dims = out_dims;
  out.rank = 4;
  out.dtype = in.dtype;
  out.v.assign(static_cast<size_t>(out.size()), 0.0);
  const auto at = [](const Shape& d, int64_t c, int64_t x, int64_t y, int64_t n) {
    return static_cast<size_t>(c + d[0] * (x + d[1] * (y + d[2] * n)));
  };
  for (int64_t n = 0; n < out_dims[3]; ++n) {
    for (int64_t y = 0; y < out_dims[2]; ++y) {
      const double oy = original(coord, y, in.dims[2], out_dims[2], scaled, scaled ? floats[1] : 0.0);
      for (int64_t x = 0; x < out_dims[1]; ++x) {
        const double ox = original(coord, x, in.dims[1], out_dims[1], scaled, scaled ? floats[0] : 0.0);
        for (int64_t c = 0; c < out_dims[0]; ++c) {
          double v = 0.0;
          if (mode == 0) {
            v = in.v[at(in.dims, c, nearest_index(nearest, ox, in.dims[1]), nearest_index(nearest, oy, in.dims[2]), n)];
          } else {
            const Taps tx = linear_taps(ox, in.dims[1]), ty = linear_taps(oy, in.dims[2]);
            const auto px = [&](int64_t yy) {
              return tx.w0 * in.v[at(in.dims, c, tx.i0, yy, n)] + tx.w1 * in.v[at(in.dims, c, tx.i1, yy, n)];
            };
            v = ty.w0 * px(ty.i0) + ty.w1 * px(ty.i1);
          }
          out.v[at(out_dims, c, x, y, n)] = v;
        }
      }
    }
  }
  return out;
}

}  // namespace kiln::kernels::test
