// Vector registers of the TPC programming model: 256 bytes each.
//
//   VecF32   64 lanes of fp32       VecBF16  128 lanes of bf16
//   VecI32   64 lanes of int32      VecF16   128 lanes of IEEE fp16
//   VecI64   32 lanes of int64      VecBool  256 lanes of bool (one byte each, 0 or 1)
//   Mask     a 64-lane predicate (one bit per VecF32 lane; an i64 vector uses lanes 0..31)
//
// These are plain value types (thread-compatible, trivially copyable). Lane
// access through operator[] is for host code and tests: a kernel that wants its
// work counted computes only through the intrinsics (vector_ops.h,
// vector_math.h), which take the KernelContext that counts the issue slots.
#pragma once

#include <bit>
#include <cstdint>

#include "kiln/kernels/bf16.h"
#include "kiln/kernels/f16.h"

namespace kiln::kernels {

inline constexpr int kVectorBytes = 256;
inline constexpr int kF32Lanes = kVectorBytes / 4;   // 64
inline constexpr int kBF16Lanes = kVectorBytes / 2;  // 128
inline constexpr int kI32Lanes = kVectorBytes / 4;   // 64
inline constexpr int kF16Lanes = kVectorBytes / 2;   // 128
inline constexpr int kI64Lanes = kVectorBytes / 8;   // 32
inline constexpr int kBoolLanes = kVectorBytes;      // 256

struct VecF32 {
  alignas(64) float lane[kF32Lanes];

  float& operator[](int i) { return lane[i]; }
  float operator[](int i) const { return lane[i]; }
  // Host-side constant (not counted; kernels use broadcast()).
  static VecF32 splat(float x) {
    VecF32 v;
    for (float& l : v.lane) l = x;
    return v;
  }
};

struct VecBF16 {
  alignas(64) bf16 lane[kBF16Lanes];

  bf16& operator[](int i) { return lane[i]; }
  bf16 operator[](int i) const { return lane[i]; }
};

struct VecI32 {
  alignas(64) int32_t lane[kI32Lanes];

  int32_t& operator[](int i) { return lane[i]; }
  int32_t operator[](int i) const { return lane[i]; }
};

struct VecF16 {
  alignas(64) f16 lane[kF16Lanes];

  f16& operator[](int i) { return lane[i]; }
  f16 operator[](int i) const { return lane[i]; }
};

struct VecI64 {
  alignas(64) int64_t lane[kI64Lanes];

  int64_t& operator[](int i) { return lane[i]; }
  int64_t operator[](int i) const { return lane[i]; }
  // Host-side constant (not counted; kernels use broadcast_i64()).
  static VecI64 splat(int64_t x) {
    VecI64 v;
    for (int64_t& l : v.lane) l = x;
    return v;
  }
};

// Lanes hold 0 or 1: loads turn any non-zero byte into 1, so every VecBool a
// kernel sees is normalised.
struct VecBool {
  alignas(64) uint8_t lane[kBoolLanes];

  uint8_t& operator[](int i) { return lane[i]; }
  uint8_t operator[](int i) const { return lane[i]; }
};

static_assert(sizeof(VecF32) == kVectorBytes && sizeof(VecBF16) == kVectorBytes &&
              sizeof(VecI32) == kVectorBytes && sizeof(VecF16) == kVectorBytes &&
              sizeof(VecI64) == kVectorBytes && sizeof(VecBool) == kVectorBytes);

// Predicate over the 64 lanes of a VecF32/VecI32: bit i is lane i.
struct Mask {
  uint64_t bits = 0;

  static constexpr Mask none() { return Mask{0}; }
  static constexpr Mask all() { return Mask{~uint64_t{0}}; }
  // Lanes [0, n); n is clamped to [0, 64].
  static constexpr Mask first(int n) {
    if (n <= 0) return none();
    if (n >= kF32Lanes) return all();
    return Mask{(uint64_t{1} << n) - 1};
  }
  constexpr bool test(int lane) const { return ((bits >> lane) & 1u) != 0; }
  constexpr int count() const { return std::popcount(bits); }
  friend constexpr bool operator==(Mask a, Mask b) { return a.bits == b.bits; }
};

}  // namespace kiln::kernels
