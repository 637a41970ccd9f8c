#include "bucketing.h"

#include <algorithm>

namespace kiln::runtime {

namespace {

// Reads `in` the batch rows of its value in place (dim 0 is the value's
// dim 0, whole)?
bool batch_view(const Graph& g, const View& in, int64_t batch) {
  const Value& v = g.values[static_cast<std::size_t>(in.value)];
  if (in.shape.empty() || v.shape.empty() || in.shape[0] != batch || in.offset < 0) return false;
  const int64_t row = numel(v.shape) / std::max<int64_t>(v.shape[0], 1);
  return in.strides[0] == row && in.offset < row;
}

// Whether an unbatched operand spans dim 0 of a result of rank `rank`
// (broadcasting aligns trailing dims).
bool spans_dim0(const View& in, std::size_t rank) { return in.shape.size() == rank && in.shape[0] != 1; }

}  // namespace

std::optional<BucketPlan> plan_buckets(const Graph& g, const std::vector<int>& order,
                                       const std::vector<int64_t>& buckets, std::string* why) {
  BucketPlan plan;
  plan.batched.assign(g.values.size(), false);
  for (std::size_t v = 0; v < g.values.size(); ++v) {
    const Value& val = g.values[v];
    if (val.producer >= 0 || !val.external || !val.external->dynamic_batch || val.shape.empty()) continue;
    if (plan.batch != 0 && val.shape[0] != plan.batch) {
      *why = "marked inputs disagree on the batch size";
      return std::nullopt;
    }
    plan.batch = val.shape[0];
    plan.batched[v] = true;
  }
  if (plan.batch == 0) {
    *why = "no input is marked dynamic";
    return std::nullopt;
  }
  for (int64_t b : buckets) {
    if (b >= plan.batch && (plan.padded == 0 || b < plan.padded)) plan.padded = b;
  }
  if (plan.padded == 0) {
    *why = "batch " + std::to_string(plan.batch) + " is above the largest bucket";
    return std::nullopt;
  }
  for (int index : order) {
    const Node& n = g.nodes[static_cast<std::size_t>(index)];
    std::vector<bool> in_batched;
    bool any = false;
    for (const View& in : n.inputs) {
      const bool b = plan.batched[static_cast<std::size_t>(in.value)];
      if (b && !batch_view(g, in, plan.batch)) {
        *why = std::string(op_name(n.op)) + " (" + n.label + ") reads the batch rows through a view that moves them";
        return std::nullopt;
      }
      in_batched.push_back(b);
      any = any || b;
    }
    if (!any) continue;
    const std::size_t rank = g.values[static_cast<std::size_t>(n.outputs[0])].shape.size();
    bool ok = false;
    const int64_t axis = n.attrs.ints.empty() ? -1 : n.attrs.ints[0];
    switch (n.op) {
      case OpKind::kMatmul:
        // A batched: its rows (or batch) are the result's; B batched too only batch-aligned.
        ok = in_batched[0] && (!in_batched[1] || (n.inputs[1].shape.size() == rank && rank >= 3)) &&
             (in_batched[1] || !spans_dim0(n.inputs[1], rank) || rank == 2);
        if (rank == 2 && in_batched[1]) ok = false;  // B's rows are the contraction
        break;
      case OpKind::kConv2d: case OpKind::kMaxPool2d: case OpKind::kAvgPool2d: case OpKind::kGlobalAvgPool2d:
      case OpKind::kGlobalMaxPool2d: case OpKind::kBatchNorm: case OpKind::kResize:
        ok = in_batched[0] && std::none_of(in_batched.begin() + 1, in_batched.end(), [](bool b) { return b; });
        break;
      case OpKind::kReduceSum: case OpKind::kReduceMean: case OpKind::kReduceMax: case OpKind::kReduceMin:
    case OpKind::kReduceProd:
      case OpKind::kArgmax: case OpKind::kArgmin: case OpKind::kSoftmax: case OpKind::kLogSoftmax:
      case OpKind::kConcat:
        ok = axis != 0 && std::all_of(in_batched.begin(), in_batched.end(), [](bool b) { return b; });
        break;
      case OpKind::kLayerNorm: case OpKind::kRmsNorm:
        ok = in_batched[0] && axis < static_cast<int64_t>(rank) &&
             std::none_of(in_batched.begin() + 1, in_batched.end(), [](bool b) { return b; });
        break;
      case OpKind::kGather:
        // An embedding (ids batched) or a gather along another dim of batched data.
        ok = (!in_batched[0] && in_batched[1] && axis == 0 && n.inputs[0].shape.size() == 2) ||
             (in_batched[0] && !in_batched[1] && axis != 0);
        break;
      case OpKind::kCopy:
        ok = true;
        break;
      default:
        if (is_unary(n.op) || is_binary(n.op) || is_compare(n.op) || n.op == OpKind::kWhere || n.op == OpKind::kCast) {
          ok = true;
          for (std::size_t i = 0; i < n.inputs.size(); ++i) {
            if (in_batched[i] ? n.inputs[i].shape.size() != rank : spans_dim0(n.inputs[i], rank)) ok = false;
          }
        }
        break;
    }
    if (!ok) {
      *why = std::string(op_name(n.op)) + " (" + n.label + ") mixes or moves the batch rows";
      return std::nullopt;
    }
    for (int out : n.outputs) plan.batched[static_cast<std::size_t>(out)] = true;
  }
  return plan;
}

void apply_buckets(Graph& g, const BucketPlan& plan) {
  for (std::size_t v = 0; v < g.values.size(); ++v) {
    if (plan.batched[v]) g.values[v].shape[0] = plan.padded;
  }
  for (Node& n : g.nodes) {
    for (View& in : n.inputs) {
      if (plan.batched[static_cast<std::size_t>(in.value)]) in.shape[0] = plan.padded;
    }
  }
}

}  // namespace kiln::runtime
