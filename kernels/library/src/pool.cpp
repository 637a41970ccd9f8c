// 2-D pooling over NHWC tensors, dims {C, W, H, N}, vectorised along C:
//   max_pool2d avg_pool2d (in: T, out: T)
//   ints = {kernel_w, kernel_h, stride_w (= kernel_w), stride_h (= kernel_h),
//           pad_w (0), pad_h (0), count_include_pad (0; avg only),
//           dilation_w (1), dilation_h (1), ceil_mode (0),
//           pad_w_end (= pad_w), pad_h_end (= pad_h)}
//   global_max_pool2d global_avg_pool2d (in: T{C, W, H, N}, out: T{C, 1, 1, N})
// The first seven keep their meaning from before dilation and ceil_mode
// existed, so older launches are unchanged. Output sizes follow ONNX
// MaxPool/AveragePool: floor (or ceil) of (in + pads - dilated kernel) /
// stride, + 1, and with ceil_mode a window that would start in the right
// padding is dropped (the last one must start inside the input or the left
// padding).
// One index point per output vector; each window tap inside the input is one
// vector load and one max/add; taps in the padding are skipped (scalar-slot
// bookkeeping only).
#include <limits>

#include "kernel_util.h"
#include "kernels.h"

namespace kiln::kernels::lib {
namespace {

constexpr int kMaxPoolInts = 12;

struct PoolAxis {
  int64_t kernel, stride, pad_begin, pad_end, dilation;

  // The span of input positions one window covers.
  int64_t extent() const { return (kernel - 1) * dilation + 1; }
};

struct PoolParams {
  PoolAxis w, h;
  bool include_pad, ceil_mode;
};

PoolParams pool_params(const KernelArgs& args) {
  PoolParams p;
  p.w.kernel = args.int_or(0, 1);
  p.h.kernel = args.int_or(1, 1);
  p.w.stride = args.int_or(2, p.w.kernel);
  p.h.stride = args.int_or(3, p.h.kernel);
  p.w.pad_begin = args.int_or(4, 0);
  p.h.pad_begin = args.int_or(5, 0);
  p.include_pad = args.int_or(6, 0) != 0;
  p.w.dilation = args.int_or(7, 1);
  p.h.dilation = args.int_or(8, 1);
  p.ceil_mode = args.int_or(9, 0) != 0;
  p.w.pad_end = args.int_or(10, p.w.pad_begin);
  p.h.pad_end = args.int_or(11, p.h.pad_begin);
  return p;
}

int64_t pooled_size(const PoolAxis& a, int64_t in, bool ceil_mode) {
  const int64_t span = in + a.pad_begin + a.pad_end - a.extent();  // >= 0, validated
  int64_t out = (ceil_mode ? ceil_div(span, a.stride) : span / a.stride) + 1;
  if (ceil_mode && (out - 1) * a.stride >= in + a.pad_begin) --out;
  return out;
}

Status validate_axis(const PoolAxis& a, int64_t in, const char* axis) {
  const std::string n(axis);
  if (a.kernel < 1 || a.stride < 1 || a.dilation < 1) {
    return invalid_argument("kernel_" + n + " " + std::to_string(a.kernel) + ", stride_" + n + " " +
                            std::to_string(a.stride) + " and dilation_" + n + " " + std::to_string(a.dilation) +
                            " must be >= 1");
  }
  if (a.pad_begin < 0 || a.pad_end < 0 || a.pad_begin >= a.extent() || a.pad_end >= a.extent()) {
    return invalid_argument("pad_" + n + " " + std::to_string(a.pad_begin) + " and pad_" + n + "_end " +
                            std::to_string(a.pad_end) + " must be >= 0 and smaller than the dilated kernel (" +
                            std::to_string(a.extent()) + ")");
  }
  if (in + a.pad_begin + a.pad_end < a.extent()) {
    return invalid_argument("the dilated kernel (" + std::to_string(a.extent()) + ") is larger than the padded input " +
                            std::to_string(in + a.pad_begin + a.pad_end) + " along " + n);
  }
  return Status::ok_status();
}

Status validate_pool(const KernelArgs& args) {
  KILN_RETURN_IF_ERROR(expect_tensor_count(args, 2, 2, "(in, out)"));
  const TensorDesc& in = args.tensors[0];
  const TensorDesc& out = args.tensors[1];
  KILN_RETURN_IF_ERROR(expect_float(in, "in"));
  KILN_RETURN_IF_ERROR(expect_same_dtype(out, in, "out", "in"));
  if (args.num_ints < 2) return invalid_argument("needs ints {kernel_w, kernel_h, ...}");
  if (args.num_ints > kMaxPoolInts) {
    return invalid_argument("takes at most " + std::to_string(kMaxPoolInts) + " ints, got " +
                            std::to_string(args.num_ints));
  }
  const PoolParams p = pool_params(args);
  KILN_RETURN_IF_ERROR(validate_axis(p.w, in.dims[1], "w"));
  KILN_RETURN_IF_ERROR(validate_axis(p.h, in.dims[2], "h"));
  const Dims want = {in.dims[0], pooled_size(p.w, in.dims[1], p.ceil_mode), pooled_size(p.h, in.dims[2], p.ceil_mode),
                     in.dims[3], in.dims[4]};
  return expect_dims(out, want, "out");
}

IndexSpace pool_space(const KernelArgs& args) {
  return vector_row_space(args.tensors[1], lanes_per_vector(args.tensors[1].dtype));
}

template <bool kMax>
WideF32 combine(KernelContext& ctx, const WideF32& acc, const WideF32& v) {
  return wide_map(ctx, acc, v, [&](const VecF32& a, const VecF32& b) { return kMax ? max(ctx, a, b) : add(ctx, a, b); });
}

template <bool kMax>
WideF32 pool_start(KernelContext& ctx, int halves) {
  return broadcast_wide(ctx, kMax ? -std::numeric_limits<float>::infinity() : 0.0f, halves);
}

template <bool kMax>
void pool_run(KernelContext& ctx) {
  const TensorDesc& in = ctx.tensor(0);
  const TensorDesc& out = ctx.tensor(1);
  const PoolParams p = pool_params(ctx.args());
  const int halves = natural_halves(in.dtype);
  const int64_t width = in.dims[1], height = in.dims[2];
  for_each_vector(ctx, out, lanes_per_vector(out.dtype), [&](const Coord& c) {
    WideF32 acc = pool_start<kMax>(ctx, halves);
    int64_t used = 0, padded = 0;  // taps inside the input / inside the padded input
    for (int64_t ky = 0; ky < p.h.kernel; ++ky) {
      const int64_t y = c[2] * p.h.stride - p.h.pad_begin + ky * p.h.dilation;
      for (int64_t kx = 0; kx < p.w.kernel; ++kx) {
        const int64_t x = c[1] * p.w.stride - p.w.pad_begin + kx * p.w.dilation;
        ctx.count(OpClass::kScalarAlu);  // window address and bounds
        // A ceil_mode window may reach past the end padding; count_include_pad
        // counts only the taps inside the padded input (as ONNX Runtime and
        // PyTorch do).
        if (x >= -p.w.pad_begin && x < width + p.w.pad_end && y >= -p.h.pad_begin && y < height + p.h.pad_end) ++padded;
        if (x < 0 || x >= width || y < 0 || y >= height) continue;
        acc = combine<kMax>(ctx, acc, load_wide(ctx, in, Coord{c[0], x, y, c[3], c[4]}));
        ++used;
      }
    }
    if constexpr (!kMax) {
      const int64_t divisor = p.include_pad ? padded : used;
      const float scale = 1.0f / static_cast<float>(divisor > 0 ? divisor : 1);
      acc = wide_map(ctx, acc, [&](const VecF32& a) { return mul(ctx, a, scale); });
    }
    store_wide(ctx, out, c, acc);
  });
}

// ---- global pooling: one window covering all of W x H ----
Status validate_global_pool(const KernelArgs& args) {
  KILN_RETURN_IF_ERROR(expect_tensor_count(args, 2, 2, "(in, out)"));
  const TensorDesc& in = args.tensors[0];
  const TensorDesc& out = args.tensors[1];
  KILN_RETURN_IF_ERROR(expect_float(in, "in"));
  KILN_RETURN_IF_ERROR(expect_same_dtype(out, in, "out", "in"));
  if (in.dims[1] < 1 || in.dims[2] < 1) {
    return invalid_argument("in has an empty window: W = " + std::to_string(in.dims[1]) + ", H = " +
                            std::to_string(in.dims[2]));
  }
  const Dims want = {in.dims[0], 1, 1, in.dims[3], in.dims[4]};
  return expect_dims(out, want, "out");
}

template <bool kMax>
void global_pool_run(KernelContext& ctx) {
  const TensorDesc& in = ctx.tensor(0);
  const TensorDesc& out = ctx.tensor(1);
  const int halves = natural_halves(in.dtype);
  const float scale = 1.0f / static_cast<float>(in.dims[1] * in.dims[2]);
  for_each_vector(ctx, out, lanes_per_vector(out.dtype), [&](const Coord& c) {
    WideF32 acc = pool_start<kMax>(ctx, halves);
    for (int64_t y = 0; y < in.dims[2]; ++y) {
      for (int64_t x = 0; x < in.dims[1]; ++x) {
        acc = combine<kMax>(ctx, acc, load_wide(ctx, in, Coord{c[0], x, y, c[3], c[4]}));
      }
    }
    if constexpr (!kMax) acc = wide_map(ctx, acc, [&](const VecF32& a) { return mul(ctx, a, scale); });
    store_wide(ctx, out, c, acc);
  });
}

}  // namespace

void append_pool_kernels(std::vector<KernelDef>& out) {
  const char* sig = "(in: T{C, W, H, N}, out: T), T in {f32, bf16, f16}; ints = {kernel_w, kernel_h, stride_w, stride_h, "
                    "pad_w, pad_h, count_include_pad, dilation_w, dilation_h, ceil_mode, pad_w_end, pad_h_end}";
  out.push_back(KernelDef{"max_pool2d", pool_run<true>, pool_space, validate_pool, std::string("max_pool2d") + sig, 0});
  out.push_back(KernelDef{"avg_pool2d", pool_run<false>, pool_space, validate_pool, std::string("avg_pool2d") + sig, 0});
  const char* gsig = "(in: T{C, W, H, N}, out: T{C, 1, 1, N}), T in {f32, bf16, f16}";
  out.push_back(KernelDef{"global_max_pool2d", global_pool_run<true>, pool_space, validate_global_pool,
                          std::string("global_max_pool2d") + gsig, 0});
  out.push_back(KernelDef{"global_avg_pool2d", global_pool_run<false>, pool_space, validate_global_pool,
                          std::string("global_avg_pool2d") + gsig, 0});
}

}  // namespace kiln::kernels::lib
