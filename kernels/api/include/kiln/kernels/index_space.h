// The index space of a launch and its split among the cores.
//
// A kernel declares, from its arguments, an index space of up to five dims;
// each point is a unit of work the kernel defines (typically one vector of the
// output, or one row). The launch splits the space into one slice per core and
// runs the kernel once per slice.
//
// split_index_space is deterministic and gives every core a box. It cuts the
// OUTERMOST NON-TRIVIAL dim (the highest dim with size > 1) into contiguous
// ranges, the first (size % cores) ranges one point longer. When that dim has
// fewer points than there are cores, each of its points instead gets its share
// of the cores (the first (cores % size) points one more) and is split the same
// way along the dims inside it, so three long rows still keep 24 cores busy.
// It always returns exactly `cores` slices in core order, those with work
// first; when the space has fewer points than `cores` the last are empty.
//
// Plain values, thread-compatible; the function is pure.
#pragma once

#include <vector>

#include "kiln/common/status.h"
#include "kiln/kernels/tensor.h"

namespace kiln::kernels {

struct IndexSpace {
  int rank = 1;                      // 1..5
  Dims size = {1, 1, 1, 1, 1};       // points per dim; dims beyond rank are 1

  int64_t points() const;
};

// A box [begin, end) of the index space.
struct IndexSlice {
  Dims begin = {0, 0, 0, 0, 0};
  Dims end = {1, 1, 1, 1, 1};

  bool empty() const;
  int64_t points() const;
  friend bool operator==(const IndexSlice&, const IndexSlice&) = default;
};

// Rank 1..5, sizes >= 0, 1 beyond rank, at most kMaxTensorElements points.
Status validate_index_space(const IndexSpace& space);

// The whole space as one slice.
IndexSlice full_slice(const IndexSpace& space);

// `cores` < 1 is treated as 1.
std::vector<IndexSlice> split_index_space(const IndexSpace& space, int cores);

}  // namespace kiln::kernels
