// Running a graph: find or compile its recipe, then launch it — bind the
// tensors and the workspace, make each queue wait for the inputs other
// queues produce and for any reused memory's earlier users, submit, and
// record where each output becomes ready.
#include <algorithm>
#include <chrono>
#include <map>
#include <string>

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
  // Bucketing: the step as it runs, padded to a bucket (batch, then sequence).
  Graph padded;
  bool bucketed = false, grew = false;
  if (!options.batch_buckets.empty()) {
    std::vector<int> all(g.nodes.size());
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int>(i);
    std::string why;
    const std::optional<BucketPlan> plan = plan_buckets(g, all, options.batch_buckets, &why);
    if (!plan) {
      if (why != "no input is marked dynamic") stats.last_bucketing = why;
    } else {
      padded = g;
      bucketed = true;
      if (plan->padded != plan->batch) {
        apply_buckets(padded, *plan);
        grew = true;
      }
    }
  }
  if (!options.sequence_buckets.empty()) {
    const Graph& from = bucketed ? padded : g;
    std::string why;
    const std::optional<SequencePlan> plan = plan_sequence_buckets(from, outputs, options.sequence_buckets, &why);
    if (!plan) {
      if (why != "no input is marked dynamic") stats.last_bucketing = why;
    } else {
      KILN_ASSIGN_OR_RETURN(std::shared_ptr<Slot> mask, sequence_mask(plan->length, plan->padded));
      if (!bucketed) padded = g;
      bucketed = true;
      // Masked even at a bucket's own length, so that every length in it
      // records the same graph.
      apply_sequence_buckets(padded, *plan, mask);
      grew = grew || plan->padded != plan->length;
    }
  }
  if (!bucketed) return run_graph_as_locked(g, outputs, output_slots, nullptr);
  // Hashed from its padded form, so every size in a bucket finds one recipe.
  padded.rehash();
  if (grew) ++stats.bucketed_steps;
  PadPlan plan;
  plan.real.resize(padded.values.size());
  for (std::size_t v = 0; v < g.values.size(); ++v) {
    if (g.values[v].shape != padded.values[v].shape) plan.real[v] = g.values[v].shape;
  }
  return run_graph_as_locked(padded, outputs, output_slots, &plan);
}

Status Runtime::Impl::run_graph_as_locked(Graph& g, const std::vector<int>& outputs,
                                          const std::vector<std::shared_ptr<Slot>>& output_slots,
                                          const PadPlan* plan) {
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<Recipe> recipe, recipe_for_locked(g, outputs));
  KILN_RETURN_IF_ERROR(launch_locked(recipe, g, plan));
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    output_slots[i]->graph = 0;
    output_slots[i]->value = -1;
  }
  return {};
}

Result<std::shared_ptr<Recipe>> Runtime::Impl::recipe_for_locked(Graph& g, const std::vector<int>& outputs) {
  const GraphHash key = cache_key(g, outputs, context_hash);
  device->charge_host(costs.cache_lookup_ns, "recipe cache lookup");
  std::shared_ptr<Recipe> recipe = cache.find(key);
  if (recipe) {
    ++stats.cache_hits;
  } else if ((recipe = find_on_disk_locked(key, g, outputs))) {
    ++stats.disk_hits;
  } else {
    const GraphSignature signature = graph_signature(g, outputs, context);
    ++stats.cache_misses;
    stats.misses.push_back({signature.summary, cache.miss_reason(signature)});
    if (stats.misses.size() > 64) stats.misses.erase(stats.misses.begin());
    const auto start = std::chrono::steady_clock::now();
    CompileOptions options_for_compile;
    options_for_compile.allow_tf32 = options.allow_tf32;
    options_for_compile.disabled_passes = disabled_passes;
    options_for_compile.rates = rates;
    options_for_compile.slice_rows = options.slice_rows;
    // Half the SRAM: fused attention's scratch, with room for whatever else
    // the program keeps there.
    options_for_compile.sram_budget = device->properties().sram_bytes / 4 * 3;
    KILN_ASSIGN_OR_RETURN(recipe, compile(g, outputs, options_for_compile));
    stats.compile_wall_ms +=
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    ++stats.compilations;
    stats.last_compile_log = recipe->log;
    stats.graph_nodes_compiled += recipe->nodes + recipe->constant_nodes;
    device->charge_host(costs.compile_per_node_ns * static_cast<double>(g.nodes.size()),
                        "compile " + signature.summary);
    drop_recipes(cache.insert(key, signature, recipe));
    store_on_disk_locked(signature, *recipe);
  }
  stats.last_workspace_bytes = recipe->workspace_bytes;
  stats.last_step_jobs = recipe->jobs;
  stats.last_intermediate_bytes = recipe->intermediate_bytes;
  stats.peak_workspace_bytes = std::max(stats.peak_workspace_bytes, recipe->workspace_bytes);
  return recipe;
}

namespace {

// A recipe compiled under other node labels (an eager op's: its key leaves
// them out) names this launch's ops: per queue, its program's labels with
// each compiled node label swapped for the launching graph's; null where
// nothing changes.
QueueLabels launch_labels(const Recipe& recipe, const Graph& g) {
  QueueLabels out{};
  if (recipe.source_labels.size() != g.nodes.size()) return out;
  std::map<std::string, std::string> renamed;
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    if (recipe.source_labels[i] != g.nodes[i].label) renamed[recipe.source_labels[i]] = g.nodes[i].label;
  }
  if (renamed.empty()) return out;
  for (uint32_t q = 0; q < kQueueCount; ++q) {
    if (recipe.programs[q].labels().empty()) continue;
    auto labels = std::make_shared<traces::OpLabels>(recipe.programs[q].labels());
    bool changed = false;
    for (auto& ops : labels->labels) {
      for (std::string& op : ops) {
        if (auto it = renamed.find(op); it != renamed.end()) {
          op = it->second;
          changed = true;
        }
      }
    }
    if (changed) out[q] = std::move(labels);
  }
  return out;
}

}  // namespace

Status Runtime::Impl::launch_locked(const std::shared_ptr<Recipe>& shared_recipe, Graph& g, const PadPlan* plan,
                                    const FixedMemory* fixed) {
  const Recipe& recipe = *shared_recipe;
  // First, so that its submissions advance the timelines' bases before this
  // launch binds them.
  std::shared_ptr<Storage> constants_read;
  std::array<std::shared_ptr<driver::Event>, kQueueCount> constants_written{};
  if (recipe.has_constants()) {
    KILN_ASSIGN_OR_RETURN(constants_read, constants_for(shared_recipe, constants_written));
  }
  driver::BindingTable table;
  std::vector<std::shared_ptr<Storage>> reads, writes;
  if (constants_read) {
    table.bind_range(kConstantSlot, constants_read->buffer.address, recipe.constant_bytes);
    reads.push_back(constants_read);
  }
  for (std::size_t i = 0; i < recipe.inputs.size(); ++i) {
    if (recipe.inputs[i] < 0) {
      KILN_ASSIGN_OR_RETURN(auto pack, packed_input(recipe.packed_from[i], g));
      table.bind_range(kFirstTensorSlot + static_cast<uint32_t>(i), pack.first->buffer.address, pack.second);
      reads.push_back(std::move(pack.first));
      continue;
    }
    const Value& v = g.values[static_cast<std::size_t>(recipe.inputs[i])];
    std::shared_ptr<Storage> s = v.external->storage;
    if (!s) return internal_error("launching a recipe: input " + std::to_string(i) + " has no memory");
    if (plan != nullptr && plan->padded(recipe.inputs[i])) {
      KILN_ASSIGN_OR_RETURN(s, stage_padded(s, v, plan->real[static_cast<std::size_t>(recipe.inputs[i])]));
    }
    table.bind_range(kFirstTensorSlot + static_cast<uint32_t>(i), s->buffer.address, v.bytes());
    reads.push_back(std::move(s));
  }
  std::vector<std::shared_ptr<Storage>> produced;
  for (std::size_t i = 0; i < recipe.outputs.size(); ++i) {
    const Value& v = g.values[static_cast<std::size_t>(recipe.outputs[i])];
    auto s = fixed != nullptr ? Result<std::shared_ptr<Storage>>(fixed->outputs[i]) : pool->allocate(v.bytes());
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
    auto s = fixed != nullptr && fixed->workspace ? Result<std::shared_ptr<Storage>>(fixed->workspace)
                                                  : pool->allocate(recipe.workspace_bytes);
    if (!s.ok()) {
      return s.status().with_context("step of " + std::to_string(g.nodes.size()) + " ops: its workspace");
    }
    workspace = *s;
    table.bind_range(kWorkspaceSlot, workspace->buffer.address, recipe.workspace_bytes);
    writes.push_back(workspace);
  }
  if (recipe.sram_bytes > 0) {
    auto s = sram_pool->allocate(recipe.sram_bytes);
    if (!s.ok()) {
      return s.status().with_context("step of " + std::to_string(g.nodes.size()) + " ops: its SRAM scratch");
    }
    table.bind_range(kSramSlot, (*s)->buffer.address, recipe.sram_bytes);
    writes.push_back(*s);
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
    // The constant section just submitted (launches after the first follow
    // this one on every queue they use).
    for (uint32_t e = 0; e < kQueueCount; ++e) {
      if (constants_written[e] && e != q) KILN_RETURN_IF_ERROR(streams[q]->wait_event(*constants_written[e]));
    }
    for (const auto& s : writes) {
      for (uint32_t e = 0; e < kQueueCount; ++e) {
        if (s->last_uses[e] && e != q) KILN_RETURN_IF_ERROR(streams[q]->wait_event(*s->last_uses[e]));
      }
    }
  }
  std::array<std::shared_ptr<driver::Event>, kQueueCount> done{};
  const QueueLabels labels = launch_labels(recipe, g);
  KILN_RETURN_IF_ERROR(submit_parts(recipe.programs, recipe.signals, table, shared_recipe, false, done, nullptr, &labels));
  for (std::size_t i = 0; i < produced.size(); ++i) {
    produced[i]->ready = done[recipe.output_queue[i]];
    produced[i]->step = stats.steps;
    produced[i]->ready_queue = recipe.output_queue[i];
  }
  for (auto* list : {&reads, &writes}) {
    for (const auto& s : *list) {
      for (uint32_t q = 0; q < kQueueCount; ++q) {
        if (done[q]) s->last_uses[q] = done[q];
      }
    }
  }
  for (std::size_t i = 0; i < produced.size(); ++i) {
    const Value& v = g.values[static_cast<std::size_t>(recipe.outputs[i])];
    std::shared_ptr<Storage> s = produced[i];
    if (plan != nullptr && plan->padded(recipe.outputs[i])) {
      const Shape& real = plan->real[static_cast<std::size_t>(recipe.outputs[i])];
      if (padding_runs(real, v.shape) > 1) {
        KILN_ASSIGN_OR_RETURN(s, unpad(s, v, real));
      }
    }
    if (auto slot = v.slot.lock()) slot->storage = std::move(s);
  }
  return {};
}

Status Runtime::Impl::submit_parts(const std::array<driver::CommandBuffer, kQueueCount>& programs,
                                   const std::array<uint32_t, kQueueCount>& signals,
                                   const driver::BindingTable& table, const std::shared_ptr<const Recipe>& recipe,
                                   bool constant_section, std::array<std::shared_ptr<driver::Event>, kQueueCount>& done,
                                   std::array<uint64_t, kQueueCount>* sequences, const QueueLabels* labels) {
  std::array<driver::PreparedSubmission, kQueueCount> parts;
  std::array<std::shared_ptr<driver::Event>, kQueueCount> events{};
  for (uint32_t q = 0; q < kQueueCount; ++q) {
    if (programs[q].empty()) continue;
    driver::SubmitOptions submit_options;
    if (labels) submit_options.labels = (*labels)[q];
    KILN_ASSIGN_OR_RETURN(parts[q], streams[q]->prepare(programs[q], table, submit_options));
    KILN_ASSIGN_OR_RETURN(auto event, device->create_event());
    events[q] = std::shared_ptr<driver::Event>(std::move(event));
  }
  // From here a submission fails only if the device needs a reset after a
  // fatal fault, when nothing more runs on it anyway.
  for (uint32_t q = 0; q < kQueueCount; ++q) {
    if (programs[q].empty()) continue;
    KILN_ASSIGN_OR_RETURN(const uint64_t sequence, streams[q]->submit(std::move(parts[q])));
    launched.push_back({q, sequence, recipe, stats.steps, constant_section, labels ? (*labels)[q] : nullptr});
    if (launched.size() > kLaunchesKept) launched.pop_front();
    if (sequences) (*sequences)[q] = sequence;
    done[q] = events[q];
    KILN_RETURN_IF_ERROR(streams[q]->record(*done[q]));
    bases[q] += signals[q];
  }
  return {};
}

Status Runtime::Impl::name_fault(Status status) {
  if (status.ok() || status.code() != ErrorCode::kDeviceFault) return status;
  for (const Launch& l : launched) {
    Result<driver::SubmissionInfo> info = streams[l.queue]->info(l.sequence);
    if (!info.ok() || !info->fault || status.message().find(info->fault->describe()) == std::string::npos) continue;
    static constexpr const char* kQueueNames[kQueueCount] = {"MME", "TPC", "DMA"};
    std::string where = l.constant_section ? "the constant section of step " : "step ";
    where += std::to_string(l.step);
    where += ", ";
    where += kQueueNames[l.queue];
    where += " queue";
    const driver::CommandBuffer& program =
        l.constant_section ? l.recipe->constant_programs[l.queue] : l.recipe->programs[l.queue];
    if (const auto* ops = (l.labels ? *l.labels : program.labels()).at(info->fault->packet_offset)) {
      std::string names;
      for (const std::string& op : *ops) names += (names.empty() ? "" : "+") + op;
      where = "op '" + names + "' of " + where;
    }
    return status.with_context(where);
  }
  return status;
}

Status Runtime::Impl::step_fault(uint64_t step) {
  for (const Launch& l : launched) {
    if (l.step != step) continue;
    Result<driver::SubmissionInfo> info = streams[l.queue]->info(l.sequence);
    if (info.ok() && info->fault) return name_fault(info->fault->to_status());
  }
  return {};
}

Result<std::pair<std::shared_ptr<Storage>, uint64_t>> Runtime::Impl::packed_input(const std::vector<int>& sources,
                                                                                 const Graph& g) {
  std::vector<std::shared_ptr<Storage>> parts;
  std::vector<const Storage*> key;
  uint64_t bytes = 0;
  for (int v : sources) {
    const Value& val = g.values[static_cast<std::size_t>(v)];
    if (!val.external || !val.external->storage) {
      return internal_error("launching a recipe: a packed input's part " + std::to_string(v) + " has no memory");
    }
    parts.push_back(val.external->storage);
    key.push_back(parts.back().get());
    bytes += val.bytes();
  }
  // A tensor's memory is never written after it is produced, so packed
  // copies stay valid while every part's memory lives.
  if (auto it = packed.find(key); it != packed.end()) {
    bool live = true;
    for (std::size_t i = 0; i < parts.size(); ++i) live = live && it->second.parts[i].lock() == parts[i];
    if (live) return std::pair{it->second.packed, bytes};
  }
  std::erase_if(packed, [](const auto& entry) {
    return std::any_of(entry.second.parts.begin(), entry.second.parts.end(),
                       [](const std::weak_ptr<Storage>& p) { return p.expired(); });
  });
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<Storage> out, pool->allocate(bytes));
  driver::Stream& dma = *streams[kDmaQueue];
  for (uint32_t q = 0; q < kQueueCount; ++q) {
    if (out->last_uses[q] && q != kDmaQueue) KILN_RETURN_IF_ERROR(dma.wait_event(*out->last_uses[q]));
  }
  uint64_t at = 0;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (parts[i]->ready && parts[i]->ready_queue != kDmaQueue) KILN_RETURN_IF_ERROR(dma.wait_event(*parts[i]->ready));
    const uint64_t part_bytes = g.values[static_cast<std::size_t>(sources[i])].bytes();
    KILN_RETURN_IF_ERROR(dma.copy(out->buffer.address + at, parts[i]->buffer.address, part_bytes).status());
    at += part_bytes;
  }
  KILN_ASSIGN_OR_RETURN(auto event, device->create_event());
  std::shared_ptr<driver::Event> done(std::move(event));
  KILN_RETURN_IF_ERROR(dma.record(*done));
  out->ready = done;
  out->ready_queue = kDmaQueue;
  for (auto& part : parts) part->last_uses[kDmaQueue] = done;
  ++stats.packed_inputs_built;
  PackedEntry entry{{}, out};
  for (const auto& part : parts) entry.parts.push_back(part);
  packed[key] = std::move(entry);
  return std::pair{out, bytes};
}

namespace {

// The contiguous runs of a tensor of `real` shape in its `padded` layout:
// (element offset in the real tensor, in the padded one), each `run` long.
std::vector<std::pair<int64_t, int64_t>> padding_runs_of(const Shape& real, const Shape& padded, int64_t* run) {
  std::size_t last = 0;
  for (std::size_t d = 0; d < real.size(); ++d) {
    if (real[d] != padded[d]) last = d;
  }
  const Shape rs = contiguous_strides(real), ps = contiguous_strides(padded);
  *run = real.empty() ? 1 : real[last] * rs[last];
  std::vector<std::pair<int64_t, int64_t>> out;
  const int64_t count = padding_runs(real, padded);
  for (int64_t r = 0; r < count; ++r) {
    int64_t rest = r, from = 0, to = 0;
    for (std::size_t d = last; d-- > 0;) {
      const int64_t digit = rest % real[d];
      rest /= real[d];
      from += digit * rs[d];
      to += digit * ps[d];
    }
    out.push_back({from, to});
  }
  return out;
}

}  // namespace

Result<std::shared_ptr<Storage>> Runtime::Impl::stage_padded(const std::shared_ptr<Storage>& input, const Value& v,
                                                             const Shape& real) {
  const uint64_t padded_bytes = v.bytes(), element = dtype_size(v.dtype);
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<Storage> staging, pool->allocate(padded_bytes));
  driver::Stream& dma = *streams[kDmaQueue];
  if (input->ready && input->ready_queue != kDmaQueue) KILN_RETURN_IF_ERROR(dma.wait_event(*input->ready));
  for (uint32_t q = 0; q < kQueueCount; ++q) {
    if (staging->last_uses[q] && q != kDmaQueue) KILN_RETURN_IF_ERROR(dma.wait_event(*staging->last_uses[q]));
  }
  int64_t run = 0;
  const auto runs = padding_runs_of(real, v.shape, &run);
  const uint64_t run_bytes = static_cast<uint64_t>(run) * element;
  if (runs.size() == 1) {
    // One prefix (a padded batch): the zeros only after it.
    KILN_RETURN_IF_ERROR(dma.copy(staging->buffer.address, input->buffer.address, run_bytes).status());
    if (padded_bytes > run_bytes) {
      KILN_RETURN_IF_ERROR(dma.memset(staging->buffer.address + run_bytes, 0, padded_bytes - run_bytes).status());
    }
  } else {
    KILN_RETURN_IF_ERROR(dma.memset(staging->buffer.address, 0, padded_bytes).status());
    for (const auto& [from, to] : runs) {
      KILN_RETURN_IF_ERROR(dma.copy(staging->buffer.address + static_cast<uint64_t>(to) * element,
                                    input->buffer.address + static_cast<uint64_t>(from) * element, run_bytes)
                               .status());
    }
  }
  KILN_ASSIGN_OR_RETURN(auto event, device->create_event());
  std::shared_ptr<driver::Event> done(std::move(event));
  KILN_RETURN_IF_ERROR(dma.record(*done));
  staging->ready = done;
  staging->ready_queue = kDmaQueue;
  input->last_uses[kDmaQueue] = done;
  return staging;
}

Result<std::shared_ptr<Storage>> Runtime::Impl::unpad(const std::shared_ptr<Storage>& output, const Value& v,
                                                      const Shape& real) {
  const uint64_t element = dtype_size(v.dtype);
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<Storage> dense,
                        pool->allocate(static_cast<uint64_t>(numel(real)) * element));
  driver::Stream& dma = *streams[kDmaQueue];
  if (output->ready && output->ready_queue != kDmaQueue) KILN_RETURN_IF_ERROR(dma.wait_event(*output->ready));
  for (uint32_t q = 0; q < kQueueCount; ++q) {
    if (dense->last_uses[q] && q != kDmaQueue) KILN_RETURN_IF_ERROR(dma.wait_event(*dense->last_uses[q]));
  }
  int64_t run = 0;
  for (const auto& [from, to] : padding_runs_of(real, v.shape, &run)) {
    KILN_RETURN_IF_ERROR(dma.copy(dense->buffer.address + static_cast<uint64_t>(from) * element,
                                  output->buffer.address + static_cast<uint64_t>(to) * element,
                                  static_cast<uint64_t>(run) * element)
                             .status());
  }
  KILN_ASSIGN_OR_RETURN(auto event, device->create_event());
  std::shared_ptr<driver::Event> done(std::move(event));
  KILN_RETURN_IF_ERROR(dma.record(*done));
  dense->ready = done;
  dense->ready_queue = kDmaQueue;
  dense->step = output->step;
  output->last_uses[kDmaQueue] = done;
  return dense;
}

Result<std::shared_ptr<Slot>> Runtime::Impl::sequence_mask(int64_t length, int64_t padded) {
  auto it = sequence_masks.find({length, padded});
  if (it != sequence_masks.end()) return it->second;
  auto slot = std::make_shared<Slot>();
  slot->shape = {padded};
  slot->dtype = DType::kBool;
  KILN_ASSIGN_OR_RETURN(slot->storage, pool->allocate(static_cast<uint64_t>(padded)));
  for (const auto& e : slot->storage->last_uses) {
    if (e) KILN_RETURN_IF_ERROR(e->synchronize());
  }
  std::vector<uint8_t> bits(static_cast<std::size_t>(padded), 0);
  std::fill(bits.begin(), bits.begin() + length, uint8_t{1});
  KILN_RETURN_IF_ERROR(device->copy_to_device(slot->storage->buffer.address, bits.data(), bits.size()));
  // A few bytes each; a program with many lengths drops the old ones (a
  // step that uses one holds it).
  if (sequence_masks.size() >= 256) sequence_masks.clear();
  sequence_masks.emplace(std::pair{length, padded}, slot);
  return slot;
}

}  // namespace kiln::runtime
