// Sequence bucketing: a step whose sequence length varies (prompts of
// different lengths) runs a recipe compiled for the next bucket length up,
// so N lengths cost as many compilations as buckets they fall in.
//
// Inputs opt in with Tensor::mark_dynamic_sequence(dim), the runtime with
// RuntimeOptions::sequence_buckets. Unlike a batch row, a sequence position
// is mixed with the others by attention and by reductions, so padding is
// only sound with masks: the planner finds every dim of every value that is
// the sequence (dims are unified through each op: elementwise broadcasting,
// the rows, columns and contraction of a matmul, the kept dims of a
// reduction, ...), and where an op reduces over it inserts
// `where(mask, x, fill)` in front: -inf before a softmax or a max, 0 before
// a sum or a matmul's contraction (+inf before a min). The mask is a bool
// [padded] input bound at launch (true for the real positions), so every
// length in a bucket shares one recipe. Constants the program made of the
// sequence length (arange, full: a causal mask) are made at the padded
// length. A step is padded only when the real positions' values are exactly
// those of the unpadded step: an op that slides a window over the sequence
// (convolution, pooling), normalises over it, averages it, concatenates or
// pads along it, slices it, or folds it into another dim makes the step run
// unpadded, and the compile log says why.
//
// Internal to kiln_runtime. Pure functions.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "graph.h"

namespace kiln::runtime {

struct SequencePlan {
  int64_t length = 0;  // the step's sequence length
  int64_t padded = 0;  // the bucket it runs at
  // Per value: bit d set when dim d is the sequence.
  std::vector<uint32_t> dims;
  // Inputs to mask: node, input index, the input view's dim, the fill.
  struct Mask {
    int node = 0;
    int input = 0;
    int dim = 0;
    double fill = 0;
  };
  std::vector<Mask> masks;
};

// The plan for `g` (outputs: the values the step must produce), or nothing
// with `why` set.
std::optional<SequencePlan> plan_sequence_buckets(const Graph& g, const std::vector<int>& outputs,
                                                  const std::vector<int64_t>& buckets, std::string* why);

// Rewrites `g` to the padded length: shapes, views, the masks (reading the
// external value of `mask`, a bool [padded] tensor). Values keep their
// indices; new ones are appended.
void apply_sequence_buckets(Graph& g, const SequencePlan& plan, const std::shared_ptr<Slot>& mask);

// Contiguous runs a copy between a tensor of `real` shape and its padded
// layout (`padded`, same rank, no dim smaller) takes.
int64_t padding_runs(const Shape& real, const Shape& padded);

}  // namespace kiln::runtime
