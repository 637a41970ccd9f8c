// The fp32 lane math of every elementwise operation, in one place: the
// single-op kernels (elementwise_unary.cpp, elementwise_binary.cpp) and
// fused_elementwise call the same code, so a fused chain computes the bits
// the unfused kernels compute. Internal to kiln_kernels.
#pragma once

#include "kiln/kernels/fused_program.h"
#include "kiln/kernels/kernel_api.h"

namespace kiln::kernels::lib {

// op applied to one fp32 register; b and c are ignored by ops with fewer
// operands. Comparisons and logical ops give 0.0 or 1.0 lanes (operands of
// the logical ops count as true when != 0). Counts what it issues.
VecF32 apply_float_op(KernelContext& ctx, FusedOp op, const VecF32& a, const VecF32& b, const VecF32& c);

// The Cmp of a comparison opcode (eq ne lt le gt ge).
Cmp compare_of(FusedOp op);

}  // namespace kiln::kernels::lib
