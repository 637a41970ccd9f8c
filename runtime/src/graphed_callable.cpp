// A callable run as captured graphs, one per input signature.
#include "kiln/runtime/graph_capture.h"
#include "kiln/runtime/runtime.h"

namespace kiln::runtime {

GraphedCallable::GraphedCallable(Runtime& runtime, Fn fn, GraphedOptions options)
    : runtime_(runtime), fn_(std::move(fn)), options_(std::move(options)) {}

Result<std::vector<Tensor>> GraphedCallable::operator()(const std::vector<Tensor>& inputs) {
  std::string signature;
  for (const Tensor& t : inputs) {
    if (!t.defined()) return invalid_argument("graphed callable: an input is undefined");
    signature += std::string(dtype_name(t.dtype())) + to_string(t.shape()) + ";";
  }
  auto it = graphs_.find(signature);
  if (it == graphs_.end()) {
    if (graphs_.size() >= options_.max_graphs) {
      // Past the bound: the ordinary lazy path (a recipe per signature still).
      ++fallbacks_;
      ModeScope lazy(runtime_, Mode::kLazy);
      return fn_(inputs);
    }
    Entry entry;
    for (const Tensor& t : inputs) {
      KILN_ASSIGN_OR_RETURN(Tensor s, runtime_.empty(t.shape(), t.dtype()));
      entry.static_inputs.push_back(std::move(s));
    }
    KILN_RETURN_IF_ERROR(runtime_.capture_begin());
    Result<std::vector<Tensor>> outputs = fn_(entry.static_inputs);
    if (!outputs.ok()) {
      runtime_.capture_discard();
      return outputs.status().with_context("graphed callable, capturing " + signature);
    }
    if (!runtime_.capturing()) {
      return failed_precondition("graphed callable: the capture of " + signature + " was discarded (see above)");
    }
    KILN_ASSIGN_OR_RETURN(entry.graph, runtime_.capture_end(options_.capture));
    entry.outputs = std::move(*outputs);
    it = graphs_.emplace(signature, std::move(entry)).first;
  }
  Entry& e = it->second;
  for (std::size_t i = 0; i < inputs.size(); ++i) KILN_RETURN_IF_ERROR(runtime_.copy_(e.static_inputs[i], inputs[i]));
  KILN_RETURN_IF_ERROR(e.graph.replay());
  if (!options_.return_copies) return e.outputs;
  std::vector<Tensor> copies;
  for (const Tensor& out : e.outputs) {
    KILN_ASSIGN_OR_RETURN(Tensor c, runtime_.empty(out.shape(), out.dtype()));
    KILN_RETURN_IF_ERROR(runtime_.copy_(c, out));
    copies.push_back(std::move(c));
  }
  return copies;
}

}  // namespace kiln::runtime
