// Where the time went: analyses of a trace (kiln.proto.Trace).
//
// - Per track, in each clock domain (device simulated time, host calls on the
//   simulated clock, host wall time):
//   events, busy time (the union of its intervals, so overlapping jobs on one
//   engine do not count twice), utilisation over the domain's span, bytes,
//   FLOPs.
// - Engine classes: the device tracks named MME<n>, TPC<n> and DMA<n>. Per
//   class the time any of its engines was busy, and per pair of classes the
//   time both were busy at once: how well the engines overlapped.
// - Ops: device engine events grouped by name (a kernel, "gemm MxKxN",
//   "copy"), sorted by engine time (the sum of their durations over every
//   engine), with their share of all engine time, wall time (the union of
//   their intervals), bytes and FLOPs.
// - Roofline verdict per MME/TPC op, when the device's peaks are known: the
//   op's arithmetic intensity (FLOPs per byte) against the ridge point (peak
//   FLOP/s of the engines it ran on / HBM bandwidth) says compute- or
//   memory-bound; its attained FLOP/s over its wall time against the roofline
//   ceiling min(peak, intensity x bandwidth) gives its efficiency.
//
// Pure functions of their inputs; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/common/device_config.h"
#include "kiln/proto/trace.pb.h"

namespace kiln::traces {

struct TrackSummary {
  std::string track;
  uint64_t events = 0;
  uint64_t busy_ps = 0;
  double utilisation = 0;  // busy / span of its domain, 0..1
  uint64_t bytes = 0;
  uint64_t flops = 0;
};

// One clock domain. Tracks in natural order ("DMA2" before "DMA10").
struct DomainSummary {
  uint64_t first_ps = 0;  // earliest start; 0 when there are no events
  uint64_t last_ps = 0;   // latest end
  std::vector<TrackSummary> tracks;
  uint64_t span_ps() const { return last_ps - first_ps; }
};

struct EngineClassBusy {
  std::string engine_class;  // "MME", "TPC" or "DMA"
  uint32_t engines = 0;      // tracks of the class that have events
  uint64_t busy_ps = 0;      // time at least one of them was busy
};

struct EngineOverlap {
  std::string a, b;           // two engine classes, in the order MME, TPC, DMA
  uint64_t both_busy_ps = 0;  // time both classes were busy at once
};

struct OverlapSummary {
  uint64_t any_busy_ps = 0;  // time at least one engine of any class was busy
  std::vector<EngineClassBusy> classes;
  std::vector<EngineOverlap> pairs;  // every pair of the classes present
};

// The device figures the roofline needs; 0 = unknown (no verdicts).
struct DevicePeaks {
  double matrix_flops_per_s = 0;  // all MMEs
  uint32_t matrix_engines = 0;
  double vector_flops_per_s = 0;  // all TPCs
  uint32_t vector_engines = 0;
  double hbm_bytes_per_s = 0;
};
DevicePeaks device_peaks(const DeviceConfig& config);
// The peaks a trace carries (written by the driver), if it has them.
std::optional<DevicePeaks> recorded_peaks(const proto::Trace& trace);
void record_peaks(proto::Trace& trace, const DevicePeaks& peaks);

struct RooflineVerdict {
  double intensity = 0;         // FLOPs per byte (infinite when no bytes moved)
  double ridge = 0;             // FLOPs per byte where the two bounds meet
  bool compute_bound = false;   // intensity >= ridge
  double peak_flops_per_s = 0;  // of the engines the op ran on
  double ceiling_flops_per_s = 0;
  double attained_flops_per_s = 0;
  double efficiency = 0;  // attained / ceiling
};

struct OpSummary {
  std::string name;
  std::string engine_class;  // of its events; "mixed" if several classes ran it
  uint64_t events = 0;
  uint32_t engines = 0;    // distinct engine tracks it ran on
  uint64_t engine_ps = 0;  // summed durations
  uint64_t wall_ps = 0;    // union of its intervals
  double share = 0;        // engine_ps / all ops' engine_ps, 0..1
  uint64_t bytes = 0;
  uint64_t flops = 0;
  std::optional<RooflineVerdict> roofline;
};

struct TraceAnalysis {
  std::string device;  // the trace's config name
  uint64_t events = 0;
  DomainSummary device_time;
  DomainSummary host_time;       // host calls in wall time
  DomainSummary host_simulated;  // host calls on their threads' simulated clocks (device time base)
  OverlapSummary overlap;
  std::vector<OpSummary> ops;  // by engine_ps, largest first; ties by name
};

// The engine class of a device track: "MME", "TPC", "DMA", or "" for the
// others (command processors "CP<n>", "SYNC").
std::string_view engine_class(std::string_view track);

TraceAnalysis analyze_trace(const proto::Trace& trace, const DevicePeaks& peaks = {});

// The analysis as the text `kiln trace summary` prints: the per-track tables,
// the engine overlap, and the `top_ops` ops with most engine time.
std::string format_analysis(const TraceAnalysis& analysis, std::size_t top_ops);

}  // namespace kiln::traces
