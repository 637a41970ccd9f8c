#include "mme_plan.h"

#include <algorithm>
#include <cmath>
#include <initializer_list>

#include "integer_math.h"
#include "kiln/common/device_config.h"
#include "kiln/common/format.h"

namespace kiln::sim {

namespace {


Status bad(const std::string& field, const std::string& why) {
  return invalid_argument("MME descriptor field '" + field + "' " + why);
}

// Why a raw dtype byte is not an MME operand type, or "" when it is one.
std::string mme_dtype_problem(uint8_t raw) {
  if (!is_valid_dtype(raw)) return "is unknown (" + std::to_string(raw) + ")";
  switch (static_cast<DType>(raw)) {
    case DType::kF32:
    case DType::kBF16:
    case DType::kF16: return "";
    case DType::kI32:
    case DType::kI64:
    case DType::kBool: break;
  }
  return "is " + std::string(dtype_name(static_cast<DType>(raw))) + ": the MME takes f32, bf16 or f16";
}
uint64_t element_bytes(uint8_t raw) { return dtype_size(static_cast<DType>(raw)); }

// One factor of a product of descriptor fields, named for the message.
struct Factor {
  const char* field;
  uint64_t value;
};

// The product of `factors` in *out, or the factor that takes it past
// `ceiling` (or past 64 bits) first.
std::optional<Factor> checked_product(std::initializer_list<Factor> factors, uint64_t ceiling, uint64_t* out) {
  uint64_t p = 1;
  for (const Factor& f : factors) {
    if (__builtin_mul_overflow(p, f.value, &p) || p > ceiling) return f;
  }
  *out = p;
  return std::nullopt;
}

Status too_large(const Factor& f, const std::string& what) {
  return bad(f.field, "is " + std::to_string(f.value) + ": " + what);
}

// Bytes spanned by `batch` matrices `batch_stride` elements apart, each of
// `rows` rows `ld` elements apart holding `cols` elements of `esize` bytes.
Status matrix_span(const char* operand, Factor batch_stride, uint64_t batch, Factor ld, uint64_t rows, uint64_t cols,
                   uint64_t esize, uint64_t* out) {
  uint64_t across_batches = 0, across_rows = 0, elements = 0, bytes = 0;
  const bool batch_overflow = __builtin_mul_overflow(batch - 1, batch_stride.value, &across_batches);
  const bool rows_overflow = __builtin_mul_overflow(rows - 1, ld.value, &across_rows);
  if (batch_overflow || rows_overflow || __builtin_add_overflow(across_batches, across_rows, &elements) ||
      __builtin_add_overflow(elements, cols, &elements) || __builtin_mul_overflow(elements, esize, &bytes) ||
      bytes > kMaxMmeOperandBytes) {
    // Blame the stride whose term is out of range, or the larger term.
    const bool blame_batch = batch_overflow || (!rows_overflow && across_batches >= across_rows);
    return too_large(blame_batch ? batch_stride : ld,
                     std::string("operand ") + operand + " (" + std::to_string(batch) + " x " + std::to_string(rows) +
                         " rows of " + std::to_string(cols) + " elements) would span more than 2^48 bytes, "
                         "more than any mapping");
  }
  *out = bytes;
  return Status::ok_status();
}

uint64_t out_height(const mme::Descriptor& d) {
  return mme::conv_out_extent64(d.conv_h, d.pad_top, d.pad_bottom, d.dilation_h, d.conv_r, d.stride_h);
}
uint64_t out_width(const mme::Descriptor& d) {
  return mme::conv_out_extent64(d.conv_w, d.pad_left, d.pad_right, d.dilation_w, d.conv_s, d.stride_w);
}

// The fields a descriptor must get right on its own, whatever the device.
Status check_fields(const mme::Descriptor& d) {
  if (d.magic != mme::kDescriptorMagic) return bad("magic", "is " + hex(d.magic) + ", not 'KMME'");
  if (d.version != mme::kDescriptorVersion) {
    return bad("version", "is " + std::to_string(d.version) + ": this device reads version " +
                              std::to_string(mme::kDescriptorVersion) +
                              (d.version == 0 ? " (0 is the 168-byte layout from before the field existed)" : ""));
  }
  if (d.op > static_cast<uint8_t>(mme::Op::CONV2D)) return bad("op", "is unknown (" + std::to_string(d.op) + ")");
  const std::pair<const char*, uint8_t> dtypes[] = {{"a_dtype", d.a_dtype}, {"b_dtype", d.b_dtype},
                                                    {"out_dtype", d.out_dtype}};
  for (const auto& [field, raw] : dtypes) {
    if (std::string problem = mme_dtype_problem(raw); !problem.empty()) return bad(field, problem);
  }
  if (d.activation >= static_cast<uint8_t>(mme::Activation::MAX_COUNT)) return bad("activation", "is unknown");
  if (d.flags & ~mme::kKnownDescriptorFlags) return bad("flags", "has unknown bits");
  const auto f32 = static_cast<uint8_t>(DType::kF32);
  if ((d.flags & mme::kTf32) && (d.a_dtype != f32 || d.b_dtype != f32)) {
    return bad("flags", "has kTf32, which rounds f32 inputs to TF32, but A and B are " +
                            std::string(dtype_name(static_cast<DType>(d.a_dtype))) + " and " +
                            std::string(dtype_name(static_cast<DType>(d.b_dtype))) + ", not both f32");
  }
  if (d.flags & mme::kHasResidual) {
    if (std::string problem = mme_dtype_problem(d.r_dtype); !problem.empty()) return bad("r_dtype", problem);
  }
  if (d.reserved0 != 0 || d.reserved1 != 0) return bad("reserved0/1", "must be zero");
  const bool ta = (d.flags & mme::kTransposeA) != 0, tb = (d.flags & mme::kTransposeB) != 0;
  if (d.op == static_cast<uint8_t>(mme::Op::GEMM)) {
    if (d.flags & mme::kChannelsLastInput) {
      return bad("flags", "has kChannelsLastInput, which only a CONV2D takes: a GEMM's A is a matrix (kTransposeA reads it transposed)");
    }
    if (d.batch == 0 || d.m == 0 || d.n == 0 || d.k == 0) return bad("batch/m/n/k", "must all be > 0");
    if (ta && d.lda < d.m) return bad("lda", "is smaller than m (kTransposeA: A is stored k x m)");
    if (!ta && d.lda < d.k) return bad("lda", "is smaller than k");
    if (tb && d.ldb < d.k) return bad("ldb", "is smaller than k (kTransposeB: B is stored n x k)");
    if (!tb && d.ldb < d.n) return bad("ldb", "is smaller than n");
    if (d.ldc < d.n) return bad("ldc", "is smaller than n");
    return Status::ok_status();
  }
  if (ta || tb) {
    return bad("flags", std::string("has ") + (ta ? "kTransposeA" : "kTransposeB") +
                            ", which only a GEMM takes: a CONV2D reads dense NCHW input and K x C/G x R x S weights");
  }
  if (d.conv_n == 0 || d.conv_c == 0 || d.conv_h == 0 || d.conv_w == 0 || d.conv_k == 0 || d.conv_r == 0 ||
      d.conv_s == 0) {
    return bad("conv_n/c/h/w/k/r/s", "must all be > 0");
  }
  if (d.conv_groups == 0) return bad("conv_groups", "must be > 0 (1 for an ungrouped convolution)");
  if (d.conv_c % d.conv_groups != 0 || d.conv_k % d.conv_groups != 0) {
    return bad("conv_groups", "is " + std::to_string(d.conv_groups) + ": it must divide conv_c (" +
                                  std::to_string(d.conv_c) + ") and conv_k (" + std::to_string(d.conv_k) + ")");
  }
  if (d.stride_h == 0 || d.stride_w == 0 || d.dilation_h == 0 || d.dilation_w == 0) {
    return bad("stride/dilation", "must be > 0");
  }
  const uint64_t out_h = out_height(d), out_w = out_width(d);
  if (out_h == 0 || out_w == 0) {
    return bad("conv geometry", "gives an empty output (filter larger than padded input)");
  }
  if (out_h > UINT32_MAX) {
    return too_large({"pad_top/pad_bottom", uint64_t{d.pad_top} + d.pad_bottom},
                     "the output height would exceed 2^32 - 1");
  }
  if (out_w > UINT32_MAX) {
    return too_large({"pad_left/pad_right", uint64_t{d.pad_left} + d.pad_right},
                     "the output width would exceed 2^32 - 1");
  }
  return Status::ok_status();
}

// Upper bound of the busiest MME's compute time, in ps: every fold costs at
// most fill + R + C + m / rate cycles in either dataflow (mme_timing.h). In
// double: this is only compared with a ceiling (a NaN or infinity fails the
// comparison), and cannot overflow.
double compute_ps_bound(const proto::MmeConfig& c, const GemmShape& g, double rate) {
  const double rows = std::max<uint32_t>(1, c.array_rows()), cols = std::max<uint32_t>(1, c.array_cols());
  const double engines = std::max<uint32_t>(1, c.count());
  const double fill = std::ceil(rows / std::max<uint32_t>(1, c.fill_rows_per_cycle()));
  const double folds = static_cast<double>(g.batch) * std::ceil(static_cast<double>(g.k) / rows) *
                       std::ceil(static_cast<double>(g.n) / cols);
  const double stream = std::ceil(static_cast<double>(g.m) / rate);
  const double cycles = std::ceil(folds / engines) * (fill + rows + cols + stream);
  return cycles * 1e6 / c.clock_mhz();
}

}  // namespace

double mme_job_rate(const proto::MmeConfig& config, const mme::Descriptor& d) {
  return mme_macs_per_cell_per_cycle(config, static_cast<DType>(d.a_dtype), static_cast<DType>(d.b_dtype),
                                     (d.flags & mme::kTf32) != 0);
}

MmeProblem mme_problem(const mme::Descriptor& d) {
  MmeProblem p;
  if (d.op == static_cast<uint8_t>(mme::Op::GEMM)) {
    p.shape = {d.batch, d.m, d.n, d.k};
    return p;
  }
  // One GEMM per group, over its channels only.
  const uint64_t groups = d.conv_groups;
  p.out_h = static_cast<uint32_t>(out_height(d));
  p.out_w = static_cast<uint32_t>(out_width(d));
  p.shape = {groups, static_cast<uint64_t>(d.conv_n) * p.out_h * p.out_w, d.conv_k / groups,
             d.conv_c / groups * d.conv_r * d.conv_s};
  return p;
}

Result<MmePlan> plan_mme_job(const mme::Descriptor& d, const MmeLimits& limits) {
  KILN_RETURN_IF_ERROR(check_fields(d));
  const bool gemm = d.op == static_cast<uint8_t>(mme::Op::GEMM);
  const bool residual = (d.flags & mme::kHasResidual) != 0;
  const bool ta = (d.flags & mme::kTransposeA) != 0, tb = (d.flags & mme::kTransposeB) != 0;
  const uint64_t sa = element_bytes(d.a_dtype), sb = element_bytes(d.b_dtype), so = element_bytes(d.out_dtype);
  const uint64_t sr = residual ? element_bytes(d.r_dtype) : 0;
  const uint64_t cols = limits.config ? std::max<uint32_t>(1, limits.config->array_cols()) : 0;
  MmePlan plan;
  uint64_t a_span = 0, b_span = 0, c_span = 0, r_span = 0, a_traffic = 0, b_traffic = 0, c_traffic = 0;
  uint64_t r_traffic = 0, bias_elements = 0;
  std::optional<Factor> f;
  const char* const traffic_limit = "the job would move more than 2^52 bytes through memory";
  if (gemm) {
    plan.problem = mme_problem(d);
    const GemmShape& g = plan.problem.shape;
    // A transposed operand spans its stored rows: A^T k rows of m, B^T n rows of k.
    if (ta) {
      KILN_RETURN_IF_ERROR(matrix_span("A (kTransposeA, stored k x m)", {"batch_stride_a", d.batch_stride_a}, g.batch,
                                       {"lda", d.lda}, g.k, g.m, sa, &a_span));
    } else {
      KILN_RETURN_IF_ERROR(
          matrix_span("A", {"batch_stride_a", d.batch_stride_a}, g.batch, {"lda", d.lda}, g.m, g.k, sa, &a_span));
    }
    if (tb) {
      KILN_RETURN_IF_ERROR(matrix_span("B (kTransposeB, stored n x k)", {"batch_stride_b", d.batch_stride_b}, g.batch,
                                       {"ldb", d.ldb}, g.n, g.k, sb, &b_span));
    } else {
      KILN_RETURN_IF_ERROR(
          matrix_span("B", {"batch_stride_b", d.batch_stride_b}, g.batch, {"ldb", d.ldb}, g.k, g.n, sb, &b_span));
    }
    KILN_RETURN_IF_ERROR(
        matrix_span("C", {"batch_stride_c", d.batch_stride_c}, g.batch, {"ldc", d.ldc}, g.m, g.n, so, &c_span));
    if (residual) {  // R is laid out like C
      KILN_RETURN_IF_ERROR(
          matrix_span("R", {"batch_stride_c", d.batch_stride_c}, g.batch, {"ldc", d.ldc}, g.m, g.n, sr, &r_span));
    }
    // Weight-stationary: A streams through the array once per column fold;
    // B, C and R cross memory once (B once in all when every batch shares it).
    // A transposed operand costs what a dense one does: the MME's address
    // generators walk it transposed as they fetch (a fold of B^T is C rows of
    // R elements instead of R rows of C), and the memory model counts bytes
    // through a shared-bandwidth flow, not bursts or rows, so the bytes -- and
    // the array's fill, stream and drain cycles -- are the same.
    const uint64_t folds = cols ? ceil_div(g.n, cols) : 1;
    const uint64_t b_copies = d.batch_stride_b == 0 ? 1 : g.batch;
    if ((f = checked_product({{"a_dtype", sa}, {"batch", g.batch}, {"m", g.m}, {"k", g.k},
                              {"n (column folds)", folds}}, kMaxMmeTrafficBytes, &a_traffic)) ||
        (f = checked_product({{"b_dtype", sb}, {"batch", b_copies}, {"k", g.k}, {"n", g.n}}, kMaxMmeTrafficBytes,
                             &b_traffic)) ||
        (f = checked_product({{"out_dtype", so}, {"batch", g.batch}, {"m", g.m}, {"n", g.n}}, kMaxMmeTrafficBytes,
                             &c_traffic)) ||
        (f = checked_product({{"r_dtype", sr}, {"batch", g.batch}, {"m", g.m}, {"n", g.n}}, kMaxMmeTrafficBytes,
                             &r_traffic))) {
      return too_large(*f, traffic_limit);
    }
    bias_elements = g.n;
  } else {
    // The geometry was checked: every extent fits 32 bits, conv_groups
    // divides conv_c and conv_k.
    const uint64_t out_h = out_height(d), out_w = out_width(d);
    const char* const span_limit = "would span more than 2^48 bytes, more than any mapping";
    if ((f = checked_product({{"a_dtype", sa}, {"conv_n", d.conv_n}, {"conv_c", d.conv_c}, {"conv_h", d.conv_h},
                              {"conv_w", d.conv_w}}, kMaxMmeOperandBytes, &a_span))) {
      return too_large(*f, std::string("the input ") + span_limit);
    }
    if ((f = checked_product({{"b_dtype", sb}, {"conv_k", d.conv_k}, {"conv_c / conv_groups", d.conv_c / d.conv_groups},
                              {"conv_r", d.conv_r}, {"conv_s", d.conv_s}}, kMaxMmeOperandBytes, &b_span))) {
      return too_large(*f, std::string("the weights ") + span_limit);
    }
    if ((f = checked_product({{"out_dtype", so}, {"conv_n", d.conv_n}, {"conv_k", d.conv_k},
                              {"conv_h (output height)", out_h}, {"conv_w (output width)", out_w}},
                             kMaxMmeOperandBytes, &c_span))) {
      return too_large(*f, std::string("the output ") + span_limit);
    }
    if ((f = checked_product({{"r_dtype", sr}, {"conv_n", d.conv_n}, {"conv_k", d.conv_k},
                              {"conv_h (output height)", out_h}, {"conv_w (output width)", out_w}},
                             kMaxMmeOperandBytes, &r_span))) {
      return too_large(*f, std::string("the residual ") + span_limit);
    }
    // The output's span bounds m = N*P*Q and the weights' k = (C/G)*R*S:
    // the implicit GEMMs' shape fits. Each group streams its channels of the
    // input once per column fold of its K/G output channels.
    plan.problem = mme_problem(d);
    const uint64_t folds = cols ? ceil_div(plan.problem.shape.n, cols) : 1;
    if ((f = checked_product({{"a_dtype", sa}, {"conv_n", d.conv_n}, {"conv_c", d.conv_c}, {"conv_h", d.conv_h},
                              {"conv_w", d.conv_w}, {"conv_k (column folds)", folds}},
                             kMaxMmeTrafficBytes, &a_traffic))) {
      return too_large(*f, traffic_limit);
    }
    b_traffic = b_span;
    c_traffic = c_span;
    r_traffic = r_span;
    bias_elements = d.conv_k;
  }
  const GemmShape& g = plan.problem.shape;
  plan.operands = {{"A", d.a_addr, a_span, a_traffic, false},
                   {"B", d.b_addr, b_span, b_traffic, false},
                   {"C", d.c_addr, c_span, c_traffic, true}};
  if (d.flags & mme::kHasBias) {
    plan.operands.push_back({"bias", d.bias_addr, bias_elements * 4, bias_elements * 4, false});
  }
  if (residual) plan.operands.push_back({"R", d.r_addr, r_span, r_traffic, false});
  for (const MmeOperand& o : plan.operands) {
    if (__builtin_add_overflow(plan.traffic_bytes, o.traffic_bytes, &plan.traffic_bytes) ||
        plan.traffic_bytes > kMaxMmeTrafficBytes) {
      return bad(gemm ? "batch/m/n/k" : "conv geometry", traffic_limit);
    }
  }
  const char* const names[] = {gemm ? "batch" : "conv_groups", gemm ? "m" : "conv_n/h/w",
                               gemm ? "n" : "conv_k / conv_groups", gemm ? "k" : "conv_c/r/s"};
  if ((f = checked_product({{"(2 FLOPs per MAC)", 2}, {names[0], g.batch}, {names[1], g.m}, {names[2], g.n},
                            {names[3], g.k}}, UINT64_MAX, &plan.flops))) {
    return too_large(*f, "the job would have more than 2^64 FLOPs");
  }
  if (limits.config && !(compute_ps_bound(*limits.config, g, mme_job_rate(*limits.config, d)) <=
                         static_cast<double>(kMaxMmeComputePs))) {
    return bad(gemm ? "batch/m/n/k" : "conv geometry",
               "makes the job compute for more than 2^60 ps (about 13 days) of simulated time");
  }
  // Host buffers of functional execution (mme_engine.cpp, compute_values):
  // each input widened to fp32 beside its raw bytes, the fp32 result and its
  // rounded bytes, the residual likewise, the bias; a GEMM holds one batch at
  // a time, and a transposed input once more in fp32 as stored; a
  // convolution holds its whole input, weights and output, plus one image's
  // and group's im2col matrix at a time (counted here as the whole m*k, with
  // a group's weights and result besides: an upper bound, which keeps the
  // ceiling where it was when the values were computed that way).
  // The spans above bound every term (ld >= row length), except im2col's m*k.
  uint64_t host = bias_elements * 8;
  if (gemm) {
    host += g.m * g.k * (4 + sa + (ta ? 4 : 0)) + g.k * g.n * (4 + sb + (tb ? 4 : 0)) + g.m * g.n * (4 + so) +
            (residual ? g.m * g.n * (4 + sr) : 0);
  } else {
    uint64_t im2col = 0;
    if (checked_product({{"m", g.m}, {"k", g.k}, {"fp32", 4}}, kMaxMmeHostBytes, &im2col)) {
      host = UINT64_MAX;
    } else {
      const uint64_t out_elements = c_span / so;  // N*K*P*Q = groups * m * n
      host += a_span / sa * (4 + sa) + b_span / sb * (4 + sb) + im2col + g.k * g.n * 4 + g.m * g.n * 4 +
              out_elements * (4 + so) + (residual ? out_elements * (4 + sr) : 0);
    }
  }
  plan.host_bytes = host;
  if (limits.functional && host > kMaxMmeHostBytes) {
    return bad(gemm ? "batch/m/n/k" : "conv geometry",
               "makes computing the values take more than 8 GiB of host memory, the ceiling of functional mode "
               "(timing-only mode computes no values and has no such ceiling)");
  }
  return plan;
}

std::optional<std::string> validate_mme_descriptor(const mme::Descriptor& d, const MmeLimits& limits) {
  const Result<MmePlan> plan = plan_mme_job(d, limits);
  if (plan.ok()) return std::nullopt;
  return plan.status().message();
}

}  // namespace kiln::sim
