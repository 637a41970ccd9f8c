// Shape arithmetic shared by the host folding of shape computations
// (fold.cpp) and the device lowerings: exact integer values of host
// tensors, numpy broadcasting, ONNX Slice's clamping rules.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kiln/common/status.h"
#include "kiln/frontend/host_tensor.h"

namespace kiln::frontend::detail {

// Element values of an integer or bool tensor, exact for int64 (Slice ends
// of INT64_MAX must not pass through a double); floats are truncated.
std::vector<int64_t> int_values(const HostTensor& t);
// A dense int32/int64/bool host tensor of `values` (converted to `dtype`).
HostTensor int_tensor(DType dtype, std::vector<int64_t> shape, const std::vector<int64_t>& values);
int64_t numel_of(const std::vector<int64_t>& shape);
bool is_int_dtype(DType d);  // int32, int64 or bool: what folding works on

// Numpy's broadcast of several shapes, or an error naming them.
// "[2, 3]" (-1 for a dim of unknown size) for messages.
std::string shape_string(const std::vector<int64_t>& shape);
Result<std::vector<int64_t>> broadcast_shapes(const std::vector<std::vector<int64_t>>& shapes);

// One sliced axis after ONNX's rules: negative starts/ends count from the
// end, then clamp to [0, dim] (step > 0) or [-1, dim - 1] (step < 0).
struct SliceDim {
  int axis = 0;
  int64_t start = 0;
  int64_t step = 1;
  int64_t count = 0;  // elements taken
};
// starts/ends/axes/steps as Slice's inputs (axes and steps may be empty:
// all leading axes, steps of 1). Errors name the bad argument.
Result<std::vector<SliceDim>> slice_dims(const std::vector<int64_t>& shape, const std::vector<int64_t>& starts,
                                         const std::vector<int64_t>& ends, const std::vector<int64_t>& axes,
                                         const std::vector<int64_t>& steps);

// Row-major strides of a shape, in elements.
std::vector<int64_t> strides_of(const std::vector<int64_t>& shape);

}  // namespace kiln::frontend::detail
