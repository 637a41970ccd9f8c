// Values of MME jobs, computed on the host with the device's numerics:
// inputs widened to fp32 (exact for bf16), products accumulated in fp32,
// then bias, activation and rounding to the output dtype.
//
// Why OpenBLAS: bf16 x bf16 products are exact in fp32, so a plain fp32
// GEMM gives the device's "bf16 in, fp32 accumulate" numerics. OpenBLAS picks
// its kernels for the host CPU at run time (AVX-512 here), several times
// faster than a portable Eigen build. Large products are split into fixed
// row blocks run on TBB's threads, so results do not depend on how many host
// threads there are. Never a naive triple loop.
// Thread-safe (no shared state).
#pragma once

#include <cstdint>
#include <vector>

#include "kiln/common/mme_descriptor.h"

namespace kiln::sim {

// C (m x n) = A (m x k) * B (k x n), all dense row-major fp32.
void gemm_f32(const float* a, const float* b, float* c, uint64_t m, uint64_t n, uint64_t k);

// Adds bias[col] to every row (if bias is non-null) and applies `act`, in place.
void apply_epilogue(float* c, uint64_t m, uint64_t n, const float* bias, mme::Activation act);

// Unpacks `count` elements of `dtype` (kF32 or kBF16: a validated MME
// descriptor's) from raw bytes into fp32, and back (rounding to nearest even
// for bf16).
void widen(const uint8_t* src, DType dtype, uint64_t count, float* dst);
void narrow(const float* src, DType dtype, uint64_t count, uint8_t* dst);

// Lowers a dense NCHW input into the implicit-GEMM A matrix of a convolution:
// rows (n, p, q), columns (c, r, s); out-of-image taps are zero.
void im2col(const float* input, const mme::Descriptor& d, uint32_t out_h, uint32_t out_w, float* a);

}  // namespace kiln::sim
