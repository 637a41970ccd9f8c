// External initializer data: locations checked against the model's
// directory, bytes read in place from a mapping of the file, absent data
// allowed when timing.
#include "external_data.h"

#include <charconv>
#include <filesystem>
#include <optional>

#include "model_file.h"
#include "proto_io.h"

namespace kiln::frontend::detail {
namespace fs = std::filesystem;
using TP = onnx::TensorProto;

namespace {

struct ExternalRef {
  std::string location;
  uint64_t offset = 0;
  std::optional<uint64_t> length;
};

Result<uint64_t> parse_count(const std::string& text, const std::string& what) {
  uint64_t v = 0;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, v);
  if (ec != std::errc() || p != end || text.empty()) return invalid_argument(what + " is not a byte count: '" + text + "'");
  return v;
}

Result<ExternalRef> parse_ref(const TP& t, const std::string& what) {
  ExternalRef ref;
  bool has_location = false;
  for (const auto& e : t.external_data()) {
    if (e.key() == "location") {
      ref.location = e.value();
      has_location = true;
    } else if (e.key() == "offset") {
      KILN_ASSIGN_OR_RETURN(ref.offset, parse_count(e.value(), what + ": external_data offset"));
    } else if (e.key() == "length") {
      KILN_ASSIGN_OR_RETURN(ref.length, parse_count(e.value(), what + ": external_data length"));
    }
    // "checksum" and keys of later versions are not needed to read the bytes.
  }
  if (!has_location || ref.location.empty()) return invalid_argument(what + " is stored externally but names no location");
  return ref;
}

// The data file inside the model's directory, or why the location is refused.
Result<fs::path> resolve_location(const fs::path& model_dir, const std::string& location, const std::string& what) {
  const fs::path rel(location);
  if (rel.is_absolute() || rel.has_root_name() || rel.has_root_directory())
    return invalid_argument(what + ": external data location '" + location +
                            "' is absolute; it must be relative to the model's directory");
  const fs::path normal = rel.lexically_normal();
  if (normal.empty() || *normal.begin() == ".." || normal == ".")
    return invalid_argument(what + ": external data location '" + location + "' leaves the model's directory");
  const fs::path file = model_dir / normal;
  // The words stay inside; symbolic links (to the file, or a directory on
  // its way) must too: the path as the system resolves it lies under the
  // directory's own resolved path. A file that does not exist resolves as
  // far as its parents do (weakly_canonical).
  std::error_code ec;
  const fs::path dir = fs::canonical(model_dir.empty() ? fs::path(".") : model_dir, ec);
  if (ec) return invalid_argument(what + ": the model's directory '" + model_dir.string() + "' cannot be resolved: " + ec.message());
  const fs::path resolved = fs::weakly_canonical(file, ec);
  if (ec) return invalid_argument(what + ": external data location '" + location + "' cannot be resolved: " + ec.message());
  const fs::path inside = resolved.lexically_relative(dir);
  if (inside.empty() || *inside.begin() == ".." || inside == ".")
    return invalid_argument(what + ": external data location '" + location +
                            "' leaves the model's directory through a symbolic link (to '" + resolved.string() + "')");
  return file;
}

Result<uint64_t> needed_bytes(const TP& t, const std::string& what) {
  std::optional<DType> dtype = to_kiln_dtype(t.data_type());
  if (!dtype) return unimplemented(what + ": dtype " + onnx_dtype_name(t.data_type()) + " is not supported");
  uint64_t n = 1;
  for (int64_t d : t.dims()) {
    if (d < 0 || (d > 0 && n > (uint64_t{1} << 46) / static_cast<uint64_t>(d)))
      return invalid_argument(what + ": bad or too large dims");
    n *= static_cast<uint64_t>(d);
  }
  return n * dtype_size(*dtype);
}

}  // namespace

Result<ExternalData> resolve_external_data(onnx::ModelProto& model, const std::string& model_path, bool timing_only,
                                           std::shared_ptr<const MappedFile> model_mapping) {
  ExternalData out;
  const fs::path model_dir = fs::path(model_path).parent_path();
  // Each data file is mapped once for all its tensors; the model file's own
  // mapping (weights read_model_file left in it) is the one already made.
  const fs::path model_file = model_dir / fs::path(model_path).filename();
  std::map<fs::path, std::shared_ptr<const MappedFile>> mappings;
  if (model_mapping) mappings[model_file] = std::move(model_mapping);
  for (auto& t : *model.mutable_graph()->mutable_initializer()) {
    if (t.data_location() != TP::EXTERNAL) continue;
    const std::string what = "'" + model_path + "': initializer '" + t.name() + "'";
    KILN_ASSIGN_OR_RETURN(ExternalRef ref, parse_ref(t, what));
    KILN_ASSIGN_OR_RETURN(fs::path file, resolve_location(model_dir, ref.location, what));
    KILN_ASSIGN_OR_RETURN(uint64_t need, needed_bytes(t, what));
    const std::string in_file = what + ": external data file '" + file.string() + "'";
    std::error_code ec;
    const bool exists = fs::is_regular_file(file, ec);
    if (!exists && !timing_only)
      return not_found(in_file + " is missing (only a --timing-only run can do without the weights' values)");
    if (exists) {
      const uint64_t size = fs::file_size(file, ec);
      if (ec) return invalid_argument(in_file + " cannot be read: " + ec.message());
      if (ref.offset > size) return invalid_argument(in_file + " holds " + std::to_string(size) + " bytes, less than the offset " + std::to_string(ref.offset));
      const uint64_t length = ref.length.value_or(size - ref.offset);
      if (length != need) {
        if (file == model_file && mappings.count(model_file))  // a weight read_model_file left in place
          return invalid_argument(what + ": raw_data holds " + std::to_string(length) + " bytes, its shape needs " + std::to_string(need));
        return invalid_argument(what + ": external data length " + std::to_string(length) + " bytes ('" + file.string() +
                                "'), but its dtype and shape need " + std::to_string(need));
      }
      if (length > size - ref.offset)
        return invalid_argument(in_file + " is too short: " + std::to_string(size) + " bytes, the tensor needs offset " +
                                std::to_string(ref.offset) + " + length " + std::to_string(length));
    }
    if (exists && (!timing_only || need <= kTimingOnlyReadLimit)) {
      auto& mapping = mappings[file];
      if (!mapping) {
        // Populated when the weights will all be read: a timing-only run
        // reads only the few small tensors of a possibly huge file.
        Result<std::shared_ptr<const MappedFile>> mapped = MappedFile::open(file.string(), !timing_only);
        if (!mapped.ok()) return mapped.status().with_context(what);
        mapping = *mapped;
      }
      if (ref.offset > mapping->size() || need > mapping->size() - ref.offset)
        return invalid_argument(in_file + " changed while it was read (" + std::to_string(mapping->size()) + " bytes now)");
      out.present[t.name()] = HostBytes::view(mapping, mapping->data() + ref.offset, need);
    } else {
      out.absent[t.name()] = file.string();
    }
    // ONNX 1.12's checker stats each location relative to the process's
    // working directory; the model file is the one path known to exist.
    t.clear_external_data();
    auto* entry = t.add_external_data();
    entry->set_key("location");
    entry->set_value(model_path);
  }
  return out;
}

Result<HostTensor> shape_only(const TP& p, const std::string& what) {
  std::optional<DType> dtype = to_kiln_dtype(p.data_type());
  if (!dtype) return unimplemented(what + ": dtype " + onnx_dtype_name(p.data_type()) + " is not supported");
  HostTensor t;
  t.name = p.name();
  t.dtype = *dtype;
  t.shape.assign(p.dims().begin(), p.dims().end());
  return t;
}

}  // namespace kiln::frontend::detail
