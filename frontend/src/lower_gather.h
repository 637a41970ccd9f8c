// Element-wise gathers built from the runtime's index_select over a
// flattened tensor: the flat index of every picked element is computed on
// the device from the indices and arange-made coordinates.
#pragma once

#include "lowering.h"

namespace kiln::frontend::detail {

// ONNX indices (int32/int64, negative counting from the end of a dim of
// size `dim`) as the non-negative int32 the runtime's gathers take.
Result<Tensor> wrap_indices(runtime::Runtime& rt, const Tensor& indices, int64_t dim);

// out[c] = x[c with c[axis] replaced by indices[c]] (ONNX GatherElements,
// torch.gather): indices are non-negative int32 of x's rank, and out has
// their shape. x's other dims must be at least the indices' there.
Result<Tensor> gather_elements(runtime::Runtime& rt, const Tensor& x, const Tensor& indices, int axis);

void add_gather_ops(OpTable& table);

}  // namespace kiln::frontend::detail
