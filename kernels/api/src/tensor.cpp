#include "kiln/kernels/tensor.h"

#include <cstdio>

namespace kiln::kernels {

TensorDesc TensorDesc::contiguous(uint64_t address, DType dtype, std::span<const int64_t> dims) {
  TensorDesc t;
  t.address = address;
  t.dtype = dtype;
  t.rank = static_cast<int>(dims.size() > kMaxDims ? kMaxDims : dims.size());
  int64_t stride = 1;
  for (int d = 0; d < kMaxDims; ++d) {
    t.dims[d] = d < t.rank ? dims[static_cast<size_t>(d)] : 1;
    t.strides[d] = stride;
    stride *= t.dims[d];
  }
  return t;
}

int64_t TensorDesc::num_elements() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

int64_t TensorDesc::rows() const { return dims[1] * dims[2] * dims[3] * dims[4]; }

bool TensorDesc::contains(const Coord& c) const {
  for (int d = 0; d < kMaxDims; ++d) {
    if (c[d] < 0 || c[d] >= dims[d]) return false;
  }
  return true;
}

int64_t TensorDesc::element_offset(const Coord& c) const {
  int64_t off = 0;
  for (int d = 0; d < kMaxDims; ++d) off += c[d] * strides[d];
  return off;
}

uint64_t TensorDesc::element_address(const Coord& c) const {
  return address + static_cast<uint64_t>(element_offset(c) * static_cast<int64_t>(dtype_size(dtype)));
}

bool TensorDesc::is_contiguous() const {
  int64_t stride = 1;
  for (int d = 0; d < kMaxDims; ++d) {
    if (dims[d] != 1 && strides[d] != stride) return false;
    stride *= dims[d];
  }
  return true;
}

TensorDesc TensorDesc::broadcast_view(const Dims& target, int target_rank) const {
  TensorDesc v = *this;
  v.rank = target_rank > rank ? target_rank : rank;
  for (int d = 0; d < kMaxDims; ++d) {
    if (dims[d] == 1 && target[d] != 1) {
      v.dims[d] = target[d];
      v.strides[d] = 0;
    }
  }
  return v;
}

TensorDesc TensorDesc::permuted_view(std::span<const int> perm) const {
  TensorDesc v = *this;
  for (size_t i = 0; i < perm.size() && i < kMaxDims; ++i) {
    v.dims[i] = dims[static_cast<size_t>(perm[i])];
    v.strides[i] = strides[static_cast<size_t>(perm[i])];
  }
  return v;
}

TensorDesc TensorDesc::sliced_view(int dim, int64_t start, int64_t count, int64_t step) const {
  TensorDesc v = *this;
  v.address = address + static_cast<uint64_t>(start * strides[dim] * static_cast<int64_t>(dtype_size(dtype)));
  v.dims[dim] = count;
  v.strides[dim] = strides[dim] * step;
  return v;
}

std::string TensorDesc::describe() const {
  std::string s(dtype_name(dtype));
  auto append_list = [&s, this](const Dims& values) {
    for (int d = 0; d < rank; ++d) {
      if (d > 0) s += ',';
      s += std::to_string(values[d]);
    }
  };
  s += "[";
  append_list(dims);
  s += "] strides[";
  append_list(strides);
  char addr[32];
  std::snprintf(addr, sizeof addr, "] @0x%llx", static_cast<unsigned long long>(address));
  return s + addr;
}

Status validate_tensor(const TensorDesc& t, std::string_view what) {
  std::string name(what);
  if (!is_valid_dtype(static_cast<uint8_t>(t.dtype))) {
    return invalid_argument(name + ": unknown dtype " + std::to_string(static_cast<int>(t.dtype)));
  }
  if (t.rank < 0 || t.rank > kMaxDims) {
    return invalid_argument(name + ": rank " + std::to_string(t.rank) + " is outside 0..5");
  }
  for (int d = 0; d < kMaxDims; ++d) {
    if (t.dims[d] < 0) {
      return invalid_argument(name + ": dims[" + std::to_string(d) + "] = " + std::to_string(t.dims[d]) +
                              " is negative");
    }
    if (d >= t.rank && t.dims[d] != 1) {
      return invalid_argument(name + ": dims[" + std::to_string(d) + "] = " + std::to_string(t.dims[d]) +
                              " beyond rank " + std::to_string(t.rank) + " must be 1");
    }
  }
  if (const std::string problem = tensor_extent_problem(t); !problem.empty()) {
    return invalid_argument(name + ": " + problem);
  }
  return Status::ok_status();
}

std::string tensor_extent_problem(const TensorDesc& t) {
  uint64_t elements = 1;
  for (int d = 0; d < kMaxDims; ++d) {
    const uint64_t n = t.dims[d] > 1 ? static_cast<uint64_t>(t.dims[d]) : 1;
    if (__builtin_mul_overflow(elements, n, &elements) || elements > static_cast<uint64_t>(kMaxTensorElements)) {
      return "dims[" + std::to_string(d) + "] is " + std::to_string(t.dims[d]) +
             ": the tensor would have more than 2^48 elements";
    }
  }
  // The farthest any in-bounds coordinate reaches from element (0,...,0), in
  // elements; strides of either sign, INT64_MIN included, count by magnitude.
  const uint64_t esize = dtype_size(t.dtype);
  uint64_t reach = 0;
  for (int d = 0; d < kMaxDims; ++d) {
    if (t.dims[d] <= 1) continue;
    const int64_t s = t.strides[d];
    const uint64_t magnitude = s < 0 ? 0 - static_cast<uint64_t>(s) : static_cast<uint64_t>(s);
    uint64_t term = 0;
    if (__builtin_mul_overflow(static_cast<uint64_t>(t.dims[d] - 1), magnitude, &term) ||
        __builtin_add_overflow(reach, term, &reach) || reach >= static_cast<uint64_t>(kMaxTensorExtentBytes) ||
        (reach + 1) * esize > static_cast<uint64_t>(kMaxTensorExtentBytes)) {
      return "strides[" + std::to_string(d) + "] is " + std::to_string(s) + ": with dims[" + std::to_string(d) +
             "] = " + std::to_string(t.dims[d]) + " the tensor would span more than 2^48 bytes";
    }
  }
  return "";
}

TensorSpan tensor_span(const TensorDesc& t) {
  int64_t lo = 0, hi = 0;  // in elements, relative to element (0,...,0)
  for (int d = 0; d < kMaxDims; ++d) {
    if (t.dims[d] == 0) return {};
    const int64_t reach = (t.dims[d] - 1) * t.strides[d];
    (reach < 0 ? lo : hi) += reach;
  }
  const uint64_t esize = dtype_size(t.dtype);
  return {static_cast<uint64_t>(-lo) * esize, static_cast<uint64_t>(hi - lo + 1) * esize};
}

bool broadcastable_to(const TensorDesc& t, const Dims& target) {
  for (int d = 0; d < kMaxDims; ++d) {
    if (t.dims[d] != target[d] && t.dims[d] != 1) return false;
  }
  return true;
}

Coord row_coord(const Dims& dims, int64_t row) {
  Coord c{0, 0, 0, 0, 0};
  for (int d = 1; d < kMaxDims; ++d) {
    if (dims[d] > 0) {
      c[d] = row % dims[d];
      row /= dims[d];
    }
  }
  return c;
}

}  // namespace kiln::kernels
