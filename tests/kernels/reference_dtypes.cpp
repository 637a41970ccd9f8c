// The reference for kernels with integer and bool values, mixed dtypes and
// several outputs: casts, compares, logical ops, where, integer arithmetic,
// integer data movement, fused_elementwise and the add_* norms. Integers are
// exact (int64 with explicit wrapping), float rounding is written here with
// long double (which holds every int64 and every double exactly), not with
// the kernel API's conversions. Float-only kernels go to reference_float.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "reference.h"

namespace kiln::kernels::test {
namespace {

using C5 = std::array<int64_t, 5>;

int64_t count(const Shape& d) { return d[0] * d[1] * d[2] * d[3] * d[4]; }

// The dense index of c in a tensor with dims d, broadcasting dims of size 1.
size_t bidx(const Shape& d, C5 c) {
  for (int i = 0; i < 5; ++i) {
    if (d[i] == 1) c[i] = 0;
  }
  return static_cast<size_t>(c[0] + d[0] * (c[1] + d[1] * (c[2] + d[2] * (c[3] + d[3] * c[4]))));
}

C5 coord_of(const Shape& d, int64_t i) {
  C5 c{};
  for (int k = 0; k < 5; ++k) {
    c[k] = i % d[k];
    i /= d[k];
  }
  return c;
}

bool is_int_like(DType d) { return d == DType::kI32 || d == DType::kI64 || d == DType::kBool; }

RefTensor make_out(const OutSpec& o) {
  RefTensor t;
  t.dims = o.dims;
  t.dtype = o.dtype;
  t.v.assign(static_cast<size_t>(count(o.dims)), 0.0);
  if (is_int_like(o.dtype)) t.iv.assign(t.v.size(), 0);
  return t;
}

// Element i of t broadcast to coordinate c, as a double (bool and ints exact below 2^53).
double val(const RefTensor& t, const C5& c) {
  const size_t i = bidx(t.dims, c);
  return is_int_like(t.dtype) ? static_cast<double>(t.iv[i]) : t.v[i];
}
int64_t ival(const RefTensor& t, const C5& c) { return t.iv[bidx(t.dims, c)]; }

// Wraps to the width of d (two's complement).
int64_t wrap(uint64_t u, DType d) {
  return d == DType::kI32 ? static_cast<int32_t>(static_cast<uint32_t>(u)) : static_cast<int64_t>(u);
}

long double round_ld(long double x, DType d) {
  if (std::isnan(x) || std::isinf(x) || x == 0) return x;
  const int p = d == DType::kBF16 ? 8 : d == DType::kF16 ? 11 : 24;
  const int emin = d == DType::kF16 ? -14 : -126;
  const long double max_finite = d == DType::kF16 ? 65504.0L : std::ldexp(2.0L - std::ldexp(1.0L, 1 - p), 127);
  int e = 0;
  std::frexp(x, &e);  // x = m 2^e, 0.5 <= |m| < 1: the leading bit is 2^(e-1)
  const int quantum = std::max(e - 1, emin) - (p - 1);
  const long double r = std::ldexp(std::nearbyint(std::ldexp(x, -quantum)), quantum);
  if (std::fabs(r) > max_finite) return r > 0 ? INFINITY : -INFINITY;
  return r;
}

int64_t float_to_int(double x, DType d) {
  if (std::isnan(x)) return 0;
  const long double t = std::trunc(static_cast<long double>(x));
  const long double hi = d == DType::kI32 ? 2147483647.0L : 9223372036854775807.0L;
  const long double lo = d == DType::kI32 ? -2147483648.0L : -9223372036854775808.0L;
  if (t >= hi) return d == DType::kI32 ? std::numeric_limits<int32_t>::max() : std::numeric_limits<int64_t>::max();
  if (t <= lo) return d == DType::kI32 ? std::numeric_limits<int32_t>::min() : std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(t);
}

// Element j of input t (any dtype) converted to dtype `to`, into out[j].
void convert_into(const RefTensor& t, size_t j, DType to, RefTensor& out, size_t o) {
  const DType from = t.dtype;
  if (is_int_like(from)) {
    const int64_t x = t.iv[j];
    if (to == DType::kBool) out.iv[o] = x != 0;
    else if (is_int_like(to)) out.iv[o] = wrap(static_cast<uint64_t>(x), to);
    else out.v[o] = static_cast<double>(round_ld(static_cast<long double>(x), to));
    if (is_int_like(to)) out.v[o] = static_cast<double>(out.iv[o]);
    return;
  }
  const double x = t.v[j];
  if (to == DType::kBool) out.iv[o] = x != 0.0 || std::isnan(x);
  else if (is_int_like(to)) out.iv[o] = float_to_int(x, to);
  else out.v[o] = static_cast<double>(round_ld(x, to));
  if (is_int_like(to)) out.v[o] = static_cast<double>(out.iv[o]);
}

bool compare(const std::string& k, double a, double b) {
  if (k == "eq") return a == b;
  if (k == "ne") return a != b;
  if (k == "lt") return a < b;
  if (k == "le") return a <= b;
  if (k == "gt") return a > b;
  return a >= b;
}
bool icompare(const std::string& k, int64_t a, int64_t b) {
  if (k == "eq") return a == b;
  if (k == "ne") return a != b;
  if (k == "lt") return a < b;
  if (k == "le") return a <= b;
  if (k == "gt") return a > b;
  return a >= b;
}
bool is_compare(const std::string& k) {
  return k == "eq" || k == "ne" || k == "lt" || k == "le" || k == "gt" || k == "ge";
}

int64_t int_binary(const std::string& k, int64_t a, int64_t b, DType d) {
  const auto ua = static_cast<uint64_t>(a), ub = static_cast<uint64_t>(b);
  if (k == "add") return wrap(ua + ub, d);
  if (k == "sub") return wrap(ua - ub, d);
  if (k == "mul") return wrap(ua * ub, d);
  if (k == "max") return std::max(a, b);
  if (k == "min") return std::min(a, b);
  if (k == "fmod") {  // the remainder of the truncated quotient; x fmod 0 = x
    if (b == 0) return a;
    if (b == -1) return 0;
    return a % b;
  }
  if (k == "pow") {
    if (b < 0) return a == 1 ? 1 : a == -1 ? (b % 2 == 0 ? 1 : -1) : 0;
    uint64_t r = 1;
    for (int64_t i = 0; i < b; ++i) r *= ua;
    return wrap(r, d);
  }
  // div: toward zero; x / 0 = 0; MIN / -1 wraps to MIN.
  if (b == 0) return 0;
  if (b == -1) return wrap(0 - ua, d);
  return a / b;
}

// ---- fused_elementwise: the encoding read bit by bit (fused_program.h) ----

double fused_op(int op, double a, double b, double c) {
  const double kPi = 3.14159265358979323846;
  switch (op) {
    case 1: return -a;
    case 2: return std::fabs(a);
    case 3: return std::exp(a);
    case 4: return std::log(a);
    case 5: return std::sqrt(a);
    case 6: return 1.0 / std::sqrt(a);
    case 7: return 1.0 / a;
    case 8: return a > 0 ? a : 0.0;
    case 9: return 1.0 / (1.0 + std::exp(-a));
    case 10: return std::tanh(a);
    case 11: return a / (1.0 + std::exp(-a));
    case 12: return 0.5 * a * (1.0 + std::erf(a / std::sqrt(2.0)));
    case 13: return 0.5 * a * (1.0 + std::tanh(std::sqrt(2.0 / kPi) * (a + 0.044715 * a * a * a)));
    case 14: return a * std::clamp(a / 6.0 + 0.5, 0.0, 1.0);
    case 15: return std::log1p(std::exp(a));
    case 16: return a == 0.0;
    case 17: return a;
    case 32: return a + b;
    case 33: return a - b;
    case 34: return a * b;
    case 35: return a / b;
    case 36: return std::isnan(a) || std::isnan(b) ? NAN : std::max(a, b);
    case 37: return std::isnan(a) || std::isnan(b) ? NAN : std::min(a, b);
    case 38: return std::pow(a, b);
    case 39: return a == b;
    case 40: return a != b;
    case 41: return a < b;
    case 42: return a <= b;
    case 43: return a > b;
    case 44: return a >= b;
    case 45: return (a != 0) && (b != 0);
    case 46: return (a != 0) || (b != 0);
    case 47: return (a != 0) != (b != 0);
    case 48: return a > 0 ? a : a * b;
    case 49: return a > 0 ? a : b * std::expm1(a);
    case 64: return a != 0 ? b : c;
    case 65: return std::min(std::max(a, b), c);
    case 66: return std::clamp(b * a + c, 0.0, 1.0);
    default: ADD_FAILURE() << "reference: fused opcode " << op; return NAN;
  }
}

std::vector<RefTensor> fused(const std::vector<RefTensor>& in, const OutSpec& o, const std::vector<int64_t>& ints,
                             const std::vector<float>& floats) {
  RefTensor out = make_out(o);
  const size_t n = static_cast<size_t>(ints[0]);
  for (int64_t e = 0; e < count(o.dims); ++e) {
    const C5 c = coord_of(o.dims, e);
    std::vector<double> vals;
    for (const RefTensor& t : in) vals.push_back(val(t, c));
    for (float f : floats) vals.push_back(f);
    for (size_t j = 0; j < n; ++j) {
      const auto w = static_cast<uint64_t>(ints[1 + j]);
      const auto at = [&](int shift) { return vals[static_cast<size_t>((w >> shift) & 0xff)]; };
      const int op = static_cast<int>(w & 0xff);
      const int arity = op < 32 ? 1 : op < 64 ? 2 : 3;
      const double r = fused_op(op, at(8), arity > 1 ? at(16) : 0.0, arity > 2 ? at(24) : 0.0);
      const auto d = static_cast<DType>((w >> 32) & 0xff);
      vals.push_back(d == DType::kBool ? static_cast<double>(r != 0.0 || std::isnan(r))
                                       : static_cast<double>(round_ld(r, d)));
    }
    out.v[static_cast<size_t>(e)] = vals.back();
    if (o.dtype == DType::kBool) out.iv[static_cast<size_t>(e)] = vals.back() != 0.0;
  }
  return {out};
}

// x + residual rounded to T, then the norm of that (outputs: out, sum).
std::vector<RefTensor> add_norm(const std::string& k, const std::vector<RefTensor>& in, const std::vector<OutSpec>& o,
                                const std::vector<int64_t>& ints, const std::vector<float>& floats) {
  RefTensor sum = make_out(o[1]);
  sum.rank = in[0].rank;
  for (int64_t e = 0; e < count(sum.dims); ++e) {
    const C5 c = coord_of(sum.dims, e);
    sum.v[static_cast<size_t>(e)] = static_cast<double>(round_ld(val(in[0], c) + val(in[1], c), sum.dtype));
  }
  std::vector<RefTensor> norm_in = {sum};
  for (size_t i = 2; i < in.size(); ++i) norm_in.push_back(in[i]);
  std::vector<float> eps = floats;
  if (eps.empty()) eps.push_back(k == "add_layer_norm" ? 1e-5f : 1e-6f);
  RefTensor out = reference_float(k == "add_layer_norm" ? "layer_norm" : "rms_norm", norm_in, o[0].dims, ints, eps);
  out.dtype = o[0].dtype;
  return {out, sum};
}

bool moves_data(const std::string& k) {
  return k == "permute" || k == "slice" || k == "concat" || k == "gather" || k == "pad";
}

// Data movement of integers and bools: the float reference moves element
// positions (exact in double), which then pick the exact values.
RefTensor move_ints(const std::string& k, const std::vector<RefTensor>& in, const OutSpec& o,
                    const std::vector<int64_t>& ints, const std::vector<float>& floats) {
  constexpr double kInputStride = 1LL << 40;
  std::vector<RefTensor> pos = in;
  const size_t data_inputs = k == "gather" ? 1 : in.size();
  for (size_t t = 0; t < data_inputs; ++t) {
    for (size_t i = 0; i < pos[t].v.size(); ++i) pos[t].v[i] = static_cast<double>(t) * kInputStride + static_cast<double>(i);
  }
  std::vector<float> f = floats;
  if (f.empty()) f.push_back(0.0f);
  const float constant = f[0];
  f[0] = -1.0f;  // marks pad's constant
  const RefTensor where = reference_float(k, pos, o.dims, ints, f);
  RefTensor out = make_out(o);
  for (size_t i = 0; i < out.iv.size(); ++i) {
    const double p = where.v[i];
    if (p < 0) {
      out.iv[i] = o.dtype == DType::kBool ? constant != 0.0f : static_cast<int64_t>(std::llrint(constant));
    } else {
      const auto t = static_cast<size_t>(p / kInputStride);
      out.iv[i] = in[t].iv[static_cast<size_t>(p - static_cast<double>(t) * kInputStride)];
    }
    out.v[i] = static_cast<double>(out.iv[i]);
  }
  return out;
}

}  // namespace

double round_to(double x, DType d) { return static_cast<double>(round_ld(x, d)); }

std::vector<RefTensor> reference(const std::string& k, const std::vector<RefTensor>& in,
                                 const std::vector<OutSpec>& outs, const std::vector<int64_t>& ints,
                                 const std::vector<float>& floats) {
  const OutSpec& o = outs[0];
  if (k == "fused_elementwise") return fused(in, o, ints, floats);
  if (k == "add_layer_norm" || k == "add_rms_norm") return add_norm(k, in, outs, ints, floats);
  if (k.rfind("sdpa_", 0) == 0) return sdpa_reference(k, in, outs, ints, floats);
  RefTensor out = make_out(o);
  const auto each = [&](auto f) {
    for (int64_t e = 0; e < count(o.dims); ++e) f(static_cast<size_t>(e), coord_of(o.dims, e));
  };
  if (k == "cast") {
    each([&](size_t e, const C5&) { convert_into(in[0], e, o.dtype, out, e); });
  } else if (is_compare(k)) {
    const bool ints_in = is_int_like(in[0].dtype);
    each([&](size_t e, const C5& c) {
      out.iv[e] = ints_in ? icompare(k, ival(in[0], c), ival(in[1], c)) : compare(k, val(in[0], c), val(in[1], c));
    });
  } else if (k == "logical_and" || k == "logical_or" || k == "logical_xor") {
    each([&](size_t e, const C5& c) {
      const bool a = ival(in[0], c) != 0, b = ival(in[1], c) != 0;
      out.iv[e] = k == "logical_and" ? (a && b) : k == "logical_or" ? (a || b) : (a != b);
    });
  } else if (k == "logical_not") {
    each([&](size_t e, const C5& c) { out.iv[e] = ival(in[0], c) == 0; });
  } else if (k == "where") {
    each([&](size_t e, const C5& c) {
      const double cond = val(in[0], c);
      const RefTensor& src = cond != 0.0 || std::isnan(cond) ? in[1] : in[2];
      convert_into(src, bidx(src.dims, c), o.dtype, out, e);
    });
  } else if (is_int_like(o.dtype) && moves_data(k)) {
    out = move_ints(k, in, o, ints, floats);
  } else if (is_int_like(o.dtype) && (k == "neg" || k == "abs")) {
    each([&](size_t e, const C5& c) {
      const int64_t x = ival(in[0], c);
      out.iv[e] = k == "neg" || x < 0 ? wrap(0 - static_cast<uint64_t>(x), o.dtype) : x;
    });
  } else if (is_int_like(o.dtype) && in.size() == 2) {
    each([&](size_t e, const C5& c) { out.iv[e] = int_binary(k, ival(in[0], c), ival(in[1], c), o.dtype); });
  } else {
    RefTensor r = reference_float(k, in, o.dims, ints, floats);
    if (r.v.empty()) return {};
    r.dtype = o.dtype;
    if (is_int_like(o.dtype)) {  // argmax / argmin: small whole numbers
      r.iv.clear();
      for (double x : r.v) r.iv.push_back(static_cast<int64_t>(x));
    }
    return {r};
  }
  if (is_int_like(o.dtype)) {
    for (size_t i = 0; i < out.iv.size(); ++i) out.v[i] = static_cast<double>(out.iv[i]);
  }
  return {out};
}

}  // namespace kiln::kernels::test
