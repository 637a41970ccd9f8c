// The matrix-engine (MME) job descriptor: what a LAUNCH_MME packet points to
// in device memory. Shared by whoever encodes it (driver users, the runtime's
// graph compiler) and the simulator's MME, like packets.h.
//
// One descriptor describes a GEMM, a batched GEMM or a 2-D convolution (run as
// an implicit GEMM), with fp32 accumulation and an epilogue (bias, then an
// activation) applied before the output is rounded to its dtype. Dtypes are
// kiln::DType values (kiln/common/dtype.h) stored as bytes: the MME takes kF32
// and kBF16 for every operand; kI32 and kF16 (not supported yet) are rejected
// by the simulator's descriptor validation, naming the field.
//
//   GEMM:    C[b] (m x n) = act(A[b] (m x k) * B[b] (k x n) + bias (n))   b < batch
//            A[b][i][p] at a_addr + (b*batch_stride_a + i*lda + p) * dtype_size(a_dtype), and so on;
//            a batch stride of 0 reuses the same matrix for every batch (shared weights).
//   CONV2D:  input NCHW, weights KCRS, output NKPQ, all dense; bias per output channel.
//            As a GEMM: m = N*P*Q, n = K, k = C*R*S.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kiln/common/dtype.h"

namespace kiln::mme {

constexpr uint32_t kDescriptorMagic = 0x454d4d4b;  // "KMME"

enum class Op : uint8_t { GEMM = 0, CONV2D = 1 };
enum class Activation : uint8_t { NONE = 0, RELU = 1, GELU_TANH = 2, SILU = 3, MAX_COUNT };

enum DescriptorFlags : uint8_t {
  kHasBias = 1u << 0,  // add an fp32 bias vector of n (GEMM) or K (conv) elements
  kKnownDescriptorFlags = kHasBias,
};

#pragma pack(push, 1)
struct Descriptor {
  uint32_t magic;       // kDescriptorMagic
  uint8_t op;           // Op
  uint8_t a_dtype;      // kiln::DType of A (input / activations)
  uint8_t b_dtype;      // kiln::DType of B (weights)
  uint8_t out_dtype;    // kiln::DType of C
  uint8_t activation;   // Activation
  uint8_t flags;        // DescriptorFlags
  uint16_t reserved0;   // must be zero
  uint32_t batch;       // GEMM: number of matrices (>= 1); CONV2D: unused (0)
  uint32_t m, n, k;     // GEMM dimensions; CONV2D: unused (0; derived from the geometry)
  uint32_t reserved1;   // must be zero (keeps the addresses 8-byte aligned)
  uint64_t a_addr, b_addr, c_addr, bias_addr;  // device virtual addresses
  uint64_t lda, ldb, ldc;                      // row strides in elements (GEMM)
  uint64_t batch_stride_a, batch_stride_b, batch_stride_c;  // in elements (GEMM)
  // CONV2D geometry.
  uint32_t conv_n, conv_c, conv_h, conv_w;   // input batch, channels, height, width
  uint32_t conv_k, conv_r, conv_s;           // output channels, filter height, width
  uint32_t stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
  uint32_t reserved2;                        // must be zero (pads to 8 bytes)
};
#pragma pack(pop)
static_assert(sizeof(Descriptor) == 168);
// Every field sits at its natural alignment, so references to fields of an
// aligned descriptor are valid (packing only pins the layout).
static_assert(offsetof(Descriptor, a_addr) % 8 == 0 && offsetof(Descriptor, lda) % 8 == 0 &&
              offsetof(Descriptor, batch_stride_a) % 8 == 0 && offsetof(Descriptor, conv_n) % 4 == 0);

// A dense row-major GEMM, C (m x n) = A (m x k) * B (k x n), `batch` of them
// stored back to back; no epilogue. The caller sets a_addr, b_addr, c_addr
// (and bias/activation if it wants them).
inline Descriptor gemm_descriptor(uint32_t m, uint32_t k, uint32_t n, DType a, DType b, DType out,
                                  uint32_t batch = 1) {
  Descriptor d{};
  d.magic = kDescriptorMagic;
  d.op = static_cast<uint8_t>(Op::GEMM);
  d.a_dtype = static_cast<uint8_t>(a);
  d.b_dtype = static_cast<uint8_t>(b);
  d.out_dtype = static_cast<uint8_t>(out);
  d.batch = batch;
  d.m = m, d.n = n, d.k = k;
  d.lda = k, d.ldb = n, d.ldc = n;
  d.batch_stride_a = uint64_t{m} * k, d.batch_stride_b = uint64_t{k} * n, d.batch_stride_c = uint64_t{m} * n;
  return d;
}

// Output height/width of a convolution (0 if the geometry is empty, has a
// zero filter or stride, or the extent does not fit 32 bits). In 64-bit
// unsigned arithmetic, which no 32-bit field can overflow: descriptors come
// from device memory and may hold anything.
inline uint32_t conv_out_extent(uint32_t in, uint32_t pad, uint32_t dilation, uint32_t filter, uint32_t stride) {
  if (filter == 0 || stride == 0) return 0;
  const uint64_t span = uint64_t{dilation} * (filter - 1) + 1;
  const uint64_t room = uint64_t{in} + 2 * uint64_t{pad};
  if (span > room) return 0;
  const uint64_t out = (room - span) / stride + 1;
  return out > UINT32_MAX ? 0 : static_cast<uint32_t>(out);
}

// Bytes each operand covers from its address: the extent a binding or a
// mapping must provide. Zero for an absent bias.
struct OperandSpans {
  uint64_t a = 0, b = 0, c = 0, bias = 0;
};

// The operand spans of a descriptor whose dimensions are non-zero, or false
// if one of them overflows 64 bits (such a descriptor is invalid).
inline bool operand_spans(const Descriptor& d, OperandSpans* out) {
  bool ok = true;
  const auto mul = [&](uint64_t x, uint64_t y) {
    uint64_t r = 0;
    ok = ok && !__builtin_mul_overflow(x, y, &r);
    return r;
  };
  const auto add = [&](uint64_t x, uint64_t y) {
    uint64_t r = 0;
    ok = ok && !__builtin_add_overflow(x, y, &r);
    return r;
  };
  const uint64_t sa = dtype_size(static_cast<DType>(d.a_dtype)), sb = dtype_size(static_cast<DType>(d.b_dtype)),
                 so = dtype_size(static_cast<DType>(d.out_dtype));
  OperandSpans s;
  uint64_t bias_elements = 0;
  if (d.op == static_cast<uint8_t>(Op::GEMM)) {
    if (d.batch == 0 || d.m == 0 || d.n == 0 || d.k == 0) return false;
    const uint64_t last = d.batch - 1;
    s.a = mul(add(add(mul(last, d.batch_stride_a), mul(d.m - 1, d.lda)), d.k), sa);
    s.b = mul(add(add(mul(last, d.batch_stride_b), mul(d.k - 1, d.ldb)), d.n), sb);
    s.c = mul(add(add(mul(last, d.batch_stride_c), mul(d.m - 1, d.ldc)), d.n), so);
    bias_elements = d.n;
  } else {
    const uint32_t p = conv_out_extent(d.conv_h, d.pad_h, d.dilation_h, d.conv_r, d.stride_h);
    const uint32_t q = conv_out_extent(d.conv_w, d.pad_w, d.dilation_w, d.conv_s, d.stride_w);
    s.a = mul(mul(mul(mul(d.conv_n, d.conv_c), d.conv_h), d.conv_w), sa);
    s.b = mul(mul(mul(mul(d.conv_k, d.conv_c), d.conv_r), d.conv_s), sb);
    s.c = mul(mul(mul(mul(d.conv_n, d.conv_k), p), q), so);
    bias_elements = d.conv_k;
  }
  if (d.flags & kHasBias) s.bias = mul(bias_elements, 4);
  if (ok) *out = s;
  return ok;
}

}  // namespace kiln::mme
