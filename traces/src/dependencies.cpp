// The analyses built on labels and dependency edges: the model-op table and
// the critical path (definitions in kiln/traces/analysis.h and
// docs/traces.md).
#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "kiln/traces/analysis.h"

namespace kiln::traces {
namespace {

using Interval = std::pair<uint64_t, uint64_t>;  // [start, end) ps

constexpr std::string_view kUnlabelled = "(unlabelled)";

bool is_command_processor(std::string_view track) {
  return track.size() > 2 && track.substr(0, 2) == "CP" &&
         std::all_of(track.begin() + 2, track.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// A command processor's record of a whole submission: it contains the
// queue's other events, so it is a summary, not a step of any chain.
bool is_submission_record(const proto::TraceEvent& e) {
  return is_command_processor(e.track()) && e.name().compare(0, 10, "submission") == 0;
}

// A track whose events run one after another, so that one may gate the next.
bool is_serial_track(const proto::TraceEvent& e) {
  return e.clock() == proto::HOST_SIMULATED || is_command_processor(e.track()) || !engine_class(e.track()).empty();
}

// An event ending before it starts counts as instantaneous.
Interval interval_of(const proto::TraceEvent& e) { return {e.start_ps(), std::max(e.start_ps(), e.end_ps())}; }

uint64_t union_length(std::vector<Interval> intervals) {
  std::sort(intervals.begin(), intervals.end());
  uint64_t total = 0, covered_to = 0;
  bool any = false;
  for (const Interval& i : intervals) {
    const uint64_t from = any ? std::max(i.first, covered_to) : i.first;
    if (i.second > from) total += i.second - from;
    covered_to = any ? std::max(covered_to, i.second) : i.second;
    any = true;
  }
  return total;
}

// The distinct op names of an event, in order; "(unlabelled)" when none.
std::vector<std::string_view> op_names(const proto::TraceEvent& e) {
  std::vector<std::string_view> names;
  for (const std::string& op : e.ops()) {
    if (!op.empty() && std::find(names.begin(), names.end(), op) == names.end()) names.push_back(op);
  }
  if (names.empty()) names.push_back(kUnlabelled);
  return names;
}

// `total` split into `n` parts that add up to it exactly: the first
// total % n parts get one more.
uint64_t part_of(uint64_t total, std::size_t n, std::size_t k) {
  return total / n + (k < total % n ? 1 : 0);
}

struct ModelOpAccumulator {
  ModelOpSummary summary;
  std::vector<Interval> intervals;
  std::map<std::string, std::vector<std::string>, std::less<>> tracks;  // engine class -> tracks
};

// One engine job: the events sharing a job id (or one event without one).
struct Job {
  Interval span{};
  uint64_t engine_ps = 0, bytes = 0, flops = 0;
  std::vector<std::string_view> ops;
  std::vector<std::string_view> tracks;
};

}  // namespace

std::string format_engines(const std::map<std::string, uint32_t>& engines) {
  std::string out;
  for (const auto& [cls, n] : engines) out += (out.empty() ? "" : " ") + cls + ":" + std::to_string(n);
  return out;
}

std::vector<ModelOpSummary> model_op_table(const proto::Trace& trace) {
  const bool labelled = std::any_of(trace.events().begin(), trace.events().end(),
                                    [](const proto::TraceEvent& e) { return e.ops_size() > 0; });
  if (!labelled) return {};
  std::map<std::string, ModelOpAccumulator, std::less<>> ops;
  // Jobs in order of their first event; the events of one job share its ops.
  std::vector<Job> jobs;
  std::unordered_map<uint64_t, std::size_t> job_index;
  for (const proto::TraceEvent& e : trace.events()) {
    if (e.clock() != proto::DEVICE_SIMULATED) continue;
    const Interval interval = interval_of(e);
    const uint64_t duration = interval.second - interval.first;
    if (engine_class(e.track()).empty()) {
      // A command processor waiting before work of an op (split like a
      // fused job's time); unlabelled waits belong to no op.
      if (!is_command_processor(e.track()) || is_submission_record(e) || e.ops_size() == 0) continue;
      const std::vector<std::string_view> names = op_names(e);
      for (std::size_t k = 0; k < names.size(); ++k) {
        ops[std::string(names[k])].summary.wait_ps += part_of(duration, names.size(), k);
      }
      continue;
    }
    std::size_t j = jobs.size();
    if (e.job() != 0) {
      const auto [it, fresh] = job_index.emplace(e.job(), jobs.size());
      j = it->second;
      if (fresh) jobs.emplace_back();
    } else {
      jobs.emplace_back();
    }
    Job& job = jobs[j];
    if (job.tracks.empty()) {
      job.span = interval;
      job.ops = op_names(e);
    }
    job.span = {std::min(job.span.first, interval.first), std::max(job.span.second, interval.second)};
    job.engine_ps += duration;
    job.bytes += e.bytes();
    job.flops += e.flops();
    if (std::find(job.tracks.begin(), job.tracks.end(), e.track()) == job.tracks.end()) job.tracks.push_back(e.track());
  }
  uint64_t total = 0;
  for (const Job& job : jobs) {
    const uint64_t time = job.span.second - job.span.first;
    total += time;
    const std::size_t n = job.ops.size();
    for (std::size_t k = 0; k < n; ++k) {
      ModelOpAccumulator& acc = ops[std::string(job.ops[k])];
      ModelOpSummary& s = acc.summary;
      if (acc.intervals.empty()) {
        s.first_ps = job.span.first;
        s.last_ps = job.span.second;
      }
      s.first_ps = std::min(s.first_ps, job.span.first);
      s.last_ps = std::max(s.last_ps, job.span.second);
      ++s.jobs;
      if (n > 1) ++s.fused;
      s.time_ps += part_of(time, n, k);
      s.engine_ps += part_of(job.engine_ps, n, k);
      s.bytes += part_of(job.bytes, n, k);
      s.flops += part_of(job.flops, n, k);
      acc.intervals.push_back(job.span);
      for (std::string_view track : job.tracks) {
        std::vector<std::string>& seen = acc.tracks[std::string(engine_class(track))];
        if (std::find(seen.begin(), seen.end(), track) == seen.end()) seen.emplace_back(track);
      }
    }
  }
  std::vector<ModelOpSummary> table;
  for (auto& [name, acc] : ops) {
    ModelOpSummary s = acc.summary;
    s.op = name;
    s.wall_ps = union_length(std::move(acc.intervals));
    s.share = total == 0 ? 0.0 : static_cast<double>(s.time_ps) / static_cast<double>(total);
    for (const auto& [cls, tracks] : acc.tracks) s.engines[cls] = static_cast<uint32_t>(tracks.size());
    table.push_back(std::move(s));
  }
  std::sort(table.begin(), table.end(), [](const ModelOpSummary& a, const ModelOpSummary& b) {
    return a.time_ps != b.time_ps ? a.time_ps > b.time_ps : a.op < b.op;
  });
  return table;
}

CriticalPath critical_path(const proto::Trace& trace, uint64_t from_ps, uint64_t to_ps) {
  // The steps that may be on a chain: simulated-timeline events in the window.
  struct Node {
    int event;
    uint64_t start, end;
  };
  std::vector<Node> nodes;
  for (int i = 0; i < trace.events_size(); ++i) {
    const proto::TraceEvent& e = trace.events(i);
    if (e.clock() == proto::HOST_WALL || is_submission_record(e)) continue;
    const Interval interval = interval_of(e);
    if (interval.first < from_ps || interval.second > to_ps) continue;
    nodes.push_back({i, interval.first, interval.second});
  }
  CriticalPath path;
  path.window_from_ps = from_ps;
  path.window_to_ps = to_ps;
  if (nodes.empty()) return path;
  // In order of their ends (how each track's events are searched; ties in
  // a fixed order, so the path does not depend on the container).
  std::sort(nodes.begin(), nodes.end(), [](const Node& a, const Node& b) {
    return a.end != b.end ? a.end < b.end : a.start != b.start ? a.start < b.start : a.event < b.event;
  });
  path.first_ps = std::numeric_limits<uint64_t>::max();
  // What a waits_for id names: an event, or every event of a job.
  std::unordered_map<uint64_t, std::vector<std::size_t>> named;
  std::unordered_map<std::string_view, std::vector<std::size_t>> by_track;  // positions, in order
  for (std::size_t n = 0; n < nodes.size(); ++n) {
    const proto::TraceEvent& e = trace.events(nodes[n].event);
    if (e.id() != 0) named[e.id()].push_back(n);
    if (e.job() != 0 && e.job() != e.id()) named[e.job()].push_back(n);
    by_track[e.track()].push_back(n);
    path.first_ps = std::min(path.first_ps, nodes[n].start);
    path.last_ps = std::max(path.last_ps, nodes[n].end);
  }

  // Each node's predecessors: the events it waited for (waits_for, within
  // the window, ending no later than it) and, on a serial track, the event
  // that ended the instant it began.
  std::vector<std::vector<std::pair<std::size_t, bool>>> preds(nodes.size());  // (position, is dependency)
  for (std::size_t n = 0; n < nodes.size(); ++n) {
    const Node& node = nodes[n];
    const proto::TraceEvent& e = trace.events(node.event);
    for (uint64_t w : e.waits_for()) {
      auto it = named.find(w);
      if (it == named.end()) continue;
      for (std::size_t p : it->second) {
        if (p != n && nodes[p].end <= node.end) preds[n].push_back({p, true});
      }
    }
    // Same-track order where the track was the gate: the latest event of
    // the track, before this one, that ended the instant this one began.
    // Only tracks that do one thing at a time: an engine, a command
    // processor, a host thread (not SYNC, whose monitors fire independently).
    if (!is_serial_track(e)) continue;
    const std::vector<std::size_t>& track = by_track[e.track()];
    auto it = std::lower_bound(track.begin(), track.end(), n);
    while (it != track.begin()) {
      --it;
      if (nodes[*it].end < node.start) break;
      if (nodes[*it].end == node.start) {
        preds[n].push_back({*it, false});
        break;
      }
    }
  }

  // Longest path: a node's chain is its own time plus the longest chain
  // among its predecessors. Its own time is what it ran after the events it
  // waited for had ended: all of an engine job, the tail of a wait (the
  // wake-up, a message's flight). Ties: the predecessor that ended later (it
  // gated this one), a dependency edge over track order, the later one.
  std::vector<uint64_t> best(nodes.size()), own(nodes.size());
  std::vector<std::size_t> pred(nodes.size(), SIZE_MAX);
  std::vector<bool> pred_is_dependency(nodes.size(), false);
  enum : uint8_t { kNew, kOnWalk, kDone };
  std::vector<uint8_t> state(nodes.size(), kNew);
  auto finish = [&](std::size_t n) {
    const Node& node = nodes[n];
    uint64_t released = node.start, longest = 0;
    for (const auto& [p, dependency] : preds[n]) {
      if (state[p] != kDone) continue;  // it would close a cycle (a malformed trace)
      if (dependency) released = std::max(released, nodes[p].end);
      const bool better =
          pred[n] == SIZE_MAX || best[p] > longest ||
          (best[p] == longest &&
           std::make_tuple(nodes[p].end, dependency, p) >
               std::make_tuple(nodes[pred[n]].end, static_cast<bool>(pred_is_dependency[n]), pred[n]));
      if (!better) continue;
      longest = best[p];
      pred[n] = p;
      pred_is_dependency[n] = dependency;
    }
    own[n] = node.end - std::min(node.end, released);
    best[n] = longest + own[n];
    state[n] = kDone;
  };
  // Predecessors first: a depth-first walk, without recursion (chains may be
  // as long as the trace).
  std::vector<std::pair<std::size_t, std::size_t>> walk;  // (node, next predecessor to visit)
  for (std::size_t root = 0; root < nodes.size(); ++root) {
    if (state[root] != kNew) continue;
    state[root] = kOnWalk;
    walk.push_back({root, 0});
    while (!walk.empty()) {
      const std::size_t n = walk.back().first;
      if (walk.back().second < preds[n].size()) {
        const std::size_t p = preds[n][walk.back().second++].first;
        if (state[p] == kNew) {
          state[p] = kOnWalk;
          walk.push_back({p, 0});
        }
        continue;
      }
      finish(n);
      walk.pop_back();
    }
  }

  std::size_t last = 0;
  for (std::size_t n = 1; n < nodes.size(); ++n) {
    // Ties: the chain that ends later, then the earlier event in the trace.
    if (best[n] > best[last] || (best[n] == best[last] && (nodes[n].end > nodes[last].end ||
                                                           (nodes[n].end == nodes[last].end &&
                                                            nodes[n].event < nodes[last].event)))) {
      last = n;
    }
  }
  path.length_ps = best[last];
  for (std::size_t n = last; n != SIZE_MAX; n = pred[n]) {
    const proto::TraceEvent& e = trace.events(nodes[n].event);
    CriticalPathStep step;
    step.id = e.id();
    step.job = e.job();
    step.track = e.track();
    step.name = e.name();
    step.ops.assign(e.ops().begin(), e.ops().end());
    step.start_ps = nodes[n].start;
    step.end_ps = nodes[n].end;
    step.added_ps = own[n];
    step.via_dependency = pred_is_dependency[n];
    path.steps.push_back(std::move(step));
  }
  std::reverse(path.steps.begin(), path.steps.end());
  return path;
}

}  // namespace kiln::traces
