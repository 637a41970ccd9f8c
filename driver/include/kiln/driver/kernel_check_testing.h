// GoogleTest helper for kernel developers: assert that a kernel matches its
// reference on the simulated TPC (the same check as `kiln kernel run`).
//
//   EXPECT_TRUE(kiln::driver::KernelMatchesReference(*device, test, {300, 64}));
//
// Header-only; include it from tests that link GoogleTest and kiln_driver
// (outside Kiln: Kiln::kernel_testing from find_package(Kiln), which is
// Kiln::driver + GTest::gtest; see examples/custom_kernel/).
#pragma once

#include <gtest/gtest.h>

#include <initializer_list>
#include <vector>

#include "kiln/driver/kernel_check.h"

namespace kiln::driver {

inline ::testing::AssertionResult KernelMatchesReference(Device& device, const kernels::KernelTestDef& test,
                                                         std::initializer_list<int64_t> shape,
                                                         const KernelCheckOptions& options = {}) {
  const std::vector<int64_t> dims(shape);
  auto report = check_kernel_on_device(device, test, dims, options);
  if (!report.ok()) return ::testing::AssertionFailure() << report.status().to_string();
  if (!report->passed) return ::testing::AssertionFailure() << report->summary();
  return ::testing::AssertionSuccess() << report->summary();
}

}  // namespace kiln::driver
