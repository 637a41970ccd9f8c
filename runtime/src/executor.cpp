// Running a graph: find or compile its recipe, then launch it — bind the
// tensors and the workspace, make each queue wait for the inputs other
// queues produce and for any reused memory's earlier users, submit, and
// record where each output becomes ready.
#include <chrono>

#include "runtime_impl.h"

namespace kiln::runtime {

Status Runtime::Impl::run_graph_locked(Graph& g) {
  // The values a live tensor still refers to must outlive the launch.
  std::vector<int> outputs;
  std::vector<std::shared_ptr<Slot>> output_slots;
  for (std::size_t v = 0; v < g.values.size(); ++v) {
    if (g.values[v].producer < 0) continue;
    if (auto slot = g.values[v].slot.lock()) {
      outputs.push_back(static_cast<int>(v));
      output_slots.push_back(std::move(slot));
    }
  }
  if (outputs.empty()) return {};  // nothing anyone can read: nothing to run
  ++stats.steps;
  const GraphSignature signature = graph_signature(g, outputs, context);
  device->charge_host(costs.cache_lookup_ns, "recipe cache lookup");
  std::shared_ptr<Recipe> recipe = cache.find(signature.key);
  if (recipe) {
    ++stats.cache_hits;
  } else {
    ++stats.cache_misses;
    stats.misses.push_back({signature.summary, cache.miss_reason(signature)});
    if (stats.misses.size() > 64) stats.misses.erase(stats.misses.begin());
    const auto start = std::chrono::steady_clock::now();
    CompileOptions options_for_compile;
    options_for_compile.allow_tf32 = options.allow_tf32;
    KILN_ASSIGN_OR_RETURN(recipe, compile(g, outputs, options_for_compile));
    stats.compile_wall_ms +=
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    ++stats.compilations;
    stats.graph_nodes_compiled += recipe->nodes;
    device->charge_host(costs.compile_per_node_ns * static_cast<double>(g.nodes.size()),
                        "compile " + signature.summary);
    cache.insert(signature, recipe);
  }
  KILN_RETURN_IF_ERROR(launch_locked(*recipe, g));
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    output_slots[i]->graph = 0;
    output_slots[i]->value = -1;
  }
  return {};
}

Status Runtime::Impl::launch_locked(const Recipe& recipe, Graph& g) {
  driver::BindingTable table;
  std::vector<std::shared_ptr<Storage>> reads, writes;
  for (std::size_t i = 0; i < recipe.inputs.size(); ++i) {
    const Value& v = g.values[static_cast<std::size_t>(recipe.inputs[i])];
    const std::shared_ptr<Storage>& s = v.external->storage;
    if (!s) return internal_error("launching a recipe: input " + std::to_string(i) + " has no memory");
    table.bind_range(kFirstTensorSlot + static_cast<uint32_t>(i), s->buffer.address, v.bytes());
    reads.push_back(s);
  }
  std::vector<std::shared_ptr<Storage>> produced;
  for (std::size_t i = 0; i < recipe.outputs.size(); ++i) {
    const Value& v = g.values[static_cast<std::size_t>(recipe.outputs[i])];
    auto s = pool->allocate(v.bytes());
    if (!s.ok()) {
      return s.status().with_context("step of " + std::to_string(g.nodes.size()) + " ops: the output of '" +
                                     std::string(op_name(g.nodes[static_cast<std::size_t>(v.producer)].op)) + "'");
    }
    table.bind_range(kFirstTensorSlot + static_cast<uint32_t>(recipe.inputs.size() + i), (*s)->buffer.address,
                     v.bytes());
    produced.push_back(*s);
    writes.push_back(*s);
  }
  std::shared_ptr<Storage> workspace;
  if (recipe.workspace_bytes > 0) {
    auto s = pool->allocate(recipe.workspace_bytes);
    if (!s.ok()) {
      return s.status().with_context("step of " + std::to_string(g.nodes.size()) + " ops: its workspace");
    }
    workspace = *s;
    table.bind_range(kWorkspaceSlot, workspace->buffer.address, recipe.workspace_bytes);
    writes.push_back(workspace);
  }
  for (uint32_t q = 0; q < kQueueCount; ++q) table.bind_sync(kTimelineSlot + q, timelines[q], bases[q]);
  device->charge_host(costs.recipe_launch_ns, "launch recipe");

  // Every queue of the launch waits for what other queues produced that it
  // reads, and for the earlier users of memory it may overwrite.
  std::array<bool, kQueueCount> used{};
  for (uint32_t q = 0; q < kQueueCount; ++q) used[q] = !recipe.programs[q].empty();
  for (uint32_t q = 0; q < kQueueCount; ++q) {
    if (!used[q]) continue;
    for (const auto& s : reads) {
      if (s->ready && s->ready_queue != q) KILN_RETURN_IF_ERROR(streams[q]->wait_event(*s->ready));
    }
    for (const auto& s : writes) {
      for (uint32_t e = 0; e < kQueueCount; ++e) {
        if (s->last_uses[e] && e != q) KILN_RETURN_IF_ERROR(streams[q]->wait_event(*s->last_uses[e]));
      }
    }
  }
  std::array<std::shared_ptr<driver::Event>, kQueueCount> done{};
  for (uint32_t q = 0; q < kQueueCount; ++q) {
    if (!used[q]) continue;
    KILN_RETURN_IF_ERROR(streams[q]->submit(recipe.programs[q], table).status());
    KILN_ASSIGN_OR_RETURN(auto event, device->create_event());
    done[q] = std::shared_ptr<driver::Event>(std::move(event));
    KILN_RETURN_IF_ERROR(streams[q]->record(*done[q]));
    bases[q] += recipe.signals[q];
  }
  for (std::size_t i = 0; i < produced.size(); ++i) {
    produced[i]->ready = done[recipe.output_queue[i]];
    produced[i]->ready_queue = recipe.output_queue[i];
    const Value& v = g.values[static_cast<std::size_t>(recipe.outputs[i])];
    if (auto slot = v.slot.lock()) slot->storage = produced[i];
  }
  for (auto* list : {&reads, &writes}) {
    for (const auto& s : *list) {
      for (uint32_t q = 0; q < kQueueCount; ++q) {
        if (done[q]) s->last_uses[q] = done[q];
      }
    }
  }
  return {};
}

}  // namespace kiln::runtime
