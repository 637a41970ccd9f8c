// f16: IEEE 754 binary16, the vector cores' second 16-bit float. The one
// definition is kiln/common/f16.h (shared with the matrix engine); the kernel
// API names it here, as bf16.h does kiln/common/bf16.h.
#pragma once

#include "kiln/common/f16.h"

namespace kiln::kernels {

using kiln::f16;
using kiln::round_to_f16;
using kiln::to_f16;
using kiln::to_float;

}  // namespace kiln::kernels
