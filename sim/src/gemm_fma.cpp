#include "gemm_fma.h"

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "integer_math.h"
#include "tbb/parallel_for.h"
#include "tbb/task_arena.h"

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

// Packed panels hold `width` values per k: panel[p * width + x]. Packing
// only moves values, so it never changes a bit of the result.

// From an operand whose panel values are contiguous for each k (B's rows, or
// A stored transposed): x < valid from src[p * ld + x], zeros after.
void copy_panel(const float* src, uint64_t ld, uint64_t valid, uint64_t width, uint64_t kc, float* panel) {
  for (uint64_t p = 0; p < kc; ++p, panel += width, src += ld) {
    if (valid == 16) {
      std::memcpy(panel, src, 16 * sizeof(float));  // a fixed-size copy: vector moves
      continue;
    }
    std::memcpy(panel, src, valid * sizeof(float));
    std::fill(panel + valid, panel + width, 0.0f);
  }
}

__attribute__((target("avx2,fma"), always_inline)) inline void transpose8(__m256 r[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 s0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 s1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 s2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 s3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 s4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 s5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 s6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 s7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
  r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
  r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
  r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
  r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
  r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
  r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
  r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
  r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

// From an operand whose panel values are rows contiguous along k (A's rows,
// or B stored transposed): x < valid from src[x * ld + p], zeros after.
// Eight k at a time as 8 x 8 transposes. A 6-wide panel's stores overlap:
// each writes 8 values, the last two of which the next store (or the next
// panel, or the buffer's slack) overwrites, so panels are packed in order.
__attribute__((target("avx2,fma"))) void gather_panel(const float* src, uint64_t ld, uint64_t valid, uint64_t width,
                                                      uint64_t kc, float* panel) {
  uint64_t p = 0;
  for (; p + 8 <= kc; p += 8) {
    for (uint64_t x0 = 0; x0 < width; x0 += 8) {
      __m256 r[8];
      for (uint64_t x = 0; x < 8; ++x) {
        r[x] = x0 + x < valid ? _mm256_loadu_ps(src + (x0 + x) * ld + p) : _mm256_setzero_ps();
      }
      transpose8(r);
      for (uint64_t j = 0; j < 8; ++j) _mm256_storeu_ps(panel + (p + j) * width + x0, r[j]);
    }
  }
  for (; p < kc; ++p) {
    for (uint64_t x = 0; x < width; ++x) panel[p * width + x] = x < valid ? src[x * ld + p] : 0.0f;
  }
}

// The packing buffers' slack past their last panel (gather_panel's overlap).
constexpr uint64_t kSlack = 8;

// One block of C: rows [i0, i0 + rows) and columns [j0, j0 + cols),
// clipped to m x n (cols: at most kNc). As in BLIS, each k block of B's
// slice is packed once for the whole block, and A's rows are packed kMc at a
// time against it.
struct Block {
  uint64_t i0, rows, j0, cols;
};

void gemm_block(const float* a, const float* b, float* c, uint64_t m, uint64_t n, uint64_t k,
                const GemmLayout& layout, const Block& block) {
  thread_local std::vector<float> a_pack(kMc * kKc + kSlack), b_pack(kKc * kNc + kSlack);
  const uint64_t i_end = std::min(m, block.i0 + block.rows), nc = std::min(block.cols, n - block.j0);
  const uint64_t j0 = block.j0;
  for (uint64_t p0 = 0; p0 < k; p0 += kKc) {
    const uint64_t kc = std::min(kKc, k - p0);
    // B: 16-column panels (8 for a last one of at most 8), zeros past nc.
    float* bp = b_pack.data();
    for (uint64_t j = 0; j < nc;) {
      const uint64_t width = panel_width(nc - j), cols = std::min(width, nc - j);
      if (layout.b_transposed) {  // stored n x k
        gather_panel(b + (j0 + j) * k + p0, k, cols, width, kc, bp);
      } else {
        copy_panel(b + p0 * n + j0 + j, n, cols, width, kc, bp);
      }
      bp += kc * width;
      j += width;
    }
    for (uint64_t i0 = block.i0; i0 < i_end; i0 += kMc) {
      const uint64_t mc = std::min(kMc, i_end - i0);
      // A: 6-row panels, zeros past mc.
      for (uint64_t i = 0; i < mc; i += kMr) {
        float* panel = a_pack.data() + i * kc;
        const uint64_t rows = std::min(kMr, mc - i);
        if (layout.a_transposed) {  // stored k x m
          copy_panel(a + p0 * m + i0 + i, m, rows, kMr, kc, panel);
        } else {
          gather_panel(a + (i0 + i) * k + p0, k, rows, kMr, kc, panel);
        }
      }
      bp = b_pack.data();
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
}

// How C is cut into blocks: `row_blocks` x `col_blocks` blocks of `rows`
// (a multiple of kMc) by `cols` (a multiple of 16, at most kNc).
struct Blocking {
  uint64_t rows, cols, row_blocks, col_blocks;
};

// A packed value costs about as much as this many multiply-adds in the
// register tiles (a panel copy or transpose against 16 FMAs a cycle).
constexpr uint64_t kPackCost = 16;

// The cut with the least estimated time on `threads` threads: a block packs
// its k x cols slice of B and its rows x k of A once, then multiplies, and
// the threads take ceil(blocks / threads) blocks each. Fewer, larger blocks
// pack less; more blocks keep every thread busy.
Blocking choose_blocking(uint64_t m, uint64_t n, uint64_t k, uint64_t threads) {
  const uint64_t row_steps = ceil_div(m, kMc);
  const uint64_t min_cols = ceil_div(n, kNc), max_cols = std::max(min_cols, std::min<uint64_t>(ceil_div(n, 16), 64));
  Blocking best{};
  double best_time = 0;
  // Past a few blocks per thread, more row blocks only pack more (and a
  // product of millions of rows must not try every cut).
  const uint64_t max_row_blocks = std::min(row_steps, 16 * threads);
  for (uint64_t r = 1; r <= max_row_blocks; ++r) {
    const uint64_t rows = ceil_div(row_steps, r) * kMc, row_blocks = ceil_div(m, rows);
    if (row_blocks != r) continue;  // the same cut as a smaller r
    for (uint64_t want = min_cols; want <= max_cols; ++want) {
      const uint64_t cols = std::min(kNc, ceil_div(ceil_div(n, want), 16) * 16), col_blocks = ceil_div(n, cols);
      if (col_blocks != want) continue;
      const double block = static_cast<double>(std::min(rows, m)) * std::min(cols, n) * k +
                           static_cast<double>(kPackCost) * k * (std::min(rows, m) + std::min(cols, n));
      const double time = static_cast<double>(ceil_div(row_blocks * col_blocks, threads)) * block;
      if (best.rows == 0 || time < best_time) {
        best = {rows, cols, row_blocks, col_blocks};
        best_time = time;
      }
    }
  }
  return best;
}

}  // namespace

bool gemm_fma_available() {
  static const bool available = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return available;
}

void gemm_fma(const float* a, const float* b, float* c, uint64_t m, uint64_t n, uint64_t k, const GemmLayout& layout) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    std::fill(c, c + m * n, 0.0f);
    return;
  }
  // Small products run on the calling thread.
  const bool parallel = m * n * k >= (1ull << 22);
  const Blocking cut =
      choose_blocking(m, n, k, parallel ? static_cast<uint64_t>(std::max(1, tbb::this_task_arena::max_concurrency())) : 1);
  const uint64_t blocks = cut.row_blocks * cut.col_blocks;
  auto block = [&](uint64_t t) {
    gemm_block(a, b, c, m, n, k, layout, {t / cut.col_blocks * cut.rows, cut.rows, t % cut.col_blocks * cut.cols, cut.cols});
  };
  // Which thread computes a block never changes its values.
  if (parallel && blocks > 1) {
    tbb::parallel_for(uint64_t{0}, blocks, block);
  } else {
    for (uint64_t t = 0; t < blocks; ++t) block(t);
  }
}

}  // namespace kiln::sim
