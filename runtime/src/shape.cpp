#include "kiln/runtime/shape.h"

#include <algorithm>
#include <limits>

namespace kiln::runtime {

int64_t numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (__builtin_mul_overflow(n, d, &n)) return std::numeric_limits<int64_t>::max();
  }
  return n;
}

Status check_shape(std::string_view what, const Shape& shape) {
  // Called for every recorded op: no string is built unless it fails.
  auto fail = [&](const std::string& why) { return invalid_argument(std::string(what) + ": " + why); };
  if (static_cast<int>(shape.size()) > kMaxRank) return fail("more than 5 dims in " + to_string(shape));
  for (int64_t d : shape) {
    if (d < 0) return fail("negative size in " + to_string(shape));
  }
  // Counted as the kernel layer counts them, an empty dim as 1: its tensor
  // descriptors must hold every dim of an empty tensor too.
  int64_t extent = 1;
  for (int64_t d : shape) {
    if (__builtin_mul_overflow(extent, std::max<int64_t>(d, 1), &extent) || extent > kMaxElements) {
      return fail(to_string(shape) + " has more than 2^48 elements, the most a tensor can have");
    }
  }
  return {};
}

std::string to_string(const Shape& shape) {
  std::string out = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size(), 1);
  for (int i = static_cast<int>(shape.size()) - 2; i >= 0; --i) {
    strides[static_cast<std::size_t>(i)] = strides[static_cast<std::size_t>(i) + 1] * shape[static_cast<std::size_t>(i) + 1];
  }
  return strides;
}

std::optional<Shape> broadcast_shapes(const Shape& a, const Shape& b) {
  const std::size_t rank = std::max(a.size(), b.size());
  Shape out(rank, 1);
  for (std::size_t i = 0; i < rank; ++i) {
    const int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1) return std::nullopt;
    out[i] = da == 1 ? db : da;
  }
  return out;
}

std::optional<int> normalize_dim(int64_t dim, int rank) {
  if (dim < 0) dim += rank;
  if (dim < 0 || dim >= rank) return std::nullopt;
  return static_cast<int>(dim);
}

}  // namespace kiln::runtime
