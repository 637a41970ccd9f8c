// Shapes, in numpy order: the outermost dimension first, as PyTorch and ONNX
// write them. (The kernel layer's descriptors count dim 0 as the innermost;
// the runtime reverses at the boundary.)
//
// Plain functions over plain values; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kiln/common/dtype.h"

namespace kiln::runtime {

using kiln::DType;
using Shape = std::vector<int64_t>;

// Product of the dims (1 for a scalar, rank 0).
int64_t numel(const Shape& shape);
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
