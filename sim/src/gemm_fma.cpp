#include "gemm_fma.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "tbb/parallel_for.h"

namespace kiln::sim {

namespace {

// Register tile: kMr rows of C by 8 or 16 columns (one or two AVX vectors a
// row), 12 accumulators at most. Blocks (as in BLIS): a kMc x kKc block of A
// packed into 6-row panels (stays in L2), a kKc x kNc block of B packed into
// 16-column panels (L3; one panel, 16 KiB, stays in L1 across A's panels).
// The blocking only changes which element is computed when: each element's
// chain runs over k in order, the partial chain kept in C between k blocks.
constexpr uint64_t kMr = 6, kKc = 256, kMc = 96, kNc = 1024;

template <int kVecs>
__attribute__((target("avx2,fma"))) void micro_kernel(uint64_t kc, const float* ap, const float* bp, float* c,
                                                      uint64_t ldc, bool accumulate) {
  constexpr int kWidth = 8 * kVecs;
  __m256 acc[kMr][kVecs];
#pragma GCC unroll 6
  for (uint64_t r = 0; r < kMr; ++r) {
#pragma GCC unroll 2
    for (int v = 0; v < kVecs; ++v) acc[r][v] = accumulate ? _mm256_loadu_ps(c + r * ldc + 8 * v) : _mm256_setzero_ps();
  }
  for (uint64_t p = 0; p < kc; ++p) {
    __m256 bv[kVecs];
#pragma GCC unroll 2
    for (int v = 0; v < kVecs; ++v) bv[v] = _mm256_loadu_ps(bp + p * kWidth + 8 * v);
#pragma GCC unroll 6
    for (uint64_t r = 0; r < kMr; ++r) {
      const __m256 av = _mm256_broadcast_ss(ap + p * kMr + r);
#pragma GCC unroll 2
      for (int v = 0; v < kVecs; ++v) acc[r][v] = _mm256_fmadd_ps(av, bv[v], acc[r][v]);
    }
  }
#pragma GCC unroll 6
  for (uint64_t r = 0; r < kMr; ++r) {
#pragma GCC unroll 2
    for (int v = 0; v < kVecs; ++v) _mm256_storeu_ps(c + r * ldc + 8 * v, acc[r][v]);
  }
}

// One register tile of C at `c` with `rows` x `cols` valid elements (at most
// kMr x 8 * kVecs). A partial tile goes through a full-size copy: the packed
// panels' padding is zeros, and the padded elements are dropped.
template <int kVecs>
void tile(uint64_t kc, const float* ap, const float* bp, float* c, uint64_t ldc, uint64_t rows, uint64_t cols,
          bool accumulate) {
  constexpr uint64_t kWidth = 8 * kVecs;
  if (rows == kMr && cols == kWidth) {
    micro_kernel<kVecs>(kc, ap, bp, c, ldc, accumulate);
    return;
  }
  alignas(32) float part[kMr * kWidth] = {};
  if (accumulate) {
    for (uint64_t r = 0; r < rows; ++r) std::memcpy(part + r * kWidth, c + r * ldc, cols * sizeof(float));
  }
  micro_kernel<kVecs>(kc, ap, bp, part, kWidth, accumulate);
  for (uint64_t r = 0; r < rows; ++r) std::memcpy(c + r * ldc, part + r * kWidth, cols * sizeof(float));
}

// Columns [j, j + width) of B's panel layout: 16 wide, the last one 8 wide
// when at most 8 columns remain.
uint64_t panel_width(uint64_t remaining) { return remaining > 8 ? 16 : 8; }

// C's rows [i0, i0 + kMc) and columns [j0, j0 + block_cols), clipped to
// m x n (block_cols: at most kNc, a multiple of 16).
void gemm_block(const float* a, const float* b, float* c, uint64_t m, uint64_t n, uint64_t k, uint64_t i0,
                uint64_t j0, uint64_t block_cols) {
  thread_local std::vector<float> a_pack(kMc * kKc), b_pack(kKc * kNc);
  const uint64_t mc = std::min(kMc, m - i0), nc = std::min(block_cols, n - j0);
  for (uint64_t p0 = 0; p0 < k; p0 += kKc) {
    const uint64_t kc = std::min(kKc, k - p0);
    // B: for each k, the block's row split into its panels (zeros past nc).
    for (uint64_t p = 0; p < kc; ++p) {
      const float* row = b + (p0 + p) * n + j0;
      float* panel = b_pack.data();
      uint64_t j = 0;
      for (; j + 16 <= nc; j += 16, panel += kc * 16) std::memcpy(panel + p * 16, row + j, 16 * sizeof(float));
      if (j < nc) {  // the last, partial panel
        const uint64_t width = panel_width(nc - j), valid = nc - j;
        float* dst = panel + p * width;
        std::memcpy(dst, row + j, valid * sizeof(float));
        std::fill(dst + valid, dst + width, 0.0f);
      }
    }
    // A: 6-row panels, k-major inside (zeros past mc).
    for (uint64_t i = 0; i < mc; i += kMr) {
      float* panel = a_pack.data() + i * kc;
      const uint64_t rows = std::min(kMr, mc - i);
      const float* src = a + (i0 + i) * k + p0;
      if (rows == kMr) {
        for (uint64_t p = 0; p < kc; ++p, panel += kMr) {
          for (uint64_t r = 0; r < kMr; ++r) panel[r] = src[r * k + p];
        }
        continue;
      }
      for (uint64_t p = 0; p < kc; ++p, panel += kMr) {
        for (uint64_t r = 0; r < kMr; ++r) panel[r] = r < rows ? src[r * k + p] : 0.0f;
      }
    }
    const float* bp = b_pack.data();
    for (uint64_t j = 0; j < nc;) {
      const uint64_t width = panel_width(nc - j), cols = std::min(width, nc - j);
      for (uint64_t i = 0; i < mc; i += kMr) {
        const float* ap = a_pack.data() + i * kc;
        float* ct = c + (i0 + i) * n + j0 + j;
        const uint64_t rows = std::min(kMr, mc - i);
        if (width == 16) {
          tile<2>(kc, ap, bp, ct, n, rows, cols, p0 > 0);
        } else {
          tile<1>(kc, ap, bp, ct, n, rows, cols, p0 > 0);
        }
      }
      bp += kc * width;
      j += width;
    }
  }
}

}  // namespace

bool gemm_fma_available() {
  static const bool available = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return available;
}

void gemm_fma(const float* a, const float* b, float* c, uint64_t m, uint64_t n, uint64_t k) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    std::fill(c, c + m * n, 0.0f);
    return;
  }
  // Narrower column blocks when the rows alone give few blocks, so both
  // cores have work (whole 16-column panels, never under 64 columns).
  const uint64_t row_blocks = (m + kMc - 1) / kMc;
  uint64_t block_cols = kNc;
  while (row_blocks * ((n + block_cols - 1) / block_cols) < 8 && block_cols > 64) block_cols /= 2;
  const uint64_t col_blocks = (n + block_cols - 1) / block_cols;
  const uint64_t blocks = row_blocks * col_blocks;
  auto block = [&](uint64_t t) {
    gemm_block(a, b, c, m, n, k, t / col_blocks * kMc, t % col_blocks * block_cols, block_cols);
  };
  // Which thread computes a block never changes its values.
  if (blocks > 1 && m * n * k >= (1ull << 22)) {
    tbb::parallel_for(uint64_t{0}, blocks, block);
  } else {
    for (uint64_t t = 0; t < blocks; ++t) block(t);
  }
}

}  // namespace kiln::sim
