// WideF32: one 256-byte vector of a float tensor, widened to fp32 for
// computation -- the TPC "float128" convention.
//
// An fp32 tensor gives one VecF32 (64 elements), a bf16 or f16 tensor two
// (128 elements: half[0] is lanes 0..63, half[1] lanes 64..127). Kernels load,
// compute on each half with the ordinary intrinsics, and store; so a bf16 or
// f16 kernel computes in fp32 and rounds (nearest even) only when it stores --
// the device numerics. Everything said about bf16 below holds for f16 too:
// both are 16-bit formats of the vector datapath.
//
// Counting: a WideF32 is ONE 256-byte vector register, and an operation on it
// is ONE instruction whatever its halves -- the TPC's bf16/f16 datapath processes
// 128 lanes per instruction (which is what the configs' peak vector FLOP/s
// assume). wide_map and for_each_half therefore count the intrinsics of the
// first half only (vector slot; loads and stores always count). load_wide and
// store_wide count one vector load/store per 256 bytes and no conversion:
// bf16 and f16 are native to the datapath. A kernel that converts between dtypes (cast)
// counts its conversion instructions itself.
//
// Numerics: lanes are carried in fp32 between instructions and rounded to bf16
// (nearest even) only when stored; the hardware would round after each native
// bf16 instruction, so multi-step bf16 kernels are slightly more accurate here.
//
// Value type, thread-compatible.
#pragma once

#include "kiln/kernels/kernel_context.h"
#include "kiln/kernels/tensor.h"
#include "kiln/kernels/vector.h"

namespace kiln::kernels {

struct WideF32 {
  VecF32 half[2];
  int halves = 1;  // 1 or 2
};

// Halves a vector of this dtype needs: 2 for the 16-bit floats (bf16, f16),
// else 1.
constexpr int natural_halves(DType d) { return d == DType::kBF16 || d == DType::kF16 ? 2 : 1; }

// Loads `halves` x 64 elements of an fp32, bf16 or f16 tensor along dim 0
// starting at c (halves = 0 means natural_halves(t.dtype)). Out-of-tensor lanes
// read `pad`. A tensor of another dtype records a kDTypeMismatch fault.
WideF32 load_wide(KernelContext& ctx, const TensorDesc& t, const Coord& c, float pad = 0.0f,
                  int halves = 0);
// Stores w.halves x 64 elements at c; out-of-tensor lanes are dropped. A bf16
// or f16 tensor receives both halves packed (rounded to nearest even) in one
// store when w.halves == 2, and only lanes 0..63 when w.halves == 1; an fp32
// tensor one store per half.
void store_wide(KernelContext& ctx, const TensorDesc& t, const Coord& c, const WideF32& w);

// Every lane rounded to the nearest value of dtype `d`, kept in fp32: bf16
// and f16 to nearest even (inf past their range), i32 and i64 toward zero
// (saturating, NaN to 0), bool to 0 or 1 (x != 0; NaN is true). One vector
// instruction (a conversion there and back), none for f32. For kernels that
// must reproduce a store-and-reload in registers (fused kernels).
WideF32 round_wide(KernelContext& ctx, const WideF32& w, DType d);

// A constant in every lane of `halves` halves (one broadcast).
WideF32 broadcast_wide(KernelContext& ctx, float x, int halves);

// Marks a block as computing the second half of a 128-lane vector (its
// vector-slot instructions are not counted). Nestable; restores on exit.
class SecondHalfScope {
 public:
  SecondHalfScope(KernelContext& ctx, bool active) : ctx_(ctx), saved_(ctx.second_half()) {
    if (active) ctx_.set_second_half(true);
  }
  ~SecondHalfScope() { ctx_.set_second_half(saved_); }
  SecondHalfScope(const SecondHalfScope&) = delete;
  SecondHalfScope& operator=(const SecondHalfScope&) = delete;

 private:
  KernelContext& ctx_;
  bool saved_;
};

// Calls f(h) for h in [0, halves); h = 1 runs inside a SecondHalfScope.
template <typename F>
void for_each_half(KernelContext& ctx, int halves, F&& f) {
  for (int h = 0; h < halves; ++h) {
    SecondHalfScope scope(ctx, h > 0);
    f(h);
  }
}

// Applies f per half (f calls intrinsics on VecF32); counts as one vector.
template <typename F>
WideF32 wide_map(KernelContext& ctx, const WideF32& a, F&& f) {
  WideF32 r;
  r.halves = a.halves;
  for_each_half(ctx, a.halves, [&](int h) { r.half[h] = f(a.half[h]); });
  return r;
}
template <typename F>
WideF32 wide_map(KernelContext& ctx, const WideF32& a, const WideF32& b, F&& f) {
  WideF32 r;
  r.halves = a.halves;
  for_each_half(ctx, a.halves, [&](int h) { r.half[h] = f(a.half[h], b.half[h]); });
  return r;
}
template <typename F>
WideF32 wide_map(KernelContext& ctx, const WideF32& a, const WideF32& b, const WideF32& c, F&& f) {
  WideF32 r;
  r.halves = a.halves;
  for_each_half(ctx, a.halves, [&](int h) { r.half[h] = f(a.half[h], b.half[h], c.half[h]); });
  return r;
}

// Lane reductions over all 64 or 128 elements of a wide vector: one
// cross-lane reduction instruction.
float wide_reduce_sum(KernelContext& ctx, const WideF32& a);
float wide_reduce_max(KernelContext& ctx, const WideF32& a);
float wide_reduce_min(KernelContext& ctx, const WideF32& a);
float wide_reduce_prod(KernelContext& ctx, const WideF32& a);

}  // namespace kiln::kernels
