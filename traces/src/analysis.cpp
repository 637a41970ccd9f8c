#include "kiln/traces/analysis.h"

#include <algorithm>
#include <array>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <set>
#include <utility>

#include "kiln/traces/trace_io.h"

namespace kiln::traces {
namespace {

using Interval = std::pair<uint64_t, uint64_t>;  // [start, end) ps

constexpr std::array<std::string_view, 3> kEngineClasses = {"MME", "TPC", "DMA"};

// Sorted, disjoint intervals covering the same time as `intervals`.
std::vector<Interval> merged(std::vector<Interval> intervals) {
  std::sort(intervals.begin(), intervals.end());
  std::vector<Interval> out;
  for (const Interval& i : intervals) {
    if (!out.empty() && i.first <= out.back().second) {
      out.back().second = std::max(out.back().second, i.second);
    } else {
      out.push_back(i);
    }
  }
  return out;
}

uint64_t length(const std::vector<Interval>& disjoint) {
  uint64_t total = 0;
  for (const Interval& i : disjoint) total += i.second - i.first;
  return total;
}

// Time covered by both of two sorted, disjoint interval lists.
uint64_t intersection(const std::vector<Interval>& a, const std::vector<Interval>& b) {
  uint64_t total = 0;
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    const uint64_t lo = std::max(a[i].first, b[j].first);
    const uint64_t hi = std::min(a[i].second, b[j].second);
    if (lo < hi) total += hi - lo;
    (a[i].second < b[j].second) ? ++i : ++j;
  }
  return total;
}

struct TrackAccumulator {
  TrackSummary summary;
  std::vector<Interval> intervals;
};

DomainSummary summarise_domain(std::map<std::string, TrackAccumulator>& tracks) {
  DomainSummary d;
  if (tracks.empty()) return d;
  d.first_ps = std::numeric_limits<uint64_t>::max();
  for (auto& [name, acc] : tracks) {
    for (const Interval& i : acc.intervals) {
      d.first_ps = std::min(d.first_ps, i.first);
      d.last_ps = std::max(d.last_ps, i.second);
    }
  }
  for (auto& [name, acc] : tracks) {
    TrackSummary s = acc.summary;
    s.track = name;
    s.busy_ps = length(merged(acc.intervals));
    s.utilisation = d.span_ps() == 0 ? 0.0 : static_cast<double>(s.busy_ps) / static_cast<double>(d.span_ps());
    d.tracks.push_back(std::move(s));
  }
  std::sort(d.tracks.begin(), d.tracks.end(),
            [](const TrackSummary& a, const TrackSummary& b) { return natural_less(a.track, b.track); });
  return d;
}

struct OpAccumulator {
  OpSummary summary;
  std::set<std::string> tracks;
  std::set<std::string_view> classes;
  std::vector<Interval> intervals;
};

std::optional<RooflineVerdict> roofline(const OpAccumulator& op, const DevicePeaks& peaks) {
  const OpSummary& s = op.summary;
  double peak = 0;
  if (s.engine_class == "MME" && peaks.matrix_engines > 0) {
    peak = peaks.matrix_flops_per_s / peaks.matrix_engines * std::min<uint32_t>(s.engines, peaks.matrix_engines);
  } else if (s.engine_class == "TPC" && peaks.vector_engines > 0) {
    peak = peaks.vector_flops_per_s / peaks.vector_engines * std::min<uint32_t>(s.engines, peaks.vector_engines);
  }
  if (peak <= 0 || peaks.hbm_bytes_per_s <= 0 || s.flops == 0 || s.wall_ps == 0) return std::nullopt;
  RooflineVerdict v;
  v.peak_flops_per_s = peak;
  v.ridge = peak / peaks.hbm_bytes_per_s;
  v.intensity = s.bytes == 0 ? std::numeric_limits<double>::infinity()
                             : static_cast<double>(s.flops) / static_cast<double>(s.bytes);
  v.compute_bound = v.intensity >= v.ridge;
  v.ceiling_flops_per_s = std::min(peak, v.intensity * peaks.hbm_bytes_per_s);
  v.attained_flops_per_s = static_cast<double>(s.flops) / (static_cast<double>(s.wall_ps) * 1e-12);
  v.efficiency = v.attained_flops_per_s / v.ceiling_flops_per_s;
  return v;
}

}  // namespace

std::string_view engine_class(std::string_view track) {
  for (std::string_view c : kEngineClasses) {
    if (track.size() > c.size() && track.substr(0, c.size()) == c &&
        std::all_of(track.begin() + static_cast<std::ptrdiff_t>(c.size()), track.end(),
                    [](char ch) { return ch >= '0' && ch <= '9'; })) {
      return c;
    }
  }
  return {};
}

DevicePeaks device_peaks(const DeviceConfig& config) {
  DevicePeaks p;
  p.matrix_flops_per_s = peak_matrix_flops(config);
  p.matrix_engines = config.mme().count();
  p.vector_flops_per_s = peak_vector_flops(config);
  p.vector_engines = config.tpc().count();
  p.hbm_bytes_per_s = config.hbm().bandwidth_gb_per_s() * 1e9;
  return p;
}

std::optional<DevicePeaks> recorded_peaks(const proto::Trace& trace) {
  if (!trace.has_peaks()) return std::nullopt;
  const proto::TraceDevicePeaks& p = trace.peaks();
  return DevicePeaks{p.matrix_flops_per_s(), p.matrix_engines(), p.vector_flops_per_s(), p.vector_engines(),
                     p.hbm_bytes_per_s()};
}

void record_peaks(proto::Trace& trace, const DevicePeaks& peaks) {
  proto::TraceDevicePeaks* p = trace.mutable_peaks();
  p->set_matrix_flops_per_s(peaks.matrix_flops_per_s);
  p->set_matrix_engines(peaks.matrix_engines);
  p->set_vector_flops_per_s(peaks.vector_flops_per_s);
  p->set_vector_engines(peaks.vector_engines);
  p->set_hbm_bytes_per_s(peaks.hbm_bytes_per_s);
}

TraceAnalysis analyze_trace(const proto::Trace& trace, const DevicePeaks& peaks) {
  TraceAnalysis a;
  a.device = trace.device();
  a.events = static_cast<uint64_t>(trace.events_size());

  std::map<std::string, TrackAccumulator> device_tracks, host_tracks, host_sim_tracks;
  std::map<std::string, OpAccumulator> ops;
  std::map<std::string_view, std::vector<Interval>> class_intervals;
  std::map<std::string_view, std::set<std::string>> class_tracks;
  for (const proto::TraceEvent& e : trace.events()) {
    // An event ending before it starts counts as instantaneous.
    const Interval interval{e.start_ps(), std::max(e.start_ps(), e.end_ps())};
    // Host calls on the simulated clock share the device's time base but are
    // not engine work; they are summarised with the host.
    const bool host = e.clock() == proto::HOST_WALL || e.clock() == proto::HOST_SIMULATED;
    TrackAccumulator& t = (e.clock() == proto::HOST_SIMULATED ? host_sim_tracks
                           : host                              ? host_tracks
                                                               : device_tracks)[e.track()];
    ++t.summary.events;
    t.summary.bytes += e.bytes();
    t.summary.flops += e.flops();
    t.intervals.push_back(interval);

    const std::string_view cls = host ? std::string_view{} : engine_class(e.track());
    if (cls.empty()) continue;
    class_intervals[cls].push_back(interval);
    class_tracks[cls].insert(e.track());
    OpAccumulator& op = ops[e.name()];
    ++op.summary.events;
    op.summary.engine_ps += interval.second - interval.first;
    op.summary.bytes += e.bytes();
    op.summary.flops += e.flops();
    op.tracks.insert(e.track());
    op.classes.insert(cls);
    op.intervals.push_back(interval);
  }
  a.device_time = summarise_domain(device_tracks);
  a.host_time = summarise_domain(host_tracks);
  a.host_simulated = summarise_domain(host_sim_tracks);

  // Engine classes and their overlap.
  std::vector<Interval> all;
  std::vector<std::vector<Interval>> class_busy;
  for (std::string_view cls : kEngineClasses) {
    auto it = class_intervals.find(cls);
    if (it == class_intervals.end()) continue;
    all.insert(all.end(), it->second.begin(), it->second.end());
    class_busy.push_back(merged(it->second));
    a.overlap.classes.push_back({std::string(cls), static_cast<uint32_t>(class_tracks[cls].size()),
                                 length(class_busy.back())});
  }
  a.overlap.any_busy_ps = length(merged(std::move(all)));
  for (std::size_t i = 0; i < class_busy.size(); ++i) {
    for (std::size_t j = i + 1; j < class_busy.size(); ++j) {
      a.overlap.pairs.push_back({a.overlap.classes[i].engine_class, a.overlap.classes[j].engine_class,
                                 intersection(class_busy[i], class_busy[j])});
    }
  }

  // Ops.
  uint64_t engine_total = 0;
  for (const auto& [name, op] : ops) engine_total += op.summary.engine_ps;
  for (auto& [name, op] : ops) {
    OpSummary& s = op.summary;
    s.name = name;
    s.engine_class = op.classes.size() == 1 ? std::string(*op.classes.begin()) : "mixed";
    s.engines = static_cast<uint32_t>(op.tracks.size());
    s.wall_ps = length(merged(std::move(op.intervals)));
    s.share = engine_total == 0 ? 0.0 : static_cast<double>(s.engine_ps) / static_cast<double>(engine_total);
    s.roofline = roofline(op, peaks);
    a.ops.push_back(s);
  }
  std::sort(a.ops.begin(), a.ops.end(), [](const OpSummary& x, const OpSummary& y) {
    return x.engine_ps != y.engine_ps ? x.engine_ps > y.engine_ps : x.name < y.name;
  });
  a.model_ops = model_op_table(trace);
  a.critical_path = critical_path(trace);
  return a;
}

}  // namespace kiln::traces
