// Slice, Expand, Tile and Pad: views where the runtime has them (slice,
// expand), index_select and concat where not (negative steps, reflection).
#include <limits>

#include "lowering.h"
#include "shape_math.h"

namespace kiln::frontend::detail {
namespace rt = kiln::runtime;

namespace {

// Elements `indices` (host-computed positions: shape metadata) of x along dim.
Result<Tensor> pick(runtime::Runtime& rt, const Tensor& x, int dim, const std::vector<int64_t>& indices) {
  std::vector<int32_t> idx(indices.begin(), indices.end());
  KILN_ASSIGN_OR_RETURN(Tensor i, rt.from_host(idx, {static_cast<int64_t>(idx.size())}));
  return rt::index_select(x, dim, i);
}

Result<Tensor> slice_lower(LowerContext& c) {
  KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
  std::vector<int64_t> starts, ends, axes, steps;
  if (c.opset >= 10) {
    KILN_ASSIGN_OR_RETURN(starts, c.host_ints(1));
    KILN_ASSIGN_OR_RETURN(ends, c.host_ints(2));
    if (c.has(3)) { KILN_ASSIGN_OR_RETURN(axes, c.host_ints(3)); }
    if (c.has(4)) { KILN_ASSIGN_OR_RETURN(steps, c.host_ints(4)); }
  } else {
    starts = attr_ints(c.node, "starts").value_or(std::vector<int64_t>{});
    ends = attr_ints(c.node, "ends").value_or(std::vector<int64_t>{});
    axes = attr_ints(c.node, "axes").value_or(std::vector<int64_t>{});
  }
  KILN_ASSIGN_OR_RETURN(auto dims, slice_dims(dims_of(x), starts, ends, axes, steps));
  for (const auto& d : dims) {
    if (d.count == 0) {
      rt::Shape empty = x.shape();
      for (const auto& e : dims) empty[static_cast<std::size_t>(e.axis)] = e.count;
      return device_full(c.rt, empty, 0, x.dtype());
    }
    if (d.step > 0) {
      KILN_ASSIGN_OR_RETURN(x, x.slice(d.axis, d.start, d.start + (d.count - 1) * d.step + 1, d.step));
    } else {
      std::vector<int64_t> idx;
      for (int64_t k = 0; k < d.count; ++k) idx.push_back(d.start + k * d.step);
      KILN_ASSIGN_OR_RETURN(x, pick(c.rt, x, d.axis, idx));
    }
  }
  return x;
}

// Tile one dim: [.., d, ..] -> [.., 1, d, ..] -> expand to [.., r, d, ..] -> merge.
Result<Tensor> tile_dim(const Tensor& x, int dim, int64_t reps) {
  KILN_ASSIGN_OR_RETURN(Tensor u, x.unsqueeze(dim));
  rt::Shape s = u.shape();
  s[static_cast<std::size_t>(dim)] = reps;
  KILN_ASSIGN_OR_RETURN(u, u.expand(s));
  KILN_ASSIGN_OR_RETURN(u, rt::contiguous(u));
  rt::Shape out = x.shape();
  out[static_cast<std::size_t>(dim)] *= reps;
  return u.reshape(out);
}

// Pad positions of one axis for the edge and reflect modes: the index into
// the input of every output position.
std::vector<int64_t> pad_positions(int64_t dim, int64_t before, int64_t after, bool reflect) {
  std::vector<int64_t> out;
  for (int64_t p = -before; p < dim + after; ++p) {
    int64_t i = p;
    if (reflect && dim > 1) {
      const int64_t period = 2 * (dim - 1);
      i = ((i % period) + period) % period;
      if (i >= dim) i = period - i;
    } else {
      i = std::clamp<int64_t>(i, 0, dim - 1);
    }
    out.push_back(i);
  }
  return out;
}

Result<Tensor> pad_lower(LowerContext& c) {
  KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
  const std::string mode = attr_string(c.node, "mode", "constant");
  std::vector<int64_t> pads, axes;
  double value = 0;
  if (c.opset >= 11) {
    KILN_ASSIGN_OR_RETURN(pads, c.host_ints(1));
    if (c.has(2)) { KILN_ASSIGN_OR_RETURN(value, c.host_scalar(2)); }
    if (c.has(3)) { KILN_ASSIGN_OR_RETURN(axes, c.host_ints(3)); }
  } else {
    pads = attr_ints(c.node, "pads").value_or(std::vector<int64_t>{});
    value = attr_float(c.node, "value", 0.0f);
  }
  if (axes.empty())
    for (int i = 0; i < x.rank(); ++i) axes.push_back(i);
  if (pads.size() != 2 * axes.size())
    return invalid_argument("pads has " + std::to_string(pads.size()) + " values for " + std::to_string(axes.size()) + " axes");
  for (std::size_t k = 0; k < axes.size(); ++k) {
    KILN_ASSIGN_OR_RETURN(int axis, axis_of(axes[k], x.rank(), "axis"));
    int64_t before = pads[k], after = pads[k + axes.size()];
    // Negative pads crop.
    if (before < 0 || after < 0) {
      const int64_t b = std::max<int64_t>(-before, 0), e = x.dim(axis) - std::max<int64_t>(-after, 0);
      if (e <= b) return invalid_argument("pads crop axis " + std::to_string(axis) + " to nothing");
      KILN_ASSIGN_OR_RETURN(x, x.slice(axis, b, e));
      before = std::max<int64_t>(before, 0);
      after = std::max<int64_t>(after, 0);
    }
    if (before == 0 && after == 0) continue;
    if (mode == "constant") {
      std::vector<Tensor> parts;
      rt::Shape s = x.shape();
      if (before > 0) {
        s[static_cast<std::size_t>(axis)] = before;
        KILN_ASSIGN_OR_RETURN(Tensor f, device_full(c.rt, s, value, x.dtype()));
        parts.push_back(f);
      }
      parts.push_back(x);
      if (after > 0) {
        s[static_cast<std::size_t>(axis)] = after;
        KILN_ASSIGN_OR_RETURN(Tensor f, device_full(c.rt, s, value, x.dtype()));
        parts.push_back(f);
      }
      KILN_ASSIGN_OR_RETURN(x, rt::concat(parts, axis));
    } else {
      if (mode == "reflect" && (before >= x.dim(axis) || after >= x.dim(axis)))
        return invalid_argument("reflect pads of axis " + std::to_string(axis) + " must be below its size " + std::to_string(x.dim(axis)));
      KILN_ASSIGN_OR_RETURN(x, pick(c.rt, x, axis, pad_positions(x.dim(axis), before, after, mode == "reflect")));
    }
  }
  return x;
}

// DepthToSpace in CRD order: channel c * b * b + i * b + j goes to
// (c, h * b + i, w * b + j); one rank-5 permute.
Result<Tensor> depth_to_space_crd(const Tensor& x, int64_t b) {
  const int64_t n = x.dim(0), c = x.dim(1) / (b * b), h = x.dim(2), w = x.dim(3);
  KILN_ASSIGN_OR_RETURN(Tensor y, x.reshape({n * c, b, b, h, w}));
  KILN_ASSIGN_OR_RETURN(y, y.permute({0, 3, 1, 4, 2}));
  KILN_ASSIGN_OR_RETURN(y, rt::contiguous(y));
  return y.reshape({n, c, h * b, w * b});
}

// Reorders channel blocks: [N, a, b', HW] -> [N, b', a, HW] (DCR <-> CRD).
Result<Tensor> swap_channel_blocks(const Tensor& x, int64_t a, int64_t b2) {
  const int64_t n = x.dim(0), h = x.dim(2), w = x.dim(3);
  KILN_ASSIGN_OR_RETURN(Tensor y, x.reshape({n, a, b2, h * w}));
  KILN_ASSIGN_OR_RETURN(y, y.permute({0, 2, 1, 3}));
  KILN_ASSIGN_OR_RETURN(y, rt::contiguous(y));
  return y.reshape({n, a * b2, h, w});
}

std::string space_depth_check(const CheckContext& c) {
  const int64_t b = attr_int(c.node, "blocksize", 0);
  if (b < 1) return std::string("blocksize must be >= 1");
  return first_of({require_data_dtype(c, 0), c.rank(0) != 4 ? "only 4-D [N, C, H, W] inputs are supported" : ""});
}

}  // namespace

void add_movement_ops(OpTable& t) {
  t["DepthToSpace"] = {space_depth_check, [](LowerContext& c) -> Status {
                         KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
                         const int64_t b = attr_int(c.node, "blocksize", 1);
                         if (x.dim(1) % (b * b) != 0) return invalid_argument("channels of " + x.describe() + " are not a multiple of blocksize^2");
                         // DCR: channel (i * b + j) * C' + c; made CRD first.
                         if (attr_string(c.node, "mode", "DCR") == "DCR") { KILN_ASSIGN_OR_RETURN(x, swap_channel_blocks(x, b * b, x.dim(1) / (b * b))); }
                         return put(c, depth_to_space_crd(x, b));
                       }};
  // SpaceToDepth: (c, h * b + i, w * b + j) goes to channel (i * b + j) * C + c.
  t["SpaceToDepth"] = {space_depth_check, [](LowerContext& c) -> Status {
                         KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
                         const int64_t b = attr_int(c.node, "blocksize", 1);
                         const int64_t n = x.dim(0), ch = x.dim(1), h = x.dim(2) / b, w = x.dim(3) / b;
                         if (x.dim(2) % b != 0 || x.dim(3) % b != 0) return invalid_argument("H and W of " + x.describe() + " are not multiples of blocksize");
                         KILN_ASSIGN_OR_RETURN(Tensor y, x.reshape({n * ch, h, b, w, b}));
                         KILN_ASSIGN_OR_RETURN(y, y.permute({0, 2, 4, 1, 3}));
                         KILN_ASSIGN_OR_RETURN(y, rt::contiguous(y));
                         KILN_ASSIGN_OR_RETURN(y, y.reshape({n, ch * b * b, h, w}));  // channel c * b * b + i * b + j
                         return put(c, swap_channel_blocks(y, ch, b * b));
                       }};

  t["Slice"] = {[](const CheckContext& c) {
                  return first_of({require_data_dtype(c, 0), c.rank(0) < 1 ? "rank unknown or 0" : "",
                                   c.opset >= 10 ? first_of({require_host(c, 1, "starts"), require_host(c, 2, "ends"),
                                                             require_host(c, 3, "axes"), require_host(c, 4, "steps")})
                                                 : ""});
                },
                [](LowerContext& c) -> Status { return put(c, slice_lower(c)); },
                {1, 2, 3, 4}};

  t["Expand"] = {[](const CheckContext& c) { return first_of({require_data_dtype(c, 0), require_host(c, 1, "shape")}); },
                 [](LowerContext& c) -> Status {
                   KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
                   KILN_ASSIGN_OR_RETURN(std::vector<int64_t> s, c.host_ints(1));
                   KILN_ASSIGN_OR_RETURN(std::vector<int64_t> shape, broadcast_shapes({dims_of(x), s}));
                   KILN_ASSIGN_OR_RETURN(Tensor y, x.expand(rt::Shape(shape.begin(), shape.end())));
                   return put(c, rt::contiguous(y));
                 },
                 {1}};

  t["Tile"] = {[](const CheckContext& c) {
                 std::string r = first_of({require_data_dtype(c, 0), require_host(c, 1, "repeats")});
                 if (r.empty() && c.rank(0) >= runtime::kMaxRank) r = "inputs of rank 5 are not supported (tiling passes through rank + 1)";
                 return r;
               },
               [](LowerContext& c) -> Status {
                 KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
                 KILN_ASSIGN_OR_RETURN(std::vector<int64_t> reps, c.host_ints(1));
                 if (static_cast<int>(reps.size()) != x.rank()) return invalid_argument("repeats must have one value per dim of " + x.describe());
                 for (int d = 0; d < x.rank(); ++d) {
                   const int64_t r = reps[static_cast<std::size_t>(d)];
                   if (r < 1) return invalid_argument("repeats must be >= 1");
                   if (r > 1) { KILN_ASSIGN_OR_RETURN(x, tile_dim(x, d, r)); }
                 }
                 return put(c, rt::contiguous(x));
               },
               {1}};

  t["Pad"] = {[](const CheckContext& c) {
                const std::string mode = attr_string(c.node, "mode", "constant");
                if (mode != "constant" && mode != "reflect" && mode != "edge") return "mode '" + mode + "' is not supported";
                return first_of({require_data_dtype(c, 0), c.rank(0) < 1 ? "rank unknown or 0" : "",
                                 c.opset >= 11 ? first_of({require_host(c, 1, "pads"), require_host(c, 2, "constant_value"),
                                                           require_host(c, 3, "axes")})
                                               : ""});
              },
              [](LowerContext& c) -> Status { return put(c, pad_lower(c)); },
              {1, 2, 3}};
}

}  // namespace kiln::frontend::detail
