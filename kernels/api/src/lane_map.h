// Lane-wise helpers shared by the intrinsic implementations: apply a scalar
// function to every lane and count one instruction of `cls`.
#pragma once

#include "kiln/kernels/kernel_context.h"
#include "kiln/kernels/vector.h"

namespace kiln::kernels::detail {

template <typename F>
VecF32 map1(KernelContext& ctx, OpClass cls, const VecF32& a, F f) {
  ctx.count(cls);
  VecF32 r;
  for (int i = 0; i < kF32Lanes; ++i) r.lane[i] = f(a.lane[i]);
  return r;
}

template <typename F>
VecF32 map2(KernelContext& ctx, OpClass cls, const VecF32& a, const VecF32& b, F f) {
  ctx.count(cls);
  VecF32 r;
  for (int i = 0; i < kF32Lanes; ++i) r.lane[i] = f(a.lane[i], b.lane[i]);
  return r;
}

}  // namespace kiln::kernels::detail
