#include "kernel_util.h"

#include <cmath>

namespace kiln::kernels::lib {

std::string dims_string(const Dims& dims, int rank) {
  std::string s = "{";
  for (int d = 0; d < (rank > 0 ? rank : 1); ++d) s += (d ? ", " : "") + std::to_string(dims[d]);
  return s + "}";
}

Status expect_tensor_count(const KernelArgs& args, int min, int max, const char* layout) {
  if (args.num_tensors < min || args.num_tensors > max) {
    return invalid_argument(std::string("expects tensors ") + layout + ", got " + std::to_string(args.num_tensors));
  }
  return Status::ok_status();
}

Status expect_float(const TensorDesc& t, const char* what) {
  if (!is_float(t.dtype)) {
    return invalid_argument(std::string(what) + " has dtype " + std::string(dtype_name(t.dtype)) +
                            "; expected f32, bf16 or f16");
  }
  return Status::ok_status();
}

Status expect_one_of(const TensorDesc& t, std::initializer_list<DType> dtypes, const char* what) {
  std::string list;
  size_t i = 0;
  for (DType d : dtypes) {
    if (t.dtype == d) return Status::ok_status();
    list += (i == 0 ? "" : i + 1 == dtypes.size() ? " or " : ", ") + std::string(dtype_name(d));
    ++i;
  }
  return invalid_argument(std::string(what) + " has dtype " + std::string(dtype_name(t.dtype)) + "; expected " + list);
}

Status expect_dtype(const TensorDesc& t, DType dtype, const char* what) {
  if (t.dtype != dtype) {
    return invalid_argument(std::string(what) + " has dtype " + std::string(dtype_name(t.dtype)) + "; expected " +
                            std::string(dtype_name(dtype)));
  }
  return Status::ok_status();
}

Status expect_same_dtype(const TensorDesc& t, const TensorDesc& ref, const char* what, const char* ref_name) {
  if (t.dtype != ref.dtype) {
    return invalid_argument(std::string(what) + " has dtype " + std::string(dtype_name(t.dtype)) + " but " +
                            ref_name + " has " + std::string(dtype_name(ref.dtype)));
  }
  return Status::ok_status();
}

Status expect_same_dims(const TensorDesc& t, const TensorDesc& ref, const char* what, const char* ref_name) {
  if (t.dims != ref.dims) {
    return invalid_argument(std::string(what) + " has dims " + dims_string(t.dims, t.rank) + " but " + ref_name +
                            " has " + dims_string(ref.dims, ref.rank));
  }
  return Status::ok_status();
}

Status expect_dims(const TensorDesc& t, const Dims& dims, const char* what) {
  if (t.dims != dims) {
    return invalid_argument(std::string(what) + " has dims " + dims_string(t.dims, t.rank) + "; expected " +
                            dims_string(dims, kMaxDims));
  }
  return Status::ok_status();
}

Status expect_broadcastable(const TensorDesc& t, const TensorDesc& out, const char* what) {
  if (!broadcastable_to(t, out.dims)) {
    return invalid_argument(std::string(what) + " dims " + dims_string(t.dims, t.rank) +
                            " do not broadcast to out dims " + dims_string(out.dims, out.rank));
  }
  return Status::ok_status();
}

Status expect_axis(int64_t axis, const TensorDesc& t) {
  if (axis < 0 || axis >= kMaxDims || (t.rank > 0 && axis >= t.rank)) {
    return invalid_argument("axis " + std::to_string(axis) + " is outside 0.." +
                            std::to_string((t.rank > 0 ? t.rank : 1) - 1));
  }
  return Status::ok_status();
}

IndexSpace vector_row_space(const TensorDesc& out, int lanes) {
  IndexSpace s;
  s.rank = 2;
  s.size[0] = ceil_div(out.dims[0], lanes);
  s.size[1] = out.rows();
  return s;
}

IndexSpace row_space(const TensorDesc& t) {
  IndexSpace s;
  s.rank = 1;
  s.size[0] = t.rows();
  return s;
}

TensorDesc collapse_axis(const TensorDesc& t, int axis) {
  TensorDesc c = t;
  c.dims[axis] = 1;
  return c;
}

void copy_vector(KernelContext& ctx, const TensorDesc& src, const Coord& sc, const TensorDesc& dst,
                 const Coord& dc, float pad) {
  // Lanes past the source row read as padding; the destination bounds decide
  // what is written. Callers keep the two rows aligned.
  switch (dst.dtype) {
    case DType::kF32: ctx.store(dst, dc, ctx.load_f32(src, sc, pad)); break;
    case DType::kBF16: ctx.store(dst, dc, ctx.load_bf16(src, sc, bf16::from_float(pad))); break;
    case DType::kF16: ctx.store(dst, dc, ctx.load_f16(src, sc, f16::from_float(pad))); break;
    case DType::kI32: ctx.store(dst, dc, ctx.load_i32(src, sc, static_cast<int32_t>(std::lrint(pad)))); break;
    case DType::kI64: ctx.store(dst, dc, ctx.load_i64(src, sc, static_cast<int64_t>(std::llrint(pad)))); break;
    case DType::kBool: ctx.store(dst, dc, ctx.load_bool(src, sc, kBoolLanes, pad != 0.0f)); break;
  }
}

}  // namespace kiln::kernels::lib
