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
// Rows per sgemm call. Every call has exactly this many rows (the last block
// is padded with zero rows in a scratch buffer), so a row's value depends on
// its position in its block and on n and k, never on m: OpenBLAS takes
// different kernel paths (its small-matrix direct kernel, edge tiles) for
// different row counts, and a row computed in a 5-row call can differ in
// the last bit from the same row in an 8-row call. Bucketing pads the batch
// rows at the end, so its results are bit-identical to the unpadded run's.
// The block size depends only on n and k: 64 rows keep OpenBLAS near its
// peak (it repacks B for every call), 32 bound the padding's waste when B is
// large and only a few rows are real (a decode step).
uint64_t block_rows(uint64_t n, uint64_t k) { return n * k <= (1ull << 20) ? 64 : 32; }
}  // namespace

void gemm_f32(const float* a, const float* b, float* c, uint64_t m, uint64_t n, uint64_t k) {
  (void)kBlasSingleThreaded;
  const uint64_t rows = block_rows(n, k);
  auto block = [&](const float* a_rows, float* c_rows) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<blasint>(rows), static_cast<blasint>(n),
                static_cast<blasint>(k), 1.0f, a_rows, static_cast<blasint>(k), b, static_cast<blasint>(n), 0.0f,
                c_rows, static_cast<blasint>(n));
  };
  const uint64_t full = m / rows, tail = m % rows;
  auto full_block = [&](uint64_t blk) { block(a + blk * rows * k, c + blk * rows * n); };
  // Full blocks run on TBB's threads when there is enough work; which thread
  // runs a block never changes its values.
  if (full > 1 && m * n * k >= (1ull << 24)) {
    tbb::parallel_for(uint64_t{0}, full, full_block);
  } else {
    for (uint64_t blk = 0; blk < full; ++blk) full_block(blk);
  }
  if (tail == 0) return;
  // Per thread, reused: a batch of many small GEMMs allocates nothing.
  thread_local std::vector<float> a_pad, c_pad;
  a_pad.assign(rows * k, 0.0f);
  c_pad.resize(rows * n);
  std::memcpy(a_pad.data(), a + full * rows * k, tail * k * sizeof(float));
  block(a_pad.data(), c_pad.data());
  std::memcpy(c + full * rows * n, c_pad.data(), tail * n * sizeof(float));
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
