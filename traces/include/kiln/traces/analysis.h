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
// - Model ops (labels, `ops`): simulated time per model op the command
//   buffers labelled (CommandBuffer::label), summed over its engine jobs. A
//   job is the events sharing a `job` id (a GEMM on two MMEs, a kernel on 24
//   vector cores); its time runs from its first event's start to its last
//   event's end, its engine time is the sum of its events' durations. A job
//   that implements several ops (a fused job) splits its time, engine time,
//   bytes and FLOPs equally among them, so the column totals are those of
//   all jobs; engine work with no label is one row, "(unlabelled)". Per op
//   also: its jobs' engines by class, their wall span (first start to last
//   end) and union, and the time command processors waited (sync and fence
//   waits) before work of the op.
// - Critical path: the longest chain of events on the simulated timeline
//   (device engines, command-processor waits, monitors, host calls on their
//   simulated clocks) linked by dependencies: waits_for edges (an edge to a
//   job is an edge to each of its events), and same-track order where the
//   track was the gate (an event that began the instant the one before it on
//   its track ended: an engine, a host thread). Each event on the chain adds
//   its own time: what it ran after every event it waited for had ended (all
//   of an engine job; of a wait, only its tail: the wake-up, the signal's
//   flight), so waiting is never counted twice, the length never exceeds the
//   span, and gaps between events (latencies, idle) are not on it. The
//   per-submission records of command processors ("submission" on CPn)
//   contain the other events of their queue and are not steps.
//   docs/traces.md.
//
// Pure functions of their inputs; thread-safe.
#pragma once

#include <cstdint>
#include <map>
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

// One model op (a label), or "(unlabelled)" for engine work without one.
struct ModelOpSummary {
  std::string op;
  uint64_t jobs = 0;       // engine jobs it took part in
  uint64_t fused = 0;      // of those, jobs shared with other ops
  uint64_t time_ps = 0;    // its part of its jobs' durations (first start to last end of each)
  double share = 0;        // time_ps / the time of all jobs, 0..1
  uint64_t engine_ps = 0;  // its part of its jobs' engine time (the sum of their events' durations)
  std::map<std::string, uint32_t> engines;  // engine class -> distinct engines its jobs ran on
  uint64_t first_ps = 0;   // wall span: first start ..
  uint64_t last_ps = 0;    // .. last end of its jobs
  uint64_t wall_ps = 0;    // union of its jobs' intervals
  uint64_t wait_ps = 0;    // command-processor waits labelled with it
  uint64_t bytes = 0;      // its part, split like the time
  uint64_t flops = 0;
  uint64_t span_ps() const { return last_ps - first_ps; }
};

// The model-op table: by time_ps, largest first, ties by name; empty when
// no event carries a label.
std::vector<ModelOpSummary> model_op_table(const proto::Trace& trace);

// "MME:2 TPC:24": the engines of a model op, per class.
std::string format_engines(const std::map<std::string, uint32_t>& engines);

struct CriticalPathStep {
  uint64_t id = 0;
  uint64_t job = 0;  // the engine job it is part of, 0 if none
  std::string track;
  std::string name;
  std::vector<std::string> ops;
  uint64_t start_ps = 0;
  uint64_t end_ps = 0;
  uint64_t added_ps = 0;  // its own time: what it ran after the events it waited for ended
  bool via_dependency = false;  // reached from its predecessor by a waits_for edge (else same-track order)
};

struct CriticalPath {
  std::vector<CriticalPathStep> steps;  // in chain order (each reached from the one before)
  uint64_t length_ps = 0;               // sum of added_ps
  uint64_t first_ps = 0;                // span of the events considered
  uint64_t last_ps = 0;
  uint64_t window_from_ps = 0;          // the window it was taken over
  uint64_t window_to_ps = UINT64_MAX;
  bool windowed() const { return window_from_ps != 0 || window_to_ps != UINT64_MAX; }
  uint64_t span_ps() const { return last_ps - first_ps; }
};

// The critical path over the simulated-timeline events that lie inside
// [from_ps, to_ps) (a step's window; the whole trace by default). Ties go to
// the chain that ends later, then to the earlier event in the trace.
CriticalPath critical_path(const proto::Trace& trace, uint64_t from_ps = 0, uint64_t to_ps = UINT64_MAX);

struct TraceAnalysis {
  std::string device;  // the trace's config name
  uint64_t events = 0;
  DomainSummary device_time;
  DomainSummary host_time;       // host calls in wall time
  DomainSummary host_simulated;  // host calls on their threads' simulated clocks (device time base)
  OverlapSummary overlap;
  std::vector<OpSummary> ops;  // by engine_ps, largest first; ties by name
  std::vector<ModelOpSummary> model_ops;  // model_op_table
  CriticalPath critical_path;             // of the whole trace
};

// The engine class of a device track: "MME", "TPC", "DMA", or "" for the
// others (command processors "CP<n>", "SYNC").
std::string_view engine_class(std::string_view track);

TraceAnalysis analyze_trace(const proto::Trace& trace, const DevicePeaks& peaks = {});

// The analysis as the text `kiln trace summary` prints: the per-track tables,
// the engine overlap, the `top_ops` ops with most engine time, the `top_ops`
// model ops with most simulated time, and the critical path (at most
// kMaxPrintedPathSteps steps: the first and last halves).
constexpr std::size_t kMaxPrintedPathSteps = 40;
std::string format_analysis(const TraceAnalysis& analysis, std::size_t top_ops);

}  // namespace kiln::traces
