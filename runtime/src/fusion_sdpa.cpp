#include "fusion_sdpa.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <sstream>

#include "kiln/common/bf16.h"
#include "kiln/common/f16.h"
#include "fusion.h"
#include "sdpa_lowering.h"

namespace kiln::runtime {

namespace {

using Readers = std::map<int, std::vector<int>>;

// The value of a one-element fill, as the fill stores it in its dtype.
std::optional<double> scalar_fill(const Graph& g, const View& view) {
  const Value& v = g.values[static_cast<std::size_t>(view.value)];
  if (v.producer < 0 || numel(v.shape) != 1) return std::nullopt;
  const Node& n = g.nodes[static_cast<std::size_t>(v.producer)];
  if (n.op != OpKind::kFill || n.attrs.floats.empty()) return std::nullopt;
  const float x = static_cast<float>(n.attrs.floats[0]);
  if (v.dtype == DType::kBF16) return round_to_bf16(x);
  if (v.dtype == DType::kF16) return round_to_f16(x);
  return x;
}


bool plain_matmul(const Node& n) {
  return n.op == OpKind::kMatmul && n.inputs.size() == 2 && (n.attrs.ints.empty() || n.attrs.ints[0] == 0) &&
         (n.attrs.ints.size() < 2 || n.attrs.ints[1] == 0);
}

// `m` broadcast to `shape` as a view (stride 0 where it broadcasts), if it does.
std::optional<View> expanded(View m, const Shape& shape) {
  if (m.shape.size() > shape.size()) return std::nullopt;
  while (m.shape.size() < shape.size()) {
    m.shape.insert(m.shape.begin(), 1);
    m.strides.insert(m.strides.begin(), 0);
  }
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (m.shape[d] == shape[d]) continue;
    if (m.shape[d] != 1) return std::nullopt;
    m.shape[d] = shape[d];
    m.strides[d] = 0;
  }
  return m;
}

}  // namespace

std::vector<std::string> fuse_sdpa(Graph& g, std::vector<int>& order, const std::set<int>& outputs,
                                   uint64_t sram_budget) {
  std::vector<std::string> log;
  const std::vector<int> snapshot = order;
  for (int first : snapshot) {
    if (std::find(order.begin(), order.end(), first) == order.end()) continue;
    if (!plain_matmul(g.nodes[static_cast<std::size_t>(first)])) continue;
    const Readers readers = readers_of(g, order);
    const auto next = [&](int node) {
      return sole_dense_reader(g, readers, outputs, g.nodes[static_cast<std::size_t>(node)].outputs[0]);
    };
    const Node& mm1 = g.nodes[static_cast<std::size_t>(first)];
    const View q = mm1.inputs[0];
    View k = mm1.inputs[1];
    const std::size_t r = q.shape.size();
    if (r < 2 || r > 4 || k.shape.size() != r || !is_float(q.dtype) || k.dtype != q.dtype) continue;
    std::swap(k.shape[r - 1], k.shape[r - 2]);
    std::swap(k.strides[r - 1], k.strides[r - 2]);
    const Shape scores = g.values[static_cast<std::size_t>(mm1.outputs[0])].shape;
    std::vector<int> chain = {first};
    std::string ops = "matmul";
    // The scale.
    int at = next(first);
    if (at < 0 || g.nodes[static_cast<std::size_t>(at)].op != OpKind::kMul) continue;
    const Node& mul = g.nodes[static_cast<std::size_t>(at)];
    const View& factor = mul.inputs[0].value == mm1.outputs[0] ? mul.inputs[1] : mul.inputs[0];
    const std::optional<double> scale = scalar_fill(g, factor);
    if (!scale || g.values[static_cast<std::size_t>(mul.outputs[0])].shape != scores) continue;
    chain.push_back(at);
    ops += "+mul";
    // The mask: additive, or boolean through where.
    std::optional<View> mask;
    View where_cond;
    bool where_keeps = false, has_where = false;
    at = next(at);
    if (at < 0) continue;
    {
      const Node& n = g.nodes[static_cast<std::size_t>(at)];
      const int in = g.nodes[static_cast<std::size_t>(chain.back())].outputs[0];
      const bool same_shape = g.values[static_cast<std::size_t>(n.outputs[0])].shape == scores;
      if (n.op == OpKind::kAdd && same_shape) {
        const View& other = n.inputs[0].value == in ? n.inputs[1] : n.inputs[0];
        mask = expanded(other, scores);
        if (!mask || other.dtype != q.dtype) continue;
        chain.push_back(at);
        ops += "+add";
        at = next(at);
      } else if (n.op == OpKind::kWhere && same_shape && n.inputs[0].value != in) {
        const auto hidden = [&](const View& v) {
          const std::optional<double> x = scalar_fill(g, v);
          return x && std::isinf(*x) && *x < 0;
        };
        if (n.inputs[1].value == in && hidden(n.inputs[2])) {
          where_keeps = true;
        } else if (n.inputs[2].value == in && hidden(n.inputs[1])) {
          where_keeps = false;
        } else {
          continue;
        }
        if (!expanded(n.inputs[0], scores)) continue;
        has_where = true;
        where_cond = n.inputs[0];
        chain.push_back(at);
        ops += "+where";
        at = next(at);
      }
    }
    if (at < 0) continue;
    const Node& sm = g.nodes[static_cast<std::size_t>(at)];
    if (sm.op != OpKind::kSoftmax || sm.attrs.ints.empty() || sm.attrs.ints[0] != static_cast<int64_t>(r - 1)) continue;
    chain.push_back(at);
    ops += "+softmax";
    const int last = next(at);
    if (last < 0) continue;
    const Node& mm2 = g.nodes[static_cast<std::size_t>(last)];
    if (!plain_matmul(mm2) || mm2.inputs[0].value != sm.outputs[0]) continue;
    const View v = mm2.inputs[1];
    if (v.shape.size() != r || v.dtype != q.dtype || v.shape[r - 2] != k.shape[r - 2]) continue;
    bool batch_ok = true;
    for (std::size_t d = 0; d + 2 < r; ++d) batch_ok = batch_ok && q.shape[d] == k.shape[d] && q.shape[d] == v.shape[d];
    if (!batch_ok) continue;
    ops += "+matmul";
    // Would its tiles fit?
    Node probe;
    probe.op = OpKind::kFusedSdpa;
    probe.inputs = {q, k, v};
    probe.outputs = mm2.outputs;
    if (!plan_sdpa(g, probe, sram_budget)) {
      log.push_back("fuse_sdpa: " + ops + " left composed: one head's tiles do not fit the SRAM budget");
      continue;
    }
    // A boolean mask becomes additive: where(cond, 0, -inf) (or the other way round).
    auto pos = std::find(order.begin(), order.end(), last);
    if (has_where) {
      const Shape cond_shape = where_cond.shape;
      const auto zero = g.add_node(OpKind::kFill, Attrs{{}, {0.0}}, {}, {{Shape{}, q.dtype}}, "fused_sdpa mask");
      const auto inf = g.add_node(OpKind::kFill, Attrs{{}, {-INFINITY}}, {}, {{Shape{}, q.dtype}}, "fused_sdpa mask");
      const View z{zero[0], {}, {}, 0, q.dtype}, h{inf[0], {}, {}, 0, q.dtype};
      const auto additive = g.add_node(OpKind::kWhere, {}, {where_cond, where_keeps ? z : h, where_keeps ? h : z},
                                       {{cond_shape, q.dtype}}, "fused_sdpa mask");
      const int made = static_cast<int>(g.nodes.size());
      order.insert(pos, {made - 3, made - 2, made - 1});
      mask = expanded(View{additive[0], cond_shape, contiguous_strides(cond_shape), 0, q.dtype}, scores);
    }
    Node& fused = g.nodes[static_cast<std::size_t>(last)];
    std::string label;
    chain.push_back(last);
    for (int c : chain) {
      const std::string& l = g.nodes[static_cast<std::size_t>(c)].label;
      if (label.find(l) != std::string::npos) continue;
      if (!label.empty()) label += '+';
      label += l;
    }
    chain.pop_back();
    fused.op = OpKind::kFusedSdpa;
    fused.inputs = {q, k, v};
    if (mask) fused.inputs.push_back(*mask);
    fused.attrs = Attrs{{0, mask ? 1 : 0}, {*scale}};
    fused.label = label;
    for (int c : chain) order.erase(std::find(order.begin(), order.end(), c));
    std::ostringstream line;
    line << "fuse_sdpa: " << ops << " -> fused_sdpa " << dtype_name(q.dtype) << to_string(q.shape) << " x "
         << to_string(k.shape) << (mask ? (has_where ? ", boolean mask" : ", additive mask") : "") << " ("
         << fused.label << ")";
    log.push_back(line.str());
  }
  return log;
}

}  // namespace kiln::runtime
