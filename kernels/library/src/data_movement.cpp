// Data movement, any dtype (f32, bf16, f16, i32, i64, bool), no conversion:
//   permute (in, out); ints[0..rank) = perm, out.dims[i] == in.dims[perm[i]]
//   slice   (in, out); ints[0..5) = starts, ints[5..10) = steps (>= 1)
//   concat  (in_0, ..., in_{k-1}, out); ints[0] = axis
// Each reads through a view of its input (permuted, sliced) or writes through
// a view of its output (concat), one vector load and one vector store per
// output vector. A view whose dim-0 stride is not 1 (a permute that moves dim
// 0) makes strided loads, which the MemoryPort serves per span or per element.
#include "kernel_util.h"
#include "kernels.h"

namespace kiln::kernels::lib {
namespace {

// ---- permute ----
Status validate_permute(const KernelArgs& args) {
  KILN_RETURN_IF_ERROR(expect_tensor_count(args, 2, 2, "(in, out)"));
  const TensorDesc& in = args.tensors[0];
  const TensorDesc& out = args.tensors[1];
  KILN_RETURN_IF_ERROR(expect_same_dtype(out, in, "out", "in"));
  if (args.num_ints < in.rank) {
    return invalid_argument("needs ints[0.." + std::to_string(in.rank) + ") = perm, got " +
                            std::to_string(args.num_ints) + " ints");
  }
  bool seen[kMaxDims] = {};
  Dims want = {1, 1, 1, 1, 1};
  for (int i = 0; i < in.rank; ++i) {
    const int64_t p = args.ints[static_cast<size_t>(i)];
    if (p < 0 || p >= in.rank || seen[p]) {
      return invalid_argument("ints[0.." + std::to_string(in.rank) + ") is not a permutation of 0.." +
                              std::to_string(in.rank - 1));
    }
    seen[p] = true;
    want[i] = in.dims[p];
  }
  return expect_dims(out, want, "out");
}

IndexSpace permute_space(const KernelArgs& args) {
  return vector_row_space(args.tensors[1], lanes_per_vector(args.tensors[1].dtype));
}

void permute_run(KernelContext& ctx) {
  const TensorDesc& in = ctx.tensor(0);
  const TensorDesc& out = ctx.tensor(1);
  int perm[kMaxDims] = {0, 1, 2, 3, 4};
  for (int i = 0; i < in.rank; ++i) perm[i] = static_cast<int>(ctx.args().ints[static_cast<size_t>(i)]);
  const TensorDesc view = in.permuted_view(std::span<const int>(perm, kMaxDims));
  for_each_vector(ctx, out, lanes_per_vector(out.dtype), [&](const Coord& c) { copy_vector(ctx, view, c, out, c); });
}

// ---- slice ----
Status validate_slice(const KernelArgs& args) {
  KILN_RETURN_IF_ERROR(expect_tensor_count(args, 2, 2, "(in, out)"));
  const TensorDesc& in = args.tensors[0];
  const TensorDesc& out = args.tensors[1];
  KILN_RETURN_IF_ERROR(expect_same_dtype(out, in, "out", "in"));
  for (int d = 0; d < kMaxDims; ++d) {
    const int64_t start = args.int_or(d, 0);
    const int64_t step = args.int_or(kMaxDims + d, 1);
    if (start < 0 || step < 1) {
      return invalid_argument("dim " + std::to_string(d) + ": start " + std::to_string(start) + " must be >= 0 and step " +
                              std::to_string(step) + " >= 1");
    }
    if (out.dims[d] > 0 && start + (out.dims[d] - 1) * step >= in.dims[d]) {
      return invalid_argument("dim " + std::to_string(d) + ": " + std::to_string(out.dims[d]) + " elements from " +
                              std::to_string(start) + " every " + std::to_string(step) + " run past in.dims[" +
                              std::to_string(d) + "] = " + std::to_string(in.dims[d]));
    }
  }
  return Status::ok_status();
}

void slice_run(KernelContext& ctx) {
  const TensorDesc& out = ctx.tensor(1);
  TensorDesc view = ctx.tensor(0);
  for (int d = 0; d < kMaxDims; ++d) {
    view = view.sliced_view(d, ctx.args().int_or(d, 0), out.dims[d], ctx.args().int_or(kMaxDims + d, 1));
  }
  for_each_vector(ctx, out, lanes_per_vector(out.dtype), [&](const Coord& c) { copy_vector(ctx, view, c, out, c); });
}

// ---- concat ----
Status validate_concat(const KernelArgs& args) {
  KILN_RETURN_IF_ERROR(expect_tensor_count(args, 2, kMaxTensorArgs, "(in_0, ..., in_{k-1}, out), k in 1..7"));
  const int k = args.num_tensors - 1;
  const TensorDesc& out = args.tensors[static_cast<size_t>(k)];
  const int64_t axis = args.int_or(0, 0);
  KILN_RETURN_IF_ERROR(expect_axis(axis, out));
  int64_t total = 0;
  for (int i = 0; i < k; ++i) {
    const TensorDesc& in = args.tensors[static_cast<size_t>(i)];
    const std::string name = "in_" + std::to_string(i);
    KILN_RETURN_IF_ERROR(expect_same_dtype(in, out, name.c_str(), "out"));
    Dims want = out.dims;
    want[axis] = in.dims[axis];
    KILN_RETURN_IF_ERROR(expect_dims(in, want, name.c_str()));
    total += in.dims[axis];
  }
  if (total != out.dims[axis]) {
    return invalid_argument("inputs add up to " + std::to_string(total) + " along axis " + std::to_string(axis) +
                            " but out.dims[" + std::to_string(axis) + "] = " + std::to_string(out.dims[axis]));
  }
  return Status::ok_status();
}

IndexSpace concat_space(const KernelArgs& args) {
  const TensorDesc& out = args.tensors[static_cast<size_t>(args.num_tensors - 1)];
  if (args.int_or(0, 0) == 0) return row_space(out);
  return vector_row_space(out, lanes_per_vector(out.dtype));
}

void concat_run(KernelContext& ctx) {
  const int k = ctx.args().num_tensors - 1;
  const TensorDesc& out = ctx.tensor(k);
  const int axis = static_cast<int>(ctx.args().int_or(0, 0));
  const int lanes = lanes_per_vector(out.dtype);
  if (axis == 0) {
    // Per row: each input's row lands in its own window of the output row.
    for_each_row(ctx, out, [&](Coord c) {
      int64_t offset = 0;
      for (int i = 0; i < k; ++i) {
        const TensorDesc& in = ctx.tensor(i);
        const TensorDesc window = out.sliced_view(0, offset, in.dims[0]);
        for (c[0] = 0; c[0] < in.dims[0]; c[0] += lanes) copy_vector(ctx, in, c, window, c);
        offset += in.dims[0];
      }
    });
    return;
  }
  for_each_vector(ctx, out, lanes, [&](const Coord& c) {
    Coord src = c;
    for (int i = 0; i < k; ++i) {
      const int64_t n = ctx.tensor(i).dims[axis];
      if (src[axis] < n) {
        copy_vector(ctx, ctx.tensor(i), src, out, c);
        return;
      }
      src[axis] -= n;
      ctx.count(OpClass::kScalarAlu);
    }
  });
}

}  // namespace

void append_data_movement_kernels(std::vector<KernelDef>& out) {
  out.push_back(KernelDef{"permute", permute_run, permute_space, validate_permute,
                          "permute(in: T, out: T), T any dtype; ints[0..rank) = perm, "
                          "out.dims[i] = in.dims[perm[i]]",
                          0});
  out.push_back(KernelDef{"slice", slice_run, permute_space, validate_slice,
                          "slice(in: T, out: T), T any dtype; ints[0..5) = starts, ints[5..10) = steps "
                          "(default 1); out.dims = counts",
                          0});
  out.push_back(KernelDef{"concat", concat_run, concat_space, validate_concat,
                          "concat(in_0: T, ..., in_{k-1}: T, out: T), k in 1..7, T any dtype; "
                          "ints[0] = axis",
                          0});
}

}  // namespace kiln::kernels::lib
