// Running a kernel launch on the host: the entry point the simulator's TPC
// engine and `kiln kernel run` call.
//
// run_kernel_on_host validates the arguments (the kernel's own validation plus
// every tensor descriptor), asks the kernel for its index space, splits it into
// `cores` slices (split_index_space), runs the slices in parallel on host
// threads (tbb::parallel_for; one KernelContext each) and gathers per-slice
// counters and costs in slice order. Values and counters are identical
// whatever the host thread count: slices share no state, each writes its own
// outputs, and the aggregation order is fixed.
//
// Errors known before anything runs (unknown kernel, invalid arguments,
// cores < 1) come back as a Status. Faults found while running (a MemoryPort
// refusal, a bad index) are data: the Result is OK and `fault` holds the first
// fault in slice order; KernelRunResult::status() turns it into kDeviceFault.
// A faulting slice stops; the other slices run to completion.
//
// Kernels are user code (often a plugin), so whatever they throw is caught
// here and never propagates: a throw from `validate` or `index_space` makes
// validate_kernel_launch return kInternal "kernel 'x' threw: <what>"; a throw
// from `run` ends that slice with a KernelFault of cause kException and detail
// "threw: <what>".
//
// Threading: the call blocks until all slices finish. The MemoryPort is called
// from several threads at once (see memory_port.h). The registry may be shared.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/common/status.h"
#include "kiln/kernels/cost_model.h"
#include "kiln/kernels/index_space.h"
#include "kiln/kernels/kernel_args.h"
#include "kiln/kernels/kernel_context.h"
#include "kiln/kernels/kernel_registry.h"
#include "kiln/kernels/memory_port.h"

namespace kiln::kernels {

struct SliceResult {
  IndexSlice slice;
  SliceCounters counters;
  SliceCost cost;  // compute side only: issue bound + stalls, and bytes
  std::optional<KernelFault> fault;
};

struct KernelRunResult {
  std::string kernel;
  uint64_t kernel_id = 0;
  IndexSpace space;
  std::vector<SliceResult> slices;  // one per core, in core order
  SliceCounters total;              // sum over slices
  uint64_t max_slice_cycles = 0;    // the slowest core's SliceCost::cycles
  std::optional<KernelFault> fault; // first fault in slice order

  // OK, or kDeviceFault naming the kernel, the slice and the fault.
  Status status() const;
};

// Validation a launch needs before any slice runs: kernel validation, every
// tensor descriptor, argument overflow and the index space, which is stored
// in `*space` when it is valid (so the kernel's index_space runs once).
Status validate_kernel_launch(const KernelDef& kernel, const KernelArgs& args, IndexSpace* space = nullptr);

// One slice on the calling thread, without validation (the caller validated
// the launch once). The simulator can use this to run each core as its own job.
// The kernel may use deep stacks: call it from a thread with a full-size
// stack (never a coroutine).
SliceResult run_kernel_slice(const KernelDef& kernel, const KernelArgs& args, const IndexSlice& slice,
                             MemoryPort& memory, const TpcCostModel& model);

Result<KernelRunResult> run_kernel_on_host(const KernelDef& kernel, const KernelArgs& args,
                                           MemoryPort& memory, int cores,
                                           const TpcCostModel& model = TpcCostModel());
Result<KernelRunResult> run_kernel_on_host(const KernelRegistry& registry, std::string_view name,
                                           const KernelArgs& args, MemoryPort& memory, int cores,
                                           const TpcCostModel& model = TpcCostModel());
Result<KernelRunResult> run_kernel_on_host(const KernelRegistry& registry, uint64_t id,
                                           const KernelArgs& args, MemoryPort& memory, int cores,
                                           const TpcCostModel& model = TpcCostModel());

}  // namespace kiln::kernels
