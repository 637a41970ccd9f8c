#include "slicing.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>

namespace kiln::runtime {

namespace {

constexpr int kMinSlices = 2;
constexpr int kMaxSlices = 8;
// The pipeline must beat the unsliced jobs by this fraction: the estimates
// are rough, and a slice that gains nothing still costs the weights' reads.
constexpr double kMinGain = 0.05;

// Whether `n`, a vector-core node with a rank-2 result, computes each row of
// it from the same row of its inputs alone.
bool row_wise(const Node& n) {
  const int64_t axis = n.attrs.ints.empty() ? -1 : n.attrs.ints[0];
  switch (n.op) {
    case OpKind::kSoftmax: case OpKind::kLogSoftmax:
    case OpKind::kReduceSum: case OpKind::kReduceMean: case OpKind::kReduceMax: case OpKind::kReduceMin:
    case OpKind::kReduceProd:
    case OpKind::kArgmax: case OpKind::kArgmin:
      return axis == 1;  // the last of two dims
    case OpKind::kLayerNorm: case OpKind::kRmsNorm: case OpKind::kAddLayerNorm: case OpKind::kAddRmsNorm:
      return axis == 1;  // normalises the last dim only
    case OpKind::kFusedElementwise: case OpKind::kCast: case OpKind::kWhere: case OpKind::kCopy:
      return true;
    default:
      return is_unary(n.op) || is_binary(n.op) || is_compare(n.op);
  }
}

// How a node of the chain reads an input, for its result's rows.
enum class Read {
  kChainRows,  // row r of a chain value (sliced: its part)
  kRows,       // row r of another value (sliced: a view at the slice's rows)
  kBroadcast,  // the same for every row
  kNo,         // mixes rows: the node stays out of the chain
};

Read read_of(const Graph& g, const View& in, int64_t rows, bool chain) {
  if (chain) {
    // Within one row of the value, row r for row r (a row's columns, say).
    const int64_t row = g.values[static_cast<std::size_t>(in.value)].shape[1];
    if (in.shape.size() != 2 || in.shape[0] != rows || in.strides[0] != row || in.offset < 0 || in.offset >= row) {
      return Read::kNo;
    }
    if (in.shape[1] > 1 && (in.strides[1] < 0 || in.offset + (in.shape[1] - 1) * in.strides[1] >= row)) {
      return Read::kNo;
    }
    return Read::kChainRows;
  }
  if (in.shape.size() < 2 || (in.shape.size() == 2 && in.shape[0] == 1)) return Read::kBroadcast;
  if (in.shape.size() == 2 && in.shape[0] == rows && in.strides[0] >= 0) return Read::kRows;
  return Read::kNo;
}

struct Candidate {
  int gemm = -1;                // node
  int64_t rows = 0;             // of its result
  std::vector<int> chain;       // the vector-core nodes, in order
  std::vector<int> values;      // the result and the chain's outputs: each becomes a whole in parts
};

bool is_chain_value(const Candidate& c, int v) {
  return std::find(c.values.begin(), c.values.end(), v) != c.values.end();
}

// The GEMM at `gemm` with the row-wise vector-core nodes after it in `order`
// that read its result, directly or through each other; nothing if it
// cannot be sliced.
std::optional<Candidate> find_candidate(const Graph& g, const std::vector<int>& order, std::size_t at) {
  const Node& m = g.nodes[static_cast<std::size_t>(order[at])];
  if (m.op != OpKind::kMatmul || m.outputs.size() != 1 || m.inputs.size() < 2) return std::nullopt;
  const Value& c = g.values[static_cast<std::size_t>(m.outputs[0])];
  if (c.shape.size() != 2 || m.inputs[0].shape.size() != 2 || m.inputs[1].shape.size() != 2) return std::nullopt;
  if (c.part_of >= 0 || !c.parts.empty() || c.shape[0] < 2 * kSliceRowAlign) return std::nullopt;
  Candidate cand;
  cand.gemm = order[at];
  cand.rows = c.shape[0];
  cand.values = {m.outputs[0]};
  for (std::size_t pos = at + 1; pos < order.size(); ++pos) {
    const Node& n = g.nodes[static_cast<std::size_t>(order[pos])];
    bool reads_chain = false, ok = queue_of(n.op) == kTpcQueue && row_wise(n);
    for (const View& in : n.inputs) {
      const bool chain = is_chain_value(cand, in.value);
      reads_chain = reads_chain || chain;
      if (read_of(g, in, cand.rows, chain) == Read::kNo) ok = false;
    }
    if (!reads_chain || !ok) continue;
    for (int out : n.outputs) {
      const Value& v = g.values[static_cast<std::size_t>(out)];
      if (v.shape.size() != 2 || v.shape[0] != cand.rows || !v.parts.empty() || v.part_of >= 0) ok = false;
    }
    if (!ok) continue;
    cand.chain.push_back(order[pos]);
    cand.values.insert(cand.values.end(), n.outputs.begin(), n.outputs.end());
  }
  if (cand.chain.empty()) return std::nullopt;
  return cand;
}

// Node `n`'s inputs for rows [first, first + rows) of its result; a chain
// value's rows are read from `part_of(value)`.
template <typename PartOf>
std::vector<View> slice_inputs(const Graph& g, const Candidate& c, const Node& n, int64_t first, int64_t rows,
                               PartOf&& part_of) {
  std::vector<View> inputs = n.inputs;
  const bool gemm = n.op == OpKind::kMatmul;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    View& in = inputs[i];
    if (gemm && i != 0) continue;  // the weights and the bias: whole
    const bool chain = !gemm && is_chain_value(c, in.value);
    switch (gemm ? Read::kRows : read_of(g, in, c.rows, chain)) {
      case Read::kChainRows:
        in.value = part_of(in.value);
        in.shape[0] = rows;
        break;
      case Read::kRows:
        in.offset += first * in.strides[0];
        in.shape[0] = rows;
        break;
      default:
        break;
    }
  }
  return inputs;
}

std::vector<std::pair<Shape, DType>> slice_outputs(const Graph& g, const Node& n, int64_t rows) {
  std::vector<std::pair<Shape, DType>> outs;
  for (int out : n.outputs) {
    const Value& v = g.values[static_cast<std::size_t>(out)];
    outs.emplace_back(Shape{rows, v.shape[1]}, v.dtype);
  }
  return outs;
}

// Slices of `rows` rows (the last takes the rest).
std::vector<std::pair<int64_t, int64_t>> row_ranges(int64_t total, int64_t rows) {
  std::vector<std::pair<int64_t, int64_t>> out;
  for (int64_t first = 0; first < total; first += rows) out.emplace_back(first, std::min(rows, total - first));
  return out;
}

struct Estimate {
  double whole_ns = 0;   // the jobs one after the other
  double sliced_ns = 0;  // the pipeline
};

Estimate estimate(const Graph& g, const Candidate& c, const std::vector<std::pair<int64_t, int64_t>>& slices,
                  const ScheduleRates& rates) {
  Estimate e;
  e.whole_ns = estimate_node_ns(g, g.nodes[static_cast<std::size_t>(c.gemm)], rates);
  for (int n : c.chain) e.whole_ns += estimate_node_ns(g, g.nodes[static_cast<std::size_t>(n)], rates);
  // The matrix engine runs its slices back to back; the vector cores take
  // slice i when both it and slice i - 1 of theirs are done.
  const auto same = [](int v) { return v; };
  double mme_end = 0, tpc_end = 0, bytes = 0;
  for (const auto& [first, rows] : slices) {
    std::vector<int> nodes{c.gemm};
    nodes.insert(nodes.end(), c.chain.begin(), c.chain.end());
    double tpc = 0;
    for (int index : nodes) {
      const Node& n = g.nodes[static_cast<std::size_t>(index)];
      const std::vector<View> in = slice_inputs(g, c, n, first, rows, same);
      const auto out = slice_outputs(g, n, rows);
      const double ns = estimate_job_ns(n.op, in, out, rates);
      bytes += estimate_job_bytes(n.op, in, out, rates);
      if (index == c.gemm) {
        mme_end += ns;
      } else {
        tpc += ns;
      }
    }
    tpc_end = std::max(tpc_end, mme_end) + tpc;
  }
  // Both engines draw on one memory.
  e.sliced_ns = std::max(tpc_end, rates.memory_bytes_per_ns > 0 ? bytes / rates.memory_bytes_per_ns : 0.0);
  return e;
}

// Replaces the candidate's nodes in `order` by their slices; every chain
// value becomes a whole in parts.
void rewrite(Graph& g, std::vector<int>& order, const Candidate& c,
             const std::vector<std::pair<int64_t, int64_t>>& slices) {
  std::map<int, std::vector<int>> parts;        // whole value -> its parts, by slice
  std::map<int, std::vector<int>> replacement;  // node -> its slices
  std::vector<int> nodes{c.gemm};
  nodes.insert(nodes.end(), c.chain.begin(), c.chain.end());
  for (int index : nodes) {
    for (std::size_t s = 0; s < slices.size(); ++s) {
      const auto [first, rows] = slices[s];
      // Copies: add_node grows the node list.
      const Node n = g.nodes[static_cast<std::size_t>(index)];
      std::vector<View> inputs =
          slice_inputs(g, c, n, first, rows, [&](int v) { return parts.at(v)[s]; });
      const std::vector<int> outs = g.add_node(n.op, n.attrs, std::move(inputs), slice_outputs(g, n, rows), n.label);
      replacement[index].push_back(static_cast<int>(g.nodes.size()) - 1);
      for (std::size_t o = 0; o < outs.size(); ++o) {
        const int whole = n.outputs[o];
        Value& part = g.values[static_cast<std::size_t>(outs[o])];
        part.part_of = whole;
        part.part_offset = first * g.values[static_cast<std::size_t>(whole)].shape[1];
        parts[whole].push_back(outs[o]);
      }
    }
  }
  for (const auto& [whole, list] : parts) {
    Value& v = g.values[static_cast<std::size_t>(whole)];
    v.producer = -1;  // its parts' producers write it
    v.parts = list;
  }
  std::vector<int> rewritten;
  rewritten.reserve(order.size() + nodes.size() * slices.size());
  for (int index : order) {
    auto it = replacement.find(index);
    if (it == replacement.end()) {
      rewritten.push_back(index);
    } else {
      rewritten.insert(rewritten.end(), it->second.begin(), it->second.end());
    }
  }
  order.swap(rewritten);
}

std::string describe(const Graph& g, const Candidate& c) {
  const Node& m = g.nodes[static_cast<std::size_t>(c.gemm)];
  const Value& v = g.values[static_cast<std::size_t>(m.outputs[0])];
  std::string s = "matmul (" + m.label + ") " + std::string(dtype_name(v.dtype)) + to_string(v.shape);
  return s;
}

std::string chain_names(const Graph& g, const Candidate& c) {
  std::string s;
  for (int n : c.chain) {
    if (!s.empty()) s += ", ";
    s += g.nodes[static_cast<std::size_t>(n)].label;
  }
  return s;
}

std::string us(double ns) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f us", ns / 1e3);
  return buf;
}

}  // namespace

std::vector<std::string> slice_pipelines(Graph& g, std::vector<int>& order, const ScheduleRates& rates,
                                         int64_t forced_rows) {
  std::vector<std::string> log;
  for (std::size_t at = 0; at < order.size(); ++at) {
    const std::optional<Candidate> c = find_candidate(g, order, at);
    if (!c) continue;
    std::vector<std::pair<int64_t, int64_t>> best;
    Estimate best_estimate;
    std::string why;
    if (forced_rows > 0) {
      const int64_t rows = (forced_rows + kSliceRowAlign - 1) / kSliceRowAlign * kSliceRowAlign;
      if (c->rows <= rows) continue;
      best = row_ranges(c->rows, rows);
      best_estimate = estimate(g, *c, best, rates);
      why = " (forced: slice_rows " + std::to_string(forced_rows) + ")";
    } else {
      int64_t tried = 0;
      for (int count = kMinSlices; count <= kMaxSlices; ++count) {
        const int64_t per = (c->rows + count - 1) / count;
        const int64_t rows = (per + kSliceRowAlign - 1) / kSliceRowAlign * kSliceRowAlign;
        if (rows == tried || rows >= c->rows) continue;
        tried = rows;
        const auto slices = row_ranges(c->rows, rows);
        const Estimate e = estimate(g, *c, slices, rates);
        if (best.empty() || e.sliced_ns < best_estimate.sliced_ns) {
          best = slices;
          best_estimate = e;
        }
      }
      if (best.empty()) continue;
      if (!(best_estimate.sliced_ns < best_estimate.whole_ns * (1 - kMinGain))) {
        log.push_back("slice: " + describe(g, *c) + " left whole: " + std::to_string(best.size()) +
                      " slices would take " + us(best_estimate.sliced_ns) + " against " + us(best_estimate.whole_ns));
        continue;
      }
    }
    const std::string line = "slice: " + describe(g, *c) + " \u2192 " + std::to_string(best.size()) + " slices of " +
                             std::to_string(best.front().second) + " rows with " + chain_names(g, *c) + why +
                             "; estimate " + us(best_estimate.whole_ns) + " \u2192 " + us(best_estimate.sliced_ns);
    log.push_back(line);
    rewrite(g, order, *c, best);
    at += best.size() - 1;  // past the GEMM's slices
  }
  return log;
}

}  // namespace kiln::runtime
