// Matrix-engine ops, pooling, reductions and normalisation.
#include <algorithm>
#include <cmath>
#include <optional>

#include "kiln/common/mme_descriptor.h"
#include "ops_util.h"

namespace kiln::runtime {

Result<std::vector<int>> reduction_dims(std::string_view op, const Tensor& x, std::vector<int> dims) {
  if (dims.empty()) {
    for (int d = 0; d < x.rank(); ++d) dims.push_back(d);
  }
  std::vector<int> out;
  for (int d : dims) {
    const auto n = normalize_dim(d, x.rank());
    if (!n) return op_error(op, "dim " + std::to_string(d) + " is out of range for " + x.describe());
    if (std::find(out.begin(), out.end(), *n) == out.end()) out.push_back(*n);
  }
  std::sort(out.begin(), out.end());
  return out;
}

namespace {

bool mme_dtype(DType d) { return d == DType::kF32 || d == DType::kBF16 || d == DType::kF16; }

// One reduction node per dim, innermost first; keepdim decides the view.
// A bf16/f16 sum or mean over several dims runs in fp32 (the input cast up,
// the result cast back): the partial results are not rounded to 16 bits, so
// the result is rounded once, as over one dim. max and min are exact anyway.
Result<Tensor> reduce(OpKind op, const Tensor& x, std::vector<int> dims, bool keepdim) {
  KILN_RETURN_IF_ERROR(check_defined(op_name(op), {&x}));
  KILN_RETURN_IF_ERROR(float_dtype(op_name(op), x));
  KILN_ASSIGN_OR_RETURN(std::vector<int> ds, reduction_dims(op_name(op), x, std::move(dims)));
  const bool widen = ds.size() > 1 && (x.dtype() == DType::kBF16 || x.dtype() == DType::kF16) &&
                     (op == OpKind::kReduceSum || op == OpKind::kReduceMean);
  std::optional<CompositeScope> scope;  // the casts are labelled as the reduction
  if (widen) scope.emplace(op == OpKind::kReduceSum ? "sum" : "mean");
  Tensor t = x;
  if (widen) {
    KILN_ASSIGN_OR_RETURN(t, cast(x, DType::kF32));
  }
  for (auto it = ds.rbegin(); it != ds.rend(); ++it) {
    Shape shape = t.shape();
    shape[static_cast<std::size_t>(*it)] = 1;
    Attrs attrs;
    attrs.ints = {*it};
    KILN_ASSIGN_OR_RETURN(t, rt_of(x).record1(op, std::move(attrs), {t}, shape, t.dtype(), std::string(op_name(op))));
  }
  if (widen) {
    KILN_ASSIGN_OR_RETURN(t, cast(t, x.dtype()));
  }
  if (keepdim) return t;
  Shape shape;
  for (int d = 0; d < x.rank(); ++d) {
    if (std::find(ds.begin(), ds.end(), d) == ds.end()) shape.push_back(x.shape()[static_cast<std::size_t>(d)]);
  }
  return t.reshape(shape);
}

Result<Tensor> arg_reduce(OpKind op, const Tensor& x, int dim, bool keepdim, bool last_index) {
  KILN_RETURN_IF_ERROR(check_defined(op_name(op), {&x}));
  KILN_RETURN_IF_ERROR(float_dtype(op_name(op), x));
  const auto d = normalize_dim(dim, x.rank());
  if (!d) return op_error(op_name(op), "dim " + std::to_string(dim) + " is out of range for " + x.describe());
  Shape shape = x.shape();
  shape[static_cast<std::size_t>(*d)] = 1;
  Attrs attrs;
  attrs.ints = {*d};
  if (last_index) attrs.ints.push_back(1);
  KILN_ASSIGN_OR_RETURN(Tensor t, rt_of(x).record1(op, std::move(attrs), {x}, shape, DType::kI32, std::string(op_name(op))));
  return keepdim ? t : t.squeeze(*d);
}

Result<Tensor> softmax_like(OpKind op, const Tensor& x, int dim) {
  KILN_RETURN_IF_ERROR(check_defined(op_name(op), {&x}));
  KILN_RETURN_IF_ERROR(float_dtype(op_name(op), x));
  const auto d = normalize_dim(dim, x.rank());
  if (!d) return op_error(op_name(op), "dim " + std::to_string(dim) + " is out of range for " + x.describe());
  Attrs attrs;
  attrs.ints = {*d};
  return rt_of(x).record1(op, std::move(attrs), {x}, x.shape(), x.dtype(), std::string(op_name(op)));
}

Result<Tensor> pool(OpKind op, const Tensor& x, const Pool2dOptions& o) {
  KILN_RETURN_IF_ERROR(check_defined(op_name(op), {&x}));
  KILN_RETURN_IF_ERROR(float_dtype(op_name(op), x));
  if (x.rank() != 4) return op_error(op_name(op), "needs [N, C, H, W], got " + x.describe());
  const int64_t sh = o.stride_h > 0 ? o.stride_h : o.kernel_h, sw = o.stride_w > 0 ? o.stride_w : o.kernel_w;
  if (o.kernel_h < 1 || o.kernel_w < 1 || sh < 1 || sw < 1 || o.pad_h < 0 || o.pad_w < 0 || o.pad_h >= o.kernel_h ||
      o.pad_w >= o.kernel_w) {
    return op_error(op_name(op), "bad window: kernel, strides >= 1 and pads below the kernel size");
  }
  const auto out_extent = [&](int64_t in, int64_t k, int64_t s, int64_t p) {
    const int64_t room = in + 2 * p - k;
    if (room < 0) return int64_t{-1};
    int64_t n = (o.ceil_mode ? (room + s - 1) / s : room / s) + 1;
    if (o.ceil_mode && (n - 1) * s >= in + p) --n;
    return n;
  };
  const int64_t p = out_extent(x.dim(2), o.kernel_h, sh, o.pad_h), q = out_extent(x.dim(3), o.kernel_w, sw, o.pad_w);
  if (p < 1 || q < 1) return op_error(op_name(op), "the window is larger than the padded input " + x.describe());
  Attrs attrs;
  attrs.ints = {o.kernel_w, o.kernel_h, sw, sh, o.pad_w, o.pad_h, o.count_include_pad ? 1 : 0, 1, 1,
                o.ceil_mode ? 1 : 0, o.pad_w, o.pad_h};
  // The kernels work on NHWC: the node's output is NHWC, the tensor a view.
  KILN_ASSIGN_OR_RETURN(Tensor nhwc, rt_of(x).record1(op, std::move(attrs), {x}, {x.dim(0), p, q, x.dim(1)},
                                                      x.dtype(), std::string(op_name(op))));
  return nhwc.permute({0, 3, 1, 2});
}

Result<Tensor> global_pool(OpKind op, const Tensor& x) {
  KILN_RETURN_IF_ERROR(check_defined(op_name(op), {&x}));
  KILN_RETURN_IF_ERROR(float_dtype(op_name(op), x));
  if (x.rank() != 4) return op_error(op_name(op), "needs [N, C, H, W], got " + x.describe());
  KILN_ASSIGN_OR_RETURN(Tensor nhwc, rt_of(x).record1(op, {}, {x}, {x.dim(0), 1, 1, x.dim(1)}, x.dtype(),
                                                      std::string(op_name(op))));
  return nhwc.permute({0, 3, 1, 2});
}

constexpr int64_t kMaxResizeExtent = int64_t{1} << 24;  // the kernel's coordinate arithmetic

// `scale` ({scale_w, scale_h} for the kernel) is empty for explicit sizes.
Result<Tensor> resize_node(const Tensor& x, int64_t out_h, int64_t out_w, ResizeMode mode, ResizeCoord coord,
                           ResizeNearest nearest, std::vector<double> scale) {
  KILN_RETURN_IF_ERROR(check_defined("resize", {&x}));
  KILN_RETURN_IF_ERROR(float_dtype("resize", x));
  if (x.rank() != 4) return op_error("resize", "needs [N, C, H, W], got " + x.describe());
  const auto bad = [](int64_t n) { return n < 1 || n > kMaxResizeExtent; };
  if (bad(x.dim(2)) || bad(x.dim(3)) || bad(out_h) || bad(out_w)) {
    std::string why = "H and W in and out must be in 1..2^24: ";
    why += x.describe();
    why += " to [";
    why += std::to_string(out_h) + ", " + std::to_string(out_w) + "]";
    return op_error("resize", why);
  }
  const auto m = static_cast<int64_t>(mode), c = static_cast<int64_t>(coord), n = static_cast<int64_t>(nearest);
  if (m < 0 || m > 1 || c < 0 || c > 3 || n < 0 || n > 3) {
    std::string why = "unknown mode ";
    why += std::to_string(m);
    why += ", coordinate transformation " + std::to_string(c) + " or nearest mode " + std::to_string(n);
    return op_error("resize", why);
  }
  Attrs attrs;
  attrs.ints = {m, c, n};
  attrs.floats = std::move(scale);
  // The kernel works on NHWC (vectorised along C): the node's output is NHWC,
  // the tensor a view.
  KILN_ASSIGN_OR_RETURN(Tensor nhwc, rt_of(x).record1(OpKind::kResize, std::move(attrs), {x},
                                                      {x.dim(0), out_h, out_w, x.dim(1)}, x.dtype(), "resize"));
  return nhwc.permute({0, 3, 1, 2});
}

}  // namespace

Result<Tensor> resize(const Tensor& x, std::array<int64_t, 2> size, ResizeMode mode, ResizeCoord coord,
                      ResizeNearest nearest) {
  return resize_node(x, size[0], size[1], mode, coord, nearest, {});
}

Result<Tensor> resize_scale(const Tensor& x, std::array<double, 2> scale, ResizeMode mode, ResizeCoord coord,
                            ResizeNearest nearest) {
  KILN_RETURN_IF_ERROR(check_defined("resize", {&x}));
  if (x.rank() != 4) return op_error("resize", "needs [N, C, H, W], got " + x.describe());
  // The kernel divides by the fp32 scale; the output size comes from the same value.
  const float sh = static_cast<float>(scale[0]), sw = static_cast<float>(scale[1]);
  if (!(std::isfinite(sh) && sh > 0.0f && std::isfinite(sw) && sw > 0.0f) ||
      static_cast<double>(x.dim(2)) * sh > 1e15 || static_cast<double>(x.dim(3)) * sw > 1e15) {
    std::string why = "scales must be finite, > 0 and keep the size in range: ";
    why += std::to_string(scale[0]);
    why += ", " + std::to_string(scale[1]) + " for " + x.describe();
    return op_error("resize", why);
  }
  const auto out_h = static_cast<int64_t>(std::floor(static_cast<double>(x.dim(2)) * sh));
  const auto out_w = static_cast<int64_t>(std::floor(static_cast<double>(x.dim(3)) * sw));
  return resize_node(x, out_h, out_w, mode, coord, nearest, {sw, sh});
}

namespace {

// A GEMM node; with `bias` (f32 [n]) the engine adds it in its fp32 epilogue.
Result<Tensor> gemm(const Tensor& a, const Tensor& b, const std::optional<Tensor>& bias) {
  KILN_RETURN_IF_ERROR(check_defined("matmul", {&a, &b}));
  KILN_RETURN_IF_ERROR(same_dtype("matmul", a, b));
  if (!mme_dtype(a.dtype())) return op_error("matmul", "the matrix engine takes f32, bf16 or f16, got " + a.describe());
  if (a.rank() < 2 || b.rank() < 2) return op_error("matmul", "needs [..., m, k] and [..., k, n]: " + a.describe() + ", " + b.describe());
  if (a.dim(-1) != b.dim(-2)) {
    return op_error("matmul", "inner dims differ: " + a.describe() + " and " + b.describe());
  }
  const Shape ab(a.shape().begin(), a.shape().end() - 2), bb(b.shape().begin(), b.shape().end() - 2);
  const auto batch = broadcast_shapes(ab, bb);
  if (!batch) return op_error("matmul", "batch dims do not broadcast: " + a.describe() + " and " + b.describe());
  Shape out = *batch;
  out.push_back(a.dim(-2));
  out.push_back(b.dim(-1));
  Attrs attrs;
  attrs.ints = {bias ? 1 : 0, static_cast<int64_t>(mme::Activation::NONE)};
  std::vector<Tensor> inputs{a, b};
  if (bias) inputs.push_back(*bias);
  return rt_of(a).record1(OpKind::kMatmul, std::move(attrs), inputs, out, a.dtype(), "matmul");
}

}  // namespace

Result<Tensor> matmul(const Tensor& a, const Tensor& b) { return gemm(a, b, std::nullopt); }

Result<Tensor> linear(const Tensor& x, const Tensor& weight, const std::optional<Tensor>& bias) {
  KILN_RETURN_IF_ERROR(check_defined("linear", {&x, &weight}));
  CompositeScope scope("linear");
  if (weight.rank() != 2 || x.rank() < 1 || x.dim(-1) != weight.dim(1)) {
    return op_error("linear", "needs x [..., in] and weight [out, in]: " + x.describe() + ", " + weight.describe());
  }
  if (bias && (bias->rank() != 1 || bias->dim(0) != weight.dim(0))) {
    return op_error("linear", "bias must be [" + std::to_string(weight.dim(0)) + "], got " + bias->describe());
  }
  KILN_ASSIGN_OR_RETURN(Tensor wt, weight.transpose(0, 1));
  Tensor x2 = x;
  if (x.rank() == 1) {
    KILN_ASSIGN_OR_RETURN(x2, x.unsqueeze(0));
  }
  Tensor y;
  if (bias && rt_of(x).thread_mode() == Mode::kEager && same_dtype("linear", x, weight).ok() && mme_dtype(x.dtype())) {
    // Eager: one GEMM with the bias in its epilogue, the graph lazy mode's
    // fuse_epilogue makes of matmul + add, so both modes round once (two
    // eager ops would round the product before the bias is added).
    KILN_ASSIGN_OR_RETURN(Tensor b, cast(*bias, x.dtype()));
    KILN_ASSIGN_OR_RETURN(b, cast(b, DType::kF32));
    KILN_ASSIGN_OR_RETURN(y, gemm(x2, wt, b));
  } else {
    KILN_ASSIGN_OR_RETURN(y, matmul(x2, wt));
    if (bias) {
      KILN_ASSIGN_OR_RETURN(Tensor b, cast(*bias, y.dtype()));
      KILN_ASSIGN_OR_RETURN(y, add(y, b));
    }
  }
  return x.rank() == 1 ? y.squeeze(0) : y;
}

Result<Tensor> conv2d(const Tensor& x, const Tensor& w, const std::optional<Tensor>& bias, const Conv2dOptions& o) {
  KILN_RETURN_IF_ERROR(check_defined("conv2d", {&x, &w}));
  KILN_RETURN_IF_ERROR(same_dtype("conv2d", x, w));
  if (!mme_dtype(x.dtype())) return op_error("conv2d", "the matrix engine takes f32, bf16 or f16, got " + x.describe());
  const int64_t groups = o.groups;
  if (x.rank() != 4 || w.rank() != 4 || groups < 1 || x.dim(1) % groups != 0 || w.dim(0) % groups != 0 ||
      x.dim(1) / groups != w.dim(1)) {
    return op_error("conv2d", "needs x [N, C, H, W] and weight [K, C/groups, R, S] with groups (" +
                                  std::to_string(groups) + ") dividing C and K: " + x.describe() + ", " + w.describe());
  }
  const int64_t pad_bottom = o.pad_bottom < 0 ? o.pad_h : o.pad_bottom;
  const int64_t pad_right = o.pad_right < 0 ? o.pad_w : o.pad_right;
  if (o.stride_h < 1 || o.stride_w < 1 || o.dilation_h < 1 || o.dilation_w < 1 || o.pad_h < 0 || o.pad_w < 0) {
    return op_error("conv2d", "strides and dilations must be >= 1, pads >= 0");
  }
  const uint32_t p = mme::conv_out_extent(static_cast<uint32_t>(x.dim(2)), static_cast<uint32_t>(o.pad_h),
                                          static_cast<uint32_t>(pad_bottom), static_cast<uint32_t>(o.dilation_h),
                                          static_cast<uint32_t>(w.dim(2)), static_cast<uint32_t>(o.stride_h));
  const uint32_t q = mme::conv_out_extent(static_cast<uint32_t>(x.dim(3)), static_cast<uint32_t>(o.pad_w),
                                          static_cast<uint32_t>(pad_right), static_cast<uint32_t>(o.dilation_w),
                                          static_cast<uint32_t>(w.dim(3)), static_cast<uint32_t>(o.stride_w));
  if (p == 0 || q == 0) return op_error("conv2d", "the filter is larger than the padded input " + x.describe());
  Attrs attrs;
  attrs.ints = {o.stride_h, o.stride_w, o.pad_h, o.pad_w, o.dilation_h, o.dilation_w, 0,
                static_cast<int64_t>(mme::Activation::NONE), pad_bottom, pad_right, groups};
  std::vector<Tensor> inputs{x, w};
  if (bias) {
    if (bias->rank() != 1 || bias->dim(0) != w.dim(0)) {
      return op_error("conv2d", "bias must be [" + std::to_string(w.dim(0)) + "], got " + bias->describe());
    }
    KILN_ASSIGN_OR_RETURN(Tensor b, cast(*bias, DType::kF32));  // the engine's epilogue adds fp32
    inputs.push_back(b);
    attrs.ints[6] = 1;
  }
  return rt_of(x).record1(OpKind::kConv2d, std::move(attrs), inputs, {x.dim(0), w.dim(0), p, q}, x.dtype(), "conv2d");
}

Result<Tensor> max_pool2d(const Tensor& x, const Pool2dOptions& o) { return pool(OpKind::kMaxPool2d, x, o); }
Result<Tensor> avg_pool2d(const Tensor& x, const Pool2dOptions& o) { return pool(OpKind::kAvgPool2d, x, o); }
Result<Tensor> global_avg_pool2d(const Tensor& x) { return global_pool(OpKind::kGlobalAvgPool2d, x); }
Result<Tensor> global_max_pool2d(const Tensor& x) { return global_pool(OpKind::kGlobalMaxPool2d, x); }

Result<Tensor> sum(const Tensor& x, std::vector<int> dims, bool keepdim) { return reduce(OpKind::kReduceSum, x, dims, keepdim); }
Result<Tensor> mean(const Tensor& x, std::vector<int> dims, bool keepdim) { return reduce(OpKind::kReduceMean, x, dims, keepdim); }
Result<Tensor> amax(const Tensor& x, std::vector<int> dims, bool keepdim) { return reduce(OpKind::kReduceMax, x, dims, keepdim); }
Result<Tensor> amin(const Tensor& x, std::vector<int> dims, bool keepdim) { return reduce(OpKind::kReduceMin, x, dims, keepdim); }
Result<Tensor> prod(const Tensor& x, std::vector<int> dims, bool keepdim) { return reduce(OpKind::kReduceProd, x, dims, keepdim); }
Result<Tensor> argmax(const Tensor& x, int dim, bool keepdim, bool last_index) {
  return arg_reduce(OpKind::kArgmax, x, dim, keepdim, last_index);
}
Result<Tensor> argmin(const Tensor& x, int dim, bool keepdim, bool last_index) {
  return arg_reduce(OpKind::kArgmin, x, dim, keepdim, last_index);
}
Result<Tensor> cumsum(const Tensor& x, int dim, bool exclusive, bool reverse) {
  KILN_RETURN_IF_ERROR(check_defined("cumsum", {&x}));
  KILN_RETURN_IF_ERROR(float_dtype("cumsum", x));
  const auto d = normalize_dim(dim, x.rank());
  if (!d || x.rank() == 0) return op_error("cumsum", "dim " + std::to_string(dim) + " is out of range for " + x.describe());
  Attrs attrs;
  attrs.ints = {*d, exclusive ? 1 : 0, reverse ? 1 : 0};
  return rt_of(x).record1(OpKind::kCumsum, std::move(attrs), {x}, x.shape(), x.dtype(), "cumsum");
}

Result<Tensor> softmax(const Tensor& x, int dim) { return softmax_like(OpKind::kSoftmax, x, dim); }
Result<Tensor> log_softmax(const Tensor& x, int dim) { return softmax_like(OpKind::kLogSoftmax, x, dim); }

Result<Tensor> layer_norm(const Tensor& x, int k, const std::optional<Tensor>& weight, const std::optional<Tensor>& bias,
                          double eps) {
  KILN_RETURN_IF_ERROR(check_defined("layer_norm", {&x}));
  KILN_RETURN_IF_ERROR(float_dtype("layer_norm", x));
  if (k < 1 || k > x.rank()) return op_error("layer_norm", "normalizes 1.." + std::to_string(x.rank()) + " dims, not " + std::to_string(k));
  if (weight.has_value() != bias.has_value()) return op_error("layer_norm", "give both weight and bias, or neither");
  const Shape norm(x.shape().end() - k, x.shape().end());
  std::vector<Tensor> inputs{x};
  for (const auto* p : {&weight, &bias}) {
    if (!*p) continue;
    if ((*p)->shape() != norm) {
      return op_error("layer_norm", "weight and bias must be " + to_string(norm) + ", got " + (*p)->describe());
    }
    KILN_RETURN_IF_ERROR(same_dtype("layer_norm", x, **p));
    inputs.push_back(**p);
  }
  Attrs attrs;
  attrs.ints = {k};
  attrs.floats = {eps};
  return rt_of(x).record1(OpKind::kLayerNorm, std::move(attrs), inputs, x.shape(), x.dtype(), "layer_norm");
}

Result<Tensor> rms_norm(const Tensor& x, int k, const std::optional<Tensor>& weight, double eps) {
  KILN_RETURN_IF_ERROR(check_defined("rms_norm", {&x}));
  KILN_RETURN_IF_ERROR(float_dtype("rms_norm", x));
  if (k < 1 || k > x.rank()) return op_error("rms_norm", "normalizes 1.." + std::to_string(x.rank()) + " dims, not " + std::to_string(k));
  std::vector<Tensor> inputs{x};
  if (weight) {
    const Shape norm(x.shape().end() - k, x.shape().end());
    if (weight->shape() != norm) return op_error("rms_norm", "weight must be " + to_string(norm) + ", got " + weight->describe());
    KILN_RETURN_IF_ERROR(same_dtype("rms_norm", x, *weight));
    inputs.push_back(*weight);
  }
  Attrs attrs;
  attrs.ints = {k};
  attrs.floats = {eps};
  return rt_of(x).record1(OpKind::kRmsNorm, std::move(attrs), inputs, x.shape(), x.dtype(), "rms_norm");
}

Result<Tensor> batch_norm(const Tensor& x, const Tensor& mean_t, const Tensor& var, const Tensor& weight, const Tensor& bias,
                          double eps) {
  KILN_RETURN_IF_ERROR(check_defined("batch_norm", {&x, &mean_t, &var, &weight, &bias}));
  KILN_RETURN_IF_ERROR(float_dtype("batch_norm", x));
  if (x.rank() < 2) return op_error("batch_norm", "needs [N, C, ...], got " + x.describe());
  for (const Tensor* p : {&mean_t, &var, &weight, &bias}) {
    if (p->shape() != Shape{x.dim(1)}) {
      return op_error("batch_norm", "parameters must be [" + std::to_string(x.dim(1)) + "], got " + p->describe());
    }
    KILN_RETURN_IF_ERROR(same_dtype("batch_norm", x, *p));
  }
  Attrs attrs;
  attrs.floats = {eps};
  return rt_of(x).record1(OpKind::kBatchNorm, std::move(attrs), {x, weight, bias, mean_t, var}, x.shape(), x.dtype(),
                          "batch_norm");
}

Result<Tensor> scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, std::optional<double> scale) {
  KILN_RETURN_IF_ERROR(check_defined("scaled_dot_product_attention", {&q, &k, &v}));
  CompositeScope scope("attention");
  if (q.rank() < 2 || k.rank() != q.rank() || v.rank() != q.rank() || q.dim(-1) != k.dim(-1) || k.dim(-2) != v.dim(-2)) {
    return op_error("scaled_dot_product_attention",
                    "needs q [..., L, E], k [..., S, E], v [..., S, Ev]: " + q.describe() + ", " + k.describe() + ", " +
                        v.describe());
  }
  const double s = scale ? *scale : 1.0 / std::sqrt(static_cast<double>(q.dim(-1)));
  KILN_ASSIGN_OR_RETURN(Tensor kt, k.transpose(-1, -2));
  KILN_ASSIGN_OR_RETURN(Tensor scores, matmul(q, kt));
  KILN_ASSIGN_OR_RETURN(scores, mul(scores, s));
  KILN_ASSIGN_OR_RETURN(Tensor p, softmax(scores, -1));
  return matmul(p, v);
}

}  // namespace kiln::runtime
