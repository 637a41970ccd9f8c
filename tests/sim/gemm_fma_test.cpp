// The AVX2/FMA GEMM: every element bit for bit the in-order chain of fused
// multiply-adds over k (std::fma), for shapes that cut through every block
// and register-tile edge, products large enough to run on several threads,
// and an empty contraction.
#include "gemm_fma.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "tbb/global_control.h"

namespace kiln::sim {
namespace {

std::vector<float> random_values(uint64_t count, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  std::vector<float> v(count);
  for (float& x : v) x = dist(gen);
  return v;
}

// Element (i, j) as the chain the kernel promises.
float fma_chain(const std::vector<float>& a, const std::vector<float>& b, uint64_t n, uint64_t k, uint64_t i,
                uint64_t j) {
  float c = 0.0f;
  for (uint64_t p = 0; p < k; ++p) c = std::fma(a[i * k + p], b[p * n + j], c);
  return c;
}

// Rows checked: every `stride`-th and the last.
void expect_chains(uint64_t m, uint64_t n, uint64_t k, uint64_t stride) {
  const auto a = random_values(m * k, static_cast<uint32_t>(m * 131 + k)), b = random_values(k * n, static_cast<uint32_t>(n));
  std::vector<float> c(m * n, -7.0f);  // every element must be written
  gemm_fma(a.data(), b.data(), c.data(), m, n, k);
  std::vector<uint64_t> rows;  // every stride-th row, and the last
  for (uint64_t i = 0; i < m; i += stride) rows.push_back(i);
  if (rows.back() != m - 1) rows.push_back(m - 1);
  for (uint64_t i : rows) {
    for (uint64_t j = 0; j < n; ++j) {
      const float want = fma_chain(a, b, n, k, i, j);
      ASSERT_EQ(std::memcmp(&c[i * n + j], &want, sizeof(float)), 0)
          << m << "x" << n << "x" << k << " at " << i << "," << j << ": " << c[i * n + j] << " vs " << want;
    }
  }
}

TEST(GemmFma, EveryElementIsItsInOrderFmaChain) {
  if (!gemm_fma_available()) GTEST_SKIP() << "this host's CPU has no AVX2 and FMA: gemm_f32 takes the portable path";
  // Rows around the 6-row register tile and the 96-row block; columns around
  // the 8/16-wide panels and the column blocks; k around the 256-deep block.
  for (uint64_t m : {1, 5, 6, 7, 13, 96, 97, 200}) {
    for (uint64_t n : {1, 8, 9, 16, 17, 40, 100}) {
      for (uint64_t k : {1, 3, 255, 256, 257, 600}) expect_chains(m, n, k, 1);
    }
  }
}

TEST(GemmFma, LargeProductsOnSeveralThreadsKeepTheChains) {
  if (!gemm_fma_available()) GTEST_SKIP() << "this host's CPU has no AVX2 and FMA";
  for (const auto& [m, n, k] : {std::array<uint64_t, 3>{64, 3136, 147}, {300, 1100, 70}, {2048, 49, 130}}) {
    expect_chains(m, n, k, 37);  // a sample of rows: the chains are long
  }
}

// How a product is cut into blocks depends on the threads available (more,
// smaller blocks for more threads; one block of many 96-row steps for one):
// no cut changes a bit.
TEST(GemmFma, CutsForAnyThreadCountKeepTheChains) {
  if (!gemm_fma_available()) GTEST_SKIP() << "this host's CPU has no AVX2 and FMA";
  for (int threads : {1, 2, 3, 5}) {
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(threads));
    for (const auto& [m, n, k] : {std::array<uint64_t, 3>{400, 700, 90}, {130, 2100, 40}, {1000, 60, 300}}) {
      SCOPED_TRACE(threads);
      expect_chains(m, n, k, 29);
    }
  }
}

// Operands stored transposed (A^T k x m, B^T n x k) are read as stored:
// every element is still its chain over the dense operands' row and column.
TEST(GemmFma, TransposedOperandsKeepTheChains) {
  if (!gemm_fma_available()) GTEST_SKIP() << "this host's CPU has no AVX2 and FMA";
  for (const auto& [m, n, k] : {std::array<uint64_t, 3>{7, 9, 5}, {13, 40, 257}, {100, 17, 300}, {1, 1000, 64}}) {
    const auto a = random_values(m * k, 11), b = random_values(k * n, 12);
    std::vector<float> at(k * m), bt(n * k);
    for (uint64_t i = 0; i < m; ++i) {
      for (uint64_t p = 0; p < k; ++p) at[p * m + i] = a[i * k + p];
    }
    for (uint64_t p = 0; p < k; ++p) {
      for (uint64_t j = 0; j < n; ++j) bt[j * k + p] = b[p * n + j];
    }
    for (const GemmLayout layout : {GemmLayout{true, false}, GemmLayout{false, true}, GemmLayout{true, true}}) {
      std::vector<float> c(m * n, -7.0f);
      gemm_fma(layout.a_transposed ? at.data() : a.data(), layout.b_transposed ? bt.data() : b.data(), c.data(), m, n,
               k, layout);
      for (uint64_t i = 0; i < m; ++i) {
        for (uint64_t j = 0; j < n; ++j) {
          const float want = fma_chain(a, b, n, k, i, j);
          ASSERT_EQ(std::memcmp(&c[i * n + j], &want, sizeof(float)), 0)
              << m << "x" << n << "x" << k << " A^T " << layout.a_transposed << " B^T " << layout.b_transposed << " at "
              << i << "," << j;
        }
      }
    }
  }
}

TEST(GemmFma, AnEmptyContractionIsZeros) {
  if (!gemm_fma_available()) GTEST_SKIP() << "this host's CPU has no AVX2 and FMA";
  std::vector<float> c(12, -7.0f);
  gemm_fma(nullptr, nullptr, c.data(), 3, 4, 0);
  for (float x : c) EXPECT_EQ(x, 0.0f);
}

}  // namespace
}  // namespace kiln::sim
