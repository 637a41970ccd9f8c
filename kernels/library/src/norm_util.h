// Normalisation groups, shared by norm.cpp (layer_norm, rms_norm) and
// add_norm.cpp (add_layer_norm, add_rms_norm). Internal to kiln_kernels.
//
// A group is one position of the outer dims k..4 of x: the k innermost dims
// are normalised together. One index point per group; a group is walked as
// its dim-0 rows, each in vectors, accumulating lane-wise, with one
// cross-lane reduction per statistic.
#pragma once

#include "kernel_util.h"

namespace kiln::kernels::lib {

inline int norm_dims(const KernelArgs& args) { return static_cast<int>(args.int_or(0, 1)); }

// Checks k = ints[0] against x's rank, and the `count` affine tensors from
// args.tensors[first] (gamma, then beta): x's dtype, dims {d0..d(k-1)}.
Status validate_norm_dims(const KernelArgs& args, const TensorDesc& x);
Status validate_affine(const KernelArgs& args, int k, int first, int count);

// {groups}.
IndexSpace norm_space(const KernelArgs& args);

// A group of x: its outer coords and the shape of its dim-0 rows.
struct Group {
  Coord base;         // c[k..4] set, the rest 0
  Dims inner;         // dims 1..k-1 of x, 1 elsewhere
  int64_t rows = 1;   // product of inner
};

// 1/n for the means (0 for an empty group, which is never visited).
float inverse_count(const TensorDesc& x, int k);

// The dims that enumerate groups: dims 1..k-1 belong to the group, so they
// are 1 here and row_coord() over these dims yields a group's outer coords.
Dims outer_dims(const TensorDesc& x, int k);
int64_t group_elements(const TensorDesc& x, int k);

// Calls f(c) for every vector of the group (rows outer, dim 0 inner).
template <typename F>
void for_each_group_vector(const TensorDesc& x, const Group& g, F&& f) {
  const int lanes = lanes_per_vector(x.dtype);
  for (int64_t r = 0; r < g.rows; ++r) {
    Coord c = row_coord(g.inner, r);
    for (int d = 1; d < kMaxDims; ++d) c[d] += g.base[d];
    for (c[0] = 0; c[0] < x.dims[0]; c[0] += lanes) f(c);
  }
}

// Calls f(group) for every group of the slice.
template <typename F>
void for_each_group(KernelContext& ctx, const TensorDesc& x, F&& f) {
  const int k = norm_dims(ctx.args());
  const Dims outer = outer_dims(x, k);
  Group g;
  g.inner = {1, 1, 1, 1, 1};
  for (int d = 1; d < k; ++d) g.inner[d] = x.dims[d];
  g.rows = g.inner[1] * g.inner[2] * g.inner[3] * g.inner[4];
  if (group_elements(x, k) == 0) return;
  const IndexSlice& s = ctx.slice();
  for (int64_t i = s.begin[0]; i < s.end[0] && !ctx.faulted(); ++i) {
    g.base = row_coord(outer, i);
    f(g);
  }
}

// The optional affine parameters of a launch (null when absent).
struct Affine {
  const TensorDesc* gamma = nullptr;
  const TensorDesc* beta = nullptr;
};

// The rest of layer_norm once a group's mean is known: the biased variance
// from a second pass over src, then out = (src - mean) * rsqrt(var + eps)
// [* gamma + beta].
void layer_norm_finish(KernelContext& ctx, const TensorDesc& src, const TensorDesc& out, const Group& g, float mean,
                       float eps, const Affine& affine);
// The rest of rms_norm once a group's mean square is known:
// out = src * rsqrt(ms + eps) [* gamma].
void rms_norm_finish(KernelContext& ctx, const TensorDesc& src, const TensorDesc& out, const Group& g, float ms,
                     float eps, const Affine& affine);

}  // namespace kiln::kernels::lib
