// onnx.TensorProto reading and dtype conversion.
#include "proto_io.h"

#include <cstring>
#include <fstream>

#include "kiln/common/bf16.h"
#include "kiln/common/f16.h"

namespace kiln::frontend::detail {

using TP = onnx::TensorProto;

std::optional<DType> to_kiln_dtype(int32_t t) {
  switch (t) {
    case TP::FLOAT: return DType::kF32;
    case TP::FLOAT16: return DType::kF16;
    case TP::BFLOAT16: return DType::kBF16;
    case TP::INT32: return DType::kI32;
    case TP::INT64: return DType::kI64;
    case TP::BOOL: return DType::kBool;
    default: return std::nullopt;
  }
}

std::string onnx_dtype_name(int32_t t) {
  if (TP::DataType_IsValid(t)) return TP::DataType_Name(static_cast<TP::DataType>(t));
  return "dtype " + std::to_string(t);
}

namespace {

Result<std::string> read_file(const std::string& path) {
  // One read of the whole file into a buffer of its size: streaming it
  // through an ostringstream copied a 100 MB model several times over.
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return not_found("cannot open '" + path + "'");
  const std::streamoff size = in.tellg();
  if (size < 0) return invalid_argument("cannot read '" + path + "': its size is unknown");
  std::string bytes(static_cast<std::size_t>(size), '\0');
  in.seekg(0);
  if (!in.read(bytes.data(), size) || in.gcount() != size)
    return invalid_argument("cannot read '" + path + "' (" + std::to_string(size) + " bytes)");
  return bytes;
}

template <typename T>
void put(HostBytes& out, std::size_t i, T v) {
  std::memcpy(out.data() + i * sizeof(T), &v, sizeof(T));
}

}  // namespace

namespace {

// `take`: p's raw_data, when it holds the values, moves into the result.
Result<HostTensor> convert(const TP& p, const std::string& what, std::string* take) {
  auto fail = [&](const std::string& m) { return invalid_argument(what + ": " + m); };
  if (p.data_location() == TP::EXTERNAL || p.external_data_size() > 0) return fail("external data is supported for graph initializers only");
  if (p.has_segment()) return fail("segmented tensors are not supported");
  std::optional<DType> dtype = to_kiln_dtype(p.data_type());
  if (!dtype) return unimplemented(what + ": dtype " + onnx_dtype_name(p.data_type()) + " is not supported");
  HostTensor t;
  t.name = p.name();
  t.dtype = *dtype;
  int64_t n = 1;
  for (int64_t d : p.dims()) {
    if (d < 0 || (d > 0 && n > (int64_t{1} << 40) / d)) return fail("bad or too large dims");
    t.shape.push_back(d);
    n *= d;
  }
  // The values present are counted before anything is allocated for them:
  // a few bytes may claim 2^40 elements.
  const std::size_t bytes = static_cast<std::size_t>(n) * dtype_size(t.dtype);
  if (p.has_raw_data()) {
    if (p.raw_data().size() != bytes)
      return fail("raw_data holds " + std::to_string(p.raw_data().size()) + " bytes, its shape needs " +
                  std::to_string(bytes));
    // Little-endian, as ONNX stores it: Kiln's layout.
    if (take) {
      t.data = HostBytes(std::move(*take));
    } else {
      const auto* raw = reinterpret_cast<const std::byte*>(p.raw_data().data());
      t.data.assign(raw, raw + bytes);
    }
    return t;
  }
  auto count_ok = [&](int count) { return count == n; };
  const auto un = static_cast<std::size_t>(n);
  switch (t.dtype) {
    case DType::kF32:
      if (!count_ok(p.float_data_size())) return fail("float_data holds " + std::to_string(p.float_data_size()) + " values, its shape needs " + std::to_string(n));
      t.data.resize(bytes);
      for (std::size_t i = 0; i < un; ++i) put(t.data, i, p.float_data(static_cast<int>(i)));
      break;
    case DType::kI64:
      if (!count_ok(p.int64_data_size())) return fail("int64_data holds " + std::to_string(p.int64_data_size()) + " values, its shape needs " + std::to_string(n));
      t.data.resize(bytes);
      for (std::size_t i = 0; i < un; ++i) put(t.data, i, static_cast<int64_t>(p.int64_data(static_cast<int>(i))));
      break;
    case DType::kI32: case DType::kF16: case DType::kBF16: case DType::kBool:
      // ONNX keeps these in int32_data: values, or the 16-bit patterns of the halves.
      if (!count_ok(p.int32_data_size())) return fail("int32_data holds " + std::to_string(p.int32_data_size()) + " values, its shape needs " + std::to_string(n));
      t.data.resize(bytes);
      for (std::size_t i = 0; i < un; ++i) {
        const int32_t v = p.int32_data(static_cast<int>(i));
        if (t.dtype == DType::kI32) put(t.data, i, v);
        else if (t.dtype == DType::kBool) t.data[i] = std::byte{static_cast<unsigned char>(v != 0)};
        else put(t.data, i, static_cast<uint16_t>(v));
      }
      break;
  }
  return t;
}

}  // namespace

Result<HostTensor> from_tensor_proto(const TP& p, const std::string& what) { return convert(p, what, nullptr); }

Result<HostTensor> take_tensor_proto(TP& p, const std::string& what) {
  return convert(p, what, p.has_raw_data() ? p.mutable_raw_data() : nullptr);
}

Result<HostTensor> read_tensor_proto_file(const std::string& path) {
  KILN_ASSIGN_OR_RETURN(std::string bytes, read_file(path));
  TP proto;
  if (!proto.ParseFromString(bytes))
    return invalid_argument("'" + path + "' (" + std::to_string(bytes.size()) +
                            " bytes) is not a valid onnx.TensorProto (truncated or another format)");
  return from_tensor_proto(proto, "'" + path + "'");
}

}  // namespace kiln::frontend::detail
