// Values of MME jobs, computed on the host with the device's numerics:
// inputs widened to fp32 (exact for bf16 and fp16; f32 inputs rounded to TF32
// first in TF32 mode), products accumulated in fp32, then bias, activation
// and the residual in fp32, and one rounding to the output dtype (nearest
// even: kiln/common/bf16.h, kiln/common/f16.h).
//
// bf16, fp16 and TF32 products are exact in fp32 (at most 11 x 11
// significant bits), so a plain fp32 GEMM gives the device's "narrow in, fp32
// accumulate" numerics. An element's value depends on its row of A and column
// of B alone, never on m, n or k: padding rows, columns or the contraction
// with zeros (batch and sequence bucketing) leaves the real elements' bits
// untouched, and so do splitting and fusing GEMMs and the host threads that
// run the work. On hosts with AVX2 and FMA (gemm_fma.h) each element is one
// chain of fused multiply-adds over k, whatever the blocking; elsewhere the
// portable path calls OpenBLAS on fixed-shape tiles (64 x 64 x 64, edges
// padded with zeros), whose arithmetic then is the same for every element.
// The two paths differ in the last bits: a host's results are its own.
// Never a naive triple loop.
// Thread-safe (no shared state).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "gemm_fma.h"
#include "kiln/common/mme_descriptor.h"

namespace kiln::sim {

// C (m x n) = A (m x k) * B (k x n), fp32, C dense row-major; A and B dense
// row-major as `layout` says (a transposed operand is A^T k x m or B^T n x k,
// read as stored). The values do not depend on the layout.
void gemm_f32(const float* a, const float* b, float* c, uint64_t m, uint64_t n, uint64_t k,
              const GemmLayout& layout = {});
// The portable path of gemm_f32 (OpenBLAS on fixed-shape tiles), callable on
// any host: what hosts without AVX2 and FMA run (and its tests).
void gemm_f32_blas_tiles(const float* a, const float* b, float* c, uint64_t m, uint64_t n, uint64_t k);

// dst (cols x rows) = the transpose of src (rows x cols), both dense
// row-major fp32: a transposed operand (kTransposeA, kTransposeB) as the
// multiply takes it. Exact (values are moved, not computed).
void transpose_f32(const float* src, uint64_t rows, uint64_t cols, float* dst);

// The epilogue, in place: x = act(x + bias[channel]) + residual, in fp32.
// x holds `outer` blocks of `channels` x `inner` values, channel-major inside
// a block: a GEMM's m x n result is outer = m, channels = n, inner = 1; a
// convolution's NKPQ output is outer = N, channels = K, inner = P*Q.
// `bias` (one per channel) and `residual` (laid out like x) may be null.
void apply_epilogue(float* x, uint64_t outer, uint64_t channels, uint64_t inner, const float* bias,
                    mme::Activation act, const float* residual);

// Unpacks `count` elements of `dtype` (kF32, kBF16 or kF16: a validated MME
// descriptor's) from raw bytes into fp32, and back (rounding to nearest even
// for bf16 and f16).
void widen(const uint8_t* src, DType dtype, uint64_t count, float* dst);
void narrow(const float* src, DType dtype, uint64_t count, uint8_t* dst);

// Rounds every element to TF32 (kiln/common/tf32.h), in place.
void round_to_tf32_in_place(float* x, uint64_t count);

// Lowers group `group` of image `n` of a dense NCHW input (NHWC with
// kChannelsLastInput) into the B matrix of a convolution's implicit GEMM,
// output = weights x B: rows (c, r, s) over that group's conv_c / conv_groups
// channels, columns (p, q); taps outside the image (the padding) are 0. Each
// row is a strided copy of one input row or plane (of one channel's values
// conv_c apart, channels-last), so the writes stay sequential.
void im2col(const float* input, const mme::Descriptor& d, uint32_t n, uint32_t group, uint32_t out_h,
            uint32_t out_w, float* b);

// True when im2col's B for an image and group is the input's own channels
// (1x1 filter, unit strides, no padding): the multiply reads them in place.
// Layout aside: a channels-last image is B stored transposed (PQ x C), which
// the engine reads in place only when ungrouped.
bool im2col_is_identity(const mme::Descriptor& d, uint32_t out_h, uint32_t out_w);

// Host memory that outlives a job: an MME job's operands are several MB,
// and fresh buffers each cost page faults and zeroing of memory that is
// overwritten anyway. Contents are uninitialised. Not thread-safe.
class ScratchBuffer {
 public:
  float* floats(uint64_t count);
  // Returns memory beyond `keep_bytes` to the system (after a huge job).
  void trim(uint64_t keep_bytes);

 private:
  std::unique_ptr<float[]> data_;
  uint64_t capacity_ = 0;  // floats
};

}  // namespace kiln::sim
