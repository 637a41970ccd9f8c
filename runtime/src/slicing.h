// slice_pipelines: a large GEMM whose result feeds vector-core work that
// treats every row alone (elementwise ops and fused elementwise kernels,
// softmax and reductions over the last dim, layer and RMS norm of the last
// dim) becomes a pipeline of row slices: the matrix engine computes slice
// i + 1 while the vector cores work on slice i, instead of the vector cores
// idling through the whole GEMM and the matrix engine through the whole
// chain after it.
//
// No copy joins the slices: every value of the chain becomes a value in
// parts (Value::parts, graph.h), its slices writing disjoint row ranges of
// the whole's memory, and each sliced consumer reading its rows in place. A
// reader outside the chain reads the whole and waits for every part.
//
// Where it pays: per candidate, the jobs' estimates (schedule.h, with each
// engine's per-job cost) give the unsliced time, the sum of the jobs, and
// for 2..8 slices of whole 64-row blocks the pipeline's time, bounded below
// by the bytes all jobs move at the memory's bandwidth (the engines share
// it; the matrix engine reads the weights again for every slice). The best
// slice count is taken if it beats the unsliced time by 5%.
//
// Values: slices start at multiples of 64 rows, and the matrix engine's
// functional model computes rows in blocks of 64 or 32 (sim/src/mme_math.h),
// so every row has the bits of the unsliced GEMM; vector-core ops compute
// each row alone.
//
// Handles rank-2 GEMMs (linear of a [rows, in] input); batched GEMMs are
// left whole. Internal to kiln_runtime. Pure rewrite of its arguments.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "graph.h"
#include "schedule.h"

namespace kiln::runtime {

// Rows of a slice are a multiple of this: whole MME row blocks.
inline constexpr int64_t kSliceRowAlign = 64;

// Rewrites the candidates of `order` (a valid order, after legalisation)
// that pay. Values the step keeps may be sliced too: their parts write where
// the whole is placed. `forced_rows` > 0 (a multiple of
// kSliceRowAlign) slices every candidate of more rows into slices of that
// many rows, estimates aside (tests; CompileOptions::slice_rows). Returns
// one compile-log line per candidate.
std::vector<std::string> slice_pipelines(Graph& g, std::vector<int>& order, const ScheduleRates& rates,
                                         int64_t forced_rows);

}  // namespace kiln::runtime
