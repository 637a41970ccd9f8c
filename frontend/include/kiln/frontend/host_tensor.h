// Tensors on the host as ONNX's test data holds them (input_0.pb,
// output_0.pb: one serialized TensorProto each), and the comparison that
// `kiln run --check` and the conformance tests apply to a model's outputs.
//
// Plain values and functions: thread-compatible. Errors are Result/Status
// values naming the file and what is wrong; nothing here throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kiln/common/dtype.h"
#include "kiln/common/status.h"

namespace kiln::frontend {

// The bytes of a HostTensor. A byte vector that can also take over a
// std::string's buffer without copying it (a weight parsed by protobuf), or
// view bytes someone else holds (a weight read in place from a mapped model
// file): weights are up to hundreds of MB, and each copy of them cost a set
// of fresh pages as large as the model. A view is read-only: the first
// mutable access copies it into bytes of its own.
class HostBytes {
 public:
  HostBytes() = default;
  explicit HostBytes(std::string&& adopted) : bytes_(std::move(adopted)) {}
  // `size` bytes at `data`, kept alive by `owner` (shared by every copy of
  // this HostBytes until it is written).
  static HostBytes view(std::shared_ptr<const void> owner, const std::byte* data, std::size_t size) {
    HostBytes out;
    out.owner_ = std::move(owner);
    out.view_ = data;
    out.view_size_ = size;
    return out;
  }

  std::byte* data() {
    own();
    return reinterpret_cast<std::byte*>(bytes_.data());
  }
  const std::byte* data() const { return owner_ ? view_ : reinterpret_cast<const std::byte*>(bytes_.data()); }
  std::size_t size() const { return owner_ ? view_size_ : bytes_.size(); }
  bool empty() const { return size() == 0; }
  std::byte& operator[](std::size_t i) { return data()[i]; }
  std::byte operator[](std::size_t i) const { return data()[i]; }

  void resize(std::size_t n) {  // new bytes are zero
    own();
    bytes_.resize(n, '\0');
  }
  void assign(std::size_t n, std::byte value) {
    drop_view();
    bytes_.assign(n, static_cast<char>(value));
  }
  void assign(const std::byte* first, const std::byte* last) {
    std::string copy(reinterpret_cast<const char*>(first), reinterpret_cast<const char*>(last));  // may alias the view
    drop_view();
    bytes_ = std::move(copy);
  }
  friend bool operator==(const HostBytes& a, const HostBytes& b) {
    return a.size() == b.size() && (a.size() == 0 || std::memcmp(a.data(), b.data(), a.size()) == 0);
  }

 private:
  void own() {
    if (!owner_) return;
    bytes_.assign(reinterpret_cast<const char*>(view_), view_size_);
    drop_view();
  }
  void drop_view() {
    owner_.reset();
    view_ = nullptr;
    view_size_ = 0;
  }

  std::string bytes_;
  std::shared_ptr<const void> owner_;  // set: the bytes are the view's
  const std::byte* view_ = nullptr;
  std::size_t view_size_ = 0;
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
