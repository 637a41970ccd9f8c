// A model file mapped and parsed with its large weights left in place.
#include "model_file.h"

#include <fcntl.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>
#include <google/protobuf/wire_format_lite.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>

namespace kiln::frontend::detail {

namespace {

using google::protobuf::io::CodedInputStream;
using google::protobuf::internal::WireFormatLite;

// Field numbers of onnx.proto (proto2) the walk descends through.
constexpr int kModelGraph = 7;        // ModelProto.graph
constexpr int kGraphInitializer = 5;  // GraphProto.initializer
constexpr int kTensorRawData = 9;     // TensorProto.raw_data

// [begin, end) of the mapped file.
struct Span {
  uint64_t begin = 0, end = 0;
  uint64_t size() const { return end - begin; }
};

// Merges the fields in `s` into `message`, parsed as protobuf parses them
// `depth` messages below the file's top: the same nesting limit applies.
bool merge(const std::byte* base, Span s, int depth, google::protobuf::MessageLite& message) {
  CodedInputStream in(reinterpret_cast<const uint8_t*>(base + s.begin), static_cast<int>(s.size()));
  in.SetRecursionLimit(CodedInputStream::GetDefaultRecursionLimit() - depth);
  return message.MergeFromCodedStream(&in) && in.CurrentPosition() == static_cast<int>(s.size());
}

// Walks the fields of a message stored in `span`. A length-delimited field
// numbered `field` whose value `claim` accepts goes to on_field(value); the
// bytes between such fields are merged into `message` in order (so the
// message is what parsing the whole span would give, but for what on_field
// does). False if the bytes are not a run of well-formed fields or a step
// fails.
template <typename Claim, typename OnField>
bool walk(const std::byte* base, Span span, int depth, google::protobuf::MessageLite& message, int field, Claim&& claim,
          OnField&& on_field) {
  CodedInputStream in(reinterpret_cast<const uint8_t*>(base + span.begin), static_cast<int>(span.size()));
  uint64_t pending = span.begin;  // the first byte not merged yet
  auto position = [&] { return span.begin + static_cast<uint64_t>(in.CurrentPosition()); };
  while (true) {
    const uint64_t field_start = position();
    const uint32_t tag = in.ReadTag();
    if (tag == 0) break;
    if (WireFormatLite::GetTagFieldNumber(tag) == field &&
        WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      uint32_t length = 0;
      if (!in.ReadVarint32(&length)) return false;
      const Span value{position(), position() + length};
      if (length > span.end - value.begin || !in.Skip(static_cast<int>(length))) return false;
      if (!claim(value)) continue;  // parsed with the bytes around it
      if (field_start > pending && !merge(base, Span{pending, field_start}, depth, message)) return false;
      if (!on_field(value)) return false;
      pending = value.end;
    } else if (!WireFormatLite::SkipField(&in, tag)) {
      return false;
    }
  }
  // A zero tag or an end-group before the end: the plain parse decides.
  if (position() != span.end) return false;
  return pending == span.end || merge(base, Span{pending, span.end}, depth, message);
}

// One initializer (a TensorProto `depth` messages down): a raw_data of at
// least kInFileWeightMinBytes stays in the file.
bool walk_initializer(const std::byte* base, Span span, int depth, const std::string& file_name, onnx::TensorProto& t) {
  std::optional<Span> in_file;  // the last raw_data, if it is one left in the file
  auto large = [](Span value) { return value.size() >= kInFileWeightMinBytes; };
  auto leave_in_file = [&](Span value) {
    // Protobuf keeps the last raw_data: this one replaces any merged before.
    t.clear_raw_data();
    in_file = value;
    return true;
  };
  // A raw_data merged after the last one left in the file replaces it:
  // leave_in_file clears raw_data, so one present at the end came later.
  if (!walk(base, span, depth, t, kTensorRawData, large, leave_in_file)) return false;
  if (t.has_raw_data()) in_file.reset();
  if (!in_file) return true;
  if (t.data_location() == onnx::TensorProto::EXTERNAL || t.external_data_size() > 0) {
    // Contradictory (raw and external data): parsed as protobuf would, for
    // the checks downstream to name.
    t.set_raw_data(reinterpret_cast<const char*>(base + in_file->begin), in_file->size());
    return true;
  }
  t.set_data_location(onnx::TensorProto::EXTERNAL);
  auto entry = [&t](const char* key, std::string value) {
    auto* e = t.add_external_data();
    e->set_key(key);
    e->set_value(std::move(value));
  };
  entry("location", file_name);
  entry("offset", std::to_string(in_file->begin));
  entry("length", std::to_string(in_file->size()));
  return true;
}

}  // namespace

bool parse_leaving_weights(const std::byte* bytes, uint64_t size, const std::string& file_name, onnx::ModelProto& model) {
  if (size > static_cast<uint64_t>(std::numeric_limits<int>::max())) return false;
  auto always = [](Span) { return true; };
  return walk(bytes, Span{0, size}, 0, model, kModelGraph, always, [&](Span graph_span) {
    onnx::GraphProto& graph = *model.mutable_graph();
    return walk(bytes, graph_span, 1, graph, kGraphInitializer, always, [&](Span tensor_span) {
      return walk_initializer(bytes, tensor_span, 2, file_name, *graph.add_initializer());
    });
  });
}

Result<std::shared_ptr<const MappedFile>> MappedFile::open(const std::string& path, bool populate) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return not_found("cannot open '" + path + "': " + std::strerror(errno));
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return invalid_argument("'" + path + "' is not a regular file");
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size == 0) return std::shared_ptr<const MappedFile>(new MappedFile(nullptr, 0));
  void* mapped = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE | (populate ? MAP_POPULATE : 0), fd, 0);
  if (mapped == MAP_FAILED) return invalid_argument("cannot map '" + path + "': " + std::strerror(errno));
  return std::shared_ptr<const MappedFile>(new MappedFile(static_cast<const std::byte*>(mapped), size));
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<std::byte*>(data_), size_);
}

Result<ModelFile> read_model_file(const std::string& path) {
  // The file's size, refused early: protobuf parses at most 2 GiB.
  std::error_code ec;
  const bool regular = std::filesystem::is_regular_file(path, ec);
  if (!regular && !std::filesystem::exists(path, ec)) return not_found("cannot open '" + path + "'");
  if (!regular) return invalid_argument("'" + path + "' is not a regular file");
  const uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) return not_found("cannot open '" + path + "': " + ec.message());
  if (size > static_cast<uint64_t>(std::numeric_limits<int>::max()))
    return invalid_argument("'" + path + "' is larger than 2 GiB, protobuf's limit: save its weights as external data");
  if (size == 0) return invalid_argument("'" + path + "' is empty, not an ONNX model");
  ModelFile out;
  // Populated up front: faulting its pages in one by one cost more.
  Result<std::shared_ptr<const MappedFile>> mapped = MappedFile::open(path, /*populate=*/true);
  bool parsed = false;
  if (mapped.ok() && (*mapped)->size() == size) {
    const std::string name = std::filesystem::path(path).filename().string();
    parsed = parse_leaving_weights((*mapped)->data(), size, name, out.model);
    if (parsed) {
      out.mapping = *mapped;
    } else {
      // Something the walk does not take: protobuf's own parse decides.
      out.model.Clear();
      parsed = out.model.ParseFromArray((*mapped)->data(), static_cast<int>(size));
    }
  } else {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return not_found("cannot open '" + path + "'");
    google::protobuf::io::FileInputStream stream(fd, 1 << 20);
    stream.SetCloseOnDelete(true);
    parsed = out.model.ParseFromZeroCopyStream(&stream) && stream.GetErrno() == 0;
  }
  if (!parsed)
    return invalid_argument("'" + path + "' (" + std::to_string(size) +
                            " bytes) is not a valid ONNX model: the protobuf does not parse (truncated or not ONNX)");
  if (!out.model.has_graph()) return invalid_argument("'" + path + "' parses but holds no graph: not an ONNX model");
  return out;
}

}  // namespace kiln::frontend::detail
