// Kernel arguments: the tensors and scalar parameters of one launch, as
// kernels see them.
//
// A host-side C++ value with fixed capacities. It never travels as raw bytes:
// a launch carries it in device memory as a kernel argument block
// (kernel_arg_block.h: encode_kernel_args on the host, decode_kernel_args on
// the device), so its layout may change without breaking blocks. Each library
// kernel documents which slot means what (kiln/kernels/library.h). Adding past
// a capacity sets `overflowed`, which validation and the encoder report;
// nothing is written out of bounds.
//
// Thread-compatible value type; kernels see it read-only.
#pragma once

#include <array>
#include <cstdint>

#include "kiln/kernels/tensor.h"

namespace kiln::kernels {

inline constexpr int kMaxTensorArgs = 8;
inline constexpr int kMaxIntArgs = 16;
inline constexpr int kMaxFloatArgs = 8;

struct KernelArgs {
  std::array<TensorDesc, kMaxTensorArgs> tensors{};
  int num_tensors = 0;
  std::array<int64_t, kMaxIntArgs> ints{};
  int num_ints = 0;
  std::array<float, kMaxFloatArgs> floats{};
  int num_floats = 0;
  bool overflowed = false;  // an add_* call went past a capacity

  KernelArgs& add_tensor(const TensorDesc& t) {
    if (num_tensors < kMaxTensorArgs) tensors[num_tensors++] = t; else overflowed = true;
    return *this;
  }
  KernelArgs& add_int(int64_t v) {
    if (num_ints < kMaxIntArgs) ints[num_ints++] = v; else overflowed = true;
    return *this;
  }
  KernelArgs& add_float(float v) {
    if (num_floats < kMaxFloatArgs) floats[num_floats++] = v; else overflowed = true;
    return *this;
  }
  // Parameter i, or `fallback` when fewer were given.
  int64_t int_or(int i, int64_t fallback) const { return i >= 0 && i < num_ints ? ints[i] : fallback; }
  float float_or(int i, float fallback) const { return i >= 0 && i < num_floats ? floats[i] : fallback; }
};

}  // namespace kiln::kernels
