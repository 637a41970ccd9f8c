#include "mme_math.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kiln/common/bf16.h"
#include "kiln/common/f16.h"
#include "kiln/common/tf32.h"
#include "tbb/parallel_for.h"

namespace kiln::sim {

namespace {
// OpenBLAS's own threads would fight TBB's and split work in ways that
// depend on the thread count; Kiln splits the work itself (below).
const bool kBlasSingleThreaded = [] {
  openblas_set_num_threads(1);
  return true;
}();
}  // namespace

namespace {
// Every sgemm call has exactly this shape: a tile of C (kTileRows x
// kTileCols) accumulated over A and B in chunks of kTileDepth, the tiles and
// chunks at the edges padded with zeros in per-thread scratch. OpenBLAS's
// arithmetic for one element depends on the call's shape (it takes other
// kernels and k-unrollings for other m, n and k: a row of a 5-row call, a
// column of a 28-wide call, a sum over k = 101 instead of 100 terms all
// change in the last bit), so fixed-shape calls make an element's value
// depend on its own row of A and column of B alone: padding rows, columns
// or the contraction with zeros (batch and sequence bucketing) leaves the
// real elements' bits untouched, and so does splitting or fusing GEMMs that
// share an operand. 64 x 64 x 64 keeps OpenBLAS near its speed on large
// products; a tiny product pays for one whole tile.
constexpr uint64_t kTileRows = 64, kTileCols = 64, kTileDepth = 64;

// One tile of C: rows [i0, i0 + kTileRows) and columns [j0, j0 + kTileCols),
// clipped to m x n, over all of k.
void gemm_tile(const float* a, const float* b, float* c, uint64_t m, uint64_t n, uint64_t k, uint64_t i0,
               uint64_t j0) {
  // Per thread, reused: a batch of many small GEMMs allocates nothing.
  thread_local std::vector<float> a_pad(kTileRows * kTileDepth), b_pad(kTileDepth * kTileCols),
      c_pad(kTileRows * kTileCols);
  const uint64_t rows = std::min(kTileRows, m - i0), cols = std::min(kTileCols, n - j0);
  const bool whole_c = rows == kTileRows && cols == kTileCols;
  float* c_tile = whole_c ? c + i0 * n + j0 : c_pad.data();
  const uint64_t ldc = whole_c ? n : kTileCols;
  if (k == 0) std::fill(c_pad.begin(), c_pad.end(), 0.0f);
  for (uint64_t p0 = 0; p0 < k; p0 += kTileDepth) {
    const uint64_t depth = std::min(kTileDepth, k - p0);
    const float* a_tile = a + i0 * k + p0;
    uint64_t lda = k;
    if (rows != kTileRows || depth != kTileDepth) {
      std::fill(a_pad.begin(), a_pad.end(), 0.0f);
      for (uint64_t i = 0; i < rows; ++i) std::memcpy(&a_pad[i * kTileDepth], a_tile + i * k, depth * sizeof(float));
      a_tile = a_pad.data();
      lda = kTileDepth;
    }
    const float* b_tile = b + p0 * n + j0;
    uint64_t ldb = n;
    if (cols != kTileCols || depth != kTileDepth) {
      std::fill(b_pad.begin(), b_pad.end(), 0.0f);
      for (uint64_t p = 0; p < depth; ++p) std::memcpy(&b_pad[p * kTileCols], b_tile + p * n, cols * sizeof(float));
      b_tile = b_pad.data();
      ldb = kTileCols;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<blasint>(kTileRows),
                static_cast<blasint>(kTileCols), static_cast<blasint>(kTileDepth), 1.0f, a_tile,
                static_cast<blasint>(lda), b_tile, static_cast<blasint>(ldb), p0 == 0 ? 0.0f : 1.0f, c_tile,
                static_cast<blasint>(ldc));
  }
  if (whole_c) return;
  for (uint64_t i = 0; i < rows; ++i) std::memcpy(c + (i0 + i) * n + j0, &c_pad[i * kTileCols], cols * sizeof(float));
}
}  // namespace

void gemm_f32(const float* a, const float* b, float* c, uint64_t m, uint64_t n, uint64_t k) {
  (void)kBlasSingleThreaded;
  if (m == 0 || n == 0) return;
  const uint64_t col_tiles = (n + kTileCols - 1) / kTileCols;
  const uint64_t tiles = (m + kTileRows - 1) / kTileRows * col_tiles;
  auto tile = [&](uint64_t t) { gemm_tile(a, b, c, m, n, k, t / col_tiles * kTileRows, t % col_tiles * kTileCols); };
  // Tiles run on TBB's threads when there is enough work; which thread runs
  // a tile never changes its values.
  if (tiles > 1 && m * n * k >= (1ull << 24)) {
    tbb::parallel_for(uint64_t{0}, tiles, tile);
  } else {
    for (uint64_t t = 0; t < tiles; ++t) tile(t);
  }
}

void transpose_f32(const float* src, uint64_t rows, uint64_t cols, float* dst) {
  // In tiles, so both the reads and the writes stay within a few cache lines.
  constexpr uint64_t kTile = 32;
  for (uint64_t r0 = 0; r0 < rows; r0 += kTile) {
    const uint64_t r1 = std::min(rows, r0 + kTile);
    for (uint64_t c0 = 0; c0 < cols; c0 += kTile) {
      const uint64_t c1 = std::min(cols, c0 + kTile);
      for (uint64_t r = r0; r < r1; ++r) {
        for (uint64_t c = c0; c < c1; ++c) dst[c * rows + r] = src[r * cols + c];
      }
    }
  }
}

namespace {
float activate(float x, mme::Activation act) {
  switch (act) {
    case mme::Activation::RELU: return x > 0 ? x : 0.0f;
    case mme::Activation::GELU_TANH: {
      const float inner = 0.7978845608028654f * (x + 0.044715f * x * x * x);
      return 0.5f * x * (1.0f + std::tanh(inner));
    }
    case mme::Activation::GELU: return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f));
    case mme::Activation::SILU: return x / (1.0f + std::exp(-x));
    default: return x;
  }
}
}  // namespace

void apply_epilogue(float* x, uint64_t outer, uint64_t channels, uint64_t inner, const float* bias,
                    mme::Activation act, const float* residual) {
  if (!bias && act == mme::Activation::NONE && !residual) return;
  for (uint64_t o = 0; o < outer; ++o) {
    for (uint64_t c = 0; c < channels; ++c) {
      const uint64_t at = (o * channels + c) * inner;
      const float add = bias ? bias[c] : 0.0f;
      for (uint64_t i = at; i < at + inner; ++i) {
        x[i] = activate(x[i] + add, act);
        if (residual) x[i] += residual[i];
      }
    }
  }
}

void widen(const uint8_t* src, DType dtype, uint64_t count, float* dst) {
  switch (dtype) {
    case DType::kBF16:
      for (uint64_t i = 0; i < count; ++i) {
        bf16 v;
        std::memcpy(&v.bits, src + 2 * i, 2);
        dst[i] = to_float(v);
      }
      return;
    case DType::kF16:
      for (uint64_t i = 0; i < count; ++i) {
        f16 v;
        std::memcpy(&v.bits, src + 2 * i, 2);
        dst[i] = to_float(v);
      }
      return;
    default: std::memcpy(dst, src, count * 4); return;  // f32 (validated: nothing else reaches here)
  }
}

void narrow(const float* src, DType dtype, uint64_t count, uint8_t* dst) {
  switch (dtype) {
    case DType::kBF16:
      for (uint64_t i = 0; i < count; ++i) {
        const bf16 v = to_bf16(src[i]);
        std::memcpy(dst + 2 * i, &v.bits, 2);
      }
      return;
    case DType::kF16:
      for (uint64_t i = 0; i < count; ++i) {
        const f16 v = to_f16(src[i]);
        std::memcpy(dst + 2 * i, &v.bits, 2);
      }
      return;
    default: std::memcpy(dst, src, count * 4); return;
  }
}

void round_to_tf32_in_place(float* x, uint64_t count) {
  for (uint64_t i = 0; i < count; ++i) x[i] = kiln::round_to_tf32(x[i]);
}

void im2col(const float* input, const mme::Descriptor& d, uint32_t group, uint32_t out_h, uint32_t out_w,
            float* a) {
  const uint32_t channels = d.conv_c / d.conv_groups, first = group * channels;
  const uint64_t cols = static_cast<uint64_t>(channels) * d.conv_r * d.conv_s;
  for (uint32_t n = 0; n < d.conv_n; ++n) {
    for (uint32_t p = 0; p < out_h; ++p) {
      for (uint32_t q = 0; q < out_w; ++q) {
        float* row = a + ((static_cast<uint64_t>(n) * out_h + p) * out_w + q) * cols;
        uint64_t col = 0;
        for (uint32_t c = first; c < first + channels; ++c) {
          const float* plane = input + (static_cast<uint64_t>(n) * d.conv_c + c) * d.conv_h * d.conv_w;
          for (uint32_t r = 0; r < d.conv_r; ++r) {
            // Only the leading pads shift the taps; the trailing ones only
            // make room for more output rows and columns (all zero taps).
            const int64_t y =
                static_cast<int64_t>(p) * d.stride_h - d.pad_top + static_cast<int64_t>(r) * d.dilation_h;
            for (uint32_t s = 0; s < d.conv_s; ++s, ++col) {
              const int64_t x =
                  static_cast<int64_t>(q) * d.stride_w - d.pad_left + static_cast<int64_t>(s) * d.dilation_w;
              const bool inside = y >= 0 && y < d.conv_h && x >= 0 && x < d.conv_w;
              row[col] = inside ? plane[y * d.conv_w + x] : 0.0f;
            }
          }
        }
      }
    }
  }
}

}  // namespace kiln::sim
