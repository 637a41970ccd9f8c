// Shapes, in numpy order: the outermost dimension first, as PyTorch and ONNX
// write them. (The kernel layer's descriptors count dim 0 as the innermost;
// the runtime reverses at the boundary.)
//
// Plain functions over plain values; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/common/dtype.h"
#include "kiln/common/status.h"
#include "kiln/runtime/shape_vector.h"

namespace kiln::runtime {

using kiln::DType;

// Product of the dims (1 for a scalar, rank 0); saturates at INT64_MAX (a
// tensor that large is refused where it is made: check_shape).
int64_t numel(const Shape& shape);
// The most elements a tensor can have: the device's kernel argument blocks
// carry no more (kiln/kernels/tensor.h).
inline constexpr int64_t kMaxElements = int64_t{1} << 48;
// INVALID_ARGUMENT, starting "<what>: ", for more than kMaxRank dims, a
// negative dim, or more than kMaxElements elements (an empty dim counted as
// 1); OK otherwise.
Status check_shape(std::string_view what, const Shape& shape);
// "[2, 3, 4]".
std::string to_string(const Shape& shape);
// Row-major strides, in elements.
Shape contiguous_strides(const Shape& shape);
// The numpy broadcast of two shapes, or nullopt if they do not broadcast.
std::optional<Shape> broadcast_shapes(const Shape& a, const Shape& b);
// A dimension index, negative counting from the end; nullopt if out of range.
std::optional<int> normalize_dim(int64_t dim, int rank);

// The most dimensions a tensor may have (the vector cores address five).
inline constexpr int kMaxRank = 5;

}  // namespace kiln::runtime
