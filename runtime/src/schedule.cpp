#include "schedule.h"

#include <algorithm>
#include <array>
#include <limits>

namespace kiln::runtime {

Queue queue_of(OpKind op) {
  return op == OpKind::kMatmul || op == OpKind::kConv2d ? kMmeQueue : kTpcQueue;
}

double estimate_node_ns(const Graph& g, const Node& n, const ScheduleRates& rates) {
  double bytes = 0;
  for (const View& in : n.inputs) {
    bytes += static_cast<double>(numel(in.shape) * static_cast<int64_t>(dtype_size(in.dtype)));
  }
  double out_elements = 0;
  for (int out : n.outputs) {
    const Value& v = g.values[static_cast<std::size_t>(out)];
    bytes += static_cast<double>(v.bytes());
    out_elements += static_cast<double>(numel(v.shape));
  }
  double compute = 0;
  if (queue_of(n.op) == kMmeQueue && rates.matrix_flops_per_ns > 0 && n.inputs.size() >= 2) {
    // 2 k flops per output element: k is A's inner dim, or C*R*S for a conv.
    const Shape& b = n.inputs[1].shape;
    const double k = n.op == OpKind::kConv2d ? static_cast<double>(b[1] * b[2] * b[3])
                                             : static_cast<double>(n.inputs[0].shape.back());
    compute = 2 * out_elements * k / rates.matrix_flops_per_ns;
  } else if (rates.vector_flops_per_ns > 0) {
    compute = out_elements * 4 / rates.vector_flops_per_ns;  // a few operations per element
  }
  const double memory = rates.memory_bytes_per_ns > 0 ? bytes / rates.memory_bytes_per_ns : 0;
  return std::max(compute, memory);
}

std::vector<int> schedule_nodes(const Graph& g, const std::vector<int>& order, const ScheduleRates& rates) {
  std::vector<int> position_of_value(g.values.size(), -1);
  std::vector<Queue> queues(order.size());
  std::vector<std::set<int>> deps(order.size());
  std::vector<double> estimates(order.size());
  for (std::size_t pos = 0; pos < order.size(); ++pos) {
    const Node& n = g.nodes[static_cast<std::size_t>(order[pos])];
    for (const View& in : n.inputs) {
      const int p = position_of_value[static_cast<std::size_t>(in.value)];
      if (p >= 0) deps[pos].insert(p);
    }
    for (int out : n.outputs) position_of_value[static_cast<std::size_t>(out)] = static_cast<int>(pos);
    queues[pos] = queue_of(n.op);
    estimates[pos] = estimate_node_ns(g, n, rates);
  }
  std::vector<int> scheduled;
  scheduled.reserve(order.size());
  for (int pos : list_schedule(queues, deps, estimates)) scheduled.push_back(order[static_cast<std::size_t>(pos)]);
  return scheduled;
}

std::vector<int> list_schedule(const std::vector<Queue>& queues, const std::vector<std::set<int>>& deps,
                               const std::vector<double>& estimate_ns) {
  const std::size_t count = queues.size();
  std::vector<int> order;
  order.reserve(count);
  std::vector<double> finish(count, 0);
  std::vector<std::size_t> waiting(count, 0);
  std::vector<std::vector<int>> dependents(count);
  for (std::size_t j = 0; j < count; ++j) {
    waiting[j] = deps[j].size();
    for (int d : deps[j]) dependents[static_cast<std::size_t>(d)].push_back(static_cast<int>(j));
  }
  std::vector<int> ready;
  for (std::size_t j = 0; j < count; ++j) {
    if (waiting[j] == 0) ready.push_back(static_cast<int>(j));
  }
  std::array<double, kQueueCount> queue_free{};
  while (!ready.empty()) {
    // The ready job that can start first; ties go to the earlier in the graph.
    std::size_t best = 0;
    double best_start = std::numeric_limits<double>::infinity();
    for (std::size_t r = 0; r < ready.size(); ++r) {
      const std::size_t j = static_cast<std::size_t>(ready[r]);
      double start = queue_free[queues[j]];
      for (int d : deps[j]) start = std::max(start, finish[static_cast<std::size_t>(d)]);
      if (start < best_start || (start == best_start && ready[r] < ready[best])) {
        best_start = start;
        best = r;
      }
    }
    const int j = ready[best];
    ready.erase(ready.begin() + static_cast<std::ptrdiff_t>(best));
    const std::size_t ju = static_cast<std::size_t>(j);
    finish[ju] = best_start + estimate_ns[ju];
    queue_free[queues[ju]] = finish[ju];
    order.push_back(j);
    for (int next : dependents[ju]) {
      if (--waiting[static_cast<std::size_t>(next)] == 0) ready.push_back(next);
    }
  }
  return order;
}

}  // namespace kiln::runtime
