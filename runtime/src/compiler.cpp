#include "compiler.h"

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

#include "constant_fold.h"
#include "fusion.h"
#include "fusion_sdpa.h"
#include "memory_plan.h"
#include "schedule.h"
#include "sdpa_lowering.h"
#include "slicing.h"

namespace kiln::runtime {

namespace {

bool disabled(const CompileOptions& o, const std::string& pass) {
  return std::find(o.disabled_passes.begin(), o.disabled_passes.end(), pass) != o.disabled_passes.end();
}

bool is_random(OpKind op) { return op == OpKind::kRandUniform || op == OpKind::kRandNormal; }

// Removes nodes none of whose outputs is needed.
void dead_code(const Graph& g, const std::set<int>& outputs, std::vector<int>& order, std::ostringstream& log) {
  std::set<int> needed(outputs.begin(), outputs.end());
  std::vector<int> kept;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    const Node& n = g.nodes[static_cast<std::size_t>(*it)];
    const bool live = std::any_of(n.outputs.begin(), n.outputs.end(), [&](int v) { return needed.count(v) > 0; });
    if (!live) continue;
    for (const View& in : n.inputs) needed.insert(in.value);
    kept.push_back(*it);
  }
  std::reverse(kept.begin(), kept.end());
  if (kept.size() != order.size()) log << "dce: removed " << order.size() - kept.size() << " nodes\n";
  order.swap(kept);
}

std::string view_key(const View& v) {
  std::ostringstream k;
  k << v.value << ':' << to_string(v.shape) << to_string(v.strides) << '+' << v.offset << ':' << int(v.dtype);
  return k.str();
}

// Merges nodes that compute the same thing from the same inputs.
void common_subexpressions(Graph& g, const std::set<int>& outputs, std::vector<int>& order, std::ostringstream& log) {
  std::map<std::string, int> seen;
  std::map<int, int> replaced;  // value -> value
  std::vector<int> kept;
  int merged = 0;
  for (int index : order) {
    Node& n = g.nodes[static_cast<std::size_t>(index)];
    for (View& in : n.inputs) {
      auto r = replaced.find(in.value);
      if (r != replaced.end()) in.value = r->second;
    }
    std::ostringstream key;
    key << int(n.op) << '|';
    for (int64_t i : n.attrs.ints) key << i << ',';
    key << '|';
    for (double f : n.attrs.floats) key << f << ',';
    for (const View& in : n.inputs) key << '|' << view_key(in);
    for (int out : n.outputs) {
      const Value& v = g.values[static_cast<std::size_t>(out)];
      key << '>' << to_string(v.shape) << int(v.dtype);
    }
    const bool keeps_outputs =
        std::any_of(n.outputs.begin(), n.outputs.end(), [&](int v) { return outputs.count(v) > 0; });
    auto [it, inserted] = seen.emplace(key.str(), index);
    if (!inserted && !is_random(n.op) && !keeps_outputs) {
      const Node& first = g.nodes[static_cast<std::size_t>(it->second)];
      for (std::size_t i = 0; i < n.outputs.size(); ++i) replaced[n.outputs[i]] = first.outputs[i];
      ++merged;
      continue;
    }
    kept.push_back(index);
  }
  if (merged > 0) log << "cse: merged " << merged << " nodes\n";
  order.swap(kept);
}

// Inserts a dense copy of `view` (expanded to `shape`) before position `at`.
View copy_before(Graph& g, std::vector<int>& order, std::size_t at, const View& view, const Shape& shape) {
  View source = view;
  if (shape != view.shape) {
    // Expand: broadcast dims get stride 0.
    const std::size_t pad = shape.size() - view.shape.size();
    Shape strides(shape.size(), 0);
    for (std::size_t i = 0; i < view.shape.size(); ++i) {
      strides[pad + i] = view.shape[i] == 1 ? 0 : view.strides[i];
    }
    source.shape = shape;
    source.strides = strides;
  }
  const auto outs = g.add_node(OpKind::kCopy, {}, {source}, {{shape, view.dtype}}, "copy (for the matrix engine)");
  order.insert(order.begin() + static_cast<std::ptrdiff_t>(at), static_cast<int>(g.nodes.size()) - 1);
  return View{outs[0], shape, contiguous_strides(shape), 0, view.dtype};
}

// Gives the matrix engine operands it can read in place: a matmul operand
// that is the transpose of a dense matrix (linear's W^T) is read transposed
// (kTransposeA / kTransposeB) unless `transposed_ok` is false (the
// "mme_transpose" switch), and a convolution's input that is an NHWC
// tensor's NCHW permute (what the pooling kernels write) is read channels-last
// (kChannelsLastInput) unless `channels_last_ok` is false ("mme_channels_last");
// anything else it cannot read is copied densely, once per view however many
// matrix-engine ops read it (the copy made for the first reader serves all).
void legalize(Graph& g, std::vector<int>& order, bool transposed_ok, bool channels_last_ok, std::ostringstream& log) {
  std::map<std::string, View> dense_copies;  // by the source view and the copy's shape
  // Input `i` of the node at `pos` as a dense copy of `shape`: made before
  // it, unless an earlier reader's copy serves.
  auto read_dense_copy = [&](std::size_t& pos, std::size_t i, const Shape& shape) {
    const int index = order[pos];
    const std::string_view op = op_name(g.nodes[static_cast<std::size_t>(index)].op);
    const View in = g.nodes[static_cast<std::size_t>(index)].inputs[i];
    const std::string key = view_key(in) + ">" + to_string(shape);
    auto it = dense_copies.find(key);
    if (it == dense_copies.end()) {
      it = dense_copies.emplace(key, copy_before(g, order, pos, in, shape)).first;
      ++pos;  // the consumer moved one place on
      log << "legalize: copied input " << i << " of " << op << " densely\n";
    } else {
      log << "legalize: input " << i << " of " << op << " reads the dense copy made for an earlier reader\n";
    }
    g.nodes[static_cast<std::size_t>(index)].inputs[i] = it->second;
  };
  for (std::size_t pos = 0; pos < order.size(); ++pos) {
    const int index = order[pos];
    const OpKind op = g.nodes[static_cast<std::size_t>(index)].op;
    if (op == OpKind::kFusedSdpa) {
      // Its GEMM tiles and staging copies address q, k and v as dense [..., rows, cols].
      for (std::size_t i = 0; i < 3; ++i) {
        const View in = g.nodes[static_cast<std::size_t>(index)].inputs[i];
        if (!in.contiguous()) read_dense_copy(pos, i, in.shape);
      }
      continue;
    }
    if (op != OpKind::kMatmul && op != OpKind::kConv2d) continue;
    const Shape out = g.values[static_cast<std::size_t>(g.nodes[static_cast<std::size_t>(index)].outputs[0])].shape;
    for (std::size_t i = 0; i < g.nodes[static_cast<std::size_t>(index)].inputs.size(); ++i) {
      const View in = g.nodes[static_cast<std::size_t>(index)].inputs[i];
      bool ok = in.contiguous();
      Shape target = in.shape;
      if (op == OpKind::kConv2d && i == 0 && !ok && channels_last_ok && in.channels_last()) {
        log << "legalize: conv2d reads input 0 channels-last in place (kChannelsLastInput)\n";
        continue;
      }
      if (op == OpKind::kMatmul && i < 2) {
        const Shape batch(out.begin(), out.end() - 2);
        const std::optional<MmeOperandRead> read = mme_operand_read(in, batch, transposed_ok);
        ok = read.has_value();
        if (ok && read->transposed) {
          log << "legalize: matmul reads input " << i << " transposed in place ("
              << (i == 0 ? "kTransposeA" : "kTransposeB") << ")\n";
        }
        if (!ok) {
          target = batch;
          target.push_back(in.shape[in.shape.size() - 2]);
          target.push_back(in.shape[in.shape.size() - 1]);
        }
      }
      if (!ok) read_dense_copy(pos, i, target);
    }
  }
}


// The passes after constant folding, on the nodes of `order` (the step's, or
// the constant section's on a graph of its own); `keep`: the values that
// must be written where their placement says. Returns the nodes slicing
// added: `order` holds that many more than the recorded nodes it compiles.
std::size_t optimize(Graph& g, std::vector<int>& order, const std::set<int>& keep, const CompileOptions& options,
              const std::string& prefix, std::ostringstream& log) {
  const auto add = [&](const std::vector<std::string>& lines) {
    for (const std::string& line : lines) log << prefix << line << '\n';
  };
  // Epilogues first (they take the GEMM's bias and activation), then norms
  // (they take the residual add), then whatever elementwise ops remain.
  // Attention first: the other fusions would take its scale and mask into
  // an elementwise kernel. Not in the constant section, which binds no SRAM.
  if (prefix.empty() && !disabled(options, "fuse_sdpa")) add(fuse_sdpa(g, order, keep, options.sram_budget));
  if (!disabled(options, "fuse_epilogue")) add(fuse_epilogue(g, order, keep));
  // After the epilogues, so the stacked GEMM keeps their bias and activation.
  if (!disabled(options, "fuse_shared_input_gemms")) add(fuse_shared_input_gemms(g, order, keep));
  if (!disabled(options, "fuse_add_norm")) add(fuse_add_norm(g, order, keep));
  if (!disabled(options, "fuse_elementwise")) add(fuse_elementwise(g, order, keep));
  std::ostringstream legal;
  legalize(g, order, !disabled(options, "mme_transpose"), !disabled(options, "mme_channels_last"), legal);
  std::istringstream lines(legal.str());
  for (std::string line; std::getline(lines, line);) log << prefix << line << '\n';
  // After legalisation, so a slice reads its rows of an operand already
  // in place. Not in the constant section: it runs once per recipe.
  std::size_t sliced = 0;
  if (prefix.empty() && !disabled(options, "slice")) {
    const std::size_t before = order.size();
    add(slice_pipelines(g, order, options.rates, options.slice_rows));
    sliced = order.size() - before;
  }
  // Engines overlap as far as the recorded order lets them: order first,
  // then plan memory on that order.
  if (!disabled(options, "schedule")) order = schedule_nodes(g, order, options.rates);
  return sliced;
}

// One launch's command buffers: a program per queue.
struct Emitted {
  std::array<driver::CommandBuffer, kQueueCount> programs;
  std::array<uint32_t, kQueueCount> signals{};  // jobs per queue
  uint64_t workspace_bytes = 0;
  uint64_t intermediate_bytes = 0;
  std::size_t jobs = 0;
  uint64_t sram_bytes = 0;  // SRAM scratch its jobs use (kSramSlot)
  std::map<int, Queue> writer;  // value -> the queue of the job that writes it
};

// Lowers the nodes of `order` and emits them in order with the cross-queue
// waits each job needs. Values with `placed` set live where `placement`
// says (inputs, outputs, constants); every other value `order` produces
// goes to the workspace, planned by liveness.
Result<Emitted> emit(const Graph& g, const std::vector<int>& order, std::vector<Placement> placement,
                     const std::vector<char>& placed, const LowerOptions& lower_options) {
  Emitted out;
  // Which values live where, and for how long (positions in `order`). A
  // value in parts (slicing.h) is written by its parts' jobs and read by
  // their readers and its own; only the whole takes workspace bytes.
  const std::size_t values = g.values.size();
  std::vector<int> first(values, -1), last(values, -1);
  std::vector<std::vector<int>> writers(values), readers(values);
  for (std::size_t pos = 0; pos < order.size(); ++pos) {
    const Node& n = g.nodes[static_cast<std::size_t>(order[pos])];
    for (const View& in : n.inputs) readers[static_cast<std::size_t>(in.value)].push_back(static_cast<int>(pos));
    for (int v : n.outputs) writers[static_cast<std::size_t>(v)].push_back(static_cast<int>(pos));
  }
  for (std::size_t v = 0; v < values; ++v) {
    const int whole = g.values[v].part_of;
    if (whole < 0) continue;
    const auto w = static_cast<std::size_t>(whole);
    writers[w].insert(writers[w].end(), writers[v].begin(), writers[v].end());
    readers[w].insert(readers[w].end(), readers[v].begin(), readers[v].end());
  }
  for (std::size_t v = 0; v < values; ++v) {
    for (int p : writers[v]) first[v] = first[v] < 0 ? p : std::min(first[v], p);
    for (const auto* list : {&writers[v], &readers[v]}) {
      for (int p : *list) last[v] = std::max(last[v], p);
    }
  }
  std::vector<int> workspace_values;
  std::vector<PlannedValue> planned;
  for (std::size_t v = 0; v < values; ++v) {
    if (placed[v] || g.values[v].part_of >= 0) continue;
    if (first[v] >= 0) {
      workspace_values.push_back(static_cast<int>(v));
      planned.push_back({g.values[v].bytes(), first[v], last[v]});
    } else if (last[v] >= 0) {
      std::string what = "compiling a graph: value ";
      what += std::to_string(v);
      what += " is read, but it is no input and no job writes it";
      return internal_error(what);
    }
  }
  const MemoryPlan plan = plan_memory(planned);
  for (std::size_t i = 0; i < workspace_values.size(); ++i) {
    placement[static_cast<std::size_t>(workspace_values[i])] = {kWorkspaceSlot, plan.offset[i]};
  }
  for (std::size_t v = 0; v < values; ++v) {
    const Value& part = g.values[v];
    if (part.part_of < 0) continue;
    const Placement whole = placement[static_cast<std::size_t>(part.part_of)];
    placement[v] = {whole.slot, whole.offset + static_cast<uint64_t>(part.part_offset) * dtype_size(part.dtype)};
  }
  out.workspace_bytes = plan.size;
  out.intermediate_bytes = plan.sum_of_values;

  // One job per node, but fused attention's pipeline (sdpa_lowering.h).
  std::vector<NodeJobs> lowered;
  lowered.reserve(order.size());
  for (int index : order) {
    const Node& n = g.nodes[static_cast<std::size_t>(index)];
    NodeJobs nj;
    if (n.op == OpKind::kFusedSdpa) {
      KILN_ASSIGN_OR_RETURN(nj, lower_fused_sdpa(g, n, placement, lower_options));
      out.sram_bytes = std::max(out.sram_bytes, plan_sdpa(g, n, lower_options.sram_budget)->sram_bytes);
    } else {
      KILN_ASSIGN_OR_RETURN(Job job, lower_node(g, n, placement, lower_options));
      nj.jobs.push_back(std::move(job));
      nj.after.emplace_back();
    }
    for (Job& job : nj.jobs) job.node = index;
    lowered.push_back(std::move(nj));
  }
  std::vector<std::set<int>> deps(lowered.size());
  int last_sram_user = -1;
  for (std::size_t pos = 0; pos < lowered.size(); ++pos) {
    const Node& n = g.nodes[static_cast<std::size_t>(order[pos])];
    for (const View& in : n.inputs) {
      for (int p : writers[static_cast<std::size_t>(in.value)]) {
        if (p != static_cast<int>(pos)) deps[pos].insert(p);
      }
    }
    // Every fused attention uses the SRAM scratch from its start.
    if (n.op == OpKind::kFusedSdpa) {
      if (last_sram_user >= 0) deps[pos].insert(last_sram_user);
      last_sram_user = static_cast<int>(pos);
    }
  }
  // A value that takes over workspace bytes is written only after every job
  // that wrote or read what was there before.
  for (std::size_t i = 0; i < workspace_values.size(); ++i) {
    for (int writer : writers[static_cast<std::size_t>(workspace_values[i])]) {
      for (int earlier_index : plan.reuses[i]) {
        const auto earlier = static_cast<std::size_t>(workspace_values[static_cast<std::size_t>(earlier_index)]);
        for (const auto* list : {&writers[earlier], &readers[earlier]}) {
          for (int p : *list) {
            if (p != writer) deps[static_cast<std::size_t>(writer)].insert(p);
          }
        }
      }
    }
  }
  // Per node, per queue: the timeline count after its last job there (0: none).
  std::vector<std::array<uint32_t, kQueueCount>> node_last(lowered.size());
  std::array<std::array<uint32_t, kQueueCount>, kQueueCount> waited{};  // [queue][other queue]
  for (std::size_t pos = 0; pos < lowered.size(); ++pos) {
    std::array<uint32_t, kQueueCount> node_need{};
    for (int d : deps[pos]) {
      for (uint32_t q = 0; q < kQueueCount; ++q) node_need[q] = std::max(node_need[q], node_last[static_cast<std::size_t>(d)][q]);
    }
    const NodeJobs& nj = lowered[pos];
    // The trace names the graph node(s) each job came from: a fused job all of them.
    std::vector<std::string> ops;
    const std::string& label = g.nodes[static_cast<std::size_t>(order[pos])].label;
    for (std::size_t at = 0; at <= label.size();) {
      const std::size_t plus = std::min(label.find('+', at), label.size());
      if (plus > at) ops.push_back(label.substr(at, plus - at));
      at = plus + 1;
    }
    std::vector<uint32_t> ordinal(nj.jobs.size(), 0);
    for (std::size_t jj = 0; jj < nj.jobs.size(); ++jj) {
      const Job& job = nj.jobs[jj];
      driver::CommandBuffer& cb = out.programs[job.queue];
      std::array<uint32_t, kQueueCount> need = node_need;
      need[job.queue] = 0;
      for (int a : nj.after[jj]) {
        const Queue q = nj.jobs[static_cast<std::size_t>(a)].queue;
        if (q != job.queue) need[q] = std::max(need[q], ordinal[static_cast<std::size_t>(a)]);
      }
      for (uint32_t q = 0; q < kQueueCount; ++q) {
        if (need[q] > waited[job.queue][q]) {
          cb.wait_sync(driver::bound_sync(kTimelineSlot + q), need[q]);
          waited[job.queue][q] = need[q];
        }
      }
      cb.label(ops);
      switch (job.kind) {
        case Job::Kind::kTpc: cb.launch_tpc(job.kernel_id, job.args); break;
        case Job::Kind::kMme: cb.launch_mme(job.descriptor); break;
        case Job::Kind::kDma: cb.copy(job.dst, job.src, job.bytes); break;
      }
      cb.signal_when_done(driver::bound_sync(kTimelineSlot + job.queue));
      ordinal[jj] = ++out.signals[job.queue];
      node_last[pos][job.queue] = ordinal[jj];
      ++out.jobs;
    }
    // The node's last job writes its outputs.
    const Queue written_by = nj.jobs.back().queue;
    for (int v : g.nodes[static_cast<std::size_t>(order[pos])].outputs) {
      out.writer[v] = written_by;
      // A whole in parts: its parts' jobs share one queue (slicing.h).
      const int whole = g.values[static_cast<std::size_t>(v)].part_of;
      if (whole >= 0) out.writer[whole] = written_by;
    }
  }
  for (const auto& p : out.programs) {
    if (!p.recording_error().empty()) return internal_error("compiling a graph: " + p.recording_error());
  }
  return out;
}

}  // namespace

uint64_t Recipe::bytes() const {
  uint64_t total = 0;
  for (const auto& p : programs) total += p.size_bytes() + p.arena().size();
  for (const auto& p : constant_programs) total += p.size_bytes() + p.arena().size();
  return total;
}

Result<std::shared_ptr<Recipe>> compile(Graph g, const std::vector<int>& outputs, const CompileOptions& options) {
  auto recipe = std::make_shared<Recipe>();
  if (!g.labels_in_key) {
    for (const Node& n : g.nodes) recipe->source_labels.push_back(n.label);
  }
  std::ostringstream log;
  const std::set<int> output_set(outputs.begin(), outputs.end());
  std::vector<int> order(g.nodes.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  if (!disabled(options, "dce")) dead_code(g, output_set, order, log);
  if (!disabled(options, "cse")) common_subexpressions(g, output_set, order, log);
  ConstantSection section;
  if (!disabled(options, "constant_fold")) {
    std::vector<std::string> lines;
    section = constant_fold(g, order, output_set, lines);
    for (const std::string& line : lines) log << line << '\n';
  }
  // The section's passes rewrite a graph of their own: a node can be in both
  // (a fill the step reads too), and the step's fusions must not change it.
  Graph constant_graph;
  if (!section.empty()) constant_graph = g;
  const std::size_t slices_added = optimize(g, order, output_set, options, "", log);

  // Inputs, outputs and folded values are bound; the rest is workspace.
  std::vector<Placement> placement(g.values.size());
  std::vector<char> placed(g.values.size(), 0);
  std::vector<char> read(g.values.size(), 0);
  for (int index : order) {
    for (const View& in : g.nodes[static_cast<std::size_t>(index)].inputs) read[static_cast<std::size_t>(in.value)] = 1;
  }
  for (std::size_t v = 0; v < g.values.size(); ++v) {
    const Value& val = g.values[v];
    // Packed inputs exist only in this graph: the launch builds them.
    if (val.producer >= 0 || !val.parts.empty() || val.part_of >= 0 || !read[v]) continue;
    placement[v] = {kFirstTensorSlot + static_cast<uint32_t>(recipe->inputs.size()), 0};
    placed[v] = 1;
    recipe->inputs.push_back(val.packed_from.empty() ? static_cast<int>(v) : -1);
    recipe->packed_from.push_back(val.packed_from);
  }
  recipe->outputs = outputs;
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    placement[static_cast<std::size_t>(outputs[i])] = {
        kFirstTensorSlot + static_cast<uint32_t>(recipe->inputs.size() + i), 0};
    placed[static_cast<std::size_t>(outputs[i])] = 1;
  }
  for (std::size_t i = 0; i < section.values.size(); ++i) {
    placement[static_cast<std::size_t>(section.values[i])] = {kConstantSlot, section.offsets[i]};
    placed[static_cast<std::size_t>(section.values[i])] = 1;
  }
  const LowerOptions lower_options{options.allow_tf32, options.sram_budget};
  KILN_ASSIGN_OR_RETURN(Emitted step, emit(g, order, std::move(placement), placed, lower_options));
  recipe->programs = std::move(step.programs);
  recipe->signals = step.signals;
  recipe->workspace_bytes = step.workspace_bytes;
  recipe->sram_bytes = step.sram_bytes;
  recipe->intermediate_bytes = step.intermediate_bytes;
  recipe->output_queue.assign(outputs.size(), kTpcQueue);
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    if (auto it = step.writer.find(outputs[i]); it != step.writer.end()) recipe->output_queue[i] = it->second;
  }
  // Nodes of the recorded graph, as the on-disk cache checks them: a
  // node's slices count once.
  recipe->nodes = order.size() - slices_added;
  recipe->jobs = step.jobs;
  log << "memory: workspace " << step.workspace_bytes << " bytes for " << step.intermediate_bytes
      << " bytes of intermediates\n";

  if (!section.empty()) {
    const std::set<int> folded(section.values.begin(), section.values.end());
    optimize(constant_graph, section.order, folded, options, "constant section: ", log);
    std::vector<Placement> constant_placement(constant_graph.values.size());
    std::vector<char> constant_placed(constant_graph.values.size(), 0);
    for (std::size_t i = 0; i < section.values.size(); ++i) {
      constant_placement[static_cast<std::size_t>(section.values[i])] = {kConstantSlot, section.offsets[i]};
      constant_placed[static_cast<std::size_t>(section.values[i])] = 1;
    }
    KILN_ASSIGN_OR_RETURN(Emitted constants,
                          emit(constant_graph, section.order, std::move(constant_placement), constant_placed,
                               lower_options));
    for (int v : section.values) {
      if (!constants.writer.count(v)) {
        std::string what = "compiling a graph: the constant section does not write folded value ";
        what += std::to_string(v);
        return internal_error(what);
      }
    }
    recipe->constant_programs = std::move(constants.programs);
    recipe->constant_signals = constants.signals;
    recipe->constant_bytes = section.bytes;
    recipe->constant_workspace_bytes = constants.workspace_bytes;
    recipe->constant_nodes = section.order.size();
    recipe->constant_jobs = constants.jobs;
    log << "constant section: " << constants.jobs << " jobs, run once; workspace " << constants.workspace_bytes
        << " bytes\n";
  }
  recipe->log = log.str();
  return recipe;
}

}  // namespace kiln::runtime
