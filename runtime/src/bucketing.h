// Bucketing: a step whose batch size varies (the last, smaller batch of an
// epoch; requests of varying size) runs a recipe compiled for the next
// bucket size up, so N sizes cost as many compilations as buckets they fall
// in, not N.
//
// Inputs opt in with Tensor::mark_dynamic_batch() (their dim 0 is the
// batch), the runtime with RuntimeOptions::batch_buckets. A step is padded
// only if every op keeps the batch rows independent — elementwise ops,
// matmuls and convolutions whose other operand is not batched (or batched
// alike), reductions, softmax and norms over other dims, embeddings — so the
// real rows' results are exactly those of the unpadded step; otherwise it
// runs unpadded and the compile log says why. Padded rows of the inputs are
// zeros; outputs keep their real shape.
//
// Internal to kiln_runtime. Pure functions.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "graph.h"

namespace kiln::runtime {

struct BucketPlan {
  int64_t batch = 0;         // the step's batch size
  int64_t padded = 0;        // the bucket it runs at
  std::vector<bool> batched;  // per value: dim 0 is the batch
};

// The plan for `g`, or nothing with `why` set (no marked input, a size past
// the largest bucket, an op that mixes batch rows).
std::optional<BucketPlan> plan_buckets(const Graph& g, const std::vector<int>& order,
                                       const std::vector<int64_t>& buckets, std::string* why);

// Rewrites the batch dim of every batched value and view to the bucket size.
void apply_buckets(Graph& g, const BucketPlan& plan);

// What a launch does around a padded step (batch, sequence or both): per
// value of the graph it runs, the shape the program sees where it differs
// from the padded one (empty: the same). Inputs are copied into the padded
// layout with zeros around them; outputs whose real elements are not one
// prefix of the padded layout are copied out of it.
struct PadPlan {
  std::vector<Shape> real;
  bool padded(int value) const {
    return static_cast<std::size_t>(value) < real.size() && !real[static_cast<std::size_t>(value)].empty();
  }
};

}  // namespace kiln::runtime
