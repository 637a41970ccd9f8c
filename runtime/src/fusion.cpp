#include "fusion.h"

#include <algorithm>
#include <map>

#include "kiln/common/mme_descriptor.h"

namespace kiln::runtime {

// Who reads each value, among the nodes in `order`.
std::map<int, std::vector<int>> readers_of(const Graph& g, const std::vector<int>& order) {
  std::map<int, std::vector<int>> readers;
  for (int index : order) {
    for (const View& in : g.nodes[static_cast<std::size_t>(index)].inputs) readers[in.value].push_back(index);
  }
  return readers;
}

// The single node reading `value` (as a whole, densely), or -1.
int sole_dense_reader(const Graph& g, const std::map<int, std::vector<int>>& readers, const std::set<int>& outputs,
                      int value) {
  if (outputs.count(value) > 0) return -1;
  const auto it = readers.find(value);
  if (it == readers.end() || it->second.size() != 1) return -1;
  const Node& r = g.nodes[static_cast<std::size_t>(it->second[0])];
  const Value& v = g.values[static_cast<std::size_t>(value)];
  // A non-fusable custom op's nodes fuse only among themselves.
  if (v.producer >= 0 && g.nodes[static_cast<std::size_t>(v.producer)].fusion_group != r.fusion_group) return -1;
  int uses = 0;
  for (const View& in : r.inputs) {
    if (in.value != value) continue;
    if (!in.contiguous() || in.shape != v.shape || in.dtype != v.dtype) return -1;
    ++uses;
  }
  return uses == 1 ? it->second[0] : -1;
}

namespace {

// `b` as a dense vector of the `n` elements along dim `axis` of a result of
// rank `rank` (every other dim of b is 1), or nothing.
std::optional<View> as_bias_vector(const View& b, std::size_t rank, std::size_t axis, int64_t n) {
  if (b.shape.size() > rank) return std::nullopt;
  const std::size_t pad = rank - b.shape.size();
  if (axis < pad) return std::nullopt;
  int64_t stride = 1;
  for (std::size_t d = 0; d < b.shape.size(); ++d) {
    if (d + pad == axis) {
      if (b.shape[d] != n) return std::nullopt;
      stride = b.strides[d];
    } else if (b.shape[d] != 1) {
      return std::nullopt;
    }
  }
  if (stride != 1 && n != 1) return std::nullopt;
  View v = b;
  v.shape = {n};
  v.strides = {1};
  return v;
}

std::optional<mme::Activation> epilogue_activation(OpKind op) {
  switch (op) {
    case OpKind::kRelu: return mme::Activation::RELU;
    case OpKind::kGeluTanh: return mme::Activation::GELU_TANH;
    case OpKind::kSilu: return mme::Activation::SILU;
    case OpKind::kGeluErf: return mme::Activation::GELU;
    default: return std::nullopt;
  }
}

// The node `into` now produces what `gone` produced; `gone` leaves the order.
void absorb(Graph& g, std::vector<int>& order, int into, int gone) {
  Node& n = g.nodes[static_cast<std::size_t>(into)];
  Node& m = g.nodes[static_cast<std::size_t>(gone)];
  n.outputs = m.outputs;
  for (int out : n.outputs) g.values[static_cast<std::size_t>(out)].producer = into;
  if (m.label != n.label && n.label.find(m.label) == std::string::npos) n.label += "+" + m.label;
  order.erase(std::find(order.begin(), order.end(), gone));
}

}  // namespace

std::vector<std::string> fuse_epilogue(Graph& g, std::vector<int>& order, const std::set<int>& outputs) {
  std::vector<std::string> log;
  const std::vector<int> snapshot = order;
  for (int index : snapshot) {
    if (std::find(order.begin(), order.end(), index) == order.end()) continue;
    Node& n = g.nodes[static_cast<std::size_t>(index)];
    const bool gemm = n.op == OpKind::kMatmul;
    if (!gemm && n.op != OpKind::kConv2d) continue;
    // Attribute positions: has_bias, then activation.
    const std::size_t bias_attr = gemm ? 0 : 6;
    std::string fused(op_name(n.op));
    auto readers = readers_of(g, order);
    // The bias add.
    if (n.attrs.ints[bias_attr] == 0) {
      const int out = n.outputs[0];
      const int r = sole_dense_reader(g, readers, outputs, out);
      if (r >= 0 && g.nodes[static_cast<std::size_t>(r)].op == OpKind::kAdd) {
        const Node& add = g.nodes[static_cast<std::size_t>(r)];
        const View& other = add.inputs[0].value == out ? add.inputs[1] : add.inputs[0];
        const Shape& shape = g.values[static_cast<std::size_t>(out)].shape;
        const std::size_t axis = gemm ? shape.size() - 1 : 1;
        const auto bias = as_bias_vector(other, shape.size(), axis, shape[axis]);
        const bool same_shape = g.values[static_cast<std::size_t>(add.outputs[0])].shape == shape;
        if (bias && same_shape) {
          // The GEMM takes the add's place in the order: the bias may be
          // computed after the GEMM was recorded (a scaled bias, ONNX Gemm's
          // beta·C), and the add was the GEMM's only reader.
          order.erase(std::find(order.begin(), order.end(), index));
          order.insert(std::find(order.begin(), order.end(), r), index);
          View b = *bias;
          if (b.dtype != DType::kF32) {
            // The epilogue adds an fp32 bias: a cast of n elements, not a pass over the output.
            const auto cast = g.add_node(OpKind::kCast, {}, {b}, {{b.shape, DType::kF32}}, add.label);
            order.insert(std::find(order.begin(), order.end(), index), static_cast<int>(g.nodes.size()) - 1);
            b = View{cast[0], b.shape, {1}, 0, DType::kF32};
          }
          Node& mm = g.nodes[static_cast<std::size_t>(index)];  // add_node may have moved it
          mm.inputs.push_back(b);
          mm.attrs.ints[bias_attr] = 1;
          absorb(g, order, index, r);
          fused += "+bias";
          readers = readers_of(g, order);
        }
      }
    }
    // The activation.
    Node& mm = g.nodes[static_cast<std::size_t>(index)];
    if (mm.attrs.ints[bias_attr + 1] == static_cast<int64_t>(mme::Activation::NONE)) {
      const int r = sole_dense_reader(g, readers, outputs, mm.outputs[0]);
      if (r >= 0) {
        const auto act = epilogue_activation(g.nodes[static_cast<std::size_t>(r)].op);
        if (act) {
          // Two appends, not "+" + std::string(...): GCC 12 at -O3 reports a false
          // -Wrestrict on operator+(const char*, string&&).
          fused += '+';
          fused += op_name(g.nodes[static_cast<std::size_t>(r)].op);
          mm.attrs.ints[bias_attr + 1] = static_cast<int64_t>(*act);
          absorb(g, order, index, r);
        }
      }
    }
    if (fused != op_name(g.nodes[static_cast<std::size_t>(index)].op)) {
      log.push_back("fuse_epilogue: " + fused + " (" + g.nodes[static_cast<std::size_t>(index)].label + ")");
    }
  }
  return log;
}

}  // namespace kiln::runtime
