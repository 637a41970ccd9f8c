// cast (in: A, out: B), same dims, A and B any of f32 bf16 f16 i32 i64 bool.
//   float -> float   through the exact fp32 value; into bf16/f16 rounded to
//                    nearest even (f16: +-inf past 65504, subnormals kept)
//   float -> int     toward zero (C casts, torch .to(), ONNX Cast); NaN -> 0;
//                    out-of-range values saturate to the integer's ends
//                    (ONNX leaves them undefined; this is deterministic)
//   int -> float     rounded once to nearest even from the exact integer (no
//                    double rounding through fp32 on the way to bf16/f16)
//   i32 -> i64       sign-extends; i64 -> i32 keeps the low 32 bits (wraps,
//                    as C++, PyTorch and ONNX Cast)
//   any -> bool      x != 0 (NaN is true, as numpy and PyTorch); bool -> any: 0 or 1
//   A == B           a bit copy (bool is normalised to 0/1)
// A step covers one vector of the dtype with more lanes (bool 256, bf16/f16
// 128, f32/i32 64, i64 32) and as many vectors of the other: e.g. i64 -> bool
// is 8 loads and one store. Converting counts one kVectorAlu per 64 lanes
// (two when i64 is either side: emulated); a copy counts none.
#include <bit>
#include <cmath>
#include <limits>

#include "kernel_util.h"
#include "kernels.h"

namespace kiln::kernels::lib {
namespace {

constexpr int kMaxStep = kBoolLanes;

// One step's elements, exact: floats (every f32/bf16/f16 value is an fp32
// value) or integers (i32, i64, bool as 0/1).
struct Lanes {
  float f[kMaxStep];
  int64_t i[kMaxStep];
};

int step_lanes(const KernelArgs& args) {
  const int a = lanes_per_vector(args.tensors[0].dtype), b = lanes_per_vector(args.tensors[1].dtype);
  return a > b ? a : b;
}

// Loads n elements of t from c (n is a multiple of t's lanes, or fewer bool lanes).
void load_lanes(KernelContext& ctx, const TensorDesc& t, Coord c, int n, Lanes& l) {
  const int per = lanes_per_vector(t.dtype);
  if (t.dtype == DType::kBool) {
    const VecBool v = ctx.load_bool(t, c, n);
    for (int k = 0; k < n; ++k) l.i[k] = v.lane[k];
    return;
  }
  for (int base = 0; base < n; base += per, c[0] += per) {
    switch (t.dtype) {
      case DType::kF32: {
        const VecF32 v = ctx.load_f32(t, c);
        for (int k = 0; k < per; ++k) l.f[base + k] = v.lane[k];
        break;
      }
      case DType::kBF16: {
        const VecBF16 v = ctx.load_bf16(t, c);
        for (int k = 0; k < per; ++k) l.f[base + k] = v.lane[k].to_float();
        break;
      }
      case DType::kF16: {
        const VecF16 v = ctx.load_f16(t, c);
        for (int k = 0; k < per; ++k) l.f[base + k] = v.lane[k].to_float();
        break;
      }
      case DType::kI32: {
        const VecI32 v = ctx.load_i32(t, c);
        for (int k = 0; k < per; ++k) l.i[base + k] = v.lane[k];
        break;
      }
      case DType::kI64: {
        const VecI64 v = ctx.load_i64(t, c);
        for (int k = 0; k < per; ++k) l.i[base + k] = v.lane[k];
        break;
      }
      case DType::kBool: break;
    }
  }
}

// Stores n elements held in t's own form (floats already rounded where the
// dtype needs: from_float below is exact for them, or rounds f32 input).
void store_lanes(KernelContext& ctx, const TensorDesc& t, Coord c, int n, const Lanes& l) {
  const int per = lanes_per_vector(t.dtype);
  if (t.dtype == DType::kBool) {
    VecBool v{};
    for (int k = 0; k < n; ++k) v.lane[k] = l.i[k] != 0 ? 1 : 0;
    ctx.store(t, c, v, n);
    return;
  }
  for (int base = 0; base < n; base += per, c[0] += per) {
    switch (t.dtype) {
      case DType::kF32: {
        VecF32 v;
        for (int k = 0; k < per; ++k) v.lane[k] = l.f[base + k];
        ctx.store(t, c, v);
        break;
      }
      case DType::kBF16: {
        VecBF16 v;
        for (int k = 0; k < per; ++k) v.lane[k] = bf16::from_float(l.f[base + k]);
        ctx.store(t, c, v);
        break;
      }
      case DType::kF16: {
        VecF16 v;
        for (int k = 0; k < per; ++k) v.lane[k] = f16::from_float(l.f[base + k]);
        ctx.store(t, c, v);
        break;
      }
      case DType::kI32: {
        VecI32 v;
        for (int k = 0; k < per; ++k) v.lane[k] = static_cast<int32_t>(static_cast<uint32_t>(l.i[base + k]));
        ctx.store(t, c, v);
        break;
      }
      case DType::kI64: {
        VecI64 v;
        for (int k = 0; k < per; ++k) v.lane[k] = l.i[base + k];
        ctx.store(t, c, v);
        break;
      }
      case DType::kBool: break;
    }
  }
}

// Significant bits of each float format.
int mantissa_bits(DType d) { return d == DType::kBF16 ? 8 : d == DType::kF16 ? 11 : 24; }

// x rounded to `bits` significant bits, nearest even, from the exact integer;
// the result is exact in fp32 (a store into bf16/f16 keeps it, or gives inf
// past f16's range).
float round_int(int64_t x, int bits) {
  const bool negative = x < 0;
  const uint64_t m = negative ? 0 - static_cast<uint64_t>(x) : static_cast<uint64_t>(x);
  const int len = 64 - std::countl_zero(m);
  if (len <= bits) return negative ? -static_cast<float>(m) : static_cast<float>(m);
  const int shift = len - bits;
  uint64_t q = m >> shift;
  const uint64_t rest = m & ((uint64_t{1} << shift) - 1), half = uint64_t{1} << (shift - 1);
  if (rest > half || (rest == half && (q & 1u) != 0)) ++q;
  const float r = std::ldexp(static_cast<float>(q), shift);
  return negative ? -r : r;
}

// Toward zero, NaN -> 0, saturating.
int64_t float_to_int(float x, DType to) {
  const double t = std::trunc(static_cast<double>(x));
  if (t != t) return 0;
  if (to == DType::kI32) {
    if (t >= 2147483647.0) return std::numeric_limits<int32_t>::max();
    if (t <= -2147483648.0) return std::numeric_limits<int32_t>::min();
    return static_cast<int64_t>(t);
  }
  if (t >= 9223372036854775808.0) return std::numeric_limits<int64_t>::max();
  if (t <= -9223372036854775808.0) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(t);
}

void convert(DType from, DType to, int n, Lanes& l) {
  for (int k = 0; k < n; ++k) {
    if (is_float(from)) {
      if (is_float(to)) continue;  // the store rounds (once: the fp32 value is exact)
      l.i[k] = to == DType::kBool ? (l.f[k] != 0.0f || l.f[k] != l.f[k]) : float_to_int(l.f[k], to);
    } else if (is_float(to)) {
      l.f[k] = round_int(l.i[k], mantissa_bits(to));
    } else if (to == DType::kBool) {
      l.i[k] = l.i[k] != 0;
    } else if (to == DType::kI32) {
      l.i[k] = static_cast<int32_t>(static_cast<uint32_t>(l.i[k]));
    }
  }
}

Status validate_cast(const KernelArgs& args) {
  KILN_RETURN_IF_ERROR(expect_tensor_count(args, 2, 2, "(in, out)"));
  return expect_same_dims(args.tensors[0], args.tensors[1], "in", "out");
}

IndexSpace cast_space(const KernelArgs& args) { return vector_row_space(args.tensors[1], step_lanes(args)); }

void cast_run(KernelContext& ctx) {
  const TensorDesc& in = ctx.tensor(0);
  const TensorDesc& out = ctx.tensor(1);
  const int n = step_lanes(ctx.args());
  if (in.dtype == out.dtype) {
    for_each_vector(ctx, out, n, [&](const Coord& c) { copy_vector(ctx, in, c, out, c); });
    return;
  }
  const uint64_t alu = static_cast<uint64_t>(n >= kF32Lanes ? n / kF32Lanes : 1) *
                       (in.dtype == DType::kI64 || out.dtype == DType::kI64 ? 2 : 1);
  Lanes l;
  for_each_vector(ctx, out, n, [&](const Coord& c) {
    load_lanes(ctx, in, c, n, l);
    convert(in.dtype, out.dtype, n, l);
    ctx.count(OpClass::kVectorAlu, alu);
    store_lanes(ctx, out, c, n, l);
  });
}

}  // namespace

void append_cast_kernels(std::vector<KernelDef>& out) {
  out.push_back(KernelDef{"cast", cast_run, cast_space, validate_cast,
                          "cast(in: A, out: B), same dims, A and B any of f32 bf16 f16 i32 i64 bool; float -> int "
                          "truncates (NaN 0, saturating), into bf16/f16 rounds to nearest even, -> bool is != 0",
                          0});
}

}  // namespace kiln::kernels::lib
