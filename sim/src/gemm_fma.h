// The MME's fp32 GEMM on hosts with AVX2 and FMA: every element of C is one
// chain of fused multiply-adds over the contraction in order,
//   c = fma(a[i][0], b[0][j], 0), c = fma(a[i][1], b[1][j], c), ...,
// whatever the shape of the product and however the work is blocked or
// split over threads. An element's bits therefore depend on its row of A and
// column of B alone (and zeros appended to k leave them unchanged, but for a
// sum of exactly -0, which becomes +0): the property bucketing, slicing and
// fusion rely on (mme_math.h), with no padding to fixed tile shapes.
// Thread-safe: per-thread packing buffers only.
#pragma once

#include <cstdint>

namespace kiln::sim {

// How the operands are stored: A as m x k (or k x m when transposed), B as
// k x n (or n x k), each dense row-major.
struct GemmLayout {
  bool a_transposed = false;
  bool b_transposed = false;
};

// True when this host's CPU runs gemm_fma (AVX2 and FMA).
bool gemm_fma_available();

// C (m x n) = A (m x k) * B (k x n), fp32, C dense row-major; a transposed
// operand is read as stored (no transposed copy). Large products run on
// TBB's threads. Call only when gemm_fma_available().
void gemm_fma(const float* a, const float* b, float* c, uint64_t m, uint64_t n, uint64_t k,
              const GemmLayout& layout = {});

}  // namespace kiln::sim
