// The per-op tests in bf16 and fp16 (ops_dtype_test.cpp, ops_dtype_nn_test.cpp):
// every op that takes floating types, in eager and lazy mode, against a host
// reference computed in double from the same dtype-rounded inputs.
//
// Tolerances. The device computes every op in fp32 and rounds once, to
// nearest even, when it stores the result (kiln/kernels/wide.h for the
// vector cores; sim/src/mme_math.h for the matrix engine: products exact in
// fp32, fp32 accumulation, bias and activation in fp32, one rounding). So each
// element is held to
//     |got - want| <= u * |want| + e
// where u is the output dtype's unit roundoff (bf16 2^-8, fp16 2^-11: the
// most one rounding to nearest can move a value, relative) and e bounds the
// fp32 arithmetic before that rounding, from the magnitudes the op combines:
//   - elementwise ops and activations: e = 16 * 2^-24 * |want| + 2^-21 (a few
//     fp32 ulps of the lane math; the floor covers transcendental kernels
//     whose result cancels, e.g. gelu(-3), and fp16 subnormals);
//   - sums of K terms (matmul, linear, conv, sum/mean, avg pooling):
//     e = (K + 2) * 2^-24 * sum |terms| (the worst case of K fp32 additions);
//   - softmax, log_softmax, layer/RMS/batch norm: the same over the line's K
//     values plus a few ulps of the terms their last step combines.
// e is far below u * |want| unless the sum cancels, so the bound is one
// rounding: a truncating rounding (errors up to 2u), a second rounding of an
// intermediate in the 16-bit dtype (up to 2u), an unrounded input (the op
// applied to the fp32 values), or a wrong op fails it. Ops that only move,
// select or compare values (neg, abs, relu, max/min, clamp, where, concat,
// split, gather, views, max pooling, amax/amin, casts between floats and to
// integers) are held to the exact value (e = 0, u = 0).
// linear with a bias rounds once in both modes (one GEMM with the bias in its
// fp32 epilogue). attention, a composite of four rounded steps, is held to
// those roundings propagated (see its test).
#pragma once

#include <string>

#include "host_reference.h"

namespace kiln::runtime::testing {

struct DtypeCase {
  Mode mode;
  DType dtype;
};

constexpr double kF32Ulp = 0x1p-24;
constexpr double kFloor = 0x1p-21;

class OpsDtype : public ::testing::TestWithParam<DtypeCase> {
 protected:
  void SetUp() override {
    RuntimeOptions o;
    o.mode = GetParam().mode;
    rt_ = take(Runtime::open("tiny", o));
  }
  Runtime& rt() { return *rt_; }
  DType dt() const { return GetParam().dtype; }
  bool eager() const { return GetParam().mode == Mode::kEager; }
  double u() const { return unit_roundoff(dt()); }
  // The input as the device holds it in this dtype.
  HostTensor in(const HostTensor& t) const { return rounded(dt(), t); }
  Tensor up(const HostTensor& t) { return upload(rt(), t, dt()); }

  // u |want| + fp32_ulps * 2^-24 * |want| + floor, per element.
  HostTensor rel_bound(const HostTensor& want, double fp32_ulps = 16, double floor = kFloor) const {
    HostTensor b = want;
    for (double& x : b.v) x = (u() + fp32_ulps * kF32Ulp) * std::abs(x) + floor;
    return b;
  }
  // u |want| + (K + 2) 2^-24 * magnitude (the sum of |terms|), per element.
  HostTensor sum_bound(const HostTensor& want, const HostTensor& magnitude, int64_t k) const {
    HostTensor b = want;
    for (int64_t i = 0; i < b.size(); ++i) {
      b[i] = u() * std::abs(want[i]) + static_cast<double>(k + 2) * kF32Ulp * magnitude[i] + kFloor;
    }
    return b;
  }
  void expect_exact(const Tensor& got, const HostTensor& want, const std::string& what) {
    expect_within(download(got), want, host_zeros(want.shape), what + " " + name());
  }
  void expect_rel(const Tensor& got, const HostTensor& want, const std::string& what, double fp32_ulps = 16) {
    expect_within(download(got), want, rel_bound(want, fp32_ulps), what + " " + name());
  }
  std::string name() const { return std::string(dtype_name(dt())) + (eager() ? " eager" : " lazy"); }

  std::unique_ptr<Runtime> rt_;
};

inline auto dtype_cases() {
  return ::testing::Values(DtypeCase{Mode::kEager, DType::kBF16}, DtypeCase{Mode::kLazy, DType::kBF16},
                           DtypeCase{Mode::kEager, DType::kF16}, DtypeCase{Mode::kLazy, DType::kF16});
}

inline std::string dtype_case_name(const ::testing::TestParamInfo<DtypeCase>& p) {
  std::string s = p.param.mode == Mode::kEager ? "Eager" : "Lazy";
  s += dtype_name(p.param.dtype);
  return s;
}

}  // namespace kiln::runtime::testing
