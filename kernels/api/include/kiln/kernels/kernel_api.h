// Everything a kernel author includes: the TPC programming model.
//
//   bf16.h            bf16 storage type, RNE conversion
//   f16.h             IEEE fp16 storage type, RNE conversion (the kernel API's one fp16 conversion)
//   vector.h          VecF32 / VecBF16 / VecF16 / VecI32 / VecI64 / VecBool registers, Mask predicate
//   tensor.h          TensorDesc (up to 5-D, element strides), views; DType (kiln/common/dtype.h)
//   kernel_args.h     KernelArgs: tensors + int/float parameters of a launch
//   memory_port.h     MemoryPort interface, HostMemoryPort
//   cost_model.h      OpClass/Slot, SliceCounters, TpcCostModel, SliceCost
//   index_space.h     IndexSpace, IndexSlice, split_index_space
//   kernel_context.h  KernelContext: slice, loads/stores, counters, faults
//   vector_ops.h      arithmetic, compare/select, broadcast, iota, reductions, conversion
//   vector_math.h     sqrt, rsqrt, reciprocal, exp, log, tanh, erf, sigmoid, pow
//   vector_int.h      i32 / i64 arithmetic, bool logic, conversions among fp32, i32, i64, bool
//   wide.h            WideF32: one vector of any float dtype widened to fp32
//   kernel_registry.h KernelDef, KernelRegistry, KILN_REGISTER_KERNEL
//   kernel_plugin.h   KILN_KERNEL_PLUGIN, load_kernel_plugin
//   host_runner.h     run_kernel_on_host, run_kernel_slice
//
// A minimal kernel (out = a + b for fp32 vectors, index space = vectors):
//
//   void add_run(KernelContext& ctx) {
//     const TensorDesc& a = ctx.tensor(0), &b = ctx.tensor(1), &out = ctx.tensor(2);
//     for (int64_t v = ctx.slice().begin[0]; v < ctx.slice().end[0]; ++v) {
//       Coord c{v * kF32Lanes, 0, 0, 0, 0};
//       ctx.store(out, c, add(ctx, ctx.load_f32(a, c), ctx.load_f32(b, c)));
//     }
//   }
//   IndexSpace add_space(const KernelArgs& args) {
//     IndexSpace s;
//     s.size[0] = (args.tensors[2].dims[0] + kF32Lanes - 1) / kF32Lanes;
//     return s;
//   }
//   KILN_REGISTER_KERNEL("my_add", add_run, add_space, nullptr, "my_add(a, b, out: f32[n])");
#pragma once

#include "kiln/kernels/bf16.h"
#include "kiln/kernels/f16.h"
#include "kiln/kernels/cost_model.h"
#include "kiln/kernels/host_runner.h"
#include "kiln/kernels/index_space.h"
#include "kiln/kernels/kernel_args.h"
#include "kiln/kernels/kernel_context.h"
#include "kiln/kernels/kernel_plugin.h"
#include "kiln/kernels/kernel_registry.h"
#include "kiln/kernels/kernel_test.h"
#include "kiln/kernels/memory_port.h"
#include "kiln/kernels/tensor.h"
#include "kiln/kernels/vector.h"
#include "kiln/kernels/vector_int.h"
#include "kiln/kernels/vector_math.h"
#include "kiln/kernels/vector_ops.h"
#include "kiln/kernels/wide.h"
