// pad (in: T, out: T), T any dtype: ONNX Pad.
//   ints[0..r) = pads before each dim, ints[r..2r) = pads after it (r =
//   in.rank, dims innermost first, so ONNX's pads list reversed per half);
//   ints[2r] = mode: 0 constant (default), 1 reflect, 2 edge;
//   floats[0] = the constant (default 0; rounded to nearest for i32 and i64,
//   != 0 for bool).
//   out.dims[d] = in.dims[d] + before[d] + after[d]; a negative pad crops;
//   |pad| <= 2^48 (kMaxTensorElements).
// reflect mirrors about the edge element without repeating it (numpy
// 'reflect', so pads must be < in.dims[d]); edge repeats the edge element.
//
// One index point per output vector. Its row maps to an input row dim by dim
// (shift, then mirror or clamp); in constant mode a row outside the input is
// the constant, stored from a register. Along dim 0:
//   constant: one load at the shifted coordinate -- the lanes outside the
//     input read the constant as the load's pad value -- and one store.
//   reflect/edge: the row has up to three regions (before, inside and after
//     the input). Each region the vector overlaps is one load through a view
//     (the input row; the row reversed, stride -1, for reflect; the edge
//     element replicated, stride 0, for edge) and one store through a view of
//     out clipped to the region, which drops the other regions' lanes.
#include <algorithm>
#include <cmath>

#include "kernel_util.h"
#include "kernels.h"

namespace kiln::kernels::lib {
namespace {

enum class PadMode : int64_t { kConstant = 0, kReflect = 1, kEdge = 2 };

struct PadParams {
  Dims before = {0, 0, 0, 0, 0}, after = {0, 0, 0, 0, 0};
  PadMode mode = PadMode::kConstant;
  float value = 0.0f;
};

PadParams pad_params(const KernelArgs& args) {
  const int r = args.tensors[0].rank;
  PadParams p;
  for (int d = 0; d < r; ++d) {
    p.before[d] = args.ints[static_cast<size_t>(d)];
    p.after[d] = args.ints[static_cast<size_t>(r + d)];
  }
  p.mode = static_cast<PadMode>(args.int_or(2 * r, 0));
  p.value = args.float_or(0, 0.0f);
  return p;
}

Status validate_pad(const KernelArgs& args) {
  KILN_RETURN_IF_ERROR(expect_tensor_count(args, 2, 2, "(in, out)"));
  const TensorDesc& in = args.tensors[0];
  const TensorDesc& out = args.tensors[1];
  KILN_RETURN_IF_ERROR(expect_same_dtype(out, in, "out", "in"));
  const int r = in.rank;
  if (args.num_ints != 2 * r && args.num_ints != 2 * r + 1) {
    return invalid_argument("needs ints[0.." + std::to_string(r) + ") = pads before, ints[" + std::to_string(r) + ".." +
                            std::to_string(2 * r) + ") = pads after and optionally ints[" + std::to_string(2 * r) +
                            "] = mode, got " + std::to_string(args.num_ints) + " ints");
  }
  const int64_t mode = args.int_or(2 * r, 0);
  if (mode < 0 || mode > 2) {
    return invalid_argument("mode ints[" + std::to_string(2 * r) + "] = " + std::to_string(mode) +
                            " is not 0 (constant), 1 (reflect) or 2 (edge)");
  }
  const PadParams p = pad_params(args);
  Dims want = {1, 1, 1, 1, 1};
  for (int d = 0; d < r; ++d) {
    const int64_t n = in.dims[d], b = p.before[d], e = p.after[d];
    const std::string dim = "dim " + std::to_string(d) + ": pads " + std::to_string(b) + " and " + std::to_string(e);
    // Pads come from an argument block: anything an int64 holds. Bounded by
    // the most elements a dim can have (n is decoded within it too), every
    // sum below and in pad_run stays far inside int64.
    if (b < -kMaxTensorElements || b > kMaxTensorElements || e < -kMaxTensorElements || e > kMaxTensorElements) {
      return invalid_argument(dim + " exceed 2^48 in magnitude, the most elements a dim can have");
    }
    want[d] = n + b + e;
    if (want[d] < 0) return invalid_argument(dim + " crop more than its " + std::to_string(n) + " elements");
    const bool grows = b > 0 || e > 0;
    if (p.mode == PadMode::kReflect && grows && (b >= n || e >= n)) {
      return invalid_argument(dim + " must be smaller than in.dims[" + std::to_string(d) + "] = " + std::to_string(n) +
                              " to reflect");
    }
    if (p.mode == PadMode::kEdge && grows && n == 0) return invalid_argument(dim + " repeat the edge of an empty dim");
  }
  const float limit = in.dtype == DType::kI32 ? 2147483520.0f : 9.2233715e18f;  // the largest floats that fit
  if (p.mode == PadMode::kConstant && is_integer(in.dtype) && !(std::fabs(p.value) <= limit)) {
    return invalid_argument("the constant floats[0] = " + std::to_string(p.value) + " does not fit " +
                            std::string(dtype_name(in.dtype)));
  }
  return expect_dims(out, want, "out");
}

IndexSpace pad_space(const KernelArgs& args) {
  return vector_row_space(args.tensors[1], lanes_per_vector(args.tensors[1].dtype));
}

// The input coordinate for output coordinate o of a dim with n elements and
// `before` leading pads; false when o lies in constant padding.
bool map_coord(PadMode mode, int64_t o, int64_t n, int64_t before, int64_t* i) {
  const int64_t x = o - before;
  if (x >= 0 && x < n) {
    *i = x;
    return true;
  }
  switch (mode) {
    case PadMode::kConstant: return false;
    case PadMode::kReflect: *i = x < 0 ? -x : 2 * (n - 1) - x; return true;
    case PadMode::kEdge: *i = x < 0 ? 0 : n - 1; return true;
  }
  return false;
}

// The view a border region of dim 0 reads through, and the view coordinate of
// output lane 0 of the vector at c0.
struct Source {
  TensorDesc view;
  int64_t at;
};

Source border_source(const TensorDesc& in, PadMode mode, bool leading, int64_t c0, int64_t before, int lanes) {
  const int64_t n = in.dims[0];
  TensorDesc v = in;
  if (mode == PadMode::kEdge) {
    v.address = in.element_address(Coord{leading ? 0 : n - 1, 0, 0, 0, 0});
    v.strides[0] = 0;
    v.dims[0] = lanes;
    return Source{v, 0};
  }
  // Reflect: view element j is input element n - 1 - j.
  v.address = in.element_address(Coord{n - 1, 0, 0, 0, 0});
  v.strides[0] = -in.strides[0];
  return Source{v, leading ? c0 + n - 1 - before : c0 - before - n + 1};
}

void pad_run(KernelContext& ctx) {
  const TensorDesc& in = ctx.tensor(0);
  const TensorDesc& out = ctx.tensor(1);
  const PadParams p = pad_params(ctx.args());
  const int lanes = lanes_per_vector(out.dtype);
  if (ctx.slice().empty()) return;
  const bool constant = p.mode == PadMode::kConstant;
  // The register a constant row is stored from, built once per slice.
  WideF32 fill_wide{};
  VecI32 fill_i32{};
  VecI64 fill_i64{};
  VecBool fill_bool{};
  if (constant) {
    switch (out.dtype) {
      case DType::kI32: fill_i32 = f32_to_i32(ctx, broadcast(ctx, p.value)); break;
      case DType::kI64: fill_i64 = broadcast_i64(ctx, static_cast<int64_t>(std::llrint(p.value))); break;
      case DType::kBool:
        ctx.count(OpClass::kVectorAlu);  // one byte broadcast
        for (uint8_t& l : fill_bool.lane) l = p.value != 0.0f ? 1 : 0;
        break;
      default: fill_wide = broadcast_wide(ctx, p.value, natural_halves(out.dtype)); break;
    }
  }
  const int64_t n0 = in.dims[0], b0 = p.before[0];
  for_each_vector(ctx, out, lanes, [&](const Coord& c) {
    ctx.count(OpClass::kScalarAlu);  // mapping the row
    Coord ic = c;
    bool inside = true;
    for (int d = 1; d < kMaxDims && inside; ++d) inside = map_coord(p.mode, c[d], in.dims[d], p.before[d], &ic[d]);
    if (!inside) {
      switch (out.dtype) {
        case DType::kI32: ctx.store(out, c, fill_i32); break;
        case DType::kI64: ctx.store(out, c, fill_i64); break;
        case DType::kBool: ctx.store(out, c, fill_bool); break;
        default: store_wide(ctx, out, c, fill_wide); break;
      }
      return;
    }
    if (constant) {
      ic[0] = c[0] - b0;
      copy_vector(ctx, in, ic, out, c, p.value);
      return;
    }
    // Regions of the output row: [0, b0) before, [b0, b0 + n0) inside,
    // [b0 + n0, out) after, clipped to the row (negative pads crop).
    const int64_t out0 = out.dims[0];
    const int64_t inside_lo = std::clamp<int64_t>(b0, 0, out0);
    const int64_t bounds[4] = {0, inside_lo, std::clamp<int64_t>(b0 + n0, inside_lo, out0), out0};
    for (int r = 0; r < 3; ++r) {
      const int64_t lo = bounds[r], hi = bounds[r + 1];
      if (hi <= lo || hi <= c[0] || lo >= c[0] + lanes) continue;
      Source src = r == 1 ? Source{in, c[0] - b0} : border_source(in, p.mode, r == 0, c[0], b0, lanes);
      ctx.count(OpClass::kScalarAlu);  // region bounds and view address
      Coord sc = ic;
      sc[0] = src.at;
      Coord dc = c;
      dc[0] = c[0] - lo;
      copy_vector(ctx, src.view, sc, out.sliced_view(0, lo, hi - lo), dc);
    }
  });
}

}  // namespace

void append_pad_kernels(std::vector<KernelDef>& out) {
  out.push_back(KernelDef{"pad", pad_run, pad_space, validate_pad,
                          "pad(in: T, out: T), T any dtype; ints[0..r) = pads before, ints[r..2r) = pads "
                          "after, ints[2r] = mode (0 constant, 1 reflect, 2 edge); floats[0] = constant",
                          0});
}

}  // namespace kiln::kernels::lib
