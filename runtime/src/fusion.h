// Fusion passes of the graph compiler. Each rewrites the graph in place and
// returns what it fused, one line per fusion, for the compile log.
//
//   fuse_epilogue  a GEMM or convolution followed by a bias add and/or an
//                  activation the matrix engine's epilogue applies (relu,
//                  gelu, silu) becomes one MME job: the output is written
//                  once instead of being read and written again per op.
//
// A fusion only takes a value that nothing else reads and that the step does
// not keep. Internal to kiln_runtime.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "graph.h"

namespace kiln::runtime {

// `order`: the nodes to run, in a valid order (fused nodes are removed from
// it); `outputs`: the values the step keeps.
std::vector<std::string> fuse_epilogue(Graph& g, std::vector<int>& order, const std::set<int>& outputs);

}  // namespace kiln::runtime
