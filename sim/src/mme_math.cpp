#include "mme_math.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "gemm_fma.h"
#include "kiln/common/bf16.h"
#include "kiln/common/f16.h"
#include "kiln/common/tf32.h"
#include "tbb/parallel_for.h"

namespace kiln::sim {

namespace {
// Runs part(i) for every i < parts: on TBB's threads when the work is
// `large`, else in order on this one. Each part writes its own outputs, so
// which thread runs it never changes a value.
template <typename Part>
void for_each_part(uint64_t parts, bool large, const Part& part) {
  if (parts > 1 && large) {
    tbb::parallel_for(uint64_t{0}, parts, part);
  } else {
    for (uint64_t i = 0; i < parts; ++i) part(i);
  }
}

// OpenBLAS's own threads would fight TBB's and split work in ways that
// depend on the thread count; Kiln splits the work itself (below).
const bool kBlasSingleThreaded = [] {
  openblas_set_num_threads(1);
  return true;
}();
}  // namespace

namespace {
// Every sgemm call of the portable path has exactly this shape: a tile of C
// (kTileRows x kTileCols) accumulated over A and B in chunks of kTileDepth,
// the tiles and chunks at the edges padded with zeros in per-thread scratch. OpenBLAS's
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

void gemm_f32(const float* a, const float* b, float* c, uint64_t m, uint64_t n, uint64_t k, const GemmLayout& layout) {
  if (gemm_fma_available()) {
    gemm_fma(a, b, c, m, n, k, layout);
    return;
  }
  // The portable path multiplies dense operands: transposed ones are
  // transposed first (values moved, not computed).
  thread_local std::vector<float> a_dense, b_dense;
  if (layout.a_transposed) {
    a_dense.resize(m * k);
    transpose_f32(a, k, m, a_dense.data());
    a = a_dense.data();
  }
  if (layout.b_transposed) {
    b_dense.resize(k * n);
    transpose_f32(b, n, k, b_dense.data());
    b = b_dense.data();
  }
  gemm_f32_blas_tiles(a, b, c, m, n, k);
}

void gemm_f32_blas_tiles(const float* a, const float* b, float* c, uint64_t m, uint64_t n, uint64_t k) {
  (void)kBlasSingleThreaded;
  if (m == 0 || n == 0) return;
  const uint64_t col_tiles = (n + kTileCols - 1) / kTileCols;
  const uint64_t tiles = (m + kTileRows - 1) / kTileRows * col_tiles;
  auto tile = [&](uint64_t t) { gemm_tile(a, b, c, m, n, k, t / col_tiles * kTileRows, t % col_tiles * kTileCols); };
  for_each_part(tiles, m * n * k >= (1ull << 24), tile);
}

void transpose_f32(const float* src, uint64_t rows, uint64_t cols, float* dst) {
  // In tiles, so both the reads and the writes stay within a few cache lines;
  // bands of tile rows on TBB's threads when the matrix is large (a
  // classifier's weights, read transposed every step).
  constexpr uint64_t kTile = 32;
  auto band = [&](uint64_t band_index) {
    const uint64_t r0 = band_index * kTile, r1 = std::min(rows, r0 + kTile);
    for (uint64_t c0 = 0; c0 < cols; c0 += kTile) {
      const uint64_t c1 = std::min(cols, c0 + kTile);
      for (uint64_t r = r0; r < r1; ++r) {
        for (uint64_t c = c0; c < c1; ++c) dst[c * rows + r] = src[r * cols + c];
      }
    }
  };
  const uint64_t bands = (rows + kTile - 1) / kTile;
  for_each_part(bands, rows * cols >= (1u << 20), band);
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

namespace {
// One run of `count` values sharing a bias: the activation is chosen once
// per run, so the common ones (none, ReLU) become plain vectorisable loops.
// Same arithmetic as activate() element by element: (x + bias), then the
// activation, then + residual, each rounded to fp32.
void epilogue_run(float* x, uint64_t count, float add, mme::Activation act, const float* residual) {
  switch (act) {
    case mme::Activation::NONE:
      for (uint64_t i = 0; i < count; ++i) x[i] = x[i] + add;
      break;
    case mme::Activation::RELU:
      for (uint64_t i = 0; i < count; ++i) {
        const float v = x[i] + add;
        x[i] = v > 0 ? v : 0.0f;
      }
      break;
    default:
      for (uint64_t i = 0; i < count; ++i) x[i] = activate(x[i] + add, act);
  }
  if (residual) {
    for (uint64_t i = 0; i < count; ++i) x[i] += residual[i];
  }
}
}  // namespace

// Past this many values the epilogue is split over TBB's threads.
constexpr uint64_t kParallelEpilogueElements = uint64_t{1} << 18;

void apply_epilogue(float* x, uint64_t outer, uint64_t channels, uint64_t inner, const float* bias,
                    mme::Activation act, const float* residual) {
  if (!bias && act == mme::Activation::NONE && !residual) return;
  const uint64_t total = outer * channels * inner;
  const bool large = total >= kParallelEpilogueElements;
  if (inner == 1 && !bias) {  // a GEMM without bias: runs of everything
    constexpr uint64_t kRun = uint64_t{1} << 16;
    for_each_part((total + kRun - 1) / kRun, large, [&](uint64_t i) {
      const uint64_t from = i * kRun;
      epilogue_run(x + from, std::min(kRun, total - from), 0.0f, act, residual ? residual + from : nullptr);
    });
    return;
  }
  if (inner == 1) {  // a GEMM's rows: one bias per column
    for_each_part(outer, large, [&](uint64_t o) {
      float* row = x + o * channels;
      const float* res = residual ? residual + o * channels : nullptr;
      for (uint64_t c = 0; c < channels; ++c) {
        row[c] = activate(row[c] + bias[c], act);
        if (res) row[c] += res[c];
      }
    });
    return;
  }
  for_each_part(outer * channels, large, [&](uint64_t plane) {  // a convolution's output planes
    const uint64_t at = plane * inner;
    epilogue_run(x + at, inner, bias ? bias[plane % channels] : 0.0f, act, residual ? residual + at : nullptr);
  });
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

// Below this many matrix elements (a 3x3 layer of 128 channels at 28x28 is
// 0.9 M) TBB's start-up costs about what a second thread would save.
constexpr uint64_t kParallelIm2colElements = uint64_t{1} << 16;

void im2col(const float* input, const mme::Descriptor& d, uint32_t n, uint32_t group, uint32_t out_h,
            uint32_t out_w, float* b) {
  const uint32_t channels = d.conv_c / d.conv_groups, first = group * channels;
  const uint64_t pq = static_cast<uint64_t>(out_h) * out_w;
  const uint64_t rows_per_channel = static_cast<uint64_t>(d.conv_r) * d.conv_s;
  // An input element (c, y, x) of the image is at plane[at * step] with
  // at = y * W + x: step 1 in channel c's NCHW plane, conv_c apart in NHWC.
  const bool channels_last = (d.flags & mme::kChannelsLastInput) != 0;
  const uint64_t step = channels_last ? d.conv_c : 1;
  // Each (channel, kernel row) pair fills its own S rows of the matrix:
  // pairs split over TBB's threads when the matrix is large (three input
  // channels of a 7x7 stem are 21 pairs; a 3x3 layer's hundreds of
  // channels, thousands), and no value depends on which thread wrote it.
  auto channel_row = [&](uint64_t pair) {
    const auto c = static_cast<uint32_t>(first + pair / d.conv_r), r = static_cast<uint32_t>(pair % d.conv_r);
    float* row = b + ((c - first) * rows_per_channel + static_cast<uint64_t>(r) * d.conv_s) * pq;
    const uint64_t image = static_cast<uint64_t>(n) * d.conv_c * d.conv_h * d.conv_w;
    const float* plane = channels_last ? input + image + c : input + image + static_cast<uint64_t>(c) * d.conv_h * d.conv_w;
    for (uint32_t s = 0; s < d.conv_s; ++s, row += pq) {
      const int64_t dx = static_cast<int64_t>(s) * d.dilation_w - d.pad_left;
      // Output columns q whose tap x = q * stride + dx lies inside the
      // image: [q_lo, q_hi). Only the leading pads shift the taps; the
      // trailing ones only make room for more outputs (all zero taps).
      int64_t q_lo = 0;
      if (dx < 0) q_lo = (-dx + d.stride_w - 1) / d.stride_w;
      int64_t q_hi = dx >= d.conv_w ? 0 : (d.conv_w - 1 - dx) / d.stride_w + 1;
      q_lo = std::min<int64_t>(q_lo, out_w);
      q_hi = std::clamp<int64_t>(q_hi, q_lo, out_w);
      for (uint32_t p = 0; p < out_h; ++p) {
        float* out = row + static_cast<uint64_t>(p) * out_w;
        const int64_t y = static_cast<int64_t>(p) * d.stride_h - d.pad_top + static_cast<int64_t>(r) * d.dilation_h;
        if (y < 0 || y >= d.conv_h) {
          std::fill(out, out + out_w, 0.0f);
          continue;
        }
        // The input index of tap q is base + q * stride, inside the row for q in [q_lo, q_hi).
        const int64_t base = y * d.conv_w + dx;
        std::fill(out, out + q_lo, 0.0f);
        if (d.stride_w == 1 && step == 1) {
          std::copy(plane + base + q_lo, plane + base + q_hi, out + q_lo);
        } else {
          for (int64_t q = q_lo; q < q_hi; ++q) out[q] = plane[static_cast<uint64_t>(base + q * d.stride_w) * step];
        }
        std::fill(out + q_hi, out + out_w, 0.0f);
      }
    }
  };
  for_each_part(static_cast<uint64_t>(channels) * d.conv_r, channels * rows_per_channel * pq >= kParallelIm2colElements,
                channel_row);
}

bool im2col_is_identity(const mme::Descriptor& d, uint32_t out_h, uint32_t out_w) {
  return d.conv_r == 1 && d.conv_s == 1 && d.stride_h == 1 && d.stride_w == 1 && d.pad_top == 0 &&
         d.pad_left == 0 && out_h == d.conv_h && out_w == d.conv_w;
}

float* ScratchBuffer::floats(uint64_t count) {
  if (count > capacity_) {
    data_.reset();  // the old block goes before the new one is taken
    data_.reset(new float[count]);
    capacity_ = count;
  }
  return data_.get();
}

void ScratchBuffer::trim(uint64_t keep_bytes) {
  if (capacity_ * sizeof(float) <= keep_bytes) return;
  data_.reset();
  capacity_ = 0;
}

}  // namespace kiln::sim
