#include "mme_math.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kiln/common/bf16.h"
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

void gemm_f32(const float* a, const float* b, float* c, uint64_t m, uint64_t n, uint64_t k) {
  (void)kBlasSingleThreaded;
  auto rows = [&](uint64_t first, uint64_t count) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<blasint>(count), static_cast<blasint>(n),
                static_cast<blasint>(k), 1.0f, a + first * k, static_cast<blasint>(k), b, static_cast<blasint>(n),
                0.0f, c + first * n, static_cast<blasint>(n));
  };
  // Large products run as fixed blocks of rows on TBB's threads. The blocks
  // depend only on the shape, never on the thread count, and each output
  // element is computed entirely inside one block, so the values are the same
  // however many host threads there are.
  constexpr uint64_t kBlockRows = 256;
  if (m <= kBlockRows || m * n * k < (1ull << 24)) {
    rows(0, m);
    return;
  }
  const uint64_t blocks = (m + kBlockRows - 1) / kBlockRows;
  tbb::parallel_for(uint64_t{0}, blocks, [&](uint64_t blk) {
    const uint64_t first = blk * kBlockRows;
    rows(first, std::min(kBlockRows, m - first));
  });
}

namespace {
float activate(float x, mme::Activation act) {
  switch (act) {
    case mme::Activation::RELU: return x > 0 ? x : 0.0f;
    case mme::Activation::GELU_TANH: {
      const float inner = 0.7978845608028654f * (x + 0.044715f * x * x * x);
      return 0.5f * x * (1.0f + std::tanh(inner));
    }
    case mme::Activation::SILU: return x / (1.0f + std::exp(-x));
    default: return x;
  }
}
}  // namespace

void apply_epilogue(float* c, uint64_t m, uint64_t n, const float* bias, mme::Activation act) {
  if (!bias && act == mme::Activation::NONE) return;
  for (uint64_t i = 0; i < m; ++i) {
    float* row = c + i * n;
    for (uint64_t j = 0; j < n; ++j) row[j] = activate(row[j] + (bias ? bias[j] : 0.0f), act);
  }
}

void widen(const uint8_t* src, DType dtype, uint64_t count, float* dst) {
  if (dtype == DType::kF32) {
    std::memcpy(dst, src, count * 4);
    return;
  }
  for (uint64_t i = 0; i < count; ++i) {
    bf16 v;
    std::memcpy(&v.bits, src + 2 * i, 2);
    dst[i] = to_float(v);
  }
}

void narrow(const float* src, DType dtype, uint64_t count, uint8_t* dst) {
  if (dtype == DType::kF32) {
    std::memcpy(dst, src, count * 4);
    return;
  }
  for (uint64_t i = 0; i < count; ++i) {
    const bf16 v = to_bf16(src[i]);
    std::memcpy(dst + 2 * i, &v.bits, 2);
  }
}

void im2col(const float* input, const mme::Descriptor& d, uint32_t out_h, uint32_t out_w, float* a) {
  const uint64_t cols = static_cast<uint64_t>(d.conv_c) * d.conv_r * d.conv_s;
  for (uint32_t n = 0; n < d.conv_n; ++n) {
    for (uint32_t p = 0; p < out_h; ++p) {
      for (uint32_t q = 0; q < out_w; ++q) {
        float* row = a + ((static_cast<uint64_t>(n) * out_h + p) * out_w + q) * cols;
        uint64_t col = 0;
        for (uint32_t c = 0; c < d.conv_c; ++c) {
          const float* plane = input + (static_cast<uint64_t>(n) * d.conv_c + c) * d.conv_h * d.conv_w;
          for (uint32_t r = 0; r < d.conv_r; ++r) {
            const int64_t y = static_cast<int64_t>(p) * d.stride_h - d.pad_h + static_cast<int64_t>(r) * d.dilation_h;
            for (uint32_t s = 0; s < d.conv_s; ++s, ++col) {
              const int64_t x = static_cast<int64_t>(q) * d.stride_w - d.pad_w + static_cast<int64_t>(s) * d.dilation_w;
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
