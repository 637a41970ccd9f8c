// ONNX's operator schemas as the frontend's shape inference uses them:
// libonnx's own, but for checks its inference functions lack where a
// hostile model made them read out of bounds (1.12).
//
// Thread-safe: built once, read only.
#pragma once

#include "onnx_includes.h"

namespace kiln::frontend::detail {

// Pass to onnx::shape_inference::InferShapes instead of
// OpSchemaRegistry::Instance(). Convolutions (Conv, ConvInteger,
// QLinearConv, ConvTranspose, every opset) first check that W has X's rank:
// libonnx takes the kernel from W's dims and indexes X's dims, pads and
// strides by it unchecked (a SIGSEGV for a W of 187 dims). A mismatch fails
// inference naming both ranks.
const onnx::ISchemaRegistry* guarded_schemas();

}  // namespace kiln::frontend::detail
