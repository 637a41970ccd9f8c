// cumsum (in: T, out: T), same dims, T in {f32, bf16, f16}: ONNX CumSum.
//   ints[0] = axis (default 0), ints[1] = exclusive (0), ints[2] = reverse (0)
//   out[j] = sum of in[i] for i <= j (i < j exclusive; i >= j / i > j reversed)
// Running sums are fp32 (bf16 rounds each output once, when stored).
//
// Other axes: one index point per vector of the output with the axis
// collapsed; the vector walks the axis carrying one running sum per lane.
//
// Axis 0: the scan runs along the lanes, and the vector unit has no lane
// shifts. Each row is cut into m <= 64 chunks of L elements, lane i owning
// chunk i, and read through a view with dim-0 stride L: element t of every
// chunk is one strided load. Pass 1 sums each chunk lane-wise; an exclusive
// scan of the m chunk totals across lanes (a masked select, a cross-lane sum
// and a select per chunk) gives each lane its starting offset; pass 2 walks
// the chunks again, adding and storing. A row costs about 5L + 3m
// instructions, so L and m are both near sqrt(n) for short rows; past 64^2
// elements m stays 64 and L grows.
#include <cmath>

#include "kernel_util.h"
#include "kernels.h"

namespace kiln::kernels::lib {
namespace {

struct CumsumParams {
  int axis = 0;
  bool exclusive = false, reverse = false;
};

CumsumParams cumsum_params(const KernelArgs& args) {
  return CumsumParams{static_cast<int>(args.int_or(0, 0)), args.int_or(1, 0) != 0, args.int_or(2, 0) != 0};
}

Status validate_cumsum(const KernelArgs& args) {
  KILN_RETURN_IF_ERROR(expect_tensor_count(args, 2, 2, "(in, out)"));
  const TensorDesc& in = args.tensors[0];
  const TensorDesc& out = args.tensors[1];
  KILN_RETURN_IF_ERROR(expect_float(in, "in"));
  KILN_RETURN_IF_ERROR(expect_same_dtype(out, in, "out", "in"));
  KILN_RETURN_IF_ERROR(expect_same_dims(out, in, "out", "in"));
  KILN_RETURN_IF_ERROR(expect_axis(args.int_or(0, 0), in));
  for (int i = 1; i <= 2; ++i) {
    const int64_t flag = args.int_or(i, 0);
    if (flag != 0 && flag != 1) {
      return invalid_argument(std::string(i == 1 ? "exclusive" : "reverse") + " ints[" + std::to_string(i) + "] = " +
                              std::to_string(flag) + " must be 0 or 1");
    }
  }
  return Status::ok_status();
}

IndexSpace cumsum_space(const KernelArgs& args) {
  const int axis = cumsum_params(args).axis;
  const TensorDesc& out = args.tensors[1];
  if (axis == 0) return row_space(out);
  return vector_row_space(collapse_axis(out, axis), lanes_per_vector(out.dtype));
}

WideF32 add_wide(KernelContext& ctx, const WideF32& a, const WideF32& b) {
  return wide_map(ctx, a, b, [&](const VecF32& p, const VecF32& q) { return add(ctx, p, q); });
}

// One step of the scan: out = acc before adding v (exclusive) or after.
WideF32 scan_step(KernelContext& ctx, const TensorDesc& out, const Coord& c, const WideF32& acc, const WideF32& v,
                  bool exclusive) {
  if (exclusive) store_wide(ctx, out, c, acc);
  const WideF32 next = add_wide(ctx, acc, v);
  if (!exclusive) store_wide(ctx, out, c, next);
  return next;
}

void cumsum_across(KernelContext& ctx, const TensorDesc& in, const TensorDesc& out, const CumsumParams& p) {
  const int64_t n = in.dims[p.axis];
  for_each_vector(ctx, collapse_axis(out, p.axis), lanes_per_vector(in.dtype), [&](const Coord& c) {
    WideF32 acc = broadcast_wide(ctx, 0.0f, natural_halves(in.dtype));
    Coord at = c;
    for (int64_t j = 0; j < n; ++j) {
      at[p.axis] = p.reverse ? n - 1 - j : j;
      acc = scan_step(ctx, out, at, acc, load_wide(ctx, in, at), p.exclusive);
    }
  });
}

// Chunk length for a row of n: about sqrt(n), and at least n / 64 so the
// chunks fit the 64 lanes.
int64_t chunk_length(int64_t n) {
  auto root = static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(n))));
  while (root * root < n) ++root;  // guard against the double rounding down
  const int64_t by_lanes = ceil_div(n, kF32Lanes);
  return root > by_lanes ? root : by_lanes;
}

void cumsum_rows(KernelContext& ctx, const TensorDesc& in, const TensorDesc& out, const CumsumParams& p) {
  const int64_t n = in.dims[0];
  if (n == 0) return;
  const int64_t len = chunk_length(n);
  const int chunks = static_cast<int>(ceil_div(n, len));
  // Element t of every chunk: lane i is element i * len + t of the row. A
  // 64-lane step for bf16 too (halves = 1): the chunk count is the lane count.
  auto strided = [&](const TensorDesc& t, int64_t step) { return t.sliced_view(0, step, ceil_div(n - step, len), len); };
  for_each_row(ctx, out, [&](Coord c) {
    // Pass 1: chunk totals.
    WideF32 total = load_wide(ctx, strided(in, 0), c, 0.0f, 1);
    for (int64_t t = 1; t < len; ++t) total = add_wide(ctx, total, load_wide(ctx, strided(in, t), c, 0.0f, 1));
    // Offsets: lane i gets the sum of the chunks before it (after it when
    // reversed). Lanes past the last chunk hold 0 and never reach memory.
    // The first chunk scanned starts at 0, which the broadcast already holds.
    WideF32 offset = broadcast_wide(ctx, 0.0f, 1);
    for (int i = p.reverse ? 0 : 1; i < (p.reverse ? chunks - 1 : chunks); ++i) {
      const Mask others = p.reverse ? Mask{~Mask::first(i + 1).bits} : Mask::first(i);
      const float before = reduce_sum(ctx, select(ctx, others, total.half[0], 0.0f));
      offset.half[0] = select(ctx, Mask{~(uint64_t{1} << i)}, offset.half[0], before);
    }
    // Pass 2: the scan inside each chunk, all chunks at once.
    WideF32 acc = offset;
    for (int64_t j = 0; j < len; ++j) {
      const int64_t t = p.reverse ? len - 1 - j : j;
      const TensorDesc src = strided(in, t), dst = strided(out, t);
      acc = scan_step(ctx, dst, c, acc, load_wide(ctx, src, c, 0.0f, 1), p.exclusive);
    }
  });
}

void cumsum_run(KernelContext& ctx) {
  const CumsumParams p = cumsum_params(ctx.args());
  if (p.axis == 0) cumsum_rows(ctx, ctx.tensor(0), ctx.tensor(1), p);
  else cumsum_across(ctx, ctx.tensor(0), ctx.tensor(1), p);
}

}  // namespace

void append_cumsum_kernels(std::vector<KernelDef>& out) {
  out.push_back(KernelDef{"cumsum", cumsum_run, cumsum_space, validate_cumsum,
                          "cumsum(in: T, out: T), T in {f32, bf16, f16}; ints[0] = axis, ints[1] = exclusive, "
                          "ints[2] = reverse (ONNX CumSum); fp32 running sums",
                          0});
}

}  // namespace kiln::kernels::lib
