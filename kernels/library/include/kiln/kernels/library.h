// The built-in kernel library: TPC kernels written only against the public
// kernel API (kiln/kernels/kernel_api.h).
//
// register_builtin_kernels(registry) adds every kernel below; it is the only
// way in (a static library's self-registration would be dropped by the
// linker). Calling it twice on one registry is a no-op the second time.
//
// Conventions (see tensor.h): dim 0 is innermost; numpy shape [N, C, H, W] is
// dims {W, H, C, N}. "T" is f32 or bf16 and every T in one launch is the same.
// bf16 data is computed in fp32 and rounded to nearest even when stored (the
// device numerics). Outputs are written in full; inputs are never written.
// Every kernel validates its arguments at launch and names what is wrong.
//
// Elementwise, numpy broadcasting of inputs to `out` (each input dim equals
// out's or is 1):
//   add sub mul div max min pow      (a: T, b: T, out: T)
//   where                            (cond: T, a: T, b: T, out: T)   out = cond != 0 ? a : b
// Unary, same dims in and out:
//   neg abs exp log sqrt rsqrt reciprocal relu sigmoid tanh silu
//   gelu_erf   0.5 x (1 + erf(x / sqrt 2))
//   gelu_tanh  0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
//   leaky_relu x > 0 ? x : slope x;  floats[0] = slope (default 0.01)
//                                    (in: T, out: T)
//   cast                             (in: f32|bf16, out: f32|bf16), same dims
// Reductions along ints[0] = axis (0..4); out has the same dims with dims[axis] = 1:
//   reduce_sum reduce_mean reduce_max reduce_min    (in: T, out: T)
//   argmax                           (in: T, out: i32); first index of the maximum
//                                    (indices are exact below 2^24)
// Along dim 0 (the innermost, numpy's last axis), same dims in and out:
//   softmax log_softmax              (in: T, out: T)
//   layer_norm  (x: T, [gamma: T, beta: T,] out: T); gamma/beta have dims {d0};
//               floats[0] = epsilon (default 1e-5); biased variance
//   rms_norm    (x: T, [gamma: T,] out: T); floats[0] = epsilon (default 1e-6)
// Data movement (T may also be i32 here):
//   permute  (in, out); ints[0..rank) = perm: out.dims[i] == in.dims[perm[i]]
//   slice    (in, out); ints[0..5) = start per dim, ints[5..10) = step per dim
//            (>= 1, default 1); out.dims give the count per dim
//   concat   (in_0, ..., in_{k-1}, out) with k in 1..7; ints[0] = axis
//   gather   (data, indices: i32, out); ints[0] = axis; out dims =
//            data.dims[0..axis) ++ indices.dims ++ data.dims(axis..rank);
//            negative indices count from the end; an index out of range
//            faults the launch (kOutOfBounds). Embedding: data {D, V},
//            indices {T...}, axis 1 -> out {D, T...}.
// Pooling over NHWC tensors, dims {C, W, H, N}:
//   max_pool2d avg_pool2d  (in: T, out: T); ints = {kernel_w, kernel_h,
//            stride_w, stride_h, pad_w, pad_h[, count_include_pad]};
//            strides default to the kernel size, pads to 0; out.dims[1] ==
//            (W + 2 pad_w - kernel_w) / stride_w + 1 (likewise H); padded
//            positions are skipped (avg divides by the positions used unless
//            count_include_pad != 0).
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
