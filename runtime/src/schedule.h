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
#include <utility>
#include <vector>

#include "graph.h"
#include "kiln/common/device_config.h"
#include "lowering.h"

namespace kiln::runtime {

// The device's rates, for estimates (from its config's peaks). The fields
// after the peaks are 0 when unknown, which leaves them out of estimates.
struct ScheduleRates {
  double matrix_flops_per_ns = 0;
  double vector_flops_per_ns = 0;
  double memory_bytes_per_ns = 0;
  // What every job costs besides its work: the matrix engine's array fill
  // and drain, a kernel launch on the vector cores, and the command
  // processor's packets and sync messages around either. What slicing a
  // GEMM into several jobs pays per extra job.
  double mme_job_ns = 0;
  double tpc_job_ns = 0;
  // The matrix engine streams A once per fold of array_cols output columns,
  // and a fold takes at least the time its weights take to load, as long as
  // `mme_fill_rows` rows of A take to stream (mme_timing.h's model).
  uint32_t mme_array_cols = 0;
  double mme_fill_rows = 0;
  // fp32 operands' MACs per array cell per cycle, bf16's being 1 (0: as bf16).
  double mme_f32_rate = 0;
};

// The rates of a device, from its config (peaks, clocks, per-job costs).
ScheduleRates schedule_rates(const DeviceConfig& config);

// The queue a node's job runs on.
Queue queue_of(OpKind op);

// A node's modelled duration in ns: the larger of its compute at its
// engine's peak and its memory traffic at the memory's bandwidth, plus its
// engine's per-job cost.
double estimate_node_ns(const Graph& g, const Node& n, const ScheduleRates& rates);

// The same for a job of `op` over these operands and results (a node not in
// a graph: the compiler's estimate of a rewrite before it makes it).
double estimate_job_ns(OpKind op, const std::vector<View>& inputs,
                       const std::vector<std::pair<Shape, DType>>& outputs, const ScheduleRates& rates);
// The bytes such a job moves to and from memory, as its estimate counts them.
double estimate_job_bytes(OpKind op, const std::vector<View>& inputs,
                          const std::vector<std::pair<Shape, DType>>& outputs, const ScheduleRates& rates);

// `order` (node indices, a valid graph order) reordered by list scheduling
// over the nodes' data dependencies. Memory is planned after, on this order.
std::vector<int> schedule_nodes(const Graph& g, const std::vector<int>& order, const ScheduleRates& rates);

// The list scheduler: an order of the jobs that respects `deps` (each job's
// jobs that must complete first) and starts each as early as the estimates allow.
std::vector<int> list_schedule(const std::vector<Queue>& queues, const std::vector<std::set<int>>& deps,
                               const std::vector<double>& estimate_ns);

}  // namespace kiln::runtime
