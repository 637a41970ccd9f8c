#include "schedule.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

namespace kiln::runtime {

Queue queue_of(OpKind op) {
  return op == OpKind::kMatmul || op == OpKind::kConv2d ? kMmeQueue : kTpcQueue;
}

ScheduleRates schedule_rates(const DeviceConfig& config) {
  ScheduleRates r;
  r.matrix_flops_per_ns = peak_matrix_flops(config) / 1e9;
  r.vector_flops_per_ns = peak_vector_flops(config) / 1e9;
  r.memory_bytes_per_ns = config.hbm().bandwidth_gb_per_s();
  // Around every job: a wait, the launch and a signal packet, and the sync
  // manager's message that releases the waiting queue.
  const double packets_ns = 3.0 * config.command_processor().packet_cycles() * 1e3 / config.clocks().core_mhz() +
                            config.sync_manager().message_latency_ns();
  const proto::MmeConfig& mme = config.mme();
  const double fill =
      std::ceil(static_cast<double>(mme.array_rows()) / std::max<uint32_t>(1, mme.fill_rows_per_cycle()));
  // mme_timing.h: the first fill and the last skew and drain show once per job.
  r.mme_job_ns = (fill + mme.array_rows() + mme.array_cols() - 3) * 1e3 / mme.clock_mhz() + packets_ns;
  r.tpc_job_ns = config.tpc().launch_overhead_ns() + packets_ns;
  r.mme_array_cols = mme.array_cols();
  r.mme_fill_rows = fill;
  r.mme_f32_rate = mme_macs_per_cell_per_cycle(mme, DType::kF32, DType::kF32);
  return r;
}

double estimate_job_bytes(OpKind op, const std::vector<View>& inputs,
                          const std::vector<std::pair<Shape, DType>>& outputs, const ScheduleRates& rates) {
  double bytes = 0;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const View& in = inputs[i];
    double b = static_cast<double>(numel(in.shape) * static_cast<int64_t>(dtype_size(in.dtype)));
    // The matrix engine streams A once per fold of output columns.
    if (op == OpKind::kMatmul && i == 0 && rates.mme_array_cols > 0 && !outputs.empty()) {
      const int64_t n = outputs[0].first.empty() ? 1 : outputs[0].first.back();
      b *= static_cast<double>((n + rates.mme_array_cols - 1) / rates.mme_array_cols);
    }
    bytes += b;
  }
  for (const auto& [shape, dtype] : outputs) {
    bytes += static_cast<double>(numel(shape) * static_cast<int64_t>(dtype_size(dtype)));
  }
  return bytes;
}

double estimate_job_ns(OpKind op, const std::vector<View>& inputs,
                       const std::vector<std::pair<Shape, DType>>& outputs, const ScheduleRates& rates) {
  double out_elements = 0;
  for (const auto& out : outputs) out_elements += static_cast<double>(numel(out.first));
  double compute = 0, fixed = 0;
  if (queue_of(op) == kMmeQueue && rates.matrix_flops_per_ns > 0 && inputs.size() >= 2) {
    // 2 k flops per output element: k is A's inner dim, or C*R*S for a conv.
    const Shape& b = inputs[1].shape;
    const double k = op == OpKind::kConv2d ? static_cast<double>(b[1] * b[2] * b[3])
                                           : static_cast<double>(inputs[0].shape.back());
    double rate = 1;
    if (rates.mme_f32_rate > 0 && (inputs[0].dtype == DType::kF32 || inputs[1].dtype == DType::kF32)) {
      rate = rates.mme_f32_rate;
    }
    compute = 2 * out_elements * k / (rates.matrix_flops_per_ns * rate);
    // A GEMM whose rows stream through a fold faster than the fold's weights
    // load waits for the weights.
    const Shape& a = inputs[0].shape;
    if (op == OpKind::kMatmul && rates.mme_fill_rows > 0 && a.size() >= 2 && a[a.size() - 2] > 0) {
      const double stream = static_cast<double>(a[a.size() - 2]) / rate;
      compute *= std::max(stream, rates.mme_fill_rows) / stream;
    }
    fixed = rates.mme_job_ns;
  } else {
    // A few operations per element.
    if (rates.vector_flops_per_ns > 0) compute = out_elements * 4 / rates.vector_flops_per_ns;
    fixed = rates.tpc_job_ns;
  }
  const double bytes = estimate_job_bytes(op, inputs, outputs, rates);
  const double memory = rates.memory_bytes_per_ns > 0 ? bytes / rates.memory_bytes_per_ns : 0;
  return std::max(compute, memory) + fixed;
}

double estimate_node_ns(const Graph& g, const Node& n, const ScheduleRates& rates) {
  std::vector<std::pair<Shape, DType>> outputs;
  for (int out : n.outputs) {
    const Value& v = g.values[static_cast<std::size_t>(out)];
    outputs.emplace_back(v.shape, v.dtype);
  }
  return estimate_job_ns(n.op, n.inputs, outputs, rates);
}

std::vector<int> schedule_nodes(const Graph& g, const std::vector<int>& order, const ScheduleRates& rates) {
  // A value in parts (slicing.h) is written by its parts' producers.
  std::vector<std::vector<int>> writers(g.values.size());
  std::vector<Queue> queues(order.size());
  std::vector<std::set<int>> deps(order.size());
  std::vector<double> estimates(order.size());
  for (std::size_t pos = 0; pos < order.size(); ++pos) {
    const Node& n = g.nodes[static_cast<std::size_t>(order[pos])];
    for (const View& in : n.inputs) {
      for (int p : writers[static_cast<std::size_t>(in.value)]) deps[pos].insert(p);
    }
    for (int out : n.outputs) {
      writers[static_cast<std::size_t>(out)].push_back(static_cast<int>(pos));
      const int whole = g.values[static_cast<std::size_t>(out)].part_of;
      if (whole >= 0) writers[static_cast<std::size_t>(whole)].push_back(static_cast<int>(pos));
    }
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
