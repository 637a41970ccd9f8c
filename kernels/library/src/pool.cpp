// 2-D pooling over NHWC tensors, dims {C, W, H, N}, vectorised along C:
//   max_pool2d avg_pool2d (in: T, out: T)
//   ints = {kernel_w, kernel_h, stride_w (= kernel_w), stride_h (= kernel_h),
//           pad_w (0), pad_h (0), count_include_pad (0; avg only)}
// One index point per output vector; each window position inside the input is
// one vector load and one max/add; padded positions are skipped (scalar-slot
// bookkeeping only).
#include <limits>

#include "kernel_util.h"
#include "kernels.h"

namespace kiln::kernels::lib {
namespace {

struct PoolParams {
  int64_t kw, kh, sw, sh, pw, ph;
  bool include_pad;
};

PoolParams pool_params(const KernelArgs& args) {
  PoolParams p;
  p.kw = args.int_or(0, 1);
  p.kh = args.int_or(1, 1);
  p.sw = args.int_or(2, p.kw);
  p.sh = args.int_or(3, p.kh);
  p.pw = args.int_or(4, 0);
  p.ph = args.int_or(5, 0);
  p.include_pad = args.int_or(6, 0) != 0;
  return p;
}

Status validate_pool(const KernelArgs& args) {
  KILN_RETURN_IF_ERROR(expect_tensor_count(args, 2, 2, "(in, out)"));
  const TensorDesc& in = args.tensors[0];
  const TensorDesc& out = args.tensors[1];
  KILN_RETURN_IF_ERROR(expect_float(in, "in"));
  KILN_RETURN_IF_ERROR(expect_same_dtype(out, in, "out", "in"));
  if (args.num_ints < 2) return invalid_argument("needs ints {kernel_w, kernel_h, ...}");
  const PoolParams p = pool_params(args);
  if (p.kw < 1 || p.kh < 1 || p.sw < 1 || p.sh < 1) return invalid_argument("kernel and stride must be >= 1");
  if (p.pw < 0 || p.ph < 0 || p.pw >= p.kw || p.ph >= p.kh) {
    return invalid_argument("pads must be >= 0 and smaller than the kernel");
  }
  const int64_t ow = (in.dims[1] + 2 * p.pw - p.kw) / p.sw + 1;
  const int64_t oh = (in.dims[2] + 2 * p.ph - p.kh) / p.sh + 1;
  if (in.dims[1] + 2 * p.pw < p.kw || in.dims[2] + 2 * p.ph < p.kh) {
    return invalid_argument("the kernel is larger than the padded input");
  }
  const Dims want = {in.dims[0], ow, oh, in.dims[3], in.dims[4]};
  return expect_dims(out, want, "out");
}

IndexSpace pool_space(const KernelArgs& args) {
  return vector_row_space(args.tensors[1], lanes_per_vector(args.tensors[1].dtype));
}

template <bool kMax>
void pool_run(KernelContext& ctx) {
  const TensorDesc& in = ctx.tensor(0);
  const TensorDesc& out = ctx.tensor(1);
  const PoolParams p = pool_params(ctx.args());
  const int halves = natural_halves(in.dtype);
  for_each_vector(ctx, out, lanes_per_vector(out.dtype), [&](const Coord& c) {
    WideF32 acc = broadcast_wide(ctx, kMax ? -std::numeric_limits<float>::infinity() : 0.0f, halves);
    int64_t used = 0;
    for (int64_t ky = 0; ky < p.kh; ++ky) {
      const int64_t y = c[2] * p.sh - p.ph + ky;
      for (int64_t kx = 0; kx < p.kw; ++kx) {
        const int64_t x = c[1] * p.sw - p.pw + kx;
        ctx.count(OpClass::kScalarAlu);  // window address and bounds
        if (x < 0 || x >= in.dims[1] || y < 0 || y >= in.dims[2]) continue;
        const WideF32 v = load_wide(ctx, in, Coord{c[0], x, y, c[3], c[4]});
        acc = wide_map(ctx, acc, v, [&](const VecF32& a, const VecF32& b) { return kMax ? max(ctx, a, b) : add(ctx, a, b); });
        ++used;
      }
    }
    if constexpr (!kMax) {
      const int64_t divisor = p.include_pad ? p.kw * p.kh : used;
      const float scale = 1.0f / static_cast<float>(divisor > 0 ? divisor : 1);
      acc = wide_map(ctx, acc, [&](const VecF32& a) { return mul(ctx, a, scale); });
    }
    store_wide(ctx, out, c, acc);
  });
}

}  // namespace

void append_pool_kernels(std::vector<KernelDef>& out) {
  const char* sig = "(in: T{C, W, H, N}, out: T), T in {f32, bf16}; ints = {kernel_w, kernel_h, stride_w, stride_h, "
                    "pad_w, pad_h, count_include_pad}";
  out.push_back(KernelDef{"max_pool2d", pool_run<true>, pool_space, validate_pool, std::string("max_pool2d") + sig, 0});
  out.push_back(KernelDef{"avg_pool2d", pool_run<false>, pool_space, validate_pool, std::string("avg_pool2d") + sig, 0});
}

}  // namespace kiln::kernels::lib
