// bf16 for kernels: the device's 16-bit float, defined once in
// kiln/common/bf16.h and named here in the kernel API's namespace.
#pragma once

#include "kiln/common/bf16.h"

namespace kiln::kernels {

using kiln::bf16;
using kiln::round_to_bf16;
using kiln::to_bf16;
using kiln::to_float;

}  // namespace kiln::kernels
