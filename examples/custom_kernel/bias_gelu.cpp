// bias_gelu: a fused bias + GELU kernel for the Kiln TPC, written outside
// Kiln against its installed kernel API only (kiln/kernels/kernel_api.h).
//
//   bias_gelu(x: T[C, N...], bias: T[C], out: T[C, N...]), T in {f32, bf16}
//   out = gelu(x + bias), bias broadcast along dim 0 (the innermost dim, C)
//
// GELU is the TANH form (PyTorch gelu(approximate="tanh"), GPT-2, Megatron-LM's
// fused bias_gelu), not the erf form:
//   gelu(z) = 0.5 z (1 + tanh(k (z + a z^3))),  k = sqrt(2/pi), a = 0.044715
// The kernel computes it through 0.5 (1 + tanh(t)) = sigmoid(2t):
//   gelu(z) = z * sigmoid(z * (2k + 2ka z^2))
// which issues 4 vector ALU instructions and 1 transcendental per 64 lanes (the
// library's gelu_tanh issues 7 + 1) and avoids the cancellation in 1 + tanh(t)
// for large negative z. The bias add fuses in as one more ALU instruction:
// per vector of x, 1 load, 5 ALU, 1 sigmoid, 1 store -- one pass over memory
// instead of the two an add kernel followed by a gelu kernel would make.
//
// Index space: {vectors along dim 0, rows (dims 1..4 flattened)}; the launch
// splits the rows (the outer dim) among the cores. A slice walks its vector
// columns outermost, so each bias vector is loaded once per slice and kept in
// a register for all the slice's rows.
//
// bf16 tensors are widened to fp32 on load (WideF32: 128 lanes in two fp32
// halves, one instruction per operation) and rounded to bf16 on store.
//
// The file also registers the kernel's test (KILN_REGISTER_KERNEL_TEST): how
// to build a launch for a shape, and a host reference in double precision.
// `kiln kernel run --lib libbias_gelu.so --kernel bias_gelu --shape C,N` and
// bias_gelu_test use both.
#include <cmath>
#include <cstdint>
#include <span>
#include <string>

#include "kiln/kernels/kernel_api.h"

namespace {

using namespace kiln::kernels;
using kiln::Status;

constexpr double kSqrt2OverPi = 0.79788456080286535588;
constexpr double kGeluA = 0.044715;
constexpr float kTwoK = static_cast<float>(2.0 * kSqrt2OverPi);
constexpr float kTwoKA = static_cast<float>(2.0 * kSqrt2OverPi * kGeluA);

// ---- the kernel ----

// gelu(z) on 64 lanes: mul, fma, mul, sigmoid, mul. `two_ka` holds 2ka in
// every lane (broadcast once per slice: an instruction takes one scalar operand).
VecF32 gelu_tanh(KernelContext& ctx, const VecF32& z, const VecF32& two_ka) {
  const VecF32 z2 = mul(ctx, z, z);
  const VecF32 p = fma(ctx, z2, two_ka, kTwoK);  // 2k + 2ka z^2
  return mul(ctx, z, sigmoid(ctx, mul(ctx, z, p)));
}

void bias_gelu_run(KernelContext& ctx) {
  const TensorDesc& x = ctx.tensor(0);
  const TensorDesc& bias = ctx.tensor(1);
  const TensorDesc& out = ctx.tensor(2);
  const int64_t lanes = lanes_per_vector(out.dtype);
  const IndexSlice& s = ctx.slice();
  if (s.empty()) return;
  const VecF32 two_ka = broadcast(ctx, kTwoKA);
  for (int64_t v = s.begin[0]; v < s.end[0] && !ctx.faulted(); ++v) {
    const WideF32 b = load_wide(ctx, bias, Coord{v * lanes, 0, 0, 0, 0});
    for (int64_t row = s.begin[1]; row < s.end[1]; ++row) {
      Coord c = row_coord(out.dims, row);
      c[0] = v * lanes;
      const WideF32 xv = load_wide(ctx, x, c);  // lanes past the row read 0 and are not stored
      store_wide(ctx, out, c, wide_map(ctx, xv, b, [&](const VecF32& xh, const VecF32& bh) {
                   return gelu_tanh(ctx, add(ctx, xh, bh), two_ka);
                 }));
    }
  }
}

IndexSpace bias_gelu_space(const KernelArgs& args) {
  const TensorDesc& out = args.tensors[2];
  const int64_t lanes = lanes_per_vector(out.dtype);
  IndexSpace s;
  s.rank = 2;
  s.size[0] = (out.dims[0] + lanes - 1) / lanes;
  s.size[1] = out.rows();
  return s;
}

std::string dims_string(const TensorDesc& t) {
  std::string r = "[";
  for (int d = 0; d < t.rank; ++d) r += (d ? "," : "") + std::to_string(t.dims[static_cast<size_t>(d)]);
  return r + "]";
}

// Called once per launch, before any slice runs (descriptors themselves are
// checked by the launcher).
Status bias_gelu_validate(const KernelArgs& args) {
  if (args.num_tensors != 3) {
    return kiln::invalid_argument("bias_gelu expects tensors (x, bias, out), got " +
                                  std::to_string(args.num_tensors));
  }
  const TensorDesc& x = args.tensors[0];
  const TensorDesc& bias = args.tensors[1];
  const TensorDesc& out = args.tensors[2];
  if (!is_float(x.dtype)) {
    return kiln::invalid_argument("bias_gelu: x must be f32 or bf16, got " + std::string(dtype_name(x.dtype)));
  }
  if (bias.dtype != x.dtype || out.dtype != x.dtype) {
    return kiln::invalid_argument("bias_gelu: x, bias and out must share a dtype, got " +
                                  std::string(dtype_name(x.dtype)) + ", " + std::string(dtype_name(bias.dtype)) +
                                  ", " + std::string(dtype_name(out.dtype)));
  }
  if (x.rank < 1) return kiln::invalid_argument("bias_gelu: x must have rank 1..5, got 0");
  if (out.rank != x.rank || out.dims != x.dims) {
    return kiln::invalid_argument("bias_gelu: out" + dims_string(out) + " must have the dims of x" + dims_string(x));
  }
  if (bias.rank != 1 || bias.dims[0] != x.dims[0]) {
    return kiln::invalid_argument("bias_gelu: bias" + dims_string(bias) + " must be [" + std::to_string(x.dims[0]) +
                                  "] (dim 0 of x)");
  }
  return Status::ok_status();
}

// ---- its test: launch builder and host reference ----

// Deterministic inputs in [lo, hi), exact in `dtype`.
void fill(HostTensor& t, uint32_t seed, float lo, float hi) {
  uint32_t state = seed;
  for (float& v : t.values) {
    state = state * 1664525u + 1013904223u;  // LCG: the same values on every host
    const float u = static_cast<float>(state >> 8) / 16777216.0f;
    v = lo + (hi - lo) * u;
    if (t.dtype == DType::kBF16) v = round_to_bf16(v);
  }
}

// shape = dims of x, innermost first: C, then N... (rank 1..5). The dtype is
// the one the runner asks for (f32 unless --dtype bf16). Inputs get
// deterministic values here; a runner may replace them with its own.
Status bias_gelu_make_case(std::span<const int64_t> shape, KernelTestCase& c) {
  if (shape.empty() || shape.size() > static_cast<size_t>(kMaxDims)) {
    return kiln::invalid_argument("bias_gelu: --shape takes 1 to 5 dims (C, N...), got " +
                                  std::to_string(shape.size()));
  }
  for (int64_t d : shape) {
    if (d < 1) return kiln::invalid_argument("bias_gelu: every dim of --shape must be >= 1");
  }
  if (!is_float(c.dtype)) return kiln::invalid_argument("bias_gelu: dtype must be f32 or bf16");
  // add_input takes an initializer list; x and out have the rank of `shape`.
  HostTensor& x = c.add_input(c.dtype, {shape[0]});
  x.dims.assign(shape.begin(), shape.end());
  x.values.assign(static_cast<size_t>(x.num_elements()), 0.0f);
  fill(x, 1, -5.0f, 5.0f);
  fill(c.add_input(c.dtype, {shape[0]}), 2, -1.0f, 1.0f);  // bias
  HostTensor& out = c.add_output(c.dtype, {shape[0]});
  out.dims.assign(shape.begin(), shape.end());
  out.values.assign(static_cast<size_t>(out.num_elements()), 0.0f);
  return Status::ok_status();
}

// The textbook tanh form in double: the kernel's sigmoid rewrite is checked
// against it, not against itself.
void bias_gelu_reference(KernelTestCase& c) {
  const HostTensor& x = c.tensors[0];
  const HostTensor& bias = c.tensors[1];
  HostTensor& out = c.tensors[2];
  const size_t channels = bias.values.size();
  for (size_t i = 0; i < x.values.size(); ++i) {
    const double z = static_cast<double>(x.values[i]) + static_cast<double>(bias.values[i % channels]);
    const double g = 0.5 * z * (1.0 + std::tanh(kSqrt2OverPi * (z + kGeluA * z * z * z)));
    out.values[i] = static_cast<float>(g);
  }
}

}  // namespace

KILN_REGISTER_KERNEL("bias_gelu", bias_gelu_run, bias_gelu_space, bias_gelu_validate,
                     "bias_gelu(x: T[C, N...], bias: T[C], out: T[C, N...]), T in {f32, bf16}; "
                     "out = gelu_tanh(x + bias), bias broadcast along dim 0");
// One tolerance serves both dtypes, so it is bf16's: the output is rounded to
// bf16 (8 significant bits: up to 2^-8 relative) on store. fp32 results are
// within 1e-5 relative of the double reference, which bias_gelu_test checks.
KILN_REGISTER_KERNEL_TEST("bias_gelu", bias_gelu_make_case, bias_gelu_reference, /*rtol=*/1e-2, /*atol=*/1e-5);
KILN_KERNEL_PLUGIN()
