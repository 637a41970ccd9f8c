// The float math, logic, fmod, prod and last-index arg reductions, in eager
// and lazy mode, against host references (host_reference.h). Tolerances as
// ops_test.cpp: transcendental kernels within 2e-5 relative; rounding, sign,
// logic and integer fmod exact.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "host_reference.h"

namespace kiln::runtime::testing {
namespace {

class MathOps : public ::testing::TestWithParam<Mode> {
 protected:
  void SetUp() override {
    RuntimeOptions o;
    o.mode = GetParam();
    rt_ = take(Runtime::open("tiny", o));
  }
  Runtime& rt() { return *rt_; }
  std::unique_ptr<Runtime> rt_;
};

// Round half to even, independent of the host's rounding mode.
double round_half_even(double v) {
  const double down = std::floor(v), frac = v - down;
  if (frac > 0.5 || (frac == 0.5 && std::fmod(down, 2.0) != 0.0)) return down + 1;
  return down;
}

TEST_P(MathOps, UnaryMathMatchesLibm) {
  // Inside every function's domain: (-0.9, 0.9) for asin/acos/atanh, > 1 for acosh.
  const HostTensor x = host_random({3, 70}, 11, -0.9, 0.9);
  const HostTensor big = host_random({3, 70}, 12, 1.1, 6);
  struct Case {
    const char* name;
    Result<Tensor> (*op)(const Tensor&);
    double (*ref)(double);
    const HostTensor* in;
    double rtol;
  };
  const Case cases[] = {
      {"erf", erf, [](double v) { return std::erf(v); }, &x, 2e-5},
      {"sin", sin, [](double v) { return std::sin(v); }, &big, 2e-5},
      {"cos", cos, [](double v) { return std::cos(v); }, &big, 2e-5},
      {"tan", tan, [](double v) { return std::tan(v); }, &x, 2e-5},
      {"asin", asin, [](double v) { return std::asin(v); }, &x, 2e-5},
      {"acos", acos, [](double v) { return std::acos(v); }, &x, 2e-5},
      {"atan", atan, [](double v) { return std::atan(v); }, &big, 2e-5},
      {"sinh", sinh, [](double v) { return std::sinh(v); }, &x, 2e-5},
      {"cosh", cosh, [](double v) { return std::cosh(v); }, &big, 2e-5},
      {"asinh", asinh, [](double v) { return std::asinh(v); }, &big, 2e-5},
      {"acosh", acosh, [](double v) { return std::acosh(v); }, &big, 2e-5},
      {"atanh", atanh, [](double v) { return std::atanh(v); }, &x, 2e-5},
  };
  for (const Case& c : cases) {
    const HostTensor got = download(take(c.op(upload(rt(), *c.in))));
    const HostTensor want = host_map({c.in}, c.in->shape, [&](const auto& v) { return c.ref(v[0]); });
    expect_close(got, want, 1e-6, c.rtol, c.name);
  }
}

TEST_P(MathOps, RoundingAndSignAreExact) {
  HostTensor x = host_random({2, 65}, 13, -5, 5);
  // Ties, zeros and integers: where rounding modes differ.
  const double specials[] = {0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.0, -0.0, 3.0, -7.0, 1e9, -0.49999997};
  for (std::size_t i = 0; i < std::size(specials); ++i) x.v[i] = specials[i];
  struct Case {
    const char* name;
    Result<Tensor> (*op)(const Tensor&);
    double (*ref)(double);
  };
  const Case cases[] = {
      {"floor", floor, [](double v) { return std::floor(v); }},
      {"ceil", ceil, [](double v) { return std::ceil(v); }},
      {"round", round, round_half_even},
      {"sign", sign, [](double v) { return v > 0 ? 1.0 : v < 0 ? -1.0 : v; }},
  };
  for (DType dtype : {DType::kF32, DType::kBF16}) {
    const HostTensor in = rounded(dtype, x);
    for (const Case& c : cases) {
      const HostTensor got = download(take(c.op(upload(rt(), in, dtype))));
      const HostTensor want = host_map({&in}, in.shape, [&](const auto& v) { return c.ref(v[0]); });
      expect_close(got, rounded(dtype, want), 0, 0, std::string(c.name) + " " + std::string(dtype_name(dtype)));
    }
  }
}

TEST_P(MathOps, FmodFloatTruncatesWithTheDividendsSign) {
  const HostTensor a = host_random({4, 1, 33}, 14, -10, 10), b = host_random({5, 1}, 15, -3, 3);
  const HostTensor got = download(take(fmod(upload(rt(), a), upload(rt(), b))));
  const HostTensor want = host_map({&a, &b}, {4, 5, 33}, [](const auto& v) {
    return static_cast<double>(std::fmod(static_cast<float>(v[0]), static_cast<float>(v[1])));
  });
  expect_close(got, want, 0, 0, "fmod f32");
}

TEST_P(MathOps, FmodIntegersIsExactAndWraps) {
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  const std::vector<int64_t> a = {7, -7, 7, -7, 0, 5, kMin, kMin, 123456789012345};
  const std::vector<int64_t> b = {3, 3, -3, -3, 4, 0, -1, 7, -1000};
  Tensor ta = take(rt().from_host(a, {9}, DType::kI64)), tb = take(rt().from_host(b, {9}, DType::kI64));
  const auto got = take(take(fmod(ta, tb)).to_host<int64_t>());
  for (std::size_t i = 0; i < a.size(); ++i) {
    // x fmod 0 is x; MIN fmod -1 is 0 (the quotient wraps, the remainder does not).
    const int64_t want = b[i] == 0 ? a[i] : b[i] == -1 ? 0 : a[i] % b[i];
    EXPECT_EQ(got[i], want) << a[i] << " fmod " << b[i];
  }
  const std::vector<int32_t> a32 = {-9, 9, std::numeric_limits<int32_t>::min()}, b32 = {4, -4, 3};
  const auto got32 = take(take(fmod(take(rt().from_host(a32, {3}, DType::kI32)), take(rt().from_host(b32, {3}, DType::kI32)))).to_host<int32_t>());
  for (std::size_t i = 0; i < a32.size(); ++i) EXPECT_EQ(got32[i], a32[i] % b32[i]) << a32[i] << " fmod " << b32[i];
}

TEST_P(MathOps, IntegerPowIsExactAndWraps) {
  const std::vector<int64_t> a = {3, -2, 7, 2, 1, -1, -1, 5, 0, 0};
  const std::vector<int64_t> e = {4, 3, 0, 63, -5, -3, -4, -1, 0, 9};
  const auto got = take(take(pow(take(rt().from_host(a, {10}, DType::kI64)), take(rt().from_host(e, {10}, DType::kI64))))
                            .to_host<int64_t>());
  const std::vector<int64_t> want = {81, -8, 1, std::numeric_limits<int64_t>::min(), 1, -1, 1, 0, 1, 0};
  EXPECT_EQ(got, want);
  // 3^21 = 10460353203 wraps modulo 2^32.
  const std::vector<int32_t> a32 = {3, -3}, e32 = {21, 5};
  const auto got32 = take(take(pow(take(rt().from_host(a32, {2}, DType::kI32)), take(rt().from_host(e32, {2}, DType::kI32))))
                              .to_host<int32_t>());
  EXPECT_EQ(got32, (std::vector<int32_t>{static_cast<int32_t>(static_cast<uint32_t>(10460353203ull)), -243}));
}

TEST_P(MathOps, NegAndAbsTakeIntegers) {
  const std::vector<int32_t> v = {5, -7, 0, std::numeric_limits<int32_t>::min()};
  const Tensor x = take(rt().from_host(v, {4}, DType::kI32));
  EXPECT_EQ(take(take(neg(x)).to_host<int32_t>()), (std::vector<int32_t>{-5, 7, 0, std::numeric_limits<int32_t>::min()}));
  EXPECT_EQ(take(take(abs(x)).to_host<int32_t>()), (std::vector<int32_t>{5, 7, 0, std::numeric_limits<int32_t>::min()}));
  EXPECT_FALSE(exp(x).ok());
}

TEST_P(MathOps, LogicOnBoolsBroadcasts) {
  const std::vector<uint8_t> a = {0, 1, 1, 0, 1, 0}, b = {1, 1, 0};
  const Tensor ta = take(rt().from_host(a.data(), a.size(), {2, 3}, DType::kBool));
  const Tensor tb = take(rt().from_host(b.data(), b.size(), {3}, DType::kBool));
  struct Case {
    const char* name;
    Result<Tensor> (*op)(const Tensor&, const Tensor&);
    bool (*ref)(bool, bool);
  };
  const Case cases[] = {
      {"and", logical_and, [](bool p, bool q) { return p && q; }},
      {"or", logical_or, [](bool p, bool q) { return p || q; }},
      {"xor", logical_xor, [](bool p, bool q) { return p != q; }},
  };
  for (const Case& c : cases) {
    const auto got = take(take(c.op(ta, tb)).to_host<uint8_t>());
    for (std::size_t i = 0; i < a.size(); ++i) EXPECT_EQ(got[i] != 0, c.ref(a[i] != 0, b[i % 3] != 0)) << c.name << " " << i;
  }
  const auto got = take(take(logical_not(ta)).to_host<uint8_t>());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_EQ(got[i] != 0, a[i] == 0) << "not " << i;
  // A chain the fusion pass can make one kernel of, with a float compare in it.
  const Tensor x = upload(rt(), host_random({2, 3}, 16));
  const Tensor zero = take(rt().full({}, 0.0, DType::kF32));
  const auto chain = take(take(logical_not(take(logical_xor(take(gt(x, zero)), ta)))).to_host<uint8_t>());
  const auto xs = take(x.to_host<float>());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_EQ(chain[i] != 0, (xs[i] > 0) == (a[i] != 0)) << "chain " << i;
}

TEST_P(MathOps, LogicRefusesNonBool) {
  const Tensor x = upload(rt(), host_random({2}, 17));
  const auto r = logical_and(x, x);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("logical_and"), std::string::npos) << r.status().to_string();
  EXPECT_FALSE(logical_not(x).ok());
  EXPECT_FALSE(sin(take(rt().from_host(std::vector<int32_t>{1, 2}, {2}, DType::kI32))).ok());
}

TEST_P(MathOps, ProdOverDims) {
  const HostTensor x = host_random({3, 4, 70}, 18, 0.5, 1.5);
  const auto product = [](const std::vector<double>& g) {
    double p = 1;
    for (double v : g) p *= v;
    return p;
  };
  for (const std::vector<int>& dims : {std::vector<int>{2}, std::vector<int>{0}, std::vector<int>{0, 2}}) {
    for (bool keep : {false, true}) {
      const HostTensor got = download(take(prod(upload(rt(), x), dims, keep)));
      expect_close(got, host_reduce(x, dims, keep, product), 1e-6, 1e-4, "prod");
    }
  }
}

TEST_P(MathOps, ArgExtremesTakeTheLastIndexWhenAsked) {
  // Ties along both kinds of axis (the innermost one reduces across lanes).
  const std::vector<float> v = {1, 5, 5, 0, 0, 5,    //
                                2, 2, -1, -1, 2, -1};  // [2, 6]
  const Tensor x = take(rt().from_host(v, {2, 6}));
  const auto indices = [](Result<Tensor> t) { return take(take(std::move(t)).to_host<int32_t>()); };
  EXPECT_EQ(indices(argmax(x, 1, false, true)), (std::vector<int32_t>{5, 4}));
  EXPECT_EQ(indices(argmax(x, 1, false, false)), (std::vector<int32_t>{1, 0}));
  EXPECT_EQ(indices(argmin(x, 1, false, true)), (std::vector<int32_t>{4, 5}));
  EXPECT_EQ(indices(argmin(x, 1, false, false)), (std::vector<int32_t>{3, 2}));
  const Tensor tied = take(rt().from_host(std::vector<float>{3, 3, 3, 3, 1, 4}, {2, 3}));
  EXPECT_EQ(indices(argmax(tied, 0, false, true)), (std::vector<int32_t>{1, 0, 1}));
  EXPECT_EQ(indices(argmin(tied, 0, false, true)), (std::vector<int32_t>{1, 1, 0}));
  // Every element the identity of the search: the last one.
  const float inf = std::numeric_limits<float>::infinity();
  const Tensor all_inf = take(rt().from_host(std::vector<float>{-inf, -inf, -inf}, {3}));
  EXPECT_EQ(indices(argmax(all_inf, 0, false, true)), (std::vector<int32_t>{2}));
}

TEST_P(MathOps, CumsumIsOnnxCumSum) {
  const HostTensor x = host_random({5, 3, 70}, 19);
  for (int dim : {0, 2, -2}) {
    for (bool exclusive : {false, true}) {
      for (bool reverse : {false, true}) {
        const int d = dim < 0 ? dim + 3 : dim;
        const HostTensor want = host_along(x, d, [&](std::vector<double> line) {
          std::vector<double> out(line.size(), 0.0);
          const int n = static_cast<int>(line.size());
          for (int j = 0; j < n; ++j)
            for (int i = 0; i < n; ++i) {
              const bool before = reverse ? (exclusive ? i > j : i >= j) : (exclusive ? i < j : i <= j);
              if (before) out[static_cast<std::size_t>(j)] += line[static_cast<std::size_t>(i)];
            }
          return out;
        });
        const HostTensor got = download(take(cumsum(upload(rt(), x), dim, exclusive, reverse)));
        expect_close(got, want, 1e-5, 1e-4,
                     "cumsum dim " + std::to_string(dim) + (exclusive ? " exclusive" : "") + (reverse ? " reverse" : ""));
      }
    }
  }
  EXPECT_FALSE(cumsum(upload(rt(), x), 3).ok());
}

TEST_P(MathOps, FullMakesIntegerAndBoolConstants) {
  EXPECT_EQ(take(take(rt().full({3}, -7, DType::kI64)).to_host<int64_t>()), (std::vector<int64_t>{-7, -7, -7}));
  EXPECT_EQ(take(take(rt().full({2}, 0.5, DType::kBool)).to_host<uint8_t>()), (std::vector<uint8_t>{1, 1}));
  // What reaches an integer op through add(x, scalar).
  const Tensor x = take(rt().from_host(std::vector<int64_t>{1, 2}, {2}, DType::kI64));
  EXPECT_EQ(take(take(add(x, 40.0)).to_host<int64_t>()), (std::vector<int64_t>{41, 42}));
  const auto big = rt().full({1}, 1e12, DType::kI64);
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.status().message().find("full"), std::string::npos) << big.status().to_string();
}

INSTANTIATE_TEST_SUITE_P(Runtime, MathOps, ::testing::Values(Mode::kEager, Mode::kLazy),
                         [](const auto& p) { return p.param == Mode::kEager ? "Eager" : "Lazy"; });

}  // namespace
}  // namespace kiln::runtime::testing
