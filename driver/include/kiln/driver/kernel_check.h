// Checking a vector-core kernel on the simulated device against the
// developer's host reference (kiln/kernels/kernel_test.h): what
// `kiln kernel run` prints and the GoogleTest helper asserts.
//
// Thread-safety: as the Device. Errors: setup problems (bad shape, allocation,
// unknown kernel) are returned; a mismatch is a report with passed == false;
// a device fault while the kernel runs is returned as the fault's Status.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "kiln/common/status.h"
#include "kiln/driver/device.h"
#include "kiln/kernels/cost_model.h"
#include "kiln/kernels/kernel_registry.h"
#include "kiln/kernels/kernel_test.h"

namespace kiln::driver {

struct KernelCheckOptions {
  DType dtype = DType::kF32;  // passed to make_case
  uint32_t cores = 0;         // 0 = every vector core of the device
  uint32_t seed = 1;          // float inputs are uniform in [-1, 1), i32/i64 whole numbers in
                              // [-100, 100], bool 0 or 1
  // Where the kernel's definition can be found on the host, for the per-slot
  // cycle breakdown (the device reports times and bytes; the counters come
  // from rerunning the same slices on the host runner). Null: no breakdown.
  const kernels::KernelRegistry* host_registry = nullptr;
};

struct KernelCheckReport {
  std::string kernel;
  bool passed = false;
  uint64_t elements_checked = 0;
  uint64_t mismatches = 0;
  double max_abs_error = 0;
  std::string first_mismatch;  // "out[12]: got 0.51, want 0.50 (tolerance ...)"

  uint32_t cores_used = 0;      // cores that had work
  double device_ns = 0;         // simulated time from first core start to last core end
  uint64_t max_core_cycles = 0; // issue-bound cycles + stalls of the slowest core
  std::array<double, kernels::kSlotCount> slot_utilisation{};  // of the slowest core
  uint64_t bytes_moved = 0;     // loaded + stored, all cores
  double compute_bound_ns = 0;  // launch overhead + slowest core's cycles
  double memory_bound_ns = 0;   // bytes_moved / HBM bandwidth
  bool memory_bound = false;

  std::string summary() const;  // the lines `kiln kernel run` prints
};

// Builds the case for `shape`, runs the kernel on `device` (which must know
// it: built in, or loaded through DeviceOptions::kernel_paths), compares the
// outputs with `test.reference`.
Result<KernelCheckReport> check_kernel_on_device(Device& device, const kernels::KernelTestDef& test,
                                                 std::span<const int64_t> shape,
                                                 const KernelCheckOptions& options = {});

}  // namespace kiln::driver
