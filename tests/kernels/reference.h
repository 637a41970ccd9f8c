// Host reference for the kernel test table: straightforward loops in double,
// written independently of the kernel API (only the op conventions are shared:
// dim 0 innermost, numpy broadcasting, keep-dims reductions, NHWC pooling).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "kiln/common/dtype.h"

namespace kiln::kernels::test {

using Shape = std::array<int64_t, 5>;  // innermost first, padded with 1

struct RefTensor {
  Shape dims = {1, 1, 1, 1, 1};
  int rank = 1;
  DType dtype = DType::kF32;
  std::vector<double> v;    // dense, dim 0 fastest (integers: as double, inexact past 2^53)
  std::vector<int64_t> iv;  // i32, i64 and bool (0/1): the exact values, same order

  int64_t size() const { return dims[0] * dims[1] * dims[2] * dims[3] * dims[4]; }
};

struct OutSpec {
  Shape dims = {1, 1, 1, 1, 1};
  DType dtype = DType::kF32;
};

// Computes the expected outputs of `kernel` for `inputs`, one per entry of
// `outs` (the shapes and dtypes the case declares): integer and bool outputs
// exactly (iv), float outputs in double (v; casts and the sums of the add_*
// norms rounded to the output dtype exactly). Fails the current test
// (ADD_FAILURE) for an unknown kernel and returns no tensors.
std::vector<RefTensor> reference(const std::string& kernel, const std::vector<RefTensor>& inputs,
                                 const std::vector<OutSpec>& outs, const std::vector<int64_t>& ints,
                                 const std::vector<float>& floats);

// The float kernels' reference (reference.cpp): one output, in double.
RefTensor reference_float(const std::string& kernel, const std::vector<RefTensor>& inputs, const Shape& out_dims,
                          const std::vector<int64_t>& ints, const std::vector<float>& floats);

// The resize kernel's reference (reference_resize.cpp): ONNX Resize over dims
// 1 and 2 of a {C, W, H, N} tensor, in double.
RefTensor resize_reference(const RefTensor& in, const Shape& out_dims, const std::vector<int64_t>& ints,
                           const std::vector<float>& floats);

// The fused attention kernels' reference (reference_sdpa.cpp), in double.
std::vector<RefTensor> sdpa_reference(const std::string& kernel, const std::vector<RefTensor>& inputs,
                                      const std::vector<OutSpec>& outs, const std::vector<int64_t>& ints,
                                      const std::vector<float>& floats);

// x rounded to the nearest value of a float dtype (f32, bf16, f16: nearest
// even, +-inf past the largest finite value, f16 subnormals), written here
// independently of the kernel API's conversions.
double round_to(double x, DType d);

}  // namespace kiln::kernels::test
