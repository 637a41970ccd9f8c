// The graph compiler: a recorded graph becomes a recipe.
//
//   passes      dead code, common subexpressions, constant folding into a
//               constant section (constant_fold.h), the fusions (fusion.h)
//               (each can be switched off by name), then legalisation:
//               operands the matrix engine cannot read in place, row-major
//               or transposed, are copied densely first ("mme_transpose"
//               off: transposed ones too), then slicing a GEMM and the
//               row-wise work after it into a pipeline (slicing.h).
//   lowering    one engine job per node (lowering.h).
//   memory      intermediate values share one workspace, planned by
//               liveness (memory_plan.h).
//   schedule    jobs go to the MME, TPC and DMA queues; each queue runs its
//               jobs in order and each job signals its queue's timeline when
//               it completes; a job that needs another queue's result waits
//               for that job's signal with one WAIT_SYNC, counted from the
//               timeline's base of the launch. So engines overlap (the next
//               GEMM runs while the vector cores finish an activation), and
//               a workspace region is rewritten only after its last reader.
//
// The recipe is relocatable: its command buffers address tensors through
// binding slots (the workspace, the timelines, the constants, each input and
// output), so a launch binds and submits, never re-encoding or recompiling.
//
// Constant folding (constant_fold.h) gives a recipe a constant section: the
// jobs computing the values that depend on no input, compiled the same way
// into command buffers of their own. The runtime runs them once, at the
// recipe's first launch, into a buffer it binds at kConstantSlot for every
// launch; the section's intermediates use the workspace slot while it runs.
//
// Internal to kiln_runtime.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "graph.h"
#include "kiln/driver/command_buffer.h"
#include "lowering.h"
#include "schedule.h"

namespace kiln::runtime {

struct CompileOptions {
  bool allow_tf32 = false;
  std::vector<std::string> disabled_passes;  // "dce", "cse", "constant_fold", "slice", "schedule", "mme_transpose", ...
  ScheduleRates rates;
  // > 0: the slice pass cuts every GEMM it can into slices of this many
  // rows, estimates aside (slicing.h); 0: where the estimates say it pays.
  int64_t slice_rows = 0;
  // SRAM scratch a recipe may use (fused attention's tiles, kSramSlot); 0: none.
  uint64_t sram_budget = 0;
};

struct Recipe {
  std::array<driver::CommandBuffer, kQueueCount> programs;
  std::array<uint32_t, kQueueCount> signals{};  // jobs (timeline increments) per queue per launch
  uint64_t workspace_bytes = 0;
  uint64_t intermediate_bytes = 0;  // the intermediates' bytes without sharing
  uint64_t sram_bytes = 0;          // SRAM scratch bound at kSramSlot for every launch
  // Values of the recorded graph bound at kFirstTensorSlot onward: the
  // external inputs, then the outputs. An input of -1 is packed: the launch
  // binds the values packed_from[i] (external inputs of the graph) stacked
  // along dim 0, built once and cached while they live.
  std::vector<int> inputs;
  std::vector<std::vector<int>> packed_from;  // per input; empty: a plain input
  std::vector<int> outputs;
  std::vector<Queue> output_queue;  // the queue whose job writes each output
  std::size_t nodes = 0;   // graph nodes compiled
  std::size_t jobs = 0;    // engine jobs
  std::string log;         // what the passes did
  // The labels of the graph's nodes as compiled, in node order, when its
  // key leaves labels out (Graph::labels_in_key): a launch for a graph with
  // other labels names its own ops in place of these (empty: labels as
  // recorded in the programs).
  std::vector<std::string> source_labels;
  // The constant section (empty programs: none). Its jobs signal the same
  // timelines as a launch's, `constant_signals` per queue, and write
  // `constant_bytes` at kConstantSlot, which every launch reads.
  std::array<driver::CommandBuffer, kQueueCount> constant_programs;
  std::array<uint32_t, kQueueCount> constant_signals{};
  uint64_t constant_bytes = 0;
  uint64_t constant_workspace_bytes = 0;  // the section's intermediates
  std::size_t constant_nodes = 0;
  std::size_t constant_jobs = 0;
  bool has_constants() const { return constant_bytes > 0; }
  uint64_t bytes() const;  // command buffers and arenas
};

// Compiles `graph`; `outputs` are the values that must outlive the launch
// (the rest may share the workspace or be removed).
Result<std::shared_ptr<Recipe>> compile(Graph graph, const std::vector<int>& outputs, const CompileOptions& options);

}  // namespace kiln::runtime
