// Tensors on the host as ONNX's test data holds them (input_0.pb,
// output_0.pb: one serialized TensorProto each), and the comparison that
// `kiln run --check` and the conformance tests apply to a model's outputs.
//
// Plain values and functions: thread-compatible. Errors are Result/Status
// values naming the file and what is wrong; nothing here throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "kiln/common/dtype.h"
#include "kiln/common/status.h"

namespace kiln::frontend {

// The bytes of a HostTensor. A byte vector that can also take over a
// std::string's buffer without copying it: a model's weights arrive as
// protobuf strings of up to hundreds of MB, and copying them cost a second
// set of fresh pages as large as the model.
class HostBytes {
 public:
  HostBytes() = default;
  explicit HostBytes(std::string&& adopted) : bytes_(std::move(adopted)) {}

  std::byte* data() { return reinterpret_cast<std::byte*>(bytes_.data()); }
  const std::byte* data() const { return reinterpret_cast<const std::byte*>(bytes_.data()); }
  std::size_t size() const { return bytes_.size(); }
  bool empty() const { return bytes_.empty(); }
  std::byte& operator[](std::size_t i) { return data()[i]; }
  std::byte operator[](std::size_t i) const { return data()[i]; }

  void resize(std::size_t n) { bytes_.resize(n, '\0'); }  // new bytes are zero
  void assign(std::size_t n, std::byte value) { bytes_.assign(n, static_cast<char>(value)); }
  void assign(const std::byte* first, const std::byte* last) {
    bytes_.assign(reinterpret_cast<const char*>(first), reinterpret_cast<const char*>(last));
  }
  friend bool operator==(const HostBytes&, const HostBytes&) = default;

 private:
  std::string bytes_;
};

// Dense, row-major values of one of Kiln's dtypes (bool: one byte each).
struct HostTensor {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  HostBytes data;  // numel * dtype_size bytes

  int64_t numel() const;
  // Element i as a double (bf16/f16 widened exactly, integers converted).
  double at(int64_t i) const;
};

// "f32[2, 3]".
std::string describe(const HostTensor& t);

// Reads a serialized onnx.TensorProto. A truncated or garbage file, an ONNX
// dtype Kiln has no counterpart for (double, uint8, string...), or external
// data fails with a message naming the file.
Result<HostTensor> read_tensor_file(const std::string& path);

// |actual - expected| <= atol + rtol * |expected|, NaN equal to NaN.
struct Tolerance {
  double atol = 0;
  double rtol = 0;
};
// Per dtype: f32 atol 1e-4 rtol 1e-3 (ONNX's backend tests use rtol 1e-3;
// the device's transcendental kernels are not correctly rounded), f16
// 1e-3/1e-2, bf16 1e-2/2e-2; integers and bool exact.
Tolerance tolerance_for(DType dtype);

struct Comparison {
  bool ok = false;
  double max_abs_error = 0;
  double max_rel_error = 0;  // |a - e| / |e| where e != 0
  int64_t worst_index = -1;  // the element furthest outside its tolerance (or of max abs error)
  int64_t mismatches = 0;
  std::string message;       // shape/dtype mismatch, or the worst element's values
};
Comparison compare(const HostTensor& expected, const HostTensor& actual, Tolerance tolerance);

}  // namespace kiln::frontend
