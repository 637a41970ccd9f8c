// Running a recipe's constant section (compiler.h, constant_fold.h): once
// per recipe and runtime, at the recipe's first launch, on the device like
// any launch, into a buffer the runtime keeps until the recipe leaves its
// cache.
#include <algorithm>

#include "runtime_impl.h"

namespace kiln::runtime {

bool Runtime::Impl::section_faulted(ConstantBuffer& c) {
  for (uint32_t q = 0; q < kQueueCount; ++q) {
    if (c.section[q] == 0) continue;
    // Not retired yet: asked again at the next launch. Retired too long ago
    // to be on record: the launches that read it saw its fault (step_fault).
    Result<driver::SubmissionInfo> info = streams[q]->info(c.section[q]);
    if (info.ok() && info->fault) return true;
    if (info.ok() || info.status().code() == ErrorCode::kNotFound) c.section[q] = 0;  // done with
  }
  return false;
}

Result<std::shared_ptr<Storage>> Runtime::Impl::constants_for(
    const std::shared_ptr<Recipe>& recipe, std::array<std::shared_ptr<driver::Event>, kQueueCount>& written) {
  written = {};
  if (auto it = constants.find(recipe); it != constants.end()) {
    if (!section_faulted(it->second)) return it->second.storage;
    constants.erase(it);  // its values were never written: run it again
  }
  // Recipes that went without an eviction (one the cache had no room for).
  std::erase_if(constants, [](const auto& entry) { return entry.first.expired(); });

  const Recipe& r = *recipe;
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<Storage> buffer, pool->allocate(r.constant_bytes));
  std::shared_ptr<Storage> workspace;
  driver::BindingTable table;
  table.bind_range(kConstantSlot, buffer->buffer.address, r.constant_bytes);
  if (r.constant_workspace_bytes > 0) {
    auto s = pool->allocate(r.constant_workspace_bytes);
    if (!s.ok()) return s.status().with_context("the constant section's workspace");
    workspace = *s;
    table.bind_range(kWorkspaceSlot, workspace->buffer.address, r.constant_workspace_bytes);
  }
  for (uint32_t q = 0; q < kQueueCount; ++q) table.bind_sync(kTimelineSlot + q, timelines[q], bases[q]);
  device->charge_host(costs.recipe_launch_ns, "launch constant section");

  ConstantBuffer entry{buffer, r.constant_bytes, {}};
  for (uint32_t q = 0; q < kQueueCount; ++q) {
    if (r.constant_programs[q].empty()) continue;
    // Reused blocks: after their earlier users on other queues.
    for (const auto* s : {&buffer, &workspace}) {
      if (!*s) continue;
      for (uint32_t e = 0; e < kQueueCount; ++e) {
        if ((*s)->last_uses[e] && e != q) KILN_RETURN_IF_ERROR(streams[q]->wait_event(*(*s)->last_uses[e]));
      }
    }
  }
  KILN_RETURN_IF_ERROR(
      submit_parts(r.constant_programs, r.constant_signals, table, recipe, true, written, &entry.section));
  for (const auto* s : {&buffer, &workspace}) {
    if (!*s) continue;
    for (uint32_t q = 0; q < kQueueCount; ++q) {
      if (written[q]) (*s)->last_uses[q] = written[q];
    }
  }
  ++stats.constant_sections_run;
  stats.constant_bytes_folded += r.constant_bytes;
  constants.emplace(recipe, std::move(entry));
  return buffer;
}

void Runtime::Impl::drop_recipes(const std::vector<std::shared_ptr<Recipe>>& evicted) {
  for (const auto& recipe : evicted) constants.erase(std::weak_ptr<const Recipe>(recipe));
}

}  // namespace kiln::runtime
