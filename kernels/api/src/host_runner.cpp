#include "kiln/kernels/host_runner.h"

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <exception>
#include <string>

namespace kiln::kernels {

Status KernelRunResult::status() const {
  if (!fault) return Status::ok_status();
  size_t slice = 0;
  for (size_t i = 0; i < slices.size(); ++i) {
    if (slices[i].fault) {
      slice = i;
      break;
    }
  }
  return device_fault("kernel \"" + kernel + "\" slice " + std::to_string(slice) + ": " + fault->describe());
}

namespace {

// What a kernel function threw, for a message.
std::string what_was_thrown(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "an exception that is not a std::exception";
  }
}

Status validate_kernel_launch_unguarded(const KernelDef& kernel, const KernelArgs& args, IndexSpace* space) {
  const std::string where = "kernel \"" + kernel.name + "\"";
  if (args.overflowed) {
    return invalid_argument(where + ": too many arguments (at most " + std::to_string(kMaxTensorArgs) +
                            " tensors, " + std::to_string(kMaxIntArgs) + " ints, " +
                            std::to_string(kMaxFloatArgs) + " floats)");
  }
  for (int i = 0; i < args.num_tensors; ++i) {
    const Status s = validate_tensor(args.tensors[static_cast<size_t>(i)], "tensor argument " + std::to_string(i));
    if (!s.ok()) return s.with_context(where);
  }
  if (kernel.validate != nullptr) {
    const Status s = kernel.validate(args);
    if (!s.ok()) return s.with_context(where);
  }
  const IndexSpace computed = kernel.index_space(args);
  const Status s = validate_index_space(computed);
  if (!s.ok()) return s.with_context(where);
  if (space != nullptr) *space = computed;
  return Status::ok_status();
}

}  // namespace

Status validate_kernel_launch(const KernelDef& kernel, const KernelArgs& args, IndexSpace* space) {
  try {
    return validate_kernel_launch_unguarded(kernel, args, space);
  } catch (...) {
    return internal_error("kernel '" + kernel.name + "' threw: " + what_was_thrown(std::current_exception()));
  }
}

SliceResult run_kernel_slice(const KernelDef& kernel, const KernelArgs& args, const IndexSlice& slice,
                             MemoryPort& memory, const TpcCostModel& model) {
  SliceResult r;
  r.slice = slice;
  if (!slice.empty()) {
    KernelContext ctx(memory, args, slice);
    try {
      kernel.run(ctx);
    } catch (...) {
      // The first fault stands: a kernel that faulted and then threw keeps the fault.
      ctx.raise_fault(KernelFaultCause::kException, 0, "threw: " + what_was_thrown(std::current_exception()));
    }
    r.counters = ctx.counters();
    r.fault = ctx.fault();
  }
  r.cost = r.counters.cost(model);
  return r;
}

Result<KernelRunResult> run_kernel_on_host(const KernelDef& kernel, const KernelArgs& args, MemoryPort& memory,
                                           int cores, const TpcCostModel& model) {
  if (cores < 1) {
    return invalid_argument("kernel \"" + kernel.name + "\": cores = " + std::to_string(cores) + " must be >= 1");
  }
  KernelRunResult result;
  KILN_RETURN_IF_ERROR(validate_kernel_launch(kernel, args, &result.space));
  result.kernel = kernel.name;
  result.kernel_id = kernel.id;
  const std::vector<IndexSlice> slices = split_index_space(result.space, cores);
  result.slices.resize(slices.size());
  tbb::parallel_for(tbb::blocked_range<size_t>(0, slices.size(), 1), [&](const tbb::blocked_range<size_t>& range) {
    for (size_t i = range.begin(); i != range.end(); ++i) {
      result.slices[i] = run_kernel_slice(kernel, args, slices[i], memory, model);
    }
  });
  for (const SliceResult& s : result.slices) {
    result.total += s.counters;
    if (s.cost.cycles > result.max_slice_cycles) result.max_slice_cycles = s.cost.cycles;
    if (!result.fault && s.fault) result.fault = s.fault;
  }
  return result;
}

Result<KernelRunResult> run_kernel_on_host(const KernelRegistry& registry, std::string_view name,
                                           const KernelArgs& args, MemoryPort& memory, int cores,
                                           const TpcCostModel& model) {
  KILN_ASSIGN_OR_RETURN(const KernelDef* def, registry.lookup(name));
  return run_kernel_on_host(*def, args, memory, cores, model);
}

Result<KernelRunResult> run_kernel_on_host(const KernelRegistry& registry, uint64_t id, const KernelArgs& args,
                                           MemoryPort& memory, int cores, const TpcCostModel& model) {
  KILN_ASSIGN_OR_RETURN(const KernelDef* def, registry.lookup(id));
  return run_kernel_on_host(*def, args, memory, cores, model);
}

}  // namespace kiln::kernels
