// The built-in kernel library: TPC kernels written only against the public
// kernel API (kiln/kernels/kernel_api.h).
//
// register_builtin_kernels(registry) adds every kernel below; it is the only
// way in (a static library's self-registration would be dropped by the
// linker). Calling it twice on one registry is a no-op the second time.
//
// Conventions (see tensor.h): dim 0 is innermost; numpy shape [N, C, H, W] is
// dims {W, H, C, N}. Dtypes: f32 bf16 f16 i32 i64 bool. "F" is a float dtype
// (f32, bf16 or f16), "N" a numeric one (F, i32 or i64), "T" any of the six;
// every F/N/T in one launch is the same dtype unless said otherwise. Floats
// are computed in fp32 (bf16/f16 data widened exactly) and rounded to nearest
// even when stored (the device numerics); reductions, softmax and norms
// accumulate in fp32. Integers compute exactly in their width: add, sub, mul,
// neg and abs wrap (abs(INT_MIN) == INT_MIN), div truncates toward zero, x / 0
// is 0 and INT_MIN / -1 is INT_MIN (vector_int.h). bool is one byte; inputs
// read any non-zero byte as true, outputs are written 0 or 1. Outputs are
// written in full; inputs are never written. Every kernel validates its
// arguments at launch and names what is wrong.
//
// Elementwise, numpy broadcasting of inputs to `out` (each input dim equals
// out's or is 1):
//   add sub mul div max min          (a: N, b: N, out: N)
//   pow                              (a: N, b: N, out: N); integers wrap, a negative
//                                    exponent truncates 1 / a^-b (vector_int.h)
//   fmod                             (a: N, b: N, out: N); C's fmod: the remainder
//                                    of a / b truncated toward zero, a's sign
//                                    (integers exact, x fmod 0 = x; floats NaN)
//   eq ne lt le gt ge                (a: T, b: T, out: bool); IEEE for floats
//                                    (NaN compares unequal), false < true
//   logical_and logical_or logical_xor  (a: bool, b: bool, out: bool)
//   where                            (cond: bool or T, a: T, b: T, out: T)
//                                    out = cond != 0 ? a : b (a NaN cond is true)
// Unary, same dims in and out:
//   logical_not (in: bool, out: bool)
//   neg abs  (in: N, out: N)
//   exp log sqrt rsqrt reciprocal relu sigmoid tanh silu erf  (in: F, out: F)
//   sin cos tan asin acos atan sinh cosh asinh acosh atanh    (in: F, out: F)
//   floor ceil round (ties to even) sign (-1 or 1; zeros, NaN unchanged)  (in: F, out: F), and:
//   gelu_erf   0.5 x (1 + erf(x / sqrt 2))
//   gelu_tanh  0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
//   leaky_relu x > 0 ? x : slope x;  floats[0] = slope (default 0.01)
//   clamp      min(max(x, lo), hi);  floats[0] = lo (default -inf), floats[1] =
//              hi (default +inf); either may be +-inf, NaN is refused; lo > hi
//              gives hi everywhere (numpy.clip, ONNX Clip)
//   elu        x > 0 ? x : alpha (exp(x) - 1);  floats[0] = alpha (default 1)
//   hardswish  x max(0, min(1, x / 6 + 1/2))
//   hardsigmoid max(0, min(1, alpha x + beta));  floats[0] = alpha (default
//              0.2), floats[1] = beta (default 0.5)
//   softplus   log(1 + exp(x)), computed as max(x, 0) + log(1 + exp(-|x|))
//   cast       (in: A, out: B), A and B any dtypes: float -> float rounds to
//              nearest even (f16: +-inf past 65504); float -> int truncates
//              toward zero, NaN gives 0 and values past the integer's range
//              saturate to its ends; int -> float rounds once, to nearest
//              even, from the exact integer; i64 -> i32 keeps the low 32 bits;
//              -> bool is x != 0 (NaN true); bool -> any is 0 or 1
// Fused elementwise (one pass: each input read once, the output written once):
//   fused_elementwise (in_0, ..., in_{k-1}, out), k in 1..7; inputs f32, bf16,
//              f16 or bool broadcast to out (f32, bf16, f16 or bool). A program
//              of up to 15 unary/binary/ternary ops over the inputs and up to 8
//              constants: floats = the constants, ints[0] = n, ints[1..1+n) =
//              one instruction word each (opcode | a << 8 | b << 16 | c << 24 |
//              result dtype << 32; operands index inputs, then constants, then
//              earlier results). Each result is rounded to its dtype, so the
//              fused chain gives the unfused kernels' bits. The encoding, the
//              ops and FusedProgramBuilder: kiln/kernels/fused_program.h.
// Reductions along ints[0] = axis (0..4); out has the same dims with dims[axis] = 1:
//   reduce_sum reduce_mean reduce_max reduce_min reduce_prod  (in: F, out: F)
//   argmax argmin                    (in: F, out: i32); first index of the
//                                    maximum / minimum (indices are exact below 2^24)
//   argmax_last argmin_last          (in: F, out: i32); the last index instead
// Along ints[0] = axis (default 0, the innermost: numpy's last axis), same
// dims in and out:
//   softmax log_softmax              (in: F, out: F)
//   cumsum   (in: F, out: F); ints[1] = exclusive, ints[2] = reverse (0 or 1,
//            default 0): ONNX CumSum; running sums in fp32
// Normalisation over the innermost k = ints[0] dims (default 1; ONNX
// LayerNormalization / RMSNormalization with axis = rank - k), same dims:
//   layer_norm  (x: F, [gamma: F, beta: F,] out: F); gamma/beta have dims
//               {d0, ..., d(k-1)}; floats[0] = epsilon (default 1e-5); biased
//               variance
//   rms_norm    (x: F, [gamma: F,] out: F); floats[0] = epsilon (default 1e-6)
//   add_layer_norm  (x: F, residual: F, [gamma: F, beta: F,] out: F, sum: F)
//   add_rms_norm    (x: F, residual: F, [gamma: F,] out: F, sum: F)
//               sum = x + residual (residual broadcasts to x; rounded to F),
//               out = layer_norm / rms_norm of sum, same ints and floats: the
//               bits of add then the norm, x and residual read once
// Per channel, same dims:
//   batch_norm  (x: F, scale: F, bias: F, mean: F, var: F, out: F), inference
//               (ONNX BatchNormalization, training_mode 0): the parameters
//               have dims {C}, C = x.dims[ints[0]] (channel axis, default 0:
//               NHWC; NCHW is axis 2 for rank 4); floats[0] = epsilon (default
//               1e-5, >= 0); y = (x - mean) / sqrt(var + eps) * scale + bias
// Data movement, any dtype T, no conversion:
//   permute  (in, out); ints[0..rank) = perm: out.dims[i] == in.dims[perm[i]]
//   slice    (in, out); ints[0..5) = start per dim, ints[5..10) = step per dim
//            (>= 1, default 1); out.dims give the count per dim
//   concat   (in_0, ..., in_{k-1}, out) with k in 1..7; ints[0] = axis
//   gather   (data, indices: i32|i64, out); ints[0] = axis; out dims =
//            data.dims[0..axis) ++ indices.dims ++ data.dims(axis..rank);
//            negative indices count from the end; an index out of range
//            faults the launch (kOutOfBounds) before anything is read with
//            it, naming the index element, its value and the range, at the
//            index's address. Embedding: data {D, V}, indices {T...}, axis 1
//            -> out {D, T...}.
//   pad      (in, out); ONNX Pad with r = in.rank: ints[0..r) = pads before
//            each dim, ints[r..2r) = pads after it (innermost first, so ONNX's
//            pads reversed within each half); ints[2r] = mode (0 constant,
//            default; 1 reflect; 2 edge); floats[0] = the constant (default 0;
//            rounded to nearest for i32/i64, != 0 for bool). out.dims[d] = in.dims[d] + before[d]
//            + after[d]; negative pads crop. reflect does not repeat the edge
//            element (numpy 'reflect'), so its pads must be < in.dims[d].
// Pooling over NHWC tensors, dims {C, W, H, N}:
//   max_pool2d avg_pool2d  (in: F, out: F); ints = {kernel_w, kernel_h,
//            stride_w, stride_h, pad_w, pad_h[, count_include_pad[,
//            dilation_w, dilation_h[, ceil_mode[, pad_w_end, pad_h_end]]]]};
//            strides default to the kernel size, pads to 0, dilations to 1,
//            the end pads to the begin pads (pad_w, pad_h). As ONNX
//            MaxPool/AveragePool: with e = (kernel_w - 1) dilation_w + 1,
//            out.dims[1] == floor((W + pad_w + pad_w_end - e) / stride_w) + 1
//            (likewise H); ceil_mode takes the ceiling instead, then drops the
//            last window if it would start in the end padding, i.e. if
//            (out - 1) stride_w >= W + pad_w. Pads must be smaller than e;
//            more than 12 ints is refused.
//            Padded positions are skipped: avg divides by the positions used,
//            or with count_include_pad != 0 by the window's taps inside the
//            padded input (a ceil_mode window's taps past the end padding do
//            not count, as in ONNX Runtime and PyTorch).
//   global_max_pool2d global_avg_pool2d  (in: F{C, W, H, N}, out: F{C, 1, 1, N});
//            W and H >= 1
// Resizing W and H of {C, W, H, N} tensors (ONNX Resize; NCHW data is this
// view, vectorised along C):
//   resize   (in: F, out: F{C, W', H', N}); ints = {mode (0 nearest, default;
//            1 linear: bilinear), coordinate transformation (0 half_pixel,
//            default = PyTorch align_corners=False; 1 align_corners; 2
//            asymmetric; 3 pytorch_half_pixel), nearest mode (0
//            round_prefer_floor, default; 1 round_prefer_ceil; 2 floor =
//            PyTorch's nearest; 3 ceil)}; floats = {} (scale = out / in, the
//            coordinates exact rationals) or {scale_w, scale_h} (> 0; the
//            coordinates in fp32; align_corners ignores them). W, H, W', H' in
//            1..2^24. Nearest indices and linear coordinates are clamped to
//            the input (ONNX edge padding); linear reads no tap of weight 0;
//            nearest copies values exactly. No antialiasing when shrinking.
//
// Fused attention (flash style: the runtime's fused_sdpa; kernels/README.md),
// rows are dims 1..4 of s, dim 1 the query within the tile:
//   sdpa_softmax_step  (s: f32, [mask: F,] [ml_in: f32, o_in: f32,] p: F,
//            ml_out: f32[, o_out: f32]); ints = {first, has_mask, causal,
//            row0, col0}; floats[0] = scale. One key block of the online
//            softmax: x = s * scale + mask (-inf where causal and col0 + j >
//            row0 + i), m' = max(m, max x), p = exp(x - m'), l' = exp(m - m') l
//            + sum p, o' = exp(m - m') o. ml holds {m, l} per row (dim 0 = 2);
//            o is {Ev, rows}; first = 1 starts from m = -inf, l = 0 and has no
//            o. The mask broadcasts over dims 1..4, not dim 0. ml and o may be
//            the same memory in and out (each row is read before it is written).
//   sdpa_finalize  (o: f32, ml: f32, out: F): out = o / l
//
// Made on the device (out dense, written in full; flat index i counts the
// dense layout, dim 0 fastest):
//   fill          (out: T|i32); floats[0] = the value
//   arange        (out: T|i32); element i = floats[0] + floats[1] * i
//   rand_uniform  (out: T); ints[0] = seed; uniform in [floats[0], floats[1])
//   rand_normal   (out: T); ints[0] = seed; normal with mean floats[0], stddev floats[1]
//            Counter-based (SplitMix64 of seed and index): the same seed gives
//            the same values whatever the core count.
//
// Thread-safety: kernels are stateless functions; register_builtin_kernels
// may race with lookups on the same registry (the registry is thread-safe).
#pragma once

#include <string>
#include <vector>

#include "kiln/common/status.h"
#include "kiln/kernels/kernel_registry.h"

namespace kiln::kernels {

// Adds every built-in kernel; fails only on a name clash with a different kernel.
Status register_builtin_kernels(KernelRegistry& registry);

// The names register_builtin_kernels adds, sorted.
std::vector<std::string> builtin_kernel_names();

}  // namespace kiln::kernels
