// Reading ONNX tensors (TensorProto) through the ONNX project's generated
// classes (model files: model_file.h). Internal to kiln_onnx: the only place
// with dtype conversions between onnx.TensorProto and HostTensor.
#pragma once

#include <optional>
#include <string>

#include "kiln/frontend/host_tensor.h"
#include "onnx_includes.h"

namespace kiln::frontend::detail {

// The Kiln dtype of an ONNX TensorProto.DataType, or nullopt if Kiln has none.
std::optional<DType> to_kiln_dtype(int32_t onnx_type);
// "DOUBLE", "UINT8" ... for messages.
std::string onnx_dtype_name(int32_t onnx_type);

Result<HostTensor> from_tensor_proto(const onnx::TensorProto& proto, const std::string& what);
// The same, but raw_data's bytes move into the result instead of being
// copied (proto's raw_data is left empty on success).
Result<HostTensor> take_tensor_proto(onnx::TensorProto& proto, const std::string& what);
Result<HostTensor> read_tensor_proto_file(const std::string& path);

}  // namespace kiln::frontend::detail
