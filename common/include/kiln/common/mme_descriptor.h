// The matrix-engine (MME) job descriptor: what a LAUNCH_MME packet points to
// in device memory. Shared by whoever encodes it (driver users, the runtime's
// graph compiler) and the simulator's MME, like packets.h. One packed layout,
// versioned: a change to it takes the next kDescriptorVersion, and the device
// rejects every other version by name. A new flag bit is an extension, not a
// new layout: a device rejects every flag bit it does not know ("field 'flags'
// has unknown bits"), so a descriptor using kTransposeA or kTransposeB fails
// by name on an older device rather than being read as something else.
//
// One descriptor describes a GEMM, a batched GEMM or a 2-D convolution (run as
// an implicit GEMM, per group), with fp32 accumulation and an epilogue applied
// in fp32 before the output is rounded once to its dtype:
//
//   C = act(A * B + bias) + R
//
// Dtypes are kiln::DType values (kiln/common/dtype.h) stored as bytes: the MME
// takes kF32, kBF16 and kF16 for A, B, C and R; kI32, kI64 and kBool are rejected by the
// simulator's descriptor validation, naming the field. bf16 and fp16 inputs
// are widened to fp32 exactly; with kTf32 (A and B both f32) each input is
// first rounded to TF32 (kiln/common/tf32.h). Outputs round to nearest even
// (kiln/common/bf16.h, kiln/common/f16.h).
//
//   GEMM:    C[b] (m x n) = act(A[b] (m x k) * B[b] (k x n) + bias (n)) + R[b] (m x n)   b < batch
//            A[b][i][p] at a_addr + (b*batch_stride_a + i*lda + p) * dtype_size(a_dtype), and so on;
//            R[b][i][j] at r_addr + (b*batch_stride_c + i*ldc + j) * dtype_size(r_dtype): R is laid
//            out like C. A batch stride of 0 reuses the same matrix for every batch (shared weights).
//            Transposed operands (GEMM only) are read in place, as the address generators do:
//              kTransposeA: A[b] is stored k x m row-major, A[b][i][p] at (b*batch_stride_a + p*lda + i);
//                           lda >= m.
//              kTransposeB: B[b] is stored n x k row-major, B[b][p][j] at (b*batch_stride_b + j*ldb + p);
//                           ldb >= k (a linear layer's weight W [n, k] used as B = W^T).
//            Values, timing and traffic are those of the same GEMM on dense copies of the operands.
//   CONV2D:  input NCHW, weights K x (C/groups) x R x S, output and R NKPQ, all dense; bias per
//            output channel. With kChannelsLastInput the input is stored NHWC instead (as Gaudi's
//            MME reads channels-last activations): values, timing and traffic are those of the
//            same convolution on the NCHW copy. Group g (< groups) convolves input channels [g*C/G, (g+1)*C/G) into
//            output channels [g*K/G, (g+1)*K/G): groups = C = K is a depthwise convolution.
//            Padding is per side (top/bottom rows, left/right columns), so
//            P = (H + pad_top + pad_bottom - (dilation_h*(R-1) + 1)) / stride_h + 1, Q likewise.
//            As GEMMs: `groups` of them, each m = N*P*Q, n = K/groups, k = (C/groups)*R*S.
//
// Whoever writes a descriptor starts from gemm_descriptor() or
// conv2d_descriptor() (they set magic and version) and fills in the rest.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kiln/common/dtype.h"

namespace kiln::mme {

constexpr uint32_t kDescriptorMagic = 0x454d4d4b;  // "KMME"
// Version 1 is this 184-byte layout. The 168-byte layout before it had no
// version field (these two bytes were a reserved zero), so it reads as
// version 0 and is rejected.
constexpr uint16_t kDescriptorVersion = 1;

enum class Op : uint8_t { GEMM = 0, CONV2D = 1 };
// GELU_TANH is the tanh approximation, 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3)));
// GELU is the exact 0.5x(1 + erf(x/sqrt(2))). SILU is x * sigmoid(x).
enum class Activation : uint8_t { NONE = 0, RELU = 1, GELU_TANH = 2, SILU = 3, GELU = 4, MAX_COUNT };

enum DescriptorFlags : uint8_t {
  kHasBias = 1u << 0,      // add an fp32 bias vector of n (GEMM) or K (conv) elements
  kTf32 = 1u << 1,         // round A and B to TF32 before multiplying; only with f32 A and B
  kHasResidual = 1u << 2,  // add R (r_addr, r_dtype; the output's shape and layout) after the activation
  kTransposeA = 1u << 3,   // GEMM only: A[b] stored k x m (element (i, p) at p*lda + i), lda >= m
  kTransposeB = 1u << 4,   // GEMM only: B[b] stored n x k (element (p, j) at j*ldb + p), ldb >= k
  kChannelsLastInput = 1u << 5,  // CONV2D only: the input stored NHWC (element (n, c, y, x) at ((n*H + y)*W + x)*C + c)
  kKnownDescriptorFlags = kHasBias | kTf32 | kHasResidual | kTransposeA | kTransposeB | kChannelsLastInput,
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
  uint16_t version;     // kDescriptorVersion
  uint32_t batch;       // GEMM: number of matrices (>= 1); CONV2D: unused (0)
  uint32_t m, n, k;     // GEMM dimensions; CONV2D: unused (0; derived from the geometry)
  uint8_t r_dtype;      // kiln::DType of R (with kHasResidual; otherwise ignored)
  uint8_t reserved0;    // must be zero
  uint16_t reserved1;   // must be zero (keeps the addresses 8-byte aligned)
  uint64_t a_addr, b_addr, c_addr;  // device virtual addresses (or bindings)
  uint64_t bias_addr;               // with kHasBias; otherwise ignored
  uint64_t r_addr;                  // with kHasResidual; otherwise ignored. May equal c_addr (in place)
  uint64_t lda, ldb, ldc;           // row strides in elements (GEMM), of the stored (transposed) rows; R uses ldc
  uint64_t batch_stride_a, batch_stride_b, batch_stride_c;  // in elements (GEMM); R uses batch_stride_c
  // CONV2D geometry.
  uint32_t conv_n, conv_c, conv_h, conv_w;  // input batch, channels (all groups), height, width
  uint32_t conv_k, conv_r, conv_s;          // output channels (all groups), filter height, width
  uint32_t conv_groups;                     // >= 1, dividing conv_c and conv_k
  uint32_t stride_h, stride_w;
  uint32_t pad_top, pad_bottom, pad_left, pad_right;  // zero rows above/below, columns left/right
  uint32_t dilation_h, dilation_w;
};
#pragma pack(pop)
static_assert(sizeof(Descriptor) == 184);
// The layout docs/packets.md documents, field by field where it moved.
static_assert(offsetof(Descriptor, version) == 10 && offsetof(Descriptor, batch) == 12 &&
              offsetof(Descriptor, r_dtype) == 28 && offsetof(Descriptor, a_addr) == 32 &&
              offsetof(Descriptor, r_addr) == 64 && offsetof(Descriptor, lda) == 72 &&
              offsetof(Descriptor, batch_stride_a) == 96 && offsetof(Descriptor, conv_n) == 120 &&
              offsetof(Descriptor, conv_groups) == 148 && offsetof(Descriptor, stride_h) == 152 &&
              offsetof(Descriptor, pad_top) == 160 && offsetof(Descriptor, dilation_h) == 176);
// Every field sits at its natural alignment, so references to fields of an
// aligned descriptor are valid (packing only pins the layout).

// A dense row-major GEMM, C (m x n) = A (m x k) * B (k x n), `batch` of them
// stored back to back; no epilogue. The caller sets a_addr, b_addr, c_addr
// (and bias, residual, activation, flags if it wants them).
inline Descriptor gemm_descriptor(uint32_t m, uint32_t k, uint32_t n, DType a, DType b, DType out,
                                  uint32_t batch = 1) {
  Descriptor d{};
  d.magic = kDescriptorMagic;
  d.version = kDescriptorVersion;
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

// A convolution of an N x C x H x W input with K filters of (C/groups) x R x S:
// stride 1, no padding, no dilation, `groups` groups; no epilogue. The caller
// sets the addresses and whatever else differs.
inline Descriptor conv2d_descriptor(uint32_t n, uint32_t c, uint32_t h, uint32_t w, uint32_t k, uint32_t r,
                                    uint32_t s, DType a, DType b, DType out, uint32_t groups = 1) {
  Descriptor d{};
  d.magic = kDescriptorMagic;
  d.version = kDescriptorVersion;
  d.op = static_cast<uint8_t>(Op::CONV2D);
  d.a_dtype = static_cast<uint8_t>(a);
  d.b_dtype = static_cast<uint8_t>(b);
  d.out_dtype = static_cast<uint8_t>(out);
  d.conv_n = n, d.conv_c = c, d.conv_h = h, d.conv_w = w;
  d.conv_k = k, d.conv_r = r, d.conv_s = s, d.conv_groups = groups;
  d.stride_h = d.stride_w = d.dilation_h = d.dilation_w = 1;
  return d;
}

// Output height or width of a convolution in 64 bits (0 if the extent is
// empty or the filter or stride is zero). In 64-bit unsigned arithmetic,
// which no 32-bit field can overflow: descriptors come from device memory and
// may hold anything.
inline uint64_t conv_out_extent64(uint32_t in, uint32_t pad_begin, uint32_t pad_end, uint32_t dilation,
                                  uint32_t filter, uint32_t stride) {
  if (filter == 0 || stride == 0) return 0;
  const uint64_t span = uint64_t{dilation} * (filter - 1) + 1;
  const uint64_t room = uint64_t{in} + pad_begin + pad_end;
  if (span > room) return 0;
  return (room - span) / stride + 1;
}

// The same, or 0 when it does not fit 32 bits (such a descriptor is invalid).
inline uint32_t conv_out_extent(uint32_t in, uint32_t pad_begin, uint32_t pad_end, uint32_t dilation,
                                uint32_t filter, uint32_t stride) {
  const uint64_t out = conv_out_extent64(in, pad_begin, pad_end, dilation, filter, stride);
  return out > UINT32_MAX ? 0 : static_cast<uint32_t>(out);
}

// Bytes each operand covers from its address: the extent a binding or a
// mapping must provide. Zero for an absent bias or residual.
struct OperandSpans {
  uint64_t a = 0, b = 0, c = 0, bias = 0, r = 0;
};

// The operand spans of a descriptor whose dimensions are non-zero, or false
// if one of them overflows 64 bits or the groups are 0 (such a descriptor is
// invalid).
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
                 so = dtype_size(static_cast<DType>(d.out_dtype)), sr = dtype_size(static_cast<DType>(d.r_dtype));
  OperandSpans s;
  uint64_t bias_elements = 0, out_elements = 0;  // out_elements: C's span in elements
  if (d.op == static_cast<uint8_t>(Op::GEMM)) {
    if (d.batch == 0 || d.m == 0 || d.n == 0 || d.k == 0) return false;
    const uint64_t last = d.batch - 1;
    // Stored rows x row length: m x k (k x m transposed) for A, k x n (n x k transposed) for B.
    const bool ta = (d.flags & kTransposeA) != 0, tb = (d.flags & kTransposeB) != 0;
    const uint64_t a_rows = ta ? d.k : d.m, a_cols = ta ? d.m : d.k;
    const uint64_t b_rows = tb ? d.n : d.k, b_cols = tb ? d.k : d.n;
    s.a = mul(add(add(mul(last, d.batch_stride_a), mul(a_rows - 1, d.lda)), a_cols), sa);
    s.b = mul(add(add(mul(last, d.batch_stride_b), mul(b_rows - 1, d.ldb)), b_cols), sb);
    out_elements = add(add(mul(last, d.batch_stride_c), mul(d.m - 1, d.ldc)), d.n);
    bias_elements = d.n;
  } else {
    if (d.conv_groups == 0) return false;
    const uint32_t p = conv_out_extent(d.conv_h, d.pad_top, d.pad_bottom, d.dilation_h, d.conv_r, d.stride_h);
    const uint32_t q = conv_out_extent(d.conv_w, d.pad_left, d.pad_right, d.dilation_w, d.conv_s, d.stride_w);
    s.a = mul(mul(mul(mul(d.conv_n, d.conv_c), d.conv_h), d.conv_w), sa);
    s.b = mul(mul(mul(mul(d.conv_k, d.conv_c / d.conv_groups), d.conv_r), d.conv_s), sb);
    out_elements = mul(mul(mul(d.conv_n, d.conv_k), p), q);
    bias_elements = d.conv_k;
  }
  s.c = mul(out_elements, so);
  if (d.flags & kHasBias) s.bias = mul(bias_elements, 4);
  if (d.flags & kHasResidual) s.r = mul(out_elements, sr);
  if (ok) *out = s;
  return ok;
}

}  // namespace kiln::mme
