#include "graph.h"

namespace kiln::runtime {

int Graph::input_value(const std::shared_ptr<Slot>& slot) {
  if (slot->graph == id) return slot->value;
  auto it = external_of.find(slot.get());
  if (it != external_of.end()) return it->second;
  Value v;
  v.shape = slot->shape;
  v.dtype = slot->dtype;
  v.external = slot;
  values.push_back(std::move(v));
  const int index = static_cast<int>(values.size()) - 1;
  external_of.emplace(slot.get(), index);
  return index;
}

std::vector<int> Graph::add_node(OpKind op, Attrs attrs, std::vector<View> inputs,
                                 const std::vector<std::pair<Shape, DType>>& outputs, std::string label) {
  Node n;
  n.op = op;
  n.attrs = std::move(attrs);
  n.inputs = std::move(inputs);
  n.label = std::move(label);
  const int node = static_cast<int>(nodes.size());
  for (const auto& [shape, dtype] : outputs) {
    Value v;
    v.shape = shape;
    v.dtype = dtype;
    v.producer = node;
    values.push_back(std::move(v));
    n.outputs.push_back(static_cast<int>(values.size()) - 1);
  }
  nodes.push_back(std::move(n));
  return nodes.back().outputs;
}

}  // namespace kiln::runtime
