// Initializers stored outside the .onnx file: ONNX's external-data format
// (TensorProto.data_location EXTERNAL, key/value entries "location",
// "offset", "length"), which is how models above protobuf's 2 GiB limit are
// saved (onnx.save_model(..., save_as_external_data=True), torch.onnx's
// large-model export).
//
// Internal to kiln_onnx. Errors name the initializer and the file.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "kiln/common/status.h"
#include "kiln/frontend/host_tensor.h"
#include "model_file.h"
#include "onnx_includes.h"

namespace kiln::frontend::detail {

// In timing-only runs a present data file is still checked (size), but its
// bytes are read only for tensors this small: they may be parameters a
// lowering reads on the host (a Reshape's shape); weights are not read.
inline constexpr uint64_t kTimingOnlyReadLimit = 64 * 1024;

// The initializers stored outside their TensorProto.
struct ExternalData {
  // Name -> values, read in place from a mapping of their file.
  std::map<std::string, HostBytes> present;
  // Name -> data file, for those loaded as shapes only (timing-only).
  std::map<std::string, std::string> absent;
};

// Resolves every external initializer of `model` (the file `model_path`;
// `model_mapping`, if not null, is that file's mapping: read_model_file
// leaves large weights in it as external data of the file itself).
// Locations are relative to the model's directory and must stay inside it:
// an absolute path or one climbing out with '..' is refused. A present
// file's bytes [offset, offset + length) (length: to the end of the file if
// not given) are the tensor's values; they must be exactly what its dtype
// and shape need. A missing file fails, unless `timing_only`: then the
// tensor's values are absent (so are a large tensor's whose file is present,
// see kTimingOnlyReadLimit) and only its shape is used.
//
// Every external initializer stays EXTERNAL in `model`, its location
// pointed at the model file itself: ONNX 1.12's checker stats each location
// relative to the process's working directory, and the model file is the
// one path known to exist.
Result<ExternalData> resolve_external_data(onnx::ModelProto& model, const std::string& model_path, bool timing_only,
                                           std::shared_ptr<const MappedFile> model_mapping);

// An absent initializer as a HostTensor with its dtype and shape and no data.
Result<HostTensor> shape_only(const onnx::TensorProto& proto, const std::string& what);

}  // namespace kiln::frontend::detail
