// Graph capture and replay: the pending lazy graph, recorded between
// capture_begin and capture_end, compiled once into a recipe whose outputs
// and workspace keep their memory; a replay is one launch of that recipe.
#include <algorithm>

#include "kiln/runtime/graph_capture.h"
#include "ops_util.h"
#include "runtime_impl.h"

namespace kiln::runtime {

struct CapturedGraph::State {
  std::shared_ptr<Runtime::Impl> owner;
  Graph graph;
  std::shared_ptr<Recipe> recipe;
  std::vector<Tensor> outputs;                  // the user's tensors, in order made
  std::vector<std::shared_ptr<Slot>> output_slots;
  FixedMemory memory;                           // per recipe output; the workspace if kept
  CaptureOptions options;
  uint64_t replays = 0;
};

Status Runtime::Impl::abandon_capture_locked(const std::string& op) {
  // What the capture recorded is dropped whole: its tensors read as lost.
  capturing = false;
  pending = Graph{};
  pending.reset(next_graph++);
  ++stats.captures_discarded;
  device->charge_host(0, "graph capture discarded: " + op);
  return failed_precondition(op + " is not supported during graph capture; the capture is discarded");
}

void Runtime::capture_discard() {
  std::lock_guard lock(impl_->mutex);
  if (impl_->capturing) (void)impl_->abandon_capture_locked("capture_discard");
}

bool Runtime::capturing() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->capturing;
}

Status Runtime::capture_begin() {
  Impl& rt = *impl_;
  std::lock_guard lock(rt.mutex);
  KILN_RETURN_IF_ERROR(rt.check_open("capture_begin"));
  if (rt.capturing) return failed_precondition("capture_begin: a graph capture is in progress already");
  KILN_RETURN_IF_ERROR(rt.run_pending_locked("capture_begin"));
  rt.capturing = true;
  return {};
}

Result<CapturedGraph> Runtime::capture_end(const CaptureOptions& options) {
  Impl& rt = *impl_;
  std::lock_guard lock(rt.mutex);
  KILN_RETURN_IF_ERROR(rt.check_open("capture_end"));
  if (!rt.capturing) return failed_precondition("capture_end: no graph capture is in progress");
  rt.capturing = false;
  auto state = std::make_shared<CapturedGraph::State>();
  state->owner = rt.shared_from_this();
  state->options = options;
  std::swap(state->graph, rt.pending);
  rt.pending.reset(rt.next_graph++);
  Graph& g = state->graph;
  std::vector<int> outputs;
  for (std::size_t v = 0; v < g.values.size(); ++v) {
    if (g.values[v].producer < 0) continue;
    if (auto slot = g.values[v].slot.lock()) {
      outputs.push_back(static_cast<int>(v));
      state->outputs.push_back(rt.make_tensor(slot));
      state->output_slots.push_back(std::move(slot));
    }
  }
  ++rt.stats.captures;
  if (outputs.empty()) return CapturedGraph(std::move(state));  // nothing anyone can read: replays do nothing
  // A failed compilation leaves the captured tensors lost, as a failed step does.
  KILN_ASSIGN_OR_RETURN(state->recipe, rt.recipe_for_locked(g, outputs));
  const Recipe& recipe = *state->recipe;
  for (int out : recipe.outputs) {
    auto s = rt.pool->allocate(g.values[static_cast<std::size_t>(out)].bytes());
    if (!s.ok()) return s.status().with_context("capture_end: the captured graph's outputs");
    state->memory.outputs.push_back(*s);
  }
  if (options.keep_workspace && recipe.workspace_bytes > 0) {
    auto s = rt.pool->allocate(recipe.workspace_bytes);
    if (!s.ok()) return s.status().with_context("capture_end: the captured graph's workspace");
    state->memory.workspace = *s;
  }
  for (std::size_t i = 0; i < recipe.outputs.size(); ++i) {
    const Value& v = g.values[static_cast<std::size_t>(recipe.outputs[i])];
    if (auto slot = v.slot.lock()) {
      slot->storage = state->memory.outputs[i];
      slot->graph = 0;
      slot->value = -1;
    }
  }
  return CapturedGraph(std::move(state));
}

Status CapturedGraph::replay() {
  if (!state_) return failed_precondition("replay: an empty captured graph");
  Runtime::Impl& rt = *state_->owner;
  std::lock_guard lock(rt.mutex);
  KILN_RETURN_IF_ERROR(rt.check_open("replay"));
  if (rt.capturing) return failed_precondition("replay is not supported during graph capture");
  if (!state_->recipe) return {};
  ++rt.stats.steps;
  ++rt.stats.replays;
  ++state_->replays;
  return rt.launch_locked(state_->recipe, state_->graph, nullptr, &state_->memory);
}

Status CapturedGraph::rebind_input(const Tensor& from, const Tensor& to) {
  if (!state_) return failed_precondition("rebind_input: an empty captured graph");
  Runtime::Impl& rt = *state_->owner;
  std::lock_guard lock(rt.mutex);
  KILN_RETURN_IF_ERROR(rt.check_open("rebind_input"));
  KILN_RETURN_IF_ERROR(whole_tensor("rebind_input", to));
  if (to.impl()->owner.get() != &rt) return invalid_argument("rebind_input: the tensor belongs to another runtime");
  Graph& g = state_->graph;
  auto it = from.defined() ? g.external_of.find(from.impl()->slot.get()) : g.external_of.end();
  if (it == g.external_of.end()) {
    return invalid_argument("rebind_input: " + from.describe() + " is not an input of this captured graph");
  }
  Value& v = g.values[static_cast<std::size_t>(it->second)];
  const std::shared_ptr<Slot>& slot = to.impl()->slot;
  if (slot->shape != v.shape || slot->dtype != v.dtype) {
    return invalid_argument("rebind_input: the input is " + std::string(dtype_name(v.dtype)) + to_string(v.shape) +
                            ", " + to.describe() + " differs");
  }
  if (!slot->storage) return invalid_argument("rebind_input: " + to.describe() + " holds no memory yet (run its step)");
  const int index = it->second;
  g.external_of.erase(it);
  g.external_of[slot.get()] = index;
  v.external = slot;
  return {};
}

namespace {

// Why two captured graphs are not the same topology: empty if they are.
std::string topology_difference(const Graph& a, const Graph& b) {
  const std::size_t n = std::min(a.nodes.size(), b.nodes.size());
  auto value_meta = [](const Graph& g, int v) {
    const Value& val = g.values[static_cast<std::size_t>(v)];
    return std::pair{val.shape, val.dtype};
  };
  for (std::size_t i = 0; i < n; ++i) {
    const Node& x = a.nodes[i];
    const Node& y = b.nodes[i];
    std::string why;
    if (x.op != y.op) {
      why = "the op is " + std::string(op_name(y.op)) + ", not " + std::string(op_name(x.op));
    } else if (x.inputs.size() != y.inputs.size() || x.outputs.size() != y.outputs.size()) {
      why = "it has other inputs or outputs";
    } else {
      for (std::size_t k = 0; k < x.inputs.size() && why.empty(); ++k) {
        const View& p = x.inputs[k];
        const View& q = y.inputs[k];
        const bool same_source = (a.values[static_cast<std::size_t>(p.value)].producer < 0) ==
                                     (b.values[static_cast<std::size_t>(q.value)].producer < 0) &&
                                 (a.values[static_cast<std::size_t>(p.value)].producer < 0 || p.value == q.value);
        if (!same_source || p.shape != q.shape || p.strides != q.strides || p.offset != q.offset ||
            p.dtype != q.dtype || value_meta(a, p.value) != value_meta(b, q.value)) {
          why = "input " + std::to_string(k) + " is " + std::string(dtype_name(q.dtype)) + to_string(q.shape) +
                " read otherwise than " + std::string(dtype_name(p.dtype)) + to_string(p.shape);
        }
      }
      for (std::size_t k = 0; k < x.outputs.size() && why.empty(); ++k) {
        if (x.outputs[k] != y.outputs[k] || value_meta(a, x.outputs[k]) != value_meta(b, y.outputs[k])) {
          why = "output " + std::to_string(k) + " differs";
        }
      }
    }
    if (!why.empty()) return "node " + std::to_string(i) + " (" + std::string(op_name(y.op)) + ", " + y.label + "): " + why;
  }
  if (a.nodes.size() != b.nodes.size()) {
    return "the graphs have " + std::to_string(a.nodes.size()) + " and " + std::to_string(b.nodes.size()) +
           " nodes; node " + std::to_string(n) + " is the first that only one has";
  }
  return {};
}

}  // namespace

Status CapturedGraph::update(const CapturedGraph& newer) {
  if (!state_ || !newer.state_) return failed_precondition("update: an empty captured graph");
  if (state_ == newer.state_) return {};
  Runtime::Impl& rt = *state_->owner;
  if (newer.state_->owner.get() != &rt) return invalid_argument("update: the graphs belong to different runtimes");
  std::lock_guard lock(rt.mutex);
  KILN_RETURN_IF_ERROR(rt.check_open("update"));
  const std::string diff = topology_difference(state_->graph, newer.state_->graph);
  if (!diff.empty()) return invalid_argument("update: the topology changed at " + diff + "; capture it anew");
  if (state_->output_slots.size() != newer.state_->output_slots.size()) {
    return invalid_argument("update: the graphs have different outputs alive (" +
                            std::to_string(state_->output_slots.size()) + " and " +
                            std::to_string(newer.state_->output_slots.size()) + ")");
  }
  // The newer graph's recipe, inputs and parameters; this graph's outputs.
  // Same topology: the same value ids, so this graph's output slots stay.
  Graph graph = newer.state_->graph;
  for (std::size_t v = 0; v < graph.values.size(); ++v) graph.values[v].slot = state_->graph.values[v].slot;
  state_->graph = std::move(graph);
  state_->recipe = newer.state_->recipe;
  return {};
}

const std::vector<Tensor>& CapturedGraph::outputs() const {
  static const std::vector<Tensor> kNone;
  return state_ ? state_->outputs : kNone;
}

std::size_t CapturedGraph::ops() const { return state_ ? state_->graph.nodes.size() : 0; }
uint64_t CapturedGraph::replays() const { return state_ ? state_->replays : 0; }

}  // namespace kiln::runtime
