#include "kiln/kernels/index_space.h"

#include <algorithm>

namespace kiln::kernels {

int64_t IndexSpace::points() const {
  int64_t n = 1;
  for (int64_t s : size) n *= s;
  return n;
}

bool IndexSlice::empty() const {
  for (int d = 0; d < kMaxDims; ++d) {
    if (end[d] <= begin[d]) return true;
  }
  return false;
}

int64_t IndexSlice::points() const {
  if (empty()) return 0;
  int64_t n = 1;
  for (int d = 0; d < kMaxDims; ++d) n *= end[d] - begin[d];
  return n;
}

Status validate_index_space(const IndexSpace& space) {
  if (space.rank < 1 || space.rank > kMaxDims) {
    return invalid_argument("index space rank " + std::to_string(space.rank) + " is outside 1..5");
  }
  for (int d = 0; d < kMaxDims; ++d) {
    if (space.size[d] < 0) {
      return invalid_argument("index space size[" + std::to_string(d) + "] = " +
                              std::to_string(space.size[d]) + " is negative");
    }
    if (d >= space.rank && space.size[d] != 1) {
      return invalid_argument("index space size[" + std::to_string(d) + "] beyond rank " +
                              std::to_string(space.rank) + " must be 1");
    }
  }
  // Index spaces come from argument blocks that were hostile; no more points
  // than a tensor may have elements keeps points() and slice sizes in range.
  uint64_t points = 1;
  for (int d = 0; d < kMaxDims; ++d) {
    const uint64_t n = space.size[d] > 1 ? static_cast<uint64_t>(space.size[d]) : 1;
    if (__builtin_mul_overflow(points, n, &points) || points > static_cast<uint64_t>(kMaxTensorElements)) {
      return invalid_argument("index space size[" + std::to_string(d) + "] = " + std::to_string(space.size[d]) +
                              " makes more than 2^48 points");
    }
  }
  return Status::ok_status();
}

IndexSlice full_slice(const IndexSpace& space) {
  IndexSlice s;
  s.end = space.size;
  return s;
}

namespace {

int outermost_nontrivial_dim(const IndexSlice& box, int below) {
  for (int d = below - 1; d >= 0; --d) {
    if (box.end[d] - box.begin[d] > 1) return d;
  }
  return -1;
}

// Splits `box` among `cores` cores, appending their slices in core order.
// Dims at or above `below` are already fixed. When the outermost remaining
// dim has at least as many points as there are cores (or nothing lies inside
// it), it is cut into `cores` contiguous ranges; otherwise each of its points
// gets its share of the cores and is split further along the dims inside it,
// so a short outer dim does not leave cores idle.
void split_box(const IndexSlice& box, int below, int cores, std::vector<IndexSlice>& out) {
  int dim = outermost_nontrivial_dim(box, below);
  if (dim < 0) dim = 0;
  const int64_t first = box.begin[dim];
  const int64_t n = std::max<int64_t>(box.end[dim] - first, 0);
  if (n >= cores || outermost_nontrivial_dim(box, dim) < 0) {
    const int64_t base = n / cores;
    const int64_t extra = n % cores;
    int64_t at = first;
    for (int i = 0; i < cores; ++i) {
      const int64_t len = base + (i < extra ? 1 : 0);
      IndexSlice s = box;
      s.begin[dim] = at;
      s.end[dim] = at + len;
      out.push_back(s);
      at += len;
    }
    return;
  }
  const int64_t base = cores / n;
  const int64_t extra = cores % n;
  for (int64_t i = 0; i < n; ++i) {
    IndexSlice point = box;
    point.begin[dim] = first + i;
    point.end[dim] = first + i + 1;
    split_box(point, dim, static_cast<int>(base + (i < extra ? 1 : 0)), out);
  }
}

}  // namespace

std::vector<IndexSlice> split_index_space(const IndexSpace& space, int cores) {
  if (cores < 1) cores = 1;
  std::vector<IndexSlice> slices;
  slices.reserve(static_cast<size_t>(cores));
  split_box(full_slice(space), kMaxDims, cores, slices);
  // Cores without work come last, as the launch reports them in core order.
  std::stable_partition(slices.begin(), slices.end(), [](const IndexSlice& s) { return !s.empty(); });
  return slices;
}

}  // namespace kiln::kernels
