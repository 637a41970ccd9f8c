// Helpers shared by the library's kernels: argument checks, index spaces and
// slice iteration. Internal to kiln_kernels; built only on the public API.
#pragma once

#include <initializer_list>
#include <string>
#include <vector>

#include "kiln/kernels/kernel_api.h"

namespace kiln::kernels::lib {

constexpr int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// ---- validation (messages name the argument and the problem) ----
Status expect_tensor_count(const KernelArgs& args, int min, int max, const char* layout);
Status expect_float(const TensorDesc& t, const char* what);
Status expect_dtype(const TensorDesc& t, DType dtype, const char* what);
// One of `dtypes` ("out has dtype bool; expected f32, bf16, f16, i32 or i64").
Status expect_one_of(const TensorDesc& t, std::initializer_list<DType> dtypes, const char* what);
inline constexpr std::initializer_list<DType> kNumericDTypes = {DType::kF32, DType::kBF16, DType::kF16, DType::kI32,
                                                                DType::kI64};
inline constexpr std::initializer_list<DType> kAllDTypes = {DType::kF32, DType::kBF16, DType::kF16,
                                                            DType::kI32, DType::kI64,  DType::kBool};
Status expect_same_dtype(const TensorDesc& t, const TensorDesc& ref, const char* what, const char* ref_name);
Status expect_same_dims(const TensorDesc& t, const TensorDesc& ref, const char* what, const char* ref_name);
Status expect_dims(const TensorDesc& t, const Dims& dims, const char* what);
Status expect_broadcastable(const TensorDesc& t, const TensorDesc& out, const char* what);
Status expect_axis(int64_t axis, const TensorDesc& t);
std::string dims_string(const Dims& dims, int rank);

// ---- index spaces ----
// {vectors along dim 0, rows}: one point per output vector; the rows (dims
// 1..4 flattened) are the outer dim, which the launch splits first.
IndexSpace vector_row_space(const TensorDesc& out, int lanes);
// {rows}: one point per dim-0 row.
IndexSpace row_space(const TensorDesc& t);
// The descriptor with dims[axis] = 1. Kernels that walk an axis other than 0
// iterate its vectors: each is the start of one vector-wide line along the axis.
TensorDesc collapse_axis(const TensorDesc& t, int axis);

// Calls f(c) for every vector coordinate of a vector_row_space slice, rows
// outer. Stops at a row boundary once the context has faulted.
template <typename F>
void for_each_vector(KernelContext& ctx, const TensorDesc& out, int lanes, F&& f) {
  const IndexSlice& s = ctx.slice();
  for (int64_t row = s.begin[1]; row < s.end[1] && !ctx.faulted(); ++row) {
    Coord c = row_coord(out.dims, row);
    for (int64_t v = s.begin[0]; v < s.end[0]; ++v) {
      c[0] = v * lanes;
      f(c);
    }
  }
}

// Calls f(c) with c[0] = 0 for every row of a row_space slice.
template <typename F>
void for_each_row(KernelContext& ctx, const TensorDesc& t, F&& f) {
  const IndexSlice& s = ctx.slice();
  for (int64_t row = s.begin[0]; row < s.end[0] && !ctx.faulted(); ++row) f(row_coord(t.dims, row));
}

// Copies one vector (lanes_per_vector(dst.dtype) elements) from src at sc to
// dst at dc without conversion: one load, one store. src and dst share a dtype.
// Lanes outside src read `pad` (in src's dtype; rounded to nearest for i32).
void copy_vector(KernelContext& ctx, const TensorDesc& src, const Coord& sc, const TensorDesc& dst,
                 const Coord& dc, float pad = 0.0f);

}  // namespace kiln::kernels::lib
