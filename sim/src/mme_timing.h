// Cycle model of the matrix engines: a weight-stationary systolic array of
// R rows x C columns. The weights (B, k x n) are cut into folds of R x C; each
// fold is loaded into the array and the m rows of A stream through it.
//
// Weights enter f = fill_rows_per_cycle rows per cycle, so a fold's weight
// fill takes F = ceil(R / f) cycles (F = R for SCALE-Sim's one row per cycle).
//
//   serial    (WEIGHT_STATIONARY_SERIAL):   every fold pays its own weight
//             fill (F), the stream (m) and the skew/drain (R + C - 2):
//             cycles = folds * (F + R + C + m - 2) - 1
//             which for f = 1 is SCALE-Sim v2's closed form folds * (2R + C + m - 2) - 1
//   pipelined (WEIGHT_STATIONARY_PIPELINED): the next fold's weights load while
//             the current one streams, so a fold costs max(m, F) and only the
//             first fill and last drain show:
//             cycles = folds * max(m, F) + F + R + C - 3
//
// The input dtype sets how fast A streams: at r MACs per cell per cycle
// (mme_macs_per_cell_per_cycle in kiln/common/device_config.h; bf16 is 1) a
// row takes 1/r cycles to cross a fold, so m above becomes ceil(m / r)
// (exactly m for bf16). Weight fill, skew and drain are unchanged: the
// weights still enter f rows per cycle and the wavefront still crosses the
// array one cell per cycle.
//
// Several MMEs split the folds of one job: each gets folds/count (the first
// folds%count one more), and the job takes as long as the busiest. A grouped
// convolution is `groups` GEMMs (GemmShape::batch): their folds add up.
// Pure arithmetic: no SystemC, thread-safe.
#pragma once

#include <cstdint>
#include <vector>

#include "kiln/proto/device_config.pb.h"

namespace kiln::sim {

struct GemmShape {
  uint64_t batch = 1;
  uint64_t m = 0, n = 0, k = 0;
};

struct MmeTiming {
  uint64_t folds = 0;                   // all engines together
  std::vector<uint64_t> engine_folds;   // per engine
  std::vector<uint64_t> engine_cycles;  // per engine
  uint64_t cycles = 0;                  // the busiest engine
  uint64_t stream_cycles = 0;           // ceil(m / rate): one fold's pass of A
  double mac_bound_cycles = 0;          // batch*m*n*k / (R*C*count*rate): the array never idle
};

// `engines`: how many MMEs split the folds (0 = all of the device's).
// `macs_per_cell_per_cycle`: the job's rate (> 0; 1 = bf16). A rate so small
// that ceil(m / rate) passes 2^62 cycles saturates there: plan_mme_job
// rejects such jobs before they run (their compute time passes 2^60 ps).
MmeTiming mme_timing(const proto::MmeConfig& config, const GemmShape& shape, uint32_t engines = 0,
                     double macs_per_cell_per_cycle = 1.0);

// ceil(m / rate) in cycles, exactly m at rate 1; saturates at 2^62.
uint64_t mme_stream_cycles(uint64_t m, double macs_per_cell_per_cycle);

}  // namespace kiln::sim
