// The kernel test table: the case type, the helpers that build cases, and the
// builders of each group (kernel_table_cases*.cpp); kernel_table_test.cpp
// runs them. See kernel_table_test.cpp for what is checked and the tolerances.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "kiln/kernels/kernel_api.h"

namespace kiln::kernels::test {

struct TensorSpec {
  std::vector<int64_t> dims;  // innermost first
  DType dtype = DType::kF32;
  double lo = -1.0, hi = 1.0;
  bool integral = false;    // whole numbers in [lo, hi) (always for i32/i64)
  bool full_range = false;  // i32/i64: uniform over the whole type after the hostile values (both ends, -1, 0, ...)
  bool specials = false;    // floats: the first elements are hostile values (NaN, +-inf, -0, huge, ties)
};

struct KernelCase {
  std::string kernel;
  std::string label;
  DType dtype = DType::kF32;  // the dtype the case is filed under
  std::vector<TensorSpec> inputs;
  TensorSpec out;
  std::vector<int64_t> ints;
  std::vector<float> floats;
  double rtol = 0.0, atol = 0.0;
  std::vector<TensorSpec> extra_outs;  // outputs after `out` (add_layer_norm's sum)
};

// A float (or any) tensor with values uniform in [lo, hi).
TensorSpec T(std::vector<int64_t> dims, DType dt, double lo = -1.0, double hi = 1.0);
// i32 whole numbers in [lo, hi).
TensorSpec I(std::vector<int64_t> dims, double lo, double hi);
// An i32 or i64 tensor uniform over its whole range.
TensorSpec Full(std::vector<int64_t> dims, DType dt);
// A bool tensor: each element 0 or non-zero (0, 1, 2 or 255: any non-zero byte is true).
TensorSpec B(std::vector<int64_t> dims);

// The tolerance of a case by its output dtype (see kernel_table_test.cpp);
// integer and bool outputs are always exact.
void set_tol(KernelCase& c, bool accumulates, bool exact);
KernelCase make_case(std::string kernel, std::string label, DType dt, std::vector<TensorSpec> in, TensorSpec out,
                     std::vector<int64_t> ints = {}, std::vector<float> floats = {}, bool accumulates = false,
                     bool exact = false);
std::vector<int64_t> reduced(std::vector<int64_t> dims, size_t axis);

// Float kernels, for d in f32, bf16, f16 (kernel_table_cases.cpp).
void add_elementwise(std::vector<KernelCase>& cases, DType d);
void add_reductions(std::vector<KernelCase>& cases, DType d);
void add_data_movement(std::vector<KernelCase>& cases, DType d);
void add_pooling(std::vector<KernelCase>& cases, DType d);
// resize (kernel_table_resize_cases.cpp).
void add_resize(std::vector<KernelCase>& cases, DType d);
// Integer, bool and mixed-dtype kernels (kernel_table_dtype_cases.cpp).
void add_dtype_cases(std::vector<KernelCase>& cases);
// Fused kernels (kernel_table_fused_cases.cpp).
void add_fused_cases(std::vector<KernelCase>& cases);
// Fused attention's kernels (kernel_table_sdpa_cases.cpp).
void add_sdpa_cases(std::vector<KernelCase>& cases);

// gtest's printer for a case (kernel_table_test.cpp).
void PrintTo(const KernelCase& c, std::ostream* os);

// Every case of the table.
std::vector<KernelCase> build_cases();

}  // namespace kiln::kernels::test
