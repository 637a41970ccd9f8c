// Shared by the runtime benchmarks: a graph of a given op count.
#pragma once

#include "kiln/runtime/ops.h"

namespace kiln::bench {

// A chain of `ops` elementwise ops over two inputs of one shape, alternating
// kinds so common-subexpression elimination keeps every one.
inline runtime::Tensor record_chain(const runtime::Tensor& a, const runtime::Tensor& b, int ops) {
  runtime::Tensor x = a;
  for (int i = 0; i < ops; ++i) {
    switch (i % 4) {
      case 0: x = runtime::add(x, b).value(); break;
      case 1: x = runtime::mul(x, b).value(); break;
      case 2: x = runtime::relu(x).value(); break;
      default: x = runtime::sub(x, b).value(); break;
    }
  }
  return x;
}

}  // namespace kiln::bench
