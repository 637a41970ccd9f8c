// Lowering of fused attention (kFusedSdpa) to a flash-attention pipeline.
//
// The (batch, head) pairs run in groups of `group` heads of one batch
// element; every job works on a whole group (the MME's batched GEMM, one
// kernel launch over the group's rows). Per group:
//   DMA      q, k and v of the group into on-die SRAM (`staged`), so every
//            later tile reads them there: HBM sees each element of q, k, v
//            and the output once, and its traffic grows as S * d, not S^2.
//   per query tile of tile_q rows, per key block of tile_k keys:
//     MME    S = Q K^T                     (in q's dtype, into an SRAM tile)
//     TPC    sdpa_softmax_step             (scale, mask, causal; running max
//                                           and sum; P in q's dtype over S;
//                                           rescales O)
//     MME    O = P V (+ O)                 (the residual accumulates in place)
//   TPC      sdpa_finalize: out = O / l    (the only write to HBM)
// A key block is as long as SRAM allows, the whole key length if it fits:
// the step's per-row costs (two cross-lane reductions, the running state)
// are paid once per block, and a single block rescales nothing.
// Two query tiles are in flight on two lanes, each with its own SRAM tiles,
// their jobs interleaved so the MME computes one lane's GEMMs while the TPC
// runs the other's softmax; the lanes roll on across tiles and groups. Keys a
// causal mask hides from a whole tile are not computed. The [L, S] scores
// exist only as [group, tile_q, tile_k] tiles in SRAM.
//
// Internal to kiln_runtime. Pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "graph.h"
#include "lowering.h"

namespace kiln::runtime {

// Rows of a query tile, and the granule of a key block: 256, the gaudi
// configs' MME array width, so a tile's GEMMs fill the array and its jobs
// cost well above their fixed overheads (at 128 the MME and TPC launch costs
// dominated: 1.29 ms against 0.52 ms at S = 2048 on gaudi2).
inline constexpr int64_t kSdpaTile = 256;

struct SdpaPlan {
  int64_t tile_q = kSdpaTile, tile_k = kSdpaTile;
  int64_t group = 1;        // heads per job (divides the head count)
  bool staged = false;      // q, k, v copied into SRAM per group
  uint64_t sram_bytes = 0;  // the scratch it uses at kSramSlot
};

// The longest key block (the key length, else a multiple of kSdpaTile), and
// for it the largest group, whose staged inputs and tiles fit `sram_budget`
// bytes; failing that, unstaged (q, k, v read in place from HBM, each tile
// again); nothing if not even one head's 256-key tiles fit.
std::optional<SdpaPlan> plan_sdpa(const Graph& g, const Node& n, uint64_t sram_budget);

// A node's jobs in the order they are recorded on their queues, and for
// each, the jobs of the same list it waits for.
struct NodeJobs {
  std::vector<Job> jobs;
  std::vector<std::vector<int>> after;
};

// The jobs of a kFusedSdpa node whose q, k, v are dense (legalisation
// copied them if not). Errors name the op and what it cannot lower.
Result<NodeJobs> lower_fused_sdpa(const Graph& g, const Node& n, const std::vector<Placement>& placement,
                                  const LowerOptions& options);

}  // namespace kiln::runtime
