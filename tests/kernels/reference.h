// Host reference for the kernel test table: straightforward loops in double,
// written independently of the kernel API (only the op conventions are shared:
// dim 0 innermost, numpy broadcasting, keep-dims reductions, NHWC pooling).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace kiln::kernels::test {

using Shape = std::array<int64_t, 5>;  // innermost first, padded with 1

struct RefTensor {
  Shape dims = {1, 1, 1, 1, 1};
  int rank = 1;
  std::vector<double> v;  // dense, dim 0 fastest

  int64_t size() const { return dims[0] * dims[1] * dims[2] * dims[3] * dims[4]; }
};

// Computes the expected output of `kernel` for `inputs`; `out_dims` is the
// output shape the case declares. Fails the current test (ADD_FAILURE) for an
// unknown kernel and returns an empty tensor.
RefTensor reference(const std::string& kernel, const std::vector<RefTensor>& inputs, const Shape& out_dims,
                    const std::vector<int64_t>& ints, const std::vector<float>& floats);

}  // namespace kiln::kernels::test
