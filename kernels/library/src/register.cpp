#include <algorithm>

#include "kernels.h"
#include "kiln/kernels/library.h"

namespace kiln::kernels {
namespace {

std::vector<KernelDef> builtin_defs() {
  std::vector<KernelDef> defs;
  lib::append_binary_kernels(defs);
  lib::append_unary_kernels(defs);
  lib::append_cast_kernels(defs);
  lib::append_compare_kernels(defs);
  lib::append_where_kernels(defs);
  lib::append_fused_kernels(defs);
  lib::append_reduce_kernels(defs);
  lib::append_softmax_kernels(defs);
  lib::append_norm_kernels(defs);
  lib::append_add_norm_kernels(defs);
  lib::append_batch_norm_kernels(defs);
  lib::append_cumsum_kernels(defs);
  lib::append_data_movement_kernels(defs);
  lib::append_gather_kernels(defs);
  lib::append_pool_kernels(defs);
  lib::append_pad_kernels(defs);
  lib::append_resize_kernels(defs);
  lib::append_generate_kernels(defs);
  lib::append_sdpa_kernels(defs);
  return defs;
}

}  // namespace

Status register_builtin_kernels(KernelRegistry& registry) {
  for (KernelDef& def : builtin_defs()) {
    const std::string name = def.name;
    const Status s = registry.add(std::move(def));
    if (!s.ok()) return s.with_context("registering built-in kernel " + name);
  }
  return Status::ok_status();
}

std::vector<std::string> builtin_kernel_names() {
  std::vector<std::string> names;
  for (const KernelDef& def : builtin_defs()) names.push_back(def.name);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace kiln::kernels
