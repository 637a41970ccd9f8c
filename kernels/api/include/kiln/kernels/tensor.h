// Tensor descriptors: where a tensor lives in device memory and how to walk it.
//
// Dimension 0 is the innermost one (as on the TPC, and ggml's ne[0]): vector
// loads and stores run along it. A descriptor has up to five dims, a stride per
// dim counted in ELEMENTS (not bytes), a dtype and the device address of the
// element at coordinate (0,0,0,0,0). Dims beyond `rank` are 1. Strides may be 0
// (broadcast) and any value; a "view" is just another descriptor over the same
// memory, so broadcasting, permuting and slicing never copy.
//
// Numpy shapes map onto this by reversing the order: numpy [N, C, H, W] is
// dims {W, H, C, N}. Numpy broadcasting aligns shapes from the innermost dim,
// which here is simply dim 0 for both operands.
//
// Dtypes are kiln::DType (kiln/common/dtype.h): f32, bf16, f16, i32, i64 and
// bool (one byte, 0 or 1). The vector cores take them all; each kernel says
// which it accepts.
//
// Plain value types, thread-compatible. Descriptors are not checked on
// construction; validate_tensor() reports what is malformed.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

#include "kiln/common/dtype.h"
#include "kiln/common/status.h"
#include "kiln/kernels/vector.h"

namespace kiln::kernels {

// The one dtype enum, also under this namespace's name: kernels written with
// `using namespace kiln::kernels` keep compiling. dtype_size, dtype_name and
// is_float are kiln's, found by argument-dependent lookup.
using kiln::DType;

// Elements in one 256-byte vector of this dtype: 64 (f32, i32), 128 (bf16,
// f16), 32 (i64) or 256 (bool).
// Precondition: a valid dtype (validate_tensor).
constexpr int lanes_per_vector(DType d) { return kVectorBytes / static_cast<int>(dtype_size(d)); }

inline constexpr int kMaxDims = 5;
using Dims = std::array<int64_t, kMaxDims>;
using Coord = std::array<int64_t, kMaxDims>;

// Ceilings on what one descriptor may describe, far above any memory a device
// maps (48-bit virtual addresses) yet far below 2^63: a valid descriptor's
// element count, any in-bounds element offset in bytes, and sums and small
// multiples of them all fit in int64, so kernels and the runtime may compute
// them without overflow checks of their own.
inline constexpr int64_t kMaxTensorElements = int64_t{1} << 48;     // product of dims (0 counted as 1)
inline constexpr int64_t kMaxTensorExtentBytes = int64_t{1} << 48;  // (1 + sum (dims[d]-1)*|strides[d]|) * dtype size

struct TensorDesc {
  uint64_t address = 0;  // device address of element (0,...,0)
  DType dtype = DType::kF32;
  int rank = 0;  // 0..5; dims[rank..4] are 1
  Dims dims = {1, 1, 1, 1, 1};
  Dims strides = {0, 0, 0, 0, 0};  // in elements

  // A dense tensor: strides[0] = 1, strides[d] = strides[d-1] * dims[d-1].
  static TensorDesc contiguous(uint64_t address, DType dtype, std::span<const int64_t> dims);
  static TensorDesc contiguous(uint64_t address, DType dtype, std::initializer_list<int64_t> dims) {
    return contiguous(address, dtype, std::span<const int64_t>(dims.begin(), dims.size()));
  }

  int64_t num_elements() const;
  // Product of dims 1..4: how many dim-0 rows the tensor has.
  int64_t rows() const;
  bool contains(const Coord& c) const;
  int64_t element_offset(const Coord& c) const;  // sum of c[d] * strides[d], in elements
  uint64_t element_address(const Coord& c) const;
  bool is_contiguous() const;

  // Views over the same memory. Preconditions are stated per call; the library
  // validates arguments before it builds views.
  // Each dim d with dims[d] == 1 and target[d] != 1 gets stride 0.
  // Precondition: broadcastable_to(*this, target).
  TensorDesc broadcast_view(const Dims& target, int target_rank) const;
  // Output dim i is input dim perm[i]. Precondition: perm is a permutation of 0..rank-1.
  TensorDesc permuted_view(std::span<const int> perm) const;
  // Keeps `count` elements of `dim` starting at `start`, every `step`-th one.
  TensorDesc sliced_view(int dim, int64_t start, int64_t count, int64_t step = 1) const;

  // "bf16[3,64] strides[1,3] @0x1000"
  std::string describe() const;
};

// Checks rank (0..5), dims (>= 0; 1 beyond rank), dtype (a value of the enum:
// anything else is invalid_argument) and the ceilings above. `what`
// names the tensor in the message ("argument 2 (out)").
Status validate_tensor(const TensorDesc& t, std::string_view what);

// What makes a tensor exceed kMaxTensorElements or kMaxTensorExtentBytes,
// naming the field ("strides[3] is 4611686018427387904: the tensor would span
// more than 2^48 bytes"), or "" when it stays within them. Precondition: a
// valid dtype and dims >= 0. Every product is overflow-checked.
std::string tensor_extent_problem(const TensorDesc& t);

// The bytes a tensor may touch: `before` bytes ahead of its element
// (0,...,0) (negative strides reach back) and `bytes` in all from there. An
// empty tensor touches nothing. Precondition: validate_tensor passed, so
// every product fits (both are below 2^48).
struct TensorSpan {
  uint64_t before = 0;
  uint64_t bytes = 0;
};
TensorSpan tensor_span(const TensorDesc& t);

// True when every dim of `t` equals the target's or is 1 (numpy broadcasting).
bool broadcastable_to(const TensorDesc& t, const Dims& target);

// The coordinate of dim-0 row `row` of a tensor with these dims (c[0] = 0):
// row r is c[1] + dims[1] * (c[2] + dims[2] * (c[3] + dims[3] * c[4])).
Coord row_coord(const Dims& dims, int64_t row);

}  // namespace kiln::kernels
