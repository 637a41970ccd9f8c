#include "sequence_bucketing.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace kiln::runtime {

namespace {

// More contiguous runs than this in a padded input or output (each a DMA
// copy at launch) and the step runs unpadded.
constexpr int64_t kMaxRuns = 256;

// How a dim of a view reads its root value.
struct DimRead {
  int root = -1;       // the root dim it reads; -1: a broadcast or size-1 dim; -2: several root dims folded
  bool whole = false;  // all of that root dim, from its start
};

std::vector<DimRead> read_dims(const Shape& root, const View& view) {
  const Shape rs = contiguous_strides(root);
  std::vector<DimRead> out(view.shape.size());
  for (std::size_t j = 0; j < view.shape.size(); ++j) {
    const int64_t size = view.shape[j], stride = view.strides[j];
    if (size == 1 || stride == 0) continue;
    int match = -2;
    for (std::size_t d = 0; d < root.size(); ++d) {
      if (rs[d] == stride && root[d] > 1) match = static_cast<int>(d);
    }
    if (match < 0 || size > root[static_cast<std::size_t>(match)]) {
      out[j].root = -2;
      continue;
    }
    const auto d = static_cast<std::size_t>(match);
    out[j].root = match;
    out[j].whole = size == root[d] && (view.offset / rs[d]) % root[d] == 0;
  }
  return out;
}

// The root dims a folded view dim (stride t, size s) spans.
std::vector<int> folded_roots(const Shape& root, int64_t stride, int64_t size) {
  const Shape rs = contiguous_strides(root);
  std::vector<int> out;
  for (std::size_t d = 0; d < root.size(); ++d) {
    if (root[d] > 1 && rs[d] >= stride && rs[d] < stride * size) out.push_back(static_cast<int>(d));
  }
  return out;
}

// An element offset over a root of `from` shape, as the same element of a
// root of `to` shape (the same rank, dims only grown). A stride past the
// whole root (a new outer dim, as unsqueeze makes) scales with the root.
int64_t remap_offset(int64_t offset, const Shape& from, const Shape& to) {
  const Shape fs = contiguous_strides(from), ts = contiguous_strides(to);
  int64_t out = 0;
  if (const int64_t whole = numel(from); whole > 0 && offset >= whole) {
    out = offset / whole * numel(to);
    offset %= whole;
  }
  for (std::size_t d = 0; d < from.size(); ++d) {
    if (fs[d] == 0) continue;
    const int64_t digit = offset / fs[d];
    offset -= digit * fs[d];
    out += digit * ts[d];
  }
  return out;
}

class DimSets {
 public:
  explicit DimSets(const Graph& g) {
    for (const Value& v : g.values) {
      first_.push_back(static_cast<int>(parent_.size()));
      for (std::size_t d = 0; d < v.shape.size(); ++d) parent_.push_back(static_cast<int>(parent_.size()));
    }
  }
  int id(int value, int dim) const { return first_[static_cast<std::size_t>(value)] + dim; }
  int find(int x) {
    while (parent_[static_cast<std::size_t>(x)] != x) {
      parent_[static_cast<std::size_t>(x)] = parent_[static_cast<std::size_t>(parent_[static_cast<std::size_t>(x)])];
      x = parent_[static_cast<std::size_t>(x)];
    }
    return x;
  }
  void unite(int a, int b) { parent_[static_cast<std::size_t>(find(a))] = find(b); }

 private:
  std::vector<int> first_, parent_;
};

std::string where_of(const Node& n) { return std::string(op_name(n.op)) + " (" + n.label + ")"; }

bool is_positionwise(OpKind op) {
  return is_unary(op) || is_binary(op) || is_compare(op) || op == OpKind::kWhere || op == OpKind::kCast ||
         op == OpKind::kCopy;
}

bool is_reduction(OpKind op) {
  switch (op) {
    case OpKind::kReduceSum: case OpKind::kReduceMean: case OpKind::kReduceMax: case OpKind::kReduceMin:
    case OpKind::kReduceProd:
    case OpKind::kArgmax: case OpKind::kArgmin: case OpKind::kSoftmax: case OpKind::kLogSoftmax:
      return true;
    default: return false;
  }
}

// What a reduction over the padded positions needs them to be, so that they
// change nothing.
std::optional<double> reduction_fill(OpKind op) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  switch (op) {
    case OpKind::kReduceSum: return 0.0;
    case OpKind::kReduceProd: return 1.0;
    case OpKind::kReduceMax: case OpKind::kArgmax: case OpKind::kSoftmax: case OpKind::kLogSoftmax: return -kInf;
    case OpKind::kReduceMin: case OpKind::kArgmin: return kInf;
    default: return std::nullopt;  // a mean divides by the padded count
  }
}

// One node's dims: which input view dims are the same positions as which
// output (or other input) dims, and which it reduces over.
struct Links {
  struct Pair {
    int input, dim;         // an input view dim
    int value, value_dim;   // the same positions in this value's dim
  };
  std::vector<Pair> pairs;
  std::vector<std::pair<int, int>> reduced;      // (input, view dim) reduced over by this node
  std::vector<std::pair<int, int>> contracted;   // (input, view dim) a matmul's contraction
};

// Right-aligned (numpy) broadcasting of every input onto output `out`.
void link_broadcast(const Node& n, std::size_t first_input, std::size_t end_input, int out, std::size_t out_rank,
                    std::size_t out_dims, Links& l) {
  for (std::size_t i = first_input; i < end_input; ++i) {
    const std::size_t rank = n.inputs[i].shape.size();
    for (std::size_t j = 0; j < rank && j < out_dims; ++j) {
      const std::size_t o = out_dims - rank + j;
      if (o >= out_rank) continue;
      l.pairs.push_back({static_cast<int>(i), static_cast<int>(j), out, static_cast<int>(o)});
    }
  }
}

Links links_of(const Graph& g, const Node& n) {
  Links l;
  if (n.outputs.empty()) return l;
  const int out = n.outputs[0];
  const std::size_t rank = g.values[static_cast<std::size_t>(out)].shape.size();
  if (is_positionwise(n.op)) {
    link_broadcast(n, 0, n.inputs.size(), out, rank, rank, l);
    return l;
  }
  if (n.op == OpKind::kMatmul) {
    const std::size_t ra = n.inputs[0].shape.size(), rb = n.inputs[1].shape.size();
    // Batch dims broadcast onto the result's leading dims.
    for (std::size_t i = 0; i < 2; ++i) {
      const std::size_t r = n.inputs[i].shape.size() - 2;
      for (std::size_t j = 0; j < r; ++j) {
        l.pairs.push_back({static_cast<int>(i), static_cast<int>(j), out, static_cast<int>(rank - 2 - r + j)});
      }
    }
    l.pairs.push_back({0, static_cast<int>(ra - 2), out, static_cast<int>(rank - 2)});
    l.pairs.push_back({1, static_cast<int>(rb - 1), out, static_cast<int>(rank - 1)});
    if (n.inputs.size() > 2) l.pairs.push_back({2, static_cast<int>(n.inputs[2].shape.size() - 1), out, static_cast<int>(rank - 1)});
    l.contracted.push_back({0, static_cast<int>(ra - 1)});
    l.contracted.push_back({1, static_cast<int>(rb - 2)});
    return l;
  }
  if (is_reduction(n.op)) {
    const int axis = static_cast<int>(n.attrs.ints[0]);
    // A softmax keeps the axis's positions (a sum or max makes it size 1,
    // which pairs with nothing).
    for (std::size_t j = 0; j < rank; ++j) l.pairs.push_back({0, static_cast<int>(j), out, static_cast<int>(j)});
    l.reduced.push_back({0, axis});
    return l;
  }
  switch (n.op) {
    case OpKind::kLayerNorm: case OpKind::kRmsNorm: {
      // The normalised dims are read across: left out, so a sequence among
      // them refuses the step.
      const auto k = static_cast<std::size_t>(n.attrs.ints[0]);
      for (std::size_t j = 0; j + k < rank; ++j) l.pairs.push_back({0, static_cast<int>(j), out, static_cast<int>(j)});
      break;
    }
    case OpKind::kBatchNorm:
      for (std::size_t j = 0; j < rank; ++j) l.pairs.push_back({0, static_cast<int>(j), out, static_cast<int>(j)});
      for (std::size_t i = 1; i < n.inputs.size(); ++i) l.pairs.push_back({static_cast<int>(i), 0, out, 1});
      break;
    case OpKind::kConv2d: case OpKind::kMaxPool2d: case OpKind::kAvgPool2d: case OpKind::kGlobalAvgPool2d:
    case OpKind::kGlobalMaxPool2d: case OpKind::kResize:
      l.pairs.push_back({0, 0, out, 0});  // the images; windows slide over the rest
      break;
    case OpKind::kConcat: {
      const auto axis = static_cast<std::size_t>(n.attrs.ints[0]);
      for (std::size_t i = 0; i < n.inputs.size(); ++i) {
        for (std::size_t j = 0; j < rank; ++j) {
          if (j != axis) l.pairs.push_back({static_cast<int>(i), static_cast<int>(j), out, static_cast<int>(j)});
        }
      }
      break;
    }
    case OpKind::kGather: {
      const auto axis = static_cast<std::size_t>(n.attrs.ints[0]);
      const std::size_t ri = n.inputs[1].shape.size(), rx = n.inputs[0].shape.size();
      for (std::size_t j = 0; j < axis; ++j) l.pairs.push_back({0, static_cast<int>(j), out, static_cast<int>(j)});
      for (std::size_t j = 0; j < ri; ++j) l.pairs.push_back({1, static_cast<int>(j), out, static_cast<int>(axis + j)});
      for (std::size_t j = axis + 1; j < rx; ++j) {
        l.pairs.push_back({0, static_cast<int>(j), out, static_cast<int>(j - 1 + ri)});
      }
      break;
    }
    default: break;  // kPad and the rest: nothing is position for position
  }
  return l;
}

}  // namespace

int64_t padding_runs(const Shape& real, const Shape& padded) {
  std::size_t last = 0;
  bool any = false;
  for (std::size_t d = 0; d < real.size(); ++d) {
    if (real[d] != padded[d]) {
      last = d;
      any = true;
    }
  }
  if (!any) return 1;
  int64_t runs = 1;
  for (std::size_t d = 0; d < last; ++d) runs *= real[d];
  return runs;
}

std::optional<SequencePlan> plan_sequence_buckets(const Graph& g, const std::vector<int>& outputs,
                                                  const std::vector<int64_t>& buckets, std::string* why) {
  SequencePlan plan;
  plan.dims.assign(g.values.size(), 0);
  DimSets sets(g);
  std::vector<std::pair<int, int>> marked;  // (value, dim)
  for (std::size_t v = 0; v < g.values.size(); ++v) {
    const Value& val = g.values[v];
    if (val.producer >= 0 || !val.external || val.external->dynamic_sequence_dim < 0) continue;
    const int d = val.external->dynamic_sequence_dim;
    if (d >= static_cast<int>(val.shape.size())) continue;
    const int64_t length = val.shape[static_cast<std::size_t>(d)];
    if (plan.length != 0 && length != plan.length) {
      *why = "marked inputs disagree on the sequence length";
      return std::nullopt;
    }
    plan.length = length;
    marked.push_back({static_cast<int>(v), d});
  }
  if (marked.empty()) {
    *why = "no input is marked dynamic";
    return std::nullopt;
  }
  if (plan.length < 2) {
    *why = "sequence length " + std::to_string(plan.length) + " is not padded";
    return std::nullopt;
  }
  for (int64_t b : buckets) {
    if (b >= plan.length && (plan.padded == 0 || b < plan.padded)) plan.padded = b;
  }
  if (plan.padded == 0) {
    *why = "sequence length " + std::to_string(plan.length) + " is above the largest bucket";
    return std::nullopt;
  }

  // Unify the dims that are the same positions, node by node.
  std::vector<Links> links(g.nodes.size());
  std::vector<std::vector<DimRead>> reads;  // per node input, in node order
  std::vector<std::size_t> first_read(g.nodes.size());
  std::vector<int> linked_ids;  // (value, dim) ids of result dims an input dim carries over
  for (std::size_t ni = 0; ni < g.nodes.size(); ++ni) {
    const Node& n = g.nodes[ni];
    first_read[ni] = reads.size();
    for (const View& in : n.inputs) reads.push_back(read_dims(g.values[static_cast<std::size_t>(in.value)].shape, in));
    links[ni] = links_of(g, n);
    for (const Links::Pair& p : links[ni].pairs) {
      const DimRead& r = reads[first_read[ni] + static_cast<std::size_t>(p.input)][static_cast<std::size_t>(p.dim)];
      if (r.root < 0 || !r.whole) continue;
      const int in_value = n.inputs[static_cast<std::size_t>(p.input)].value;
      if (g.values[static_cast<std::size_t>(p.value)].shape[static_cast<std::size_t>(p.value_dim)] !=
          g.values[static_cast<std::size_t>(in_value)].shape[static_cast<std::size_t>(r.root)]) {
        continue;
      }
      sets.unite(sets.id(in_value, r.root), sets.id(p.value, p.value_dim));
      linked_ids.push_back(sets.id(p.value, p.value_dim));
    }
    // A matmul's contraction: both sides are the same positions.
    if (links[ni].contracted.size() == 2) {
      const auto& [ia, ja] = links[ni].contracted[0];
      const auto& [ib, jb] = links[ni].contracted[1];
      const DimRead& ra = reads[first_read[ni] + static_cast<std::size_t>(ia)][static_cast<std::size_t>(ja)];
      const DimRead& rb = reads[first_read[ni] + static_cast<std::size_t>(ib)][static_cast<std::size_t>(jb)];
      if (ra.root >= 0 && rb.root >= 0 && ra.whole && rb.whole) {
        sets.unite(sets.id(n.inputs[static_cast<std::size_t>(ia)].value, ra.root),
                   sets.id(n.inputs[static_cast<std::size_t>(ib)].value, rb.root));
      }
    }
  }
  std::vector<int> seq_roots;
  for (const auto& [v, d] : marked) seq_roots.push_back(sets.find(sets.id(v, d)));
  auto is_seq = [&](int value, int dim) {
    const int root = sets.find(sets.id(value, dim));
    return std::find(seq_roots.begin(), seq_roots.end(), root) != seq_roots.end();
  };
  for (std::size_t v = 0; v < g.values.size(); ++v) {
    for (std::size_t d = 0; d < g.values[v].shape.size(); ++d) {
      if (is_seq(static_cast<int>(v), static_cast<int>(d))) plan.dims[v] |= 1u << d;
    }
  }
  std::sort(linked_ids.begin(), linked_ids.end());

  // Every sequence dim must come from an input marked so, a constant made at
  // the padded length, or an op that keeps positions.
  for (std::size_t v = 0; v < g.values.size(); ++v) {
    if (plan.dims[v] == 0) continue;
    const Value& val = g.values[v];
    for (std::size_t d = 0; d < val.shape.size(); ++d) {
      if (!(plan.dims[v] & (1u << d))) continue;
      if (val.shape[d] != plan.length) {
        *why = "a value of shape " + to_string(val.shape) + " meets the sequence in a dim of another length";
        return std::nullopt;
      }
      if (val.producer < 0) {
        if (!val.external || val.external->dynamic_sequence_dim != static_cast<int>(d)) {
          *why = "an input of shape " + to_string(val.shape) +
                 " shares the sequence dim but is not marked with mark_dynamic_sequence";
          return std::nullopt;
        }
        continue;
      }
      const Node& p = g.nodes[static_cast<std::size_t>(val.producer)];
      if (p.op == OpKind::kFill || p.op == OpKind::kArange) continue;
      if (!std::binary_search(linked_ids.begin(), linked_ids.end(), sets.id(static_cast<int>(v), static_cast<int>(d)))) {
        *why = where_of(p) + " makes a sequence dim out of something else";
        return std::nullopt;
      }
    }
  }

  // Every input view must read a sequence dim whole, as one dim, and each
  // node must keep its positions apart or reduce over it under a mask.
  std::vector<uint32_t> zero_padded(g.values.size(), 0);  // per value: dims whose padded entries are 0
  for (const auto& [v, d] : marked) zero_padded[static_cast<std::size_t>(v)] |= 1u << d;
  for (std::size_t ni = 0; ni < g.nodes.size(); ++ni) {
    const Node& n = g.nodes[ni];
    for (std::size_t i = 0; i < n.inputs.size(); ++i) {
      const View& in = n.inputs[i];
      const uint32_t seq = plan.dims[static_cast<std::size_t>(in.value)];
      if (seq == 0) continue;
      const Shape& root = g.values[static_cast<std::size_t>(in.value)].shape;
      const std::vector<DimRead>& r = reads[first_read[ni] + i];
      uint32_t seen = 0;
      for (std::size_t j = 0; j < r.size(); ++j) {
        if (r[j].root == -2) {
          for (int d : folded_roots(root, in.strides[j], in.shape[j])) {
            if (seq & (1u << d)) {
              *why = where_of(n) + " folds the sequence into another dim";
              return std::nullopt;
            }
          }
          continue;
        }
        if (r[j].root < 0 || !(seq & (1u << r[j].root))) continue;
        if (!r[j].whole) {
          *why = where_of(n) + " reads part of the sequence (a slice)";
          return std::nullopt;
        }
        seen |= 1u << r[j].root;
        const auto is_pair = [&](const Links::Pair& p) {
          return p.input == static_cast<int>(i) && p.dim == static_cast<int>(j) && is_seq(p.value, p.value_dim);
        };
        const auto at = std::pair{static_cast<int>(i), static_cast<int>(j)};
        const Links& l = links[ni];
        const bool reduced = std::find(l.reduced.begin(), l.reduced.end(), at) != l.reduced.end();
        const bool contracted = std::find(l.contracted.begin(), l.contracted.end(), at) != l.contracted.end();
        if (reduced) {
          const std::optional<double> fill = reduction_fill(n.op);
          if (!fill) {
            *why = where_of(n) + " averages over the sequence";
            return std::nullopt;
          }
          plan.masks.push_back({static_cast<int>(ni), static_cast<int>(i), static_cast<int>(j), *fill});
          if (n.op == OpKind::kSoftmax) zero_padded[static_cast<std::size_t>(n.outputs[0])] |= 1u << j;
          continue;
        }
        if (contracted) {
          if (!(zero_padded[static_cast<std::size_t>(in.value)] & (1u << r[j].root))) {
            plan.masks.push_back({static_cast<int>(ni), static_cast<int>(i), static_cast<int>(j), 0.0});
          }
          continue;
        }
        if (std::any_of(l.pairs.begin(), l.pairs.end(), is_pair)) continue;
        *why = where_of(n) + " reads across the sequence";
        return std::nullopt;
      }
      if (seen != seq) {
        *why = where_of(n) + " reads part of the sequence (a slice or an index)";
        return std::nullopt;
      }
    }
  }
  for (int out : outputs) {
    const Shape& real = g.values[static_cast<std::size_t>(out)].shape;
    Shape padded = real;
    for (std::size_t d = 0; d < padded.size(); ++d) {
      if (plan.dims[static_cast<std::size_t>(out)] & (1u << d)) padded[d] = plan.padded;
    }
    if (padding_runs(real, padded) > kMaxRuns) {
      *why = "an output of shape " + to_string(real) + " would take more than " + std::to_string(kMaxRuns) +
             " copies to unpad";
      return std::nullopt;
    }
  }
  for (const auto& [v, d] : marked) {
    const Shape& real = g.values[static_cast<std::size_t>(v)].shape;
    Shape padded = real;
    padded[static_cast<std::size_t>(d)] = plan.padded;
    if (padding_runs(real, padded) > kMaxRuns) {
      *why = "input of shape " + to_string(real) + " would take more than " + std::to_string(kMaxRuns) + " copies to pad";
      return std::nullopt;
    }
  }
  return plan;
}

void apply_sequence_buckets(Graph& g, const SequencePlan& plan, const std::shared_ptr<Slot>& mask) {
  const std::vector<Shape> before = [&] {
    std::vector<Shape> s;
    for (const Value& v : g.values) s.push_back(v.shape);
    return s;
  }();
  for (std::size_t v = 0; v < g.values.size(); ++v) {
    for (std::size_t d = 0; d < g.values[v].shape.size(); ++d) {
      if (plan.dims[v] & (1u << d)) g.values[v].shape[d] = plan.padded;
    }
  }
  // Views: the same elements of the grown roots; the sequence dims (and
  // broadcasts onto them) at the padded length.
  for (Node& n : g.nodes) {
    const bool positionwise = is_positionwise(n.op);
    const Shape* out = n.outputs.empty() ? nullptr : &g.values[static_cast<std::size_t>(n.outputs[0])].shape;
    for (View& in : n.inputs) {
      const auto value = static_cast<std::size_t>(in.value);
      if (plan.dims[value] != 0) {
        const std::vector<DimRead> r = read_dims(before[value], in);
        const Shape& from = before[value];
        const Shape& to = g.values[value].shape;
        for (std::size_t j = 0; j < in.shape.size(); ++j) {
          if (in.strides[j] != 0) in.strides[j] = remap_offset(in.strides[j], from, to);
          if (r[j].root >= 0 && (plan.dims[value] & (1u << r[j].root))) in.shape[j] = plan.padded;
        }
        in.offset = remap_offset(in.offset, from, to);
      }
      // A broadcast (stride 0) of the sequence's length onto a sequence dim.
      if (positionwise && out != nullptr) {
        const std::size_t rank = in.shape.size();
        for (std::size_t j = 0; j < rank; ++j) {
          const std::size_t o = out->size() - rank + j;
          if (in.strides[j] == 0 && in.shape[j] == plan.length && (*out)[o] == plan.padded &&
              (plan.dims[static_cast<std::size_t>(n.outputs[0])] & (1u << o))) {
            in.shape[j] = plan.padded;
          }
        }
      }
    }
  }
  // The mask, an input of the step.
  Value mask_value;
  mask_value.shape = {plan.padded};
  mask_value.dtype = DType::kBool;
  mask_value.external = mask;
  g.values.push_back(std::move(mask_value));
  const int mask_id = static_cast<int>(g.values.size()) - 1;
  g.external_of[mask.get()] = mask_id;

  // The masked inputs: a where node in front of each consumer, in order.
  std::vector<Node> nodes;
  nodes.reserve(g.nodes.size() + 2 * plan.masks.size());
  std::vector<int> new_index(g.nodes.size());
  std::size_t next_mask = 0;
  for (std::size_t ni = 0; ni < g.nodes.size(); ++ni) {
    Node n = std::move(g.nodes[ni]);
    for (; next_mask < plan.masks.size() && plan.masks[next_mask].node == static_cast<int>(ni); ++next_mask) {
      const SequencePlan::Mask& m = plan.masks[next_mask];
      View& x = n.inputs[static_cast<std::size_t>(m.input)];
      Node fill;
      fill.op = OpKind::kFill;
      fill.attrs.floats = {m.fill};
      fill.label = "sequence_mask";
      Value fill_value;
      fill_value.dtype = x.dtype;
      fill_value.producer = static_cast<int>(nodes.size());
      g.values.push_back(fill_value);
      const int fill_id = static_cast<int>(g.values.size()) - 1;
      fill.outputs = {fill_id};
      nodes.push_back(std::move(fill));
      Node where;
      where.op = OpKind::kWhere;
      where.label = "sequence_mask";
      View mask_view{mask_id, Shape(x.shape.size(), 1), Shape(x.shape.size(), 0), 0, DType::kBool};
      mask_view.shape[static_cast<std::size_t>(m.dim)] = plan.padded;
      mask_view.strides[static_cast<std::size_t>(m.dim)] = 1;
      where.inputs = {mask_view, x, View{fill_id, {}, {}, 0, x.dtype}};
      Value masked;
      masked.shape = x.shape;
      masked.dtype = x.dtype;
      masked.producer = static_cast<int>(nodes.size());
      g.values.push_back(masked);
      const int masked_id = static_cast<int>(g.values.size()) - 1;
      where.outputs = {masked_id};
      nodes.push_back(std::move(where));
      x = View{masked_id, g.values.back().shape, contiguous_strides(g.values.back().shape), 0, g.values.back().dtype};
    }
    new_index[ni] = static_cast<int>(nodes.size());
    nodes.push_back(std::move(n));
  }
  g.nodes = std::move(nodes);
  // Producers of the original values moved with their nodes.
  for (std::size_t v = 0; v < before.size(); ++v) {
    Value& val = g.values[v];
    if (val.producer >= 0) val.producer = new_index[static_cast<std::size_t>(val.producer)];
  }
}

}  // namespace kiln::runtime
