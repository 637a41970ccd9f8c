// The MME's functional GEMM: values against a double-precision reference, and
// an element's bits independent of how many rows and columns the product has
// and of zeros appended to the contraction (bucketing pads them and must
// leave the real elements' values untouched).
#include "mme_math.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace kiln::sim {
namespace {

std::vector<float> random_matrix(uint64_t rows, uint64_t cols, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(rows * cols);
  for (float& x : v) x = dist(gen);
  return v;
}

// gemm_f32 as this host runs it, and its portable path (what hosts without
// AVX2 and FMA run): both keep every property below.
using GemmFn = void (*)(const float*, const float*, float*, uint64_t, uint64_t, uint64_t);
struct GemmPath {
  const char* name;
  GemmFn gemm;
};

class MmeGemm : public ::testing::TestWithParam<GemmPath> {
 protected:
  std::vector<float> gemm(const std::vector<float>& a, const std::vector<float>& b, uint64_t m, uint64_t n,
                          uint64_t k) {
    std::vector<float> c(m * n, -7.0f);  // every element must be written
    GetParam().gemm(a.data(), b.data(), c.data(), m, n, k);
    return c;
  }
};

INSTANTIATE_TEST_SUITE_P(Paths, MmeGemm,
                         ::testing::Values(GemmPath{"host",
                                                    [](const float* a, const float* b, float* c, uint64_t m, uint64_t n,
                                                       uint64_t k) { gemm_f32(a, b, c, m, n, k); }},
                                           GemmPath{"blas_tiles", gemm_f32_blas_tiles}),
                         [](const ::testing::TestParamInfo<GemmPath>& path) { return std::string(path.param.name); });

// Small matrices are transposed on the calling thread, large ones in bands on
// TBB's threads (a classifier's weights): every element lands in its place.
TEST(MmeMath, TransposeSmallAndLargeMatrices) {
  for (const auto& [rows, cols] : {std::pair<uint64_t, uint64_t>{5, 3}, {33, 70}, {1100, 1001}}) {
    const std::vector<float> src = random_matrix(rows, cols, static_cast<uint32_t>(rows));
    std::vector<float> dst(rows * cols, -7.0f);
    transpose_f32(src.data(), rows, cols, dst.data());
    for (uint64_t r = 0; r < rows; ++r) {
      for (uint64_t c = 0; c < cols; ++c) ASSERT_EQ(dst[c * rows + r], src[r * cols + c]) << rows << "x" << cols;
    }
  }
}

TEST_P(MmeGemm, GemmMatchesADoubleReference) {
  for (const auto& [m, n, k] : {std::array<uint64_t, 3>{1, 1, 1}, {5, 7, 3}, {65, 33, 129}, {300, 40, 70}}) {
    const auto a = random_matrix(m, k, 1), b = random_matrix(k, n, 2);
    const auto c = gemm(a, b, m, n, k);
    for (uint64_t i = 0; i < m; ++i) {
      for (uint64_t j = 0; j < n; ++j) {
        double want = 0, magnitude = 0;
        for (uint64_t p = 0; p < k; ++p) {
          want += static_cast<double>(a[i * k + p]) * b[p * n + j];
          magnitude += std::fabs(static_cast<double>(a[i * k + p]) * b[p * n + j]);
        }
        // fp32 accumulation of k terms: a few k * 2^-24 of their magnitudes.
        ASSERT_NEAR(c[i * n + j], want, 1e-6 + magnitude * static_cast<double>(k) * 6e-8)
            << m << "x" << n << "x" << k << " at " << i << "," << j;
      }
    }
  }
}

// The rows of an m-row product are bit for bit the first m rows of a
// larger one: what the vector cores already guarantee, now the MME too.
TEST_P(MmeGemm, ARowsBitsDoNotDependOnTheRowCount) {
  for (const auto& [n, k] : {std::array<uint64_t, 2>{16, 16}, {40, 70}, {8, 1300}, {1100, 1000}}) {
    const uint64_t most = 200;
    const auto a = random_matrix(most, k, 3), b = random_matrix(k, n, 4);
    const auto all = gemm(a, b, most, n, k);
    for (uint64_t m : {1, 5, 8, 31, 32, 33, 63, 64, 65, 130, 199}) {
      const auto some = gemm(a, b, m, n, k);
      EXPECT_EQ(std::memcmp(some.data(), all.data(), m * n * sizeof(float)), 0)
          << m << " of " << most << " rows, n " << n << ", k " << k;
    }
  }
}

// A column's bits do not depend on how many columns the product has
// (sequence bucketing pads the key positions of attention scores).
TEST_P(MmeGemm, AColumnsBitsDoNotDependOnTheColumnCount) {
  for (const auto& [m, k] : {std::array<uint64_t, 2>{16, 16}, {70, 40}, {130, 300}}) {
    const uint64_t most = 200;
    const auto a = random_matrix(m, k, 5), b_all = random_matrix(k, most, 6);
    const auto all = gemm(a, b_all, m, most, k);
    for (uint64_t n : {1, 7, 8, 28, 63, 64, 65, 129, 199}) {
      std::vector<float> b(k * n);
      for (uint64_t p = 0; p < k; ++p) std::memcpy(&b[p * n], &b_all[p * most], n * sizeof(float));
      const auto some = gemm(a, b, m, n, k);
      for (uint64_t i = 0; i < m; ++i) {
        ASSERT_EQ(std::memcmp(&some[i * n], &all[i * most], n * sizeof(float)), 0)
            << n << " of " << most << " columns, m " << m << ", k " << k << ", row " << i;
      }
    }
  }
}

// Zeros appended to the contraction (a padded sequence under a mask) leave
// every element's bits as they were. (The one exception: a sum that is
// exactly -0 becomes +0 once an all-zero chunk is added.)
TEST_P(MmeGemm, ZeroPaddedContractionKeepsTheBits) {
  for (const auto& [m, n, k] : {std::array<uint64_t, 3>{8, 8, 5}, {70, 40, 100}, {65, 129, 300}}) {
    const auto a = random_matrix(m, k, 7), b = random_matrix(k, n, 8);
    const auto want = gemm(a, b, m, n, k);
    for (uint64_t padded : {k + 1, k + 7, 2 * k, k + 200}) {
      std::vector<float> a_pad(m * padded, 0.0f), b_pad(padded * n, 0.0f);
      for (uint64_t i = 0; i < m; ++i) std::memcpy(&a_pad[i * padded], &a[i * k], k * sizeof(float));
      std::memcpy(b_pad.data(), b.data(), k * n * sizeof(float));
      const auto got = gemm(a_pad, b_pad, m, n, padded);
      EXPECT_EQ(std::memcmp(got.data(), want.data(), m * n * sizeof(float)), 0)
          << m << "x" << n << ", k " << k << " padded to " << padded;
    }
  }
}

}  // namespace
}  // namespace kiln::sim
