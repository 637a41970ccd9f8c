#include "kiln/kernels/wide.h"

#include "kiln/kernels/vector_ops.h"

namespace kiln::kernels {

WideF32 load_wide(KernelContext& ctx, const TensorDesc& t, const Coord& c, float pad, int halves) {
  WideF32 w;
  w.halves = halves > 0 ? (halves > 2 ? 2 : halves) : natural_halves(t.dtype);
  if (t.dtype == DType::kBF16) {
    // bf16 is native to the datapath: widening is not an instruction.
    const VecBF16 v = ctx.load_bf16(t, c, bf16::from_float(pad));
    for (int h = 0; h < w.halves; ++h) {
      for (int i = 0; i < kF32Lanes; ++i) w.half[h].lane[i] = v.lane[h * kF32Lanes + i].to_float();
    }
    return w;
  }
  Coord at = c;
  for (int h = 0; h < w.halves; ++h) {
    w.half[h] = ctx.load_f32(t, at, pad);  // an i32 tensor faults here (dtype mismatch)
    at[0] += kF32Lanes;
  }
  return w;
}

void store_wide(KernelContext& ctx, const TensorDesc& t, const Coord& c, const WideF32& w) {
  if (t.dtype == DType::kBF16) {
    VecBF16 packed;
    for (int h = 0; h < 2; ++h) {
      const VecF32& src = w.half[h < w.halves ? h : 0];
      for (int i = 0; i < kF32Lanes; ++i) packed.lane[h * kF32Lanes + i] = bf16::from_float(src.lane[i]);
    }
    if (w.halves == 2) {
      ctx.store(t, c, packed);
    } else {
      // Only lanes 0..63 are defined: limit the view to them.
      TensorDesc view = t;
      view.dims[0] = c[0] + kF32Lanes < t.dims[0] ? c[0] + kF32Lanes : t.dims[0];
      ctx.store(view, c, packed);
    }
    return;
  }
  Coord at = c;
  for (int h = 0; h < w.halves; ++h) {
    ctx.store(t, at, w.half[h]);
    at[0] += kF32Lanes;
  }
}

WideF32 broadcast_wide(KernelContext& ctx, float x, int halves) {
  WideF32 w;
  w.halves = halves;
  w.half[0] = broadcast(ctx, x);
  w.half[1] = w.half[0];
  return w;
}

namespace {

// One cross-lane reduction over 64 or 128 lanes: the halves are combined under
// the first half's instruction.
template <typename Combine, typename Reduce>
float reduce_wide(KernelContext& ctx, const WideF32& a, Combine combine, Reduce reduce) {
  if (a.halves == 1) return reduce(ctx, a.half[0]);
  VecF32 both;
  {
    SecondHalfScope scope(ctx, true);
    both = combine(ctx, a.half[0], a.half[1]);
  }
  return reduce(ctx, both);
}

}  // namespace

float wide_reduce_sum(KernelContext& ctx, const WideF32& a) {
  return reduce_wide(ctx, a, [](KernelContext& c, const VecF32& x, const VecF32& y) { return add(c, x, y); },
                     [](KernelContext& c, const VecF32& x) { return reduce_sum(c, x); });
}
float wide_reduce_max(KernelContext& ctx, const WideF32& a) {
  return reduce_wide(ctx, a, [](KernelContext& c, const VecF32& x, const VecF32& y) { return max(c, x, y); },
                     [](KernelContext& c, const VecF32& x) { return reduce_max(c, x); });
}
float wide_reduce_min(KernelContext& ctx, const WideF32& a) {
  return reduce_wide(ctx, a, [](KernelContext& c, const VecF32& x, const VecF32& y) { return min(c, x, y); },
                     [](KernelContext& c, const VecF32& x) { return reduce_min(c, x); });
}

}  // namespace kiln::kernels
