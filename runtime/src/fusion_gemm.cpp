// fuse_shared_input_gemms: GEMMs that read one input with different weights
// (the Q, K and V projections of attention, the gate and up projections of a
// gated MLP) become one GEMM over the weights stacked along the output dim.
// The stacked weights (and biases) are packed inputs: the launch builds them
// by DMA from the weights' own memory and caches them for as long as those
// tensors live (a tensor's memory is never written after it is produced), so
// steady-state steps pay neither the copies nor the smaller GEMMs' overheads.
// Each GEMM's readers then read their columns of the stacked result through
// a strided view.
#include <algorithm>
#include <map>
#include <optional>
#include <sstream>

#include "fusion.h"

namespace kiln::runtime {

namespace {

// The weight of `b` if `b` is Wᵀ of a whole dense external W [N, K] (how
// linear reads its weight), else -1.
int transposed_weight(const Graph& g, const View& b) {
  if (b.shape.size() != 2 || b.offset != 0) return -1;
  const Value& w = g.values[static_cast<std::size_t>(b.value)];
  if (w.producer >= 0 || !w.external || w.shape.size() != 2 || w.dtype != b.dtype) return -1;
  if (b.shape[0] != w.shape[1] || b.shape[1] != w.shape[0]) return -1;
  if (b.strides[0] != 1 || b.strides[1] != w.shape[1]) return -1;
  return b.value;
}

// A bias input: an external dense vector, or the cast of one (fuse_epilogue
// casts a bf16/fp16 bias to the fp32 the epilogue takes). Returns the
// external vector's value and the cast node (or -1).
std::optional<std::pair<int, int>> bias_source(const Graph& g, const View& bias) {
  const auto external_vector = [&](const View& v) {
    const Value& val = g.values[static_cast<std::size_t>(v.value)];
    return val.producer < 0 && val.external && v.offset == 0 && v.shape.size() == 1 && val.shape == v.shape &&
           v.strides[0] == 1 && v.dtype == val.dtype;
  };
  if (external_vector(bias)) return std::pair{bias.value, -1};
  const Value& val = g.values[static_cast<std::size_t>(bias.value)];
  if (val.producer < 0) return std::nullopt;
  const Node& cast = g.nodes[static_cast<std::size_t>(val.producer)];
  if (cast.op != OpKind::kCast || !bias.contiguous() || bias.shape != val.shape) return std::nullopt;
  if (!external_vector(cast.inputs[0])) return std::nullopt;
  return std::pair{cast.inputs[0].value, val.producer};
}

// `v`, a view of a dense [..., n] value, as the same elements of the dense
// [..., total] value whose columns [column, column + n) hold that value.
std::optional<View> as_columns(const View& v, int64_t n, int64_t total, int64_t column, int stacked) {
  View out = v;
  out.value = stacked;
  int64_t reach = v.offset % n;  // the furthest column the view touches
  for (std::size_t d = 0; d < v.shape.size(); ++d) {
    const int64_t s = v.strides[d];
    if (v.shape[d] == 1 || s == 0) {
      out.strides[d] = 0;
    } else if (s % n == 0) {
      out.strides[d] = s / n * total;  // whole rows
    } else if (s > 0 && s < n) {
      reach += (v.shape[d] - 1) * s;  // within a row
    } else {
      return std::nullopt;
    }
  }
  if (v.offset < 0 || reach >= n) return std::nullopt;
  out.offset = v.offset / n * total + v.offset % n + column;
  return out;
}

struct Member {
  int node;
  int weight;
  int bias = -1;       // external bias vector
  int bias_cast = -1;  // the node casting it, if any
};

std::string group_key(const Graph& g, const Node& n, const Member& m) {
  std::ostringstream key;
  const View& a = n.inputs[0];
  key << a.value << '|' << to_string(a.shape) << to_string(a.strides) << a.offset << '|' << int(a.dtype) << '|'
      << int(n.inputs[1].dtype) << '|' << int(g.values[static_cast<std::size_t>(n.outputs[0])].dtype) << '|';
  for (int64_t i : n.attrs.ints) key << i << ',';
  for (double f : n.attrs.floats) key << f << ',';
  key << "|group " << n.fusion_group;  // GEMMs of a non-fusable custom op stay apart from the rest
  if (m.bias >= 0) {
    key << "|bias " << int(g.values[static_cast<std::size_t>(m.bias)].dtype) << ' '
        << (m.bias_cast >= 0 ? int(g.values[static_cast<std::size_t>(g.nodes[static_cast<std::size_t>(m.bias_cast)].outputs[0])].dtype) : -1);
  }
  return key.str();
}

}  // namespace

std::vector<std::string> fuse_shared_input_gemms(Graph& g, std::vector<int>& order, const std::set<int>& outputs) {
  std::vector<std::string> log;
  std::map<std::string, std::vector<Member>> groups;
  std::vector<std::string> keys;  // in order of first member, for a stable log
  for (int index : order) {
    const Node& n = g.nodes[static_cast<std::size_t>(index)];
    if (n.op != OpKind::kMatmul || n.inputs.size() < 2 || n.outputs.size() != 1) continue;
    if (outputs.count(n.outputs[0]) > 0) continue;  // the step keeps it: it needs its own memory
    Member m{index, transposed_weight(g, n.inputs[1])};
    if (m.weight < 0) continue;
    const bool has_bias = !n.attrs.ints.empty() && n.attrs.ints[0] != 0;
    if (has_bias) {
      const auto source = bias_source(g, n.inputs[2]);
      if (!source) continue;
      m.bias = source->first;
      m.bias_cast = source->second;
    }
    const std::string key = group_key(g, n, m);
    auto& members = groups[key];
    if (members.empty()) keys.push_back(key);
    members.push_back(m);
  }

  std::map<int, std::vector<std::pair<int, std::size_t>>> readers;  // value -> (node, input)
  for (int index : order) {
    const Node& n = g.nodes[static_cast<std::size_t>(index)];
    for (std::size_t i = 0; i < n.inputs.size(); ++i) readers[n.inputs[i].value].push_back({index, i});
  }
  for (const std::string& key : keys) {
    const std::vector<Member>& members = groups[key];
    if (members.size() < 2) continue;
    const Node& first = g.nodes[static_cast<std::size_t>(members[0].node)];
    const Value& first_out = g.values[static_cast<std::size_t>(first.outputs[0])];
    const int64_t k = first.inputs[1].shape[0];
    int64_t total = 0;
    for (const Member& m : members) total += g.values[static_cast<std::size_t>(m.weight)].shape[0];
    // Every reader of every output must read its columns through a view.
    const int stacked_out = static_cast<int>(g.values.size());
    std::vector<std::pair<std::pair<int, std::size_t>, View>> rewrites;
    bool ok = true;
    int64_t column = 0;
    for (const Member& m : members) {
      const int out = g.nodes[static_cast<std::size_t>(m.node)].outputs[0];
      const int64_t n = g.values[static_cast<std::size_t>(m.weight)].shape[0];
      for (const auto& [node, input] : readers[out]) {
        const auto view = as_columns(g.nodes[static_cast<std::size_t>(node)].inputs[input], n, total, column, stacked_out);
        if (!view) {
          ok = false;
          break;
        }
        rewrites.push_back({{node, input}, *view});
      }
      if (!ok) break;
      column += n;
    }
    if (!ok) continue;

    // The stacked output, weights and biases.
    Value out;
    out.shape = first_out.shape;
    out.shape.back() = total;
    out.dtype = first_out.dtype;
    out.producer = members[0].node;
    g.values.push_back(out);
    Value weights;
    weights.shape = {total, k};
    weights.dtype = first.inputs[1].dtype;
    for (const Member& m : members) weights.packed_from.push_back(m.weight);
    const int stacked_weights = static_cast<int>(g.values.size());
    g.values.push_back(weights);
    Node& fused = g.nodes[static_cast<std::size_t>(members[0].node)];
    fused.inputs[1] = View{stacked_weights, {k, total}, {1, k}, 0, weights.dtype};
    fused.outputs = {stacked_out};
    if (members[0].bias >= 0) {
      Value biases;
      biases.shape = {total};
      biases.dtype = g.values[static_cast<std::size_t>(members[0].bias)].dtype;
      for (const Member& m : members) biases.packed_from.push_back(m.bias);
      const int stacked_biases = static_cast<int>(g.values.size());
      g.values.push_back(biases);
      View bias{stacked_biases, {total}, {1}, 0, biases.dtype};
      if (members[0].bias_cast >= 0) {
        // Cast once, the stacked vector, where the first GEMM's cast ran.
        const DType to = g.values[static_cast<std::size_t>(
                                      g.nodes[static_cast<std::size_t>(members[0].bias_cast)].outputs[0])]
                             .dtype;
        const std::string label = g.nodes[static_cast<std::size_t>(members[0].bias_cast)].label;
        const auto cast_out = g.add_node(OpKind::kCast, {}, {bias}, {{{total}, to}}, label);
        const int cast_node = static_cast<int>(g.nodes.size()) - 1;
        order.insert(std::find(order.begin(), order.end(), members[0].node), cast_node);
        bias = View{cast_out[0], {total}, {1}, 0, to};
      }
      g.nodes[static_cast<std::size_t>(members[0].node)].inputs[2] = bias;
    }
    for (const auto& [at, view] : rewrites) g.nodes[static_cast<std::size_t>(at.first)].inputs[at.second] = view;
    std::string labels = g.nodes[static_cast<std::size_t>(members[0].node)].label;
    for (std::size_t i = 1; i < members.size(); ++i) {
      const Node& gone = g.nodes[static_cast<std::size_t>(members[i].node)];
      if (labels.find(gone.label) == std::string::npos) labels += "+" + gone.label;
      order.erase(std::find(order.begin(), order.end(), members[i].node));
    }
    for (const Member& m : members) {
      // The per-GEMM bias casts no one reads any more.
      if (m.bias_cast < 0) continue;
      const int cast_out = g.nodes[static_cast<std::size_t>(m.bias_cast)].outputs[0];
      bool read = false;
      for (int index : order) {
        for (const View& in : g.nodes[static_cast<std::size_t>(index)].inputs) read = read || in.value == cast_out;
      }
      if (!read) {
        const auto it = std::find(order.begin(), order.end(), m.bias_cast);
        if (it != order.end()) order.erase(it);
      }
    }
    g.nodes[static_cast<std::size_t>(members[0].node)].label = labels;
    std::ostringstream line;
    line << "fuse_shared_input_gemms: " << members.size() << " GEMMs reading one input -> one of [" << k << " x "
         << total << "] over packed weights (" << labels << ")";
    log.push_back(line.str());
  }
  return log;
}

}  // namespace kiln::runtime
