// The runtime end to end: tensors in, ops in eager and lazy mode, values out,
// checked against host references.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "kiln/runtime/ops.h"
#include "kiln/runtime/runtime.h"

namespace kiln::runtime {
namespace {

template <typename T>
T take(Result<T> r) {
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  if (!r.ok()) throw std::runtime_error(r.status().to_string());
  return std::move(r).value();
}

std::unique_ptr<Runtime> open_runtime(Mode mode) {
  RuntimeOptions o;
  o.mode = mode;
  return take(Runtime::open("tiny", o));
}

std::vector<float> random_floats(std::size_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = d(g);
  return v;
}

class Modes : public ::testing::TestWithParam<Mode> {};

TEST_P(Modes, ElementwiseChainMatchesTheHost) {
  auto rt = open_runtime(GetParam());
  const auto a = random_floats(6 * 5, 1), b = random_floats(5, 2);
  Tensor ta = take(rt->from_host(a, {6, 5}));
  Tensor tb = take(rt->from_host(b, {5}));
  Tensor y = take(relu(take(add(take(mul(ta, tb)), 0.25))));
  ASSERT_TRUE(rt->mark_step().ok());
  const auto out = take(y.to_host<float>());
  ASSERT_EQ(out.size(), a.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    const float want = std::max(0.0f, a[i] * b[i % 5] + 0.25f);
    EXPECT_NEAR(out[i], want, 1e-6f) << i;
  }
}

TEST_P(Modes, MatmulMatchesTheHost) {
  auto rt = open_runtime(GetParam());
  const int m = 7, k = 19, n = 11;
  const auto a = random_floats(m * k, 3), b = random_floats(k * n, 4);
  Tensor c = take(matmul(take(rt->from_host(a, {m, k})), take(rt->from_host(b, {k, n}))));
  const auto out = take(c.to_host<float>());
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      double want = 0;
      for (int p = 0; p < k; ++p) want += static_cast<double>(a[i * k + p]) * b[p * n + j];
      EXPECT_NEAR(out[static_cast<std::size_t>(i * n + j)], want, 1e-4) << i << "," << j;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Runtime, Modes, ::testing::Values(Mode::kEager, Mode::kLazy),
                         [](const auto& p) { return p.param == Mode::kEager ? "Eager" : "Lazy"; });

TEST(Runtime, AShapeMismatchNamesTheOpAndBothShapesAndEnqueuesNothing) {
  auto rt = open_runtime(Mode::kLazy);
  Tensor a = take(rt->zeros({3, 4}, DType::kF32));
  Tensor b = take(rt->zeros({5}, DType::kF32));
  const auto before = rt->stats().ops_recorded;
  auto r = add(a, b);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("add: shapes do not broadcast: f32[3, 4] and f32[5]"), std::string::npos)
      << r.status().message();
  EXPECT_EQ(rt->stats().ops_recorded, before);
}

TEST(Runtime, ASecondIdenticalStepCompilesNothing) {
  auto rt = open_runtime(Mode::kLazy);
  for (int step = 0; step < 3; ++step) {
    Tensor x = take(rt->from_host(random_floats(64, 10 + step), {8, 8}));
    Tensor y = take(softmax(take(mul(x, 2.0)), -1));
    ASSERT_TRUE(rt->mark_step().ok());
    (void)take(y.to_host<float>());
  }
  const RuntimeStats s = rt->stats();
  EXPECT_EQ(s.compilations, 1u);
  EXPECT_EQ(s.cache_hits, 2u);
}

}  // namespace
}  // namespace kiln::runtime
