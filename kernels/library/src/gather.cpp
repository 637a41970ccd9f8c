// gather (data: T, indices: i32|i64, out: T); ints[0] = axis; T any dtype.
//   out.dims = data.dims[0..axis) ++ indices.dims[0..q) ++ data.dims(axis..r)
// Negative indices count from the end; an index outside the axis faults the
// launch (kOutOfBounds) instead of reading whatever lies there; the fault
// names the index element, its value and the range.
// axis >= 1 (embedding lookups): one scalar index load per output row, then
// vector copies of the selected data row. axis 0: every output element picks
// its own element, so it is scalar loads and stores (no gather unit).
#include "kernel_util.h"
#include "kernels.h"

namespace kiln::kernels::lib {
namespace {

struct GatherShape {
  int axis = 0;
  int q = 0;  // index rank
};

GatherShape gather_shape(const KernelArgs& args) {
  return GatherShape{static_cast<int>(args.int_or(0, 0)), args.tensors[1].rank};
}

Status validate_gather(const KernelArgs& args) {
  KILN_RETURN_IF_ERROR(expect_tensor_count(args, 3, 3, "(data, indices, out)"));
  const TensorDesc& data = args.tensors[0];
  const TensorDesc& indices = args.tensors[1];
  const TensorDesc& out = args.tensors[2];
  KILN_RETURN_IF_ERROR(expect_one_of(indices, {DType::kI32, DType::kI64}, "indices"));
  KILN_RETURN_IF_ERROR(expect_same_dtype(out, data, "out", "data"));
  const GatherShape g = gather_shape(args);
  if (data.rank < 1) return invalid_argument("data must have rank >= 1");
  KILN_RETURN_IF_ERROR(expect_axis(g.axis, data));
  const int out_rank = data.rank - 1 + g.q;
  if (out_rank > kMaxDims) {
    return invalid_argument("out would have rank " + std::to_string(out_rank) + " (more than 5)");
  }
  Dims want = {1, 1, 1, 1, 1};
  int at = 0;
  for (int d = 0; d < g.axis; ++d) want[at++] = data.dims[d];
  for (int d = 0; d < g.q; ++d) want[at++] = indices.dims[d];
  for (int d = g.axis + 1; d < data.rank; ++d) want[at++] = data.dims[d];
  if (data.dims[g.axis] < 1) return invalid_argument("data has no elements along axis " + std::to_string(g.axis));
  return expect_dims(out, want, "out");
}

IndexSpace gather_space(const KernelArgs& args) {
  const TensorDesc& out = args.tensors[2];
  if (gather_shape(args).axis == 0) return row_space(out);
  return vector_row_space(out, lanes_per_vector(out.dtype));
}

// Splits an output coordinate into the index coordinate and the data
// coordinate (with the axis entry left for the index value).
void split_coord(const GatherShape& g, const Coord& c, Coord* ic, Coord* dc) {
  *ic = Coord{0, 0, 0, 0, 0};
  *dc = Coord{0, 0, 0, 0, 0};
  for (int d = 0; d < g.axis; ++d) (*dc)[d] = c[d];
  for (int j = 0; j < g.q; ++j) (*ic)[j] = c[g.axis + j];
  for (int d = g.axis + 1; d < kMaxDims && d + g.q - 1 < kMaxDims; ++d) (*dc)[d] = c[d + g.q - 1];
}

// Loads and checks one index; returns false after raising a fault.
bool load_index(KernelContext& ctx, const TensorDesc& indices, const Coord& ic, int64_t limit, int64_t* out) {
  const int64_t raw = indices.dtype == DType::kI64 ? ctx.load_scalar_i64(indices, ic) : ctx.load_scalar_i32(indices, ic);
  if (ctx.faulted()) return false;
  const int64_t i = raw < 0 ? raw + limit : raw;  // no overflow: limit > 0 > raw
  ctx.count(OpClass::kScalarAlu, 2);  // wrap and bounds check
  if (i < 0 || i >= limit) {
    ctx.raise_fault(KernelFaultCause::kOutOfBounds, indices.element_address(ic),
                    "gather indices" + dims_string(ic, indices.rank > 0 ? indices.rank : 1) + " = " +
                        std::to_string(raw) + " is outside -" + std::to_string(limit) + ".." +
                        std::to_string(limit - 1));
    return false;
  }
  *out = i;
  return true;
}

void gather_run(KernelContext& ctx) {
  const TensorDesc& data = ctx.tensor(0);
  const TensorDesc& indices = ctx.tensor(1);
  const TensorDesc& out = ctx.tensor(2);
  const GatherShape g = gather_shape(ctx.args());
  const int64_t limit = data.dims[g.axis];
  const IndexSlice& s = ctx.slice();
  if (g.axis == 0) {
    for_each_row(ctx, out, [&](Coord c) {
      for (c[0] = 0; c[0] < out.dims[0] && !ctx.faulted(); ++c[0]) {
        Coord ic, dc;
        split_coord(g, c, &ic, &dc);
        if (!load_index(ctx, indices, ic, limit, &dc[0])) return;
        const uint64_t bits = ctx.load_scalar_bits(data, dc);
        ctx.store_scalar_bits(out, c, data.dtype == DType::kBool ? uint64_t{bits != 0} : bits);  // bool stores 0/1
      }
    });
    return;
  }
  const int lanes = lanes_per_vector(out.dtype);
  for (int64_t row = s.begin[1]; row < s.end[1] && !ctx.faulted(); ++row) {
    Coord c = row_coord(out.dims, row);
    Coord ic, dc;
    split_coord(g, c, &ic, &dc);
    if (!load_index(ctx, indices, ic, limit, &dc[g.axis])) return;
    for (int64_t v = s.begin[0]; v < s.end[0]; ++v) {
      c[0] = dc[0] = v * lanes;
      copy_vector(ctx, data, dc, out, c);
    }
  }
}

}  // namespace

void append_gather_kernels(std::vector<KernelDef>& out) {
  out.push_back(KernelDef{"gather", gather_run, gather_space, validate_gather,
                          "gather(data: T, indices: i32|i64, out: T), T any dtype; ints[0] = axis; "
                          "out.dims = data.dims[0..axis) ++ indices.dims ++ data.dims(axis..)",
                          0});
}

}  // namespace kiln::kernels::lib
