#include "kiln/kernels/wide.h"

#include <algorithm>
#include <cmath>

#include "kiln/kernels/vector_ops.h"

namespace kiln::kernels {

WideF32 load_wide(KernelContext& ctx, const TensorDesc& t, const Coord& c, float pad, int halves) {
  WideF32 w;
  w.halves = halves > 0 ? (halves > 2 ? 2 : halves) : natural_halves(t.dtype);
  // The 16-bit floats are native to the datapath: widening is not an instruction.
  if (t.dtype == DType::kBF16) {
    const VecBF16 v = ctx.load_bf16(t, c, bf16::from_float(pad));
    for (int h = 0; h < w.halves; ++h) {
      for (int i = 0; i < kF32Lanes; ++i) w.half[h].lane[i] = v.lane[h * kF32Lanes + i].to_float();
    }
    return w;
  }
  if (t.dtype == DType::kF16) {
    const VecF16 v = ctx.load_f16(t, c, f16::from_float(pad));
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

namespace {

// Packs both halves into one 16-bit vector (Vec: VecBF16 or VecF16) and
// stores it; with one half, only lanes 0..63 are defined, so the view is
// limited to them.
template <typename Vec, typename Elem>
void store_packed(KernelContext& ctx, const TensorDesc& t, const Coord& c, const WideF32& w) {
  Vec packed;
  for (int h = 0; h < 2; ++h) {
    const VecF32& src = w.half[h < w.halves ? h : 0];
    for (int i = 0; i < kF32Lanes; ++i) packed.lane[h * kF32Lanes + i] = Elem::from_float(src.lane[i]);
  }
  if (w.halves == 2) {
    ctx.store(t, c, packed);
  } else {
    TensorDesc view = t;
    view.dims[0] = c[0] + kF32Lanes < t.dims[0] ? c[0] + kF32Lanes : t.dims[0];
    ctx.store(view, c, packed);
  }
}

}  // namespace

void store_wide(KernelContext& ctx, const TensorDesc& t, const Coord& c, const WideF32& w) {
  if (t.dtype == DType::kBF16) return store_packed<VecBF16, bf16>(ctx, t, c, w);
  if (t.dtype == DType::kF16) return store_packed<VecF16, f16>(ctx, t, c, w);
  Coord at = c;
  for (int h = 0; h < w.halves; ++h) {
    ctx.store(t, at, w.half[h]);
    at[0] += kF32Lanes;
  }
}

WideF32 round_wide(KernelContext& ctx, const WideF32& w, DType d) {
  if (d == DType::kF32) return w;
  ctx.count(OpClass::kVectorAlu);
  WideF32 r = w;
  for (int h = 0; h < w.halves; ++h) {
    for (float& x : r.half[h].lane) {
      switch (d) {
        case DType::kBF16: x = bf16::from_float(x).to_float(); break;
        case DType::kF16: x = f16::from_float(x).to_float(); break;
        case DType::kI32:
        case DType::kI64: {
          // Toward zero, NaN to 0, saturating as the f32 -> integer
          // conversions do: the integer's top, 2^31 - 1 or 2^63 - 1, is held
          // as its nearest float, 2^31 or 2^63, which a store saturates back.
          const float top = d == DType::kI32 ? 2147483648.0f : 9223372036854775808.0f;
          const float t = std::trunc(x);
          x = t != t ? 0.0f : std::clamp(t, -top, top);
          break;
        }
        case DType::kBool: x = x != 0.0f ? 1.0f : 0.0f; break;
        case DType::kF32: break;
      }
    }
  }
  return r;
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
float wide_reduce_prod(KernelContext& ctx, const WideF32& a) {
  return reduce_wide(ctx, a, [](KernelContext& c, const VecF32& x, const VecF32& y) { return mul(c, x, y); },
                     [](KernelContext& c, const VecF32& x) { return reduce_prod(c, x); });
}

}  // namespace kiln::kernels
