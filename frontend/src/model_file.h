// Reading a model file: a read-only mapping of it, parsed by ONNX's
// generated protobuf classes, with large initializer weights left in the
// file instead of copied out of it.
//
// Protobuf copies every `bytes` field it parses into a std::string. For a
// model's weights that is a second copy as large as the model, in fresh
// pages (about 100 ms for ResNet-50's 100 MB on a 2-core guest, a quarter
// of a whole `kiln run`). So the walk below finds, with protobuf's own
// CodedInputStream, the boundaries of three levels of fields (the model's
// graph, the graph's initializers, an initializer's raw_data) and hands
// every other byte range to the generated classes' MergeFromCodedStream,
// with the nesting limit the piece would have had: parsing a message's
// fields in consecutive pieces merges them, which protobuf defines as the
// same as parsing them at once. A raw_data of at least
// kInFileWeightMinBytes is not parsed; the initializer is marked as ONNX
// external data pointing into the model file itself (location: the file's
// name, offset and length of the bytes), which resolve_external_data then
// reads in place like any external data.
//
// Internal to kiln_onnx.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "kiln/common/status.h"
#include "onnx_includes.h"

namespace kiln::frontend::detail {

// A whole file mapped read-only (MAP_PRIVATE). Owned through shared_ptr by
// whatever reads bytes from it (HostBytes views of weights keep it alive).
// The file must not be truncated while mapped: reading a page past its new
// end raises SIGBUS (as with any mapped weights file, e.g. onnxruntime's).
class MappedFile {
 public:
  // `populate`: fault every page in now (one call; faulting them one by
  // one as they are read costs more when all will be read).
  static Result<std::shared_ptr<const MappedFile>> open(const std::string& path, bool populate);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::byte* data() const { return data_; }
  uint64_t size() const { return size_; }

 private:
  MappedFile(const std::byte* data, uint64_t size) : data_(data), size_(size) {}
  const std::byte* data_;
  uint64_t size_;
};

// Initializers whose raw_data holds at least this many bytes stay in the
// file. Smaller ones (shapes, scales, biases) are parsed: some are read by
// ONNX's shape inference, which cannot read external data.
inline constexpr uint64_t kInFileWeightMinBytes = 64 * 1024;

struct ModelFile {
  onnx::ModelProto model;
  // The file's mapping, or null when it could not be mapped (it was read as
  // a stream, every weight copied).
  std::shared_ptr<const MappedFile> mapping;
};

// The file `path` parsed as a ModelProto, its large initializers' raw_data
// left in the file (see above). A truncated or garbage file fails as
// protobuf's own parse does (the walk gives up on anything it does not
// recognise and the whole file is parsed the plain way): the message names
// the file and its size.
Result<ModelFile> read_model_file(const std::string& path);

// The walk alone, for tests: `bytes` (the file `file_name`, mapped at
// `bytes`) parsed into `model` with large raw_data left in place; false if
// the walk gave up (`model` is then unspecified).
bool parse_leaving_weights(const std::byte* bytes, uint64_t size, const std::string& file_name, onnx::ModelProto& model);

}  // namespace kiln::frontend::detail
