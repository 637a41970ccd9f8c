// The runtime's ops. Each checks its inputs' shapes and dtypes when called
// and fails with an error naming the op and both shapes/dtypes if they do
// not fit; nothing is enqueued then. Otherwise it records a graph node (lazy
// mode) or runs at once (eager mode): on the matrix engine for matmul and
// convolution, on the vector cores for everything else. The host never
// computes an op's result.
//
// Shapes are numpy's (outermost first); elementwise ops broadcast like numpy;
// dims may be negative (counted from the end). Inputs of one op share a dtype
// unless stated (no implicit promotion: cast first).
#pragma once

#include <array>
#include <optional>
#include <vector>

#include "kiln/runtime/tensor.h"

namespace kiln::runtime {

// ---- elementwise ----
Result<Tensor> add(const Tensor& a, const Tensor& b);
Result<Tensor> sub(const Tensor& a, const Tensor& b);
Result<Tensor> mul(const Tensor& a, const Tensor& b);
Result<Tensor> div(const Tensor& a, const Tensor& b);
Result<Tensor> maximum(const Tensor& a, const Tensor& b);
Result<Tensor> minimum(const Tensor& a, const Tensor& b);
// Floats, or i32/i64 exactly (wrapping; a negative exponent gives the
// truncated 1 / a^-b: 1 for a == 1, +-1 for a == -1, else 0).
Result<Tensor> pow(const Tensor& a, const Tensor& b);
// With a scalar (a rank-0 constant of a's dtype).
Result<Tensor> add(const Tensor& a, double b);
Result<Tensor> mul(const Tensor& a, double b);
// cond != 0 ? a : b; cond is bool or of a's dtype.
Result<Tensor> where(const Tensor& cond, const Tensor& a, const Tensor& b);
// Comparisons: a bool tensor of the broadcast shape; IEEE for floats (a NaN
// compares unequal: ne is true, the others false), exact for integers.
Result<Tensor> eq(const Tensor& a, const Tensor& b);
Result<Tensor> ne(const Tensor& a, const Tensor& b);
Result<Tensor> lt(const Tensor& a, const Tensor& b);
Result<Tensor> le(const Tensor& a, const Tensor& b);
Result<Tensor> gt(const Tensor& a, const Tensor& b);
Result<Tensor> ge(const Tensor& a, const Tensor& b);

// Unary ops take f32, bf16 or f16; neg and abs also i32 and i64 (wrapping).
Result<Tensor> neg(const Tensor& x);
Result<Tensor> abs(const Tensor& x);
Result<Tensor> exp(const Tensor& x);
Result<Tensor> log(const Tensor& x);
Result<Tensor> sqrt(const Tensor& x);
Result<Tensor> rsqrt(const Tensor& x);
Result<Tensor> reciprocal(const Tensor& x);
Result<Tensor> relu(const Tensor& x);
Result<Tensor> sigmoid(const Tensor& x);
Result<Tensor> tanh(const Tensor& x);
Result<Tensor> silu(const Tensor& x);
Result<Tensor> gelu(const Tensor& x, bool tanh_approximation = false);
Result<Tensor> leaky_relu(const Tensor& x, double slope = 0.01);
Result<Tensor> clamp(const Tensor& x, double lo, double hi);
Result<Tensor> elu(const Tensor& x, double alpha = 1.0);
Result<Tensor> hardswish(const Tensor& x);
Result<Tensor> hardsigmoid(const Tensor& x);
Result<Tensor> softplus(const Tensor& x);
Result<Tensor> cast(const Tensor& x, DType dtype);
// Float math (f32, bf16, f16, computed in fp32 and rounded once). Rounding:
// floor, ceil, and round with ties to even; sign gives -1 or 1, and zeros and
// NaN as they are. Angles are radians.
Result<Tensor> erf(const Tensor& x);
Result<Tensor> floor(const Tensor& x);
Result<Tensor> ceil(const Tensor& x);
Result<Tensor> round(const Tensor& x);
Result<Tensor> sign(const Tensor& x);
Result<Tensor> sin(const Tensor& x);
Result<Tensor> cos(const Tensor& x);
Result<Tensor> tan(const Tensor& x);
Result<Tensor> asin(const Tensor& x);
Result<Tensor> acos(const Tensor& x);
Result<Tensor> atan(const Tensor& x);
Result<Tensor> sinh(const Tensor& x);
Result<Tensor> cosh(const Tensor& x);
Result<Tensor> asinh(const Tensor& x);
Result<Tensor> acosh(const Tensor& x);
Result<Tensor> atanh(const Tensor& x);
// C's fmod: the remainder of a / b truncated toward zero, with a's sign;
// floats or i32/i64, exact (an integer x fmod 0 is x; a float one NaN).
Result<Tensor> fmod(const Tensor& a, const Tensor& b);
// Logic on bool tensors (numpy broadcasting), a bool result.
Result<Tensor> logical_and(const Tensor& a, const Tensor& b);
Result<Tensor> logical_or(const Tensor& a, const Tensor& b);
Result<Tensor> logical_xor(const Tensor& a, const Tensor& b);
Result<Tensor> logical_not(const Tensor& x);
// A dense copy (a no-op handle copy if x is already dense).
Result<Tensor> contiguous(const Tensor& x);

// ---- matrix engine ----
// Batched: a [..., m, k] x b [..., k, n] -> [..., m, n], batch dims broadcast.
Result<Tensor> matmul(const Tensor& a, const Tensor& b);
// x [..., in] with weight [out, in] (PyTorch's layout) and optional bias [out].
Result<Tensor> linear(const Tensor& x, const Tensor& weight, const std::optional<Tensor>& bias = std::nullopt);

struct Conv2dOptions {
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;              // top and left (and bottom and right unless set)
  int64_t pad_bottom = -1, pad_right = -1;   // -1: as pad_h / pad_w
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t groups = 1;                        // groups == C == K: depthwise
};
// x [N, C, H, W], weight [K, C/groups, R, S], bias [K] -> [N, K, P, Q].
Result<Tensor> conv2d(const Tensor& x, const Tensor& weight, const std::optional<Tensor>& bias = std::nullopt,
                      const Conv2dOptions& options = {});

// ---- pooling, [N, C, H, W] ----
struct Pool2dOptions {
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 0, stride_w = 0;  // 0: the kernel size
  int64_t pad_h = 0, pad_w = 0;
  bool ceil_mode = false;
  bool count_include_pad = false;  // avg only
};
Result<Tensor> max_pool2d(const Tensor& x, const Pool2dOptions& options);
Result<Tensor> avg_pool2d(const Tensor& x, const Pool2dOptions& options);
// Mean / max over H and W: [N, C, 1, 1].
Result<Tensor> global_avg_pool2d(const Tensor& x);
Result<Tensor> global_max_pool2d(const Tensor& x);

// ---- resizing, [N, C, H, W] -> [N, C, out_h, out_w] (ONNX Resize) ----
enum class ResizeMode { kNearest, kLinear };  // linear: bilinear over H and W
// How output coordinate x maps to the input (scale = out / in, or the given
// scale): half_pixel (x + 0.5) / scale - 0.5 (PyTorch align_corners=False);
// align_corners x (in - 1) / (out - 1); asymmetric x / scale;
// pytorch_half_pixel as half_pixel but 0 when out == 1.
enum class ResizeCoord { kHalfPixel, kAlignCorners, kAsymmetric, kPytorchHalfPixel };
// Nearest pixel of a fractional coordinate (nearest mode only); PyTorch's
// 'nearest' is kAsymmetric with kFloor.
enum class ResizeNearest { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil };
// The defaults are ONNX's. f32, bf16 or f16; computed in fp32 and rounded
// once (nearest copies values exactly); no antialiasing when shrinking.
// Sizes and input H, W in 1..2^24.
Result<Tensor> resize(const Tensor& x, std::array<int64_t, 2> size, ResizeMode mode = ResizeMode::kNearest,
                      ResizeCoord coord = ResizeCoord::kHalfPixel,
                      ResizeNearest nearest = ResizeNearest::kRoundPreferFloor);
// By scale factors {scale_h, scale_w} (> 0): out = floor(in * scale), and the
// coordinates divide by the given scale, as ONNX's `scales` input and
// PyTorch's scale_factor (recompute_scale_factor off) do.
Result<Tensor> resize_scale(const Tensor& x, std::array<double, 2> scale, ResizeMode mode = ResizeMode::kNearest,
                            ResizeCoord coord = ResizeCoord::kHalfPixel,
                            ResizeNearest nearest = ResizeNearest::kRoundPreferFloor);

// ---- reductions and normalisation ----
Result<Tensor> sum(const Tensor& x, std::vector<int> dims, bool keepdim = false);
Result<Tensor> mean(const Tensor& x, std::vector<int> dims, bool keepdim = false);
Result<Tensor> amax(const Tensor& x, std::vector<int> dims, bool keepdim = false);
Result<Tensor> amin(const Tensor& x, std::vector<int> dims, bool keepdim = false);
Result<Tensor> prod(const Tensor& x, std::vector<int> dims, bool keepdim = false);  // fp32 products
// int32 indices of the first extreme value, or of the last with last_index.
Result<Tensor> argmax(const Tensor& x, int dim, bool keepdim = false, bool last_index = false);
Result<Tensor> argmin(const Tensor& x, int dim, bool keepdim = false, bool last_index = false);
// Running sums along dim (ONNX CumSum): out[j] = sum of x[i] for i <= j, or
// i < j with exclusive; reversed, i >= j (i > j). Float, fp32 sums.
Result<Tensor> cumsum(const Tensor& x, int dim, bool exclusive = false, bool reverse = false);
Result<Tensor> softmax(const Tensor& x, int dim);
Result<Tensor> log_softmax(const Tensor& x, int dim);
// Over the last `normalized_dims` dims, with optional weight and bias of those dims' shape.
Result<Tensor> layer_norm(const Tensor& x, int normalized_dims, const std::optional<Tensor>& weight,
                          const std::optional<Tensor>& bias, double eps = 1e-5);
Result<Tensor> rms_norm(const Tensor& x, int normalized_dims, const std::optional<Tensor>& weight, double eps = 1e-6);
// Inference batch norm over dim 1 of [N, C, ...]; the parameters are [C].
Result<Tensor> batch_norm(const Tensor& x, const Tensor& mean, const Tensor& var, const Tensor& weight,
                          const Tensor& bias, double eps = 1e-5);

// ---- data movement ----
Result<Tensor> concat(const std::vector<Tensor>& tensors, int dim);
// Views: pieces of `sizes` along `dim`.
Result<std::vector<Tensor>> split(const Tensor& x, const std::vector<int64_t>& sizes, int dim);
// Elements of `x` along `dim` at int32 `indices`: shape x[:dim] + indices + x[dim+1:].
Result<Tensor> index_select(const Tensor& x, int dim, const Tensor& indices);
// Rows of weight [V, D] at int32 ids [...]: [..., D].
Result<Tensor> embedding(const Tensor& weight, const Tensor& ids);

// ---- composite ----
// softmax(q k^T * scale) v over the last two dims; q [..., L, E], k [..., S, E], v [..., S, Ev].
Result<Tensor> scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                            std::optional<double> scale = std::nullopt);

// Fused scaled-dot-product attention, flash style: softmax(q k^T * scale +
// mask) v with the softmax in fp32, tiled over the sequence with an online
// softmax, so the [L, S] scores never reach HBM (docs/runtime.md, "Fused
// attention"). q [..., L, E], k [..., S, E], v [..., S, Ev], the same batch
// dims (at most two: [B, H]) and one float dtype; the result is [..., L, Ev]
// in that dtype. One graph node: works in eager and lazy mode and in
// captured graphs.
struct SdpaOptions {
  // Added to the scaled scores; broadcasts to [..., L, S]; q's dtype
  // (-inf hides a key).
  std::optional<Tensor> mask;
  // Query i sees keys j <= i only (top-left aligned, as PyTorch's is_causal).
  bool causal = false;
  std::optional<double> scale;  // default 1 / sqrt(E)
};
Result<Tensor> fused_sdpa(const Tensor& q, const Tensor& k, const Tensor& v, const SdpaOptions& options = {});

}  // namespace kiln::runtime
