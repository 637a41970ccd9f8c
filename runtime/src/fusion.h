// Fusion passes of the graph compiler. Each rewrites the graph in place and
// returns what it fused, one line per fusion, for the compile log.
//
//   fuse_epilogue  a GEMM or convolution followed by a bias add and/or an
//                  activation the matrix engine's epilogue applies (relu,
//                  gelu, silu) becomes one MME job: the output is written
//                  once instead of being read and written again per op.
//   fuse_elementwise  a chain (a tree) of elementwise ops over one output
//                  shape, with the scalar constants they read, becomes one
//                  fused_elementwise kernel: each input read once, the
//                  output written once, no intermediates in memory.
//   fuse_add_norm  a residual add followed by layer or RMS norm of the sum
//                  becomes one add_layer_norm / add_rms_norm kernel, which
//                  writes the sum too (the next residual reads it).
//   fuse_shared_input_gemms  GEMMs reading one input with different
//                  weights (fused QKV) become one GEMM over the weights (and
//                  biases) stacked into a packed input (Value::packed_from);
//                  their readers read their columns of its output.
//
// A fusion only takes a value that nothing else reads and that the step does
// not keep. Internal to kiln_runtime.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "graph.h"

namespace kiln::runtime {

// Who reads each value, among the nodes in `order` (shared by the passes).
std::map<int, std::vector<int>> readers_of(const Graph& g, const std::vector<int>& order);
// The single node reading `value` once, as a whole and densely, in the same
// fusion group, if the step does not keep it; else -1.
int sole_dense_reader(const Graph& g, const std::map<int, std::vector<int>>& readers, const std::set<int>& outputs,
                      int value);

// `order`: the nodes to run, in a valid order (fused nodes are removed from
// it); `outputs`: the values the step keeps.
std::vector<std::string> fuse_epilogue(Graph& g, std::vector<int>& order, const std::set<int>& outputs);
std::vector<std::string> fuse_elementwise(Graph& g, std::vector<int>& order, const std::set<int>& outputs);
std::vector<std::string> fuse_add_norm(Graph& g, std::vector<int>& order, const std::set<int>& outputs);
std::vector<std::string> fuse_shared_input_gemms(Graph& g, std::vector<int>& order, const std::set<int>& outputs);

}  // namespace kiln::runtime
