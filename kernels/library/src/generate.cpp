// Tensors made on the device, written densely in full (out: f32, bf16 or
// i32 for fill and arange; f32 or bf16 for the random ones):
//   fill          (out); floats[0] = the value (rounded to nearest for i32)
//   arange        (out); element with flat index i = floats[0] + floats[1] * i
//   rand_uniform  (out); ints[0] = seed; uniform in [floats[0], floats[1])
//   rand_normal   (out); ints[0] = seed; normal(floats[0], floats[1])
// The flat index counts the dense layout (dim 0 fastest). Random values come
// from a counter-based generator: element i of seed s is a function of (s, i)
// only, so a launch gives the same values however it is split over cores.
// The generator is SplitMix64 (Steele, Lea, Flood 2014); each 64-bit hash is
// counted as 8 vector-ALU instructions per 64 lanes (3 multiply/xor-shift
// rounds on a 64-bit integer pipe), the normal's Box-Muller transform as a
// log, a sqrt, a cos and the multiplies.
#include <cmath>
#include <cstring>

#include "kernel_util.h"
#include "kernels.h"

namespace kiln::kernels::lib {
namespace {

constexpr uint64_t kHashAluOps = 8;

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Uniform in [0, 1) with 24 random bits: exactly representable in fp32.
float unit(uint64_t seed, uint64_t index) {
  return static_cast<float>(splitmix64(seed * 0x9e3779b97f4a7c15ull + index) >> 40) * 0x1.0p-24f;
}

Status validate_out(const KernelArgs& args, bool integer_ok) {
  KILN_RETURN_IF_ERROR(expect_tensor_count(args, 1, 1, "(out)"));
  const TensorDesc& out = args.tensors[0];
  if (!out.is_contiguous()) return invalid_argument("out must be dense");
  if (out.dtype == DType::kI32 && integer_ok) return Status::ok_status();
  return expect_float(out, "out");
}

Status validate_fill(const KernelArgs& args) { return validate_out(args, true); }
Status validate_random(const KernelArgs& args) {
  KILN_RETURN_IF_ERROR(validate_out(args, false));
  if (args.num_ints < 1) return invalid_argument("ints[0] must be the seed");
  return Status::ok_status();
}

IndexSpace out_space(const KernelArgs& args) {
  return vector_row_space(args.tensors[0], lanes_per_vector(args.tensors[0].dtype));
}

// Flat index of element c of a dense tensor.
uint64_t flat_index(const TensorDesc& t, const Coord& c) { return static_cast<uint64_t>(t.element_offset(c)); }

// Stores per-lane values (already in fp32) at c: i32 rounds to nearest.
void store_values(KernelContext& ctx, const TensorDesc& out, const Coord& c, const WideF32& w) {
  if (out.dtype == DType::kI32) {
    ctx.store(out, c, f32_to_i32(ctx, w.half[0]));
  } else {
    store_wide(ctx, out, c, w);
  }
}

void fill_run(KernelContext& ctx) {
  const TensorDesc& out = ctx.tensor(0);
  const WideF32 w = broadcast_wide(ctx, ctx.args().float_or(0, 0.0f), natural_halves(out.dtype));
  for_each_vector(ctx, out, lanes_per_vector(out.dtype), [&](const Coord& c) { store_values(ctx, out, c, w); });
}

void arange_run(KernelContext& ctx) {
  const TensorDesc& out = ctx.tensor(0);
  const float start = ctx.args().float_or(0, 0.0f), step = ctx.args().float_or(1, 1.0f);
  const int halves = natural_halves(out.dtype);
  for_each_vector(ctx, out, lanes_per_vector(out.dtype), [&](const Coord& c) {
    WideF32 w;
    w.halves = halves;
    for (int h = 0; h < halves; ++h) {
      const float base = static_cast<float>(flat_index(out, c) + static_cast<uint64_t>(h) * kF32Lanes);
      w.half[h] = fma(ctx, iota(ctx, base), step, broadcast(ctx, start));
    }
    store_values(ctx, out, c, w);
  });
}

template <bool kNormal>
void random_run(KernelContext& ctx) {
  const TensorDesc& out = ctx.tensor(0);
  const uint64_t seed = static_cast<uint64_t>(ctx.args().int_or(0, 0));
  const float a = ctx.args().float_or(0, kNormal ? 0.0f : 0.0f), b = ctx.args().float_or(1, 1.0f);
  const int halves = natural_halves(out.dtype);
  for_each_vector(ctx, out, lanes_per_vector(out.dtype), [&](const Coord& c) {
    WideF32 w;
    w.halves = halves;
    for (int h = 0; h < halves; ++h) {
      const uint64_t base = flat_index(out, c) + static_cast<uint64_t>(h) * kF32Lanes;
      for (int l = 0; l < kF32Lanes; ++l) {
        const uint64_t i = base + static_cast<uint64_t>(l);
        if constexpr (kNormal) {
          // Box-Muller from two independent uniforms of the same element.
          const double u1 = 1.0 - static_cast<double>(unit(seed, 2 * i));
          const double u2 = static_cast<double>(unit(seed, 2 * i + 1));
          const double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
          w.half[h][l] = static_cast<float>(a + b * z);
        } else {
          w.half[h][l] = a + (b - a) * unit(seed, i);
        }
      }
      ctx.count(OpClass::kVectorAlu, kNormal ? 2 * kHashAluOps + 4 : kHashAluOps + 1);
      if constexpr (kNormal) {
        ctx.count(OpClass::kVectorTranscendental, 2);  // log, cos
        ctx.count(OpClass::kVectorDivSqrt, 1);
      }
    }
    store_wide(ctx, out, c, w);
  });
}

}  // namespace

void append_generate_kernels(std::vector<KernelDef>& out) {
  out.push_back(KernelDef{"fill", fill_run, out_space, validate_fill, "fill(out: f32|bf16|i32); floats[0] = value", 0});
  out.push_back(KernelDef{"arange", arange_run, out_space, validate_fill,
                          "arange(out: f32|bf16|i32); floats[0] = start, floats[1] = step, by flat index", 0});
  out.push_back(KernelDef{"rand_uniform", random_run<false>, out_space, validate_random,
                          "rand_uniform(out: f32|bf16); ints[0] = seed; floats = [low, high)", 0});
  out.push_back(KernelDef{"rand_normal", random_run<true>, out_space, validate_random,
                          "rand_normal(out: f32|bf16); ints[0] = seed; floats = mean, stddev", 0});
}

}  // namespace kiln::kernels::lib
