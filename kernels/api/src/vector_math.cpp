#include "kiln/kernels/vector_math.h"

#include <cmath>

#include "lane_map.h"

namespace kiln::kernels {
namespace {

constexpr int N = kF32Lanes;

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

VecF32 pow(KernelContext& ctx, const VecF32& a, const VecF32& b) {
  ctx.count(OpClass::kVectorTranscendental, 2);
  ctx.count(OpClass::kVectorAlu);
  VecF32 r;
  for (int i = 0; i < N; ++i) r.lane[i] = std::pow(a.lane[i], b.lane[i]);
  return r;
}

}  // namespace kiln::kernels
