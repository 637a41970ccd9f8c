// fuse_sdpa: the composed attention pattern becomes one fused attention node
// (kFusedSdpa, lowered by sdpa_lowering.h):
//
//   matmul(q, k^T) -> mul(scalar) [-> add(mask) | where(cond, ., -inf)]
//                  -> softmax(last dim) -> matmul(., v)
//
// what scaled_dot_product_attention records, and what users build by hand
// with an additive mask or a boolean one (where with -inf, either way
// round: a where hiding where cond is false, or true). A boolean mask
// becomes an additive one, where(cond, 0, -inf), of the condition's shape
// (a causal mask is usually a folded constant; its additive form is made
// on the device like any other op). Taken only when it is unambiguous:
// every intermediate has that one reader and the step does not keep it, the
// scale is a scalar constant, the softmax is over the keys, q, k and v
// share their batch dims (rank 2 to 4) and dtype, and the fused node's tiles
// fit the SRAM budget.
//
// Internal to kiln_runtime.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "graph.h"

namespace kiln::runtime {

// As the fusion passes (fusion.h): rewrites in place, one log line per fusion.
std::vector<std::string> fuse_sdpa(Graph& g, std::vector<int>& order, const std::set<int>& outputs,
                                   uint64_t sram_budget);

}  // namespace kiln::runtime
