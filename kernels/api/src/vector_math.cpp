#include "kiln/kernels/vector_math.h"

#include <cmath>

#include "lane_map.h"

namespace kiln::kernels {
namespace {

using detail::map1;

}  // namespace

VecF32 sqrt(KernelContext& ctx, const VecF32& a) {
  return map1(ctx, OpClass::kVectorDivSqrt, a, [](float x) { return std::sqrt(x); });
}
VecF32 rsqrt(KernelContext& ctx, const VecF32& a) {
  return map1(ctx, OpClass::kVectorDivSqrt, a, [](float x) { return 1.0f / std::sqrt(x); });
}
VecF32 reciprocal(KernelContext& ctx, const VecF32& a) {
  return map1(ctx, OpClass::kVectorDivSqrt, a, [](float x) { return 1.0f / x; });
}

VecF32 exp(KernelContext& ctx, const VecF32& a) {
  return map1(ctx, OpClass::kVectorTranscendental, a, [](float x) { return std::exp(x); });
}
VecF32 log(KernelContext& ctx, const VecF32& a) {
  return map1(ctx, OpClass::kVectorTranscendental, a, [](float x) { return std::log(x); });
}
VecF32 tanh(KernelContext& ctx, const VecF32& a) {
  return map1(ctx, OpClass::kVectorTranscendental, a, [](float x) { return std::tanh(x); });
}
VecF32 erf(KernelContext& ctx, const VecF32& a) {
  return map1(ctx, OpClass::kVectorTranscendental, a, [](float x) { return std::erf(x); });
}
VecF32 sigmoid(KernelContext& ctx, const VecF32& a) {
  return map1(ctx, OpClass::kVectorTranscendental, a, [](float x) { return 1.0f / (1.0f + std::exp(-x)); });
}

#define KILN_TRANSCENDENTAL(name)                                                   \
  VecF32 name(KernelContext& ctx, const VecF32& a) {                                \
    return map1(ctx, OpClass::kVectorTranscendental, a, [](float x) { return std::name(x); }); \
  }
KILN_TRANSCENDENTAL(sin)
KILN_TRANSCENDENTAL(cos)
KILN_TRANSCENDENTAL(tan)
KILN_TRANSCENDENTAL(asin)
KILN_TRANSCENDENTAL(acos)
KILN_TRANSCENDENTAL(atan)
KILN_TRANSCENDENTAL(sinh)
KILN_TRANSCENDENTAL(cosh)
KILN_TRANSCENDENTAL(asinh)
KILN_TRANSCENDENTAL(acosh)
KILN_TRANSCENDENTAL(atanh)
#undef KILN_TRANSCENDENTAL

VecF32 floor(KernelContext& ctx, const VecF32& a) {
  return map1(ctx, OpClass::kVectorAlu, a, [](float x) { return std::floor(x); });
}
VecF32 ceil(KernelContext& ctx, const VecF32& a) {
  return map1(ctx, OpClass::kVectorAlu, a, [](float x) { return std::ceil(x); });
}
VecF32 round_half_even(KernelContext& ctx, const VecF32& a) {
  return map1(ctx, OpClass::kVectorAlu, a, [](float x) {
    if (!std::isfinite(x)) return x;
    const float down = std::floor(x);
    const float frac = x - down;  // exact: down and x share an exponent range
    const float r = frac > 0.5f || (frac == 0.5f && std::fmod(down, 2.0f) != 0.0f) ? down + 1.0f : down;
    return std::copysign(r, x);  // -0.3 rounds to -0, as rint does
  });
}

VecF32 fmod(KernelContext& ctx, const VecF32& a, const VecF32& b) {
  ctx.count(OpClass::kVectorDivSqrt);
  VecF32 r;
  for (int i = 0; i < kF32Lanes; ++i) r.lane[i] = std::fmod(a.lane[i], b.lane[i]);
  return r;
}

VecF32 pow(KernelContext& ctx, const VecF32& a, const VecF32& b) {
  ctx.count(OpClass::kVectorTranscendental, 2);
  ctx.count(OpClass::kVectorAlu);
  VecF32 r;
  for (int i = 0; i < kF32Lanes; ++i) r.lane[i] = std::pow(a.lane[i], b.lane[i]);
  return r;
}

}  // namespace kiln::kernels
