// Integer helpers shared by the simulator's cost models and host kernels.
#pragma once

#include <cstdint>

namespace kiln::sim {

// a / b rounded up (b > 0).
constexpr uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

}  // namespace kiln::sim
