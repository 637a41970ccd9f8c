// The built-in kernels, registered once per test binary and shared by its
// tests (never destroyed: tests may run in any order, up to exit).
#pragma once

#include <gtest/gtest.h>

#include "kiln/kernels/kernel_registry.h"
#include "kiln/kernels/library.h"

namespace kiln::kernels::testing {

inline const KernelRegistry& builtin_registry() {
  static const KernelRegistry* r = [] {
    auto* reg = new KernelRegistry();
    EXPECT_TRUE(register_builtin_kernels(*reg).ok());
    return reg;
  }();
  return *r;
}

}  // namespace kiln::kernels::testing
