// Ordering a recipe's jobs on their queues. Each queue runs its jobs in the
// order they are recorded, so that order decides how much the engines
// overlap: recorded in graph order, a vector-core job that only needs an
// input (a copy of the next weight) waits behind one that needs the matrix
// engine's result, and both engines idle in turn. The scheduler orders jobs
// by list scheduling: it follows each queue's modelled progress and records
// next, among the jobs whose inputs are ready, the one that can start first.
// The estimates only choose the order; the simulated engines decide the time.
//
// Internal to kiln_runtime. Pure functions.
#pragma once

#include <set>
#include <vector>

#include "graph.h"
#include "lowering.h"

namespace kiln::runtime {

// The device's rates, for estimates (from its config's peaks).
struct ScheduleRates {
  double matrix_flops_per_ns = 0;
  double vector_flops_per_ns = 0;
  double memory_bytes_per_ns = 0;
};

// The queue a node's job runs on.
Queue queue_of(OpKind op);

// A node's modelled duration in ns: the larger of its compute at its
// engine's peak and its memory traffic at the memory's bandwidth.
double estimate_node_ns(const Graph& g, const Node& n, const ScheduleRates& rates);

// `order` (node indices, a valid graph order) reordered by list scheduling
// over the nodes' data dependencies. Memory is planned after, on this order.
std::vector<int> schedule_nodes(const Graph& g, const std::vector<int>& order, const ScheduleRates& rates);

// The list scheduler: an order of the jobs that respects `deps` (each job's
// jobs that must complete first) and starts each as early as the estimates allow.
std::vector<int> list_schedule(const std::vector<Queue>& queues, const std::vector<std::set<int>>& deps,
                               const std::vector<double>& estimate_ns);

}  // namespace kiln::runtime
