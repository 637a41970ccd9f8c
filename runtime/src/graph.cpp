#include "graph.h"

#include <cstring>

namespace kiln::runtime {

void GraphHash::mix(double x) {
  uint64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  mix(bits);
}

void GraphHash::mix(std::string_view s) {
  mix(static_cast<uint64_t>(s.size()));
  uint64_t word = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    word = (word << 8) | static_cast<unsigned char>(s[i]);
    if (i % 8 == 7) {
      mix(word);
      word = 0;
    }
  }
  mix(word);
}

bool View::channels_last() const {
  if (shape.size() != 4 || strides.size() != 4) return false;
  const int64_t c = shape[1], h = shape[2], w = shape[3];
  const int64_t want[4] = {h * w * c, 1, w * c, c};
  for (std::size_t d = 0; d < 4; ++d) {
    if (shape[d] > 1 && strides[d] != want[d]) return false;
  }
  return true;
}

int Graph::input_value(const std::shared_ptr<Slot>& slot) {
  if (slot->graph == id) return slot->value;
  auto it = external_of.find(slot.get());
  if (it != external_of.end()) return it->second;
  Value v;
  v.shape = slot->shape;
  v.dtype = slot->dtype;
  v.external = slot;
  hash.mix(uint64_t{0xe7});  // an external input, and its signature
  hash.mix(v.shape);
  hash.mix(static_cast<uint64_t>(v.dtype));
  values.push_back(std::move(v));
  const int index = static_cast<int>(values.size()) - 1;
  external_of.emplace(slot.get(), index);
  return index;
}

void Graph::reset(uint64_t new_id) {
  id = new_id;
  hash = GraphHash{};
  nodes.clear();
  values.clear();
  external_of.clear();
  fusion_groups = 0;
}

void Graph::rehash() {
  hash = GraphHash{};
  hash.mix(uint64_t{0x7e});
  for (const Value& v : values) {
    hash.mix(static_cast<uint64_t>(v.producer + 1));
    hash.mix(v.shape);
    hash.mix(static_cast<uint64_t>(v.dtype));
  }
  for (const Node& n : nodes) {
    hash.mix(static_cast<uint64_t>(n.op) + 0x100);
    if (labels_in_key) hash.mix(n.label);
    if (n.fusion_group != 0) hash.mix(uint64_t{0xf6} + n.fusion_group);  // absent before groups existed
    for (int64_t i : n.attrs.ints) hash.mix(static_cast<uint64_t>(i));
    for (double f : n.attrs.floats) hash.mix(f);
    for (const View& in : n.inputs) {
      hash.mix(static_cast<uint64_t>(in.value));
      hash.mix(in.shape);
      hash.mix(in.strides);
      hash.mix(static_cast<uint64_t>(in.offset));
      hash.mix(static_cast<uint64_t>(in.dtype));
    }
    for (int out : n.outputs) hash.mix(static_cast<uint64_t>(out));
  }
}

std::vector<int> Graph::add_node(OpKind op, Attrs attrs, std::vector<View> inputs,
                                 const std::vector<std::pair<Shape, DType>>& outputs, std::string label) {
  Node n;
  n.op = op;
  n.attrs = std::move(attrs);
  n.inputs = std::move(inputs);
  n.label = std::move(label);
  hash.mix(static_cast<uint64_t>(op) + 0x100);
  if (labels_in_key) hash.mix(n.label);
  hash.mix(static_cast<uint64_t>(n.attrs.ints.size()));
  for (int64_t i : n.attrs.ints) hash.mix(static_cast<uint64_t>(i));
  hash.mix(static_cast<uint64_t>(n.attrs.floats.size()));
  for (double f : n.attrs.floats) hash.mix(f);
  for (const View& in : n.inputs) {
    hash.mix(static_cast<uint64_t>(in.value));
    hash.mix(in.shape);
    hash.mix(in.strides);
    hash.mix(static_cast<uint64_t>(in.offset));
    hash.mix(static_cast<uint64_t>(in.dtype));
  }
  for (const auto& [shape, dtype] : outputs) {
    hash.mix(shape);
    hash.mix(static_cast<uint64_t>(dtype));
  }
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
