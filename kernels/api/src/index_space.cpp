#include "kiln/kernels/index_space.h"

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
  return Status::ok_status();
}

IndexSlice full_slice(const IndexSpace& space) {
  IndexSlice s;
  s.end = space.size;
  return s;
}

std::vector<IndexSlice> split_index_space(const IndexSpace& space, int cores) {
  if (cores < 1) cores = 1;
  int dim = 0;
  for (int d = kMaxDims - 1; d >= 0; --d) {
    if (space.size[d] > 1) {
      dim = d;
      break;
    }
  }
  const int64_t n = space.size[dim];
  const int64_t base = n / cores;
  const int64_t extra = n % cores;
  std::vector<IndexSlice> slices(static_cast<size_t>(cores), full_slice(space));
  int64_t at = 0;
  for (int i = 0; i < cores; ++i) {
    const int64_t len = base + (i < extra ? 1 : 0);
    slices[static_cast<size_t>(i)].begin[dim] = at;
    slices[static_cast<size_t>(i)].end[dim] = at + len;
    at += len;
  }
  return slices;
}

}  // namespace kiln::kernels
