// fuse_elementwise and fuse_add_norm (fusion.h).
#include <algorithm>
#include <map>
#include <optional>

#include "fusion.h"
#include "kiln/common/bf16.h"
#include "kiln/common/f16.h"
#include "kiln/kernels/fused_program.h"

namespace kiln::runtime {

namespace {

using kernels::FusedOp;
using Builder = kernels::FusedProgramBuilder;

std::optional<FusedOp> fused_op_of(OpKind op) {
  switch (op) {
    case OpKind::kAdd: return FusedOp::kAdd;
    case OpKind::kSub: return FusedOp::kSub;
    case OpKind::kMul: return FusedOp::kMul;
    case OpKind::kDiv: return FusedOp::kDiv;
    case OpKind::kMaximum: return FusedOp::kMax;
    case OpKind::kMinimum: return FusedOp::kMin;
    case OpKind::kPow: return FusedOp::kPow;
    case OpKind::kWhere: return FusedOp::kWhere;
    case OpKind::kEq: return FusedOp::kEq;
    case OpKind::kNe: return FusedOp::kNe;
    case OpKind::kLt: return FusedOp::kLt;
    case OpKind::kLe: return FusedOp::kLe;
    case OpKind::kGt: return FusedOp::kGt;
    case OpKind::kGe: return FusedOp::kGe;
    case OpKind::kNeg: return FusedOp::kNeg;
    case OpKind::kAbs: return FusedOp::kAbs;
    case OpKind::kExp: return FusedOp::kExp;
    case OpKind::kLog: return FusedOp::kLog;
    case OpKind::kSqrt: return FusedOp::kSqrt;
    case OpKind::kRsqrt: return FusedOp::kRsqrt;
    case OpKind::kReciprocal: return FusedOp::kReciprocal;
    case OpKind::kRelu: return FusedOp::kRelu;
    case OpKind::kSigmoid: return FusedOp::kSigmoid;
    case OpKind::kTanh: return FusedOp::kTanh;
    case OpKind::kSilu: return FusedOp::kSilu;
    case OpKind::kGeluErf: return FusedOp::kGeluErf;
    case OpKind::kGeluTanh: return FusedOp::kGeluTanh;
    case OpKind::kHardswish: return FusedOp::kHardSwish;
    case OpKind::kSoftplus: return FusedOp::kSoftplus;
    case OpKind::kLeakyRelu: return FusedOp::kLeakyRelu;
    case OpKind::kElu: return FusedOp::kElu;
    case OpKind::kClamp: return FusedOp::kClamp;
    case OpKind::kHardsigmoid: return FusedOp::kHardSigmoid;
    case OpKind::kCast: return FusedOp::kCast;
    case OpKind::kErf: return FusedOp::kErf;
    case OpKind::kFloor: return FusedOp::kFloor;
    case OpKind::kCeil: return FusedOp::kCeil;
    case OpKind::kRound: return FusedOp::kRound;
    case OpKind::kSign: return FusedOp::kSign;
    case OpKind::kSin: return FusedOp::kSin;
    case OpKind::kCos: return FusedOp::kCos;
    case OpKind::kTan: return FusedOp::kTan;
    case OpKind::kAsin: return FusedOp::kAsin;
    case OpKind::kAcos: return FusedOp::kAcos;
    case OpKind::kAtan: return FusedOp::kAtan;
    case OpKind::kSinh: return FusedOp::kSinh;
    case OpKind::kCosh: return FusedOp::kCosh;
    case OpKind::kAsinh: return FusedOp::kAsinh;
    case OpKind::kAcosh: return FusedOp::kAcosh;
    case OpKind::kAtanh: return FusedOp::kAtanh;
    case OpKind::kFmod: return FusedOp::kFmod;
    case OpKind::kLogicalAnd: return FusedOp::kLogicalAnd;
    case OpKind::kLogicalOr: return FusedOp::kLogicalOr;
    case OpKind::kLogicalXor: return FusedOp::kLogicalXor;
    case OpKind::kLogicalNot: return FusedOp::kLogicalNot;
    default: return std::nullopt;
  }
}

bool fusable_dtype(DType d) { return d == DType::kF32 || d == DType::kBF16 || d == DType::kF16 || d == DType::kBool; }

struct Context {
  Graph& g;
  const std::set<int>& outputs;
  std::map<int, std::vector<int>> readers;  // value -> reading nodes
  std::map<int, int> position;              // node -> place in the order
};

// Whether `value` can live only inside a fused kernel read by `consumer`:
// nothing else reads it, the step does not keep it, and the consumer reads
// it whole.
bool internal_edge(const Context& c, int value, int consumer) {
  if (c.outputs.count(value) > 0) return false;
  const auto it = c.readers.find(value);
  if (it == c.readers.end() || it->second.size() != 1 || it->second[0] != consumer) return false;
  const Value& v = c.g.values[static_cast<std::size_t>(value)];
  for (const View& in : c.g.nodes[static_cast<std::size_t>(consumer)].inputs) {
    if (in.value == value && (!in.contiguous() || in.shape != v.shape || in.dtype != v.dtype)) return false;
  }
  return true;
}

bool elementwise_node(const Graph& g, int index) {
  const Node& n = g.nodes[static_cast<std::size_t>(index)];
  if (!fused_op_of(n.op) || n.outputs.size() != 1) return false;
  if (!fusable_dtype(g.values[static_cast<std::size_t>(n.outputs[0])].dtype)) return false;
  return std::all_of(n.inputs.begin(), n.inputs.end(), [](const View& v) { return fusable_dtype(v.dtype); });
}

// A rank-0 fill: a scalar constant the program can hold. Its value is the one
// the fill kernel would store: fp32, then rounded to nearest even in a bf16 or
// f16 fill (mul(x, 0.1) of a bf16 x multiplies by bf16(0.1), fused or not).
std::optional<double> scalar_fill(const Graph& g, int value) {
  const Value& v = g.values[static_cast<std::size_t>(value)];
  if (v.producer < 0 || !v.shape.empty()) return std::nullopt;
  const Node& n = g.nodes[static_cast<std::size_t>(v.producer)];
  if (n.op != OpKind::kFill || n.attrs.floats.empty()) return std::nullopt;
  const float x = static_cast<float>(n.attrs.floats[0]);
  if (v.dtype == DType::kBF16) return round_to_bf16(x);
  if (v.dtype == DType::kF16) return round_to_f16(x);
  if (v.dtype == DType::kBool) return x != 0.0f ? 1.0 : 0.0;
  return x;
}

// A group: a root and the producers folded into it.
struct Group {
  std::vector<int> members;      // nodes, in order
  std::vector<int> fills;        // scalar fills folded into constants
  std::vector<View> inputs;      // external inputs of the kernel
  int constants = 0;
};

// Grows `group` from node `index` (a member) into its producers.
void grow(Context& c, Group& group, int index, const Shape& shape) {
  const Node& n = c.g.nodes[static_cast<std::size_t>(index)];
  for (const View& in : n.inputs) {
    const int p = c.g.values[static_cast<std::size_t>(in.value)].producer;
    if (p < 0 || !c.position.count(p)) continue;
    if (scalar_fill(c.g, in.value) && internal_edge(c, in.value, index) && group.constants < kernels::kFusedMaxConstants &&
        c.g.nodes[static_cast<std::size_t>(p)].fusion_group == n.fusion_group) {
      group.fills.push_back(p);
      ++group.constants;
      continue;
    }
    if (!elementwise_node(c.g, p) || !internal_edge(c, in.value, index)) continue;
    // A non-fusable custom op's nodes fuse only among themselves.
    if (c.g.nodes[static_cast<std::size_t>(p)].fusion_group != n.fusion_group) continue;
    if (c.g.values[static_cast<std::size_t>(in.value)].shape != shape) continue;
    if (static_cast<int>(group.members.size()) + 4 > kernels::kFusedMaxOps) continue;  // room for a leaf's constants
    group.members.push_back(p);
    grow(c, group, p, shape);
  }
}

int attr_constants(OpKind op) {
  switch (op) {
    case OpKind::kLeakyRelu: case OpKind::kElu: return 1;
    case OpKind::kClamp: case OpKind::kHardsigmoid: return 2;
    default: return 0;
  }
}

// Encodes `group` (members sorted by position) as a fused_elementwise node
// replacing its root; false if it does not fit one launch.
bool emit(Context& c, Group& group, std::vector<int>& order, std::vector<std::string>& log) {
  std::sort(group.members.begin(), group.members.end(),
            [&](int a, int b) { return c.position.at(a) < c.position.at(b); });
  std::set<int> internal, fills(group.fills.begin(), group.fills.end());
  for (int m : group.members) internal.insert(c.g.nodes[static_cast<std::size_t>(m)].outputs[0]);
  // External inputs, by (value, view).
  std::vector<View> inputs;
  auto input_index = [&](const View& v) {
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const View& u = inputs[i];
      if (u.value == v.value && u.shape == v.shape && u.strides == v.strides && u.offset == v.offset &&
          u.dtype == v.dtype)
        return static_cast<int>(i);
    }
    inputs.push_back(v);
    return static_cast<int>(inputs.size()) - 1;
  };
  for (int m : group.members) {
    for (const View& in : c.g.nodes[static_cast<std::size_t>(m)].inputs) {
      const int p = c.g.values[static_cast<std::size_t>(in.value)].producer;
      if (!internal.count(in.value) && !(p >= 0 && fills.count(p))) input_index(in);
    }
  }
  // The kernel takes 1..7 input tensors: constants alone (rsqrt of a fill)
  // stay the ops they are.
  if (inputs.empty()) return false;
  int constants = static_cast<int>(group.fills.size());
  for (int m : group.members) constants += attr_constants(c.g.nodes[static_cast<std::size_t>(m)].op);
  if (inputs.size() > static_cast<std::size_t>(kernels::kFusedMaxInputs) || constants > kernels::kFusedMaxConstants ||
      static_cast<int>(group.members.size()) > kernels::kFusedMaxOps) {
    return false;
  }
  Builder b(static_cast<int>(inputs.size()));
  std::map<int, Builder::Value> value_of;
  std::string label;
  for (int m : group.members) {
    const Node& n = c.g.nodes[static_cast<std::size_t>(m)];
    std::vector<Builder::Value> operands;
    for (const View& in : n.inputs) {
      const int p = c.g.values[static_cast<std::size_t>(in.value)].producer;
      if (internal.count(in.value)) {
        operands.push_back(value_of.at(in.value));
      } else if (p >= 0 && fills.count(p)) {
        operands.push_back(b.constant(static_cast<float>(*scalar_fill(c.g, in.value))));
      } else {
        operands.push_back(b.input(input_index(in)));
      }
    }
    for (int i = 0; i < attr_constants(n.op); ++i) {
      operands.push_back(b.constant(static_cast<float>(n.attrs.floats.at(static_cast<std::size_t>(i)))));
    }
    const DType result = c.g.values[static_cast<std::size_t>(n.outputs[0])].dtype;
    const FusedOp op = *fused_op_of(n.op);
    Builder::Value v;
    if (operands.size() == 1) v = b.op(op, operands[0], result);
    else if (operands.size() == 2) v = b.op(op, operands[0], operands[1], result);
    else v = b.op(op, operands[0], operands[1], operands[2], result);
    value_of[n.outputs[0]] = v;
    if (label.empty() || label.rfind(n.label) != label.size() - n.label.size()) {
      label += (label.empty() ? "" : "+") + n.label;
    }
  }
  kernels::KernelArgs args;
  if (!b.append_to(args).ok()) return false;
  const int root = group.members.back();
  Node fused;
  fused.op = OpKind::kFusedElementwise;
  fused.inputs = inputs;
  fused.outputs = c.g.nodes[static_cast<std::size_t>(root)].outputs;
  fused.label = label;
  fused.fusion_group = c.g.nodes[static_cast<std::size_t>(root)].fusion_group;
  fused.attrs.ints.assign(args.ints.begin(), args.ints.begin() + args.num_ints);
  for (int i = 0; i < args.num_floats; ++i) fused.attrs.floats.push_back(args.floats[static_cast<std::size_t>(i)]);
  c.g.nodes.push_back(std::move(fused));
  const int index = static_cast<int>(c.g.nodes.size()) - 1;
  for (int out : c.g.nodes.back().outputs) c.g.values[static_cast<std::size_t>(out)].producer = index;
  // The fused node takes the root's place; members and folded fills leave.
  std::replace(order.begin(), order.end(), root, index);
  std::set<int> gone(group.members.begin(), group.members.end() - 1);
  gone.insert(group.fills.begin(), group.fills.end());
  std::erase_if(order, [&](int n) { return gone.count(n) > 0; });
  log.push_back("fuse_elementwise: " + std::to_string(group.members.size()) + " ops" +
                (group.fills.empty() ? "" : " and " + std::to_string(group.fills.size()) + " constants") +
                " into one kernel (" + label + ")");
  return true;
}

}  // namespace

std::vector<std::string> fuse_elementwise(Graph& g, std::vector<int>& order, const std::set<int>& outputs) {
  std::vector<std::string> log;
  Context c{g, outputs, {}, {}};
  for (std::size_t i = 0; i < order.size(); ++i) {
    c.position[order[i]] = static_cast<int>(i);
    for (const View& in : g.nodes[static_cast<std::size_t>(order[i])].inputs) c.readers[in.value].push_back(order[i]);
  }
  std::set<int> taken;
  // Roots from the last node back, so each group is as large as it can be.
  const std::vector<int> snapshot = order;
  for (auto it = snapshot.rbegin(); it != snapshot.rend(); ++it) {
    const int root = *it;
    if (taken.count(root) || !elementwise_node(g, root)) continue;
    Group group;
    group.members.push_back(root);
    const Shape shape = g.values[static_cast<std::size_t>(g.nodes[static_cast<std::size_t>(root)].outputs[0])].shape;
    grow(c, group, root, shape);
    std::erase_if(group.members, [&](int m) { return taken.count(m) > 0 && m != root; });
    if (group.members.size() + group.fills.size() < 2) continue;
    for (int m : group.members) taken.insert(m);
    const std::vector<int> members = group.members;
    if (!emit(c, group, order, log)) {
      for (int m : members) taken.erase(m);
      taken.insert(root);
    }
  }
  return log;
}

std::vector<std::string> fuse_add_norm(Graph& g, std::vector<int>& order, const std::set<int>& outputs) {
  (void)outputs;  // the sum stays an output of the fused node
  std::vector<std::string> log;
  const std::vector<int> snapshot = order;
  for (int norm_index : snapshot) {
    const Node norm = g.nodes[static_cast<std::size_t>(norm_index)];
    if (norm.op != OpKind::kLayerNorm && norm.op != OpKind::kRmsNorm) continue;
    const View& x_in = norm.inputs[0];
    const Value& sum_value = g.values[static_cast<std::size_t>(x_in.value)];
    const int add_index = sum_value.producer;
    if (add_index < 0 || !x_in.contiguous() || x_in.shape != sum_value.shape) continue;
    const auto add_at = std::find(order.begin(), order.end(), add_index);
    if (add_at == order.end()) continue;
    const Node& add = g.nodes[static_cast<std::size_t>(add_index)];
    if (add.op != OpKind::kAdd || add.fusion_group != norm.fusion_group) continue;
    // x is the operand of the sum's shape; the residual broadcasts to it.
    int xi = add.inputs[0].shape == sum_value.shape ? 0 : 1;
    if (add.inputs[static_cast<std::size_t>(xi)].shape != sum_value.shape) continue;
    // Placed at the add: the norm's parameters must exist by then.
    const auto position = [&](int node) { return std::find(order.begin(), order.end(), node) - order.begin(); };
    const auto add_pos = position(add_index);
    bool ready = true;
    for (std::size_t i = 1; i < norm.inputs.size(); ++i) {
      const int p = g.values[static_cast<std::size_t>(norm.inputs[i].value)].producer;
      if (p >= 0 && position(p) > add_pos) ready = false;
    }
    if (!ready) continue;
    Node fused;
    fused.op = norm.op == OpKind::kLayerNorm ? OpKind::kAddLayerNorm : OpKind::kAddRmsNorm;
    fused.inputs = {add.inputs[static_cast<std::size_t>(xi)], add.inputs[static_cast<std::size_t>(1 - xi)]};
    fused.inputs.insert(fused.inputs.end(), norm.inputs.begin() + 1, norm.inputs.end());
    fused.outputs = {norm.outputs[0], add.outputs[0]};
    fused.attrs = norm.attrs;
    fused.label = add.label + "+" + norm.label;
    fused.fusion_group = norm.fusion_group;
    g.nodes.push_back(std::move(fused));
    const int index = static_cast<int>(g.nodes.size()) - 1;
    for (int out : g.nodes.back().outputs) g.values[static_cast<std::size_t>(out)].producer = index;
    order[static_cast<std::size_t>(add_pos)] = index;
    order.erase(std::find(order.begin(), order.end(), norm_index));
    log.push_back("fuse_add_norm: add+" + std::string(op_name(norm.op)) + " (" + g.nodes.back().label + ")");
  }
  return log;
}

}  // namespace kiln::runtime
