// format_analysis: the text of `kiln trace summary`. Columns are fixed-width
// and whitespace-separated so scripts (and tests) can split rows; op names,
// which contain spaces, come last.
#include <algorithm>
#include <cinttypes>
#include <string>

#include "kiln/traces/analysis.h"
#include "report_util.h"

namespace kiln::traces {
namespace {

void appendf(std::string& out, const char* format_string, auto... args) { out += format(format_string, args...); }

void append_domain(std::string& out, const std::string& title, const DomainSummary& d) {
  if (d.tracks.empty()) return;
  appendf(out, "%s: span %.3f us (%.3f .. %.3f us)\n", title.c_str(), to_us(d.span_ps()), to_us(d.first_ps),
          to_us(d.last_ps));
  appendf(out, "  %-16s %8s %14s %7s %12s %12s\n", "track", "events", "busy us", "util", "bytes", "flops");
  for (const TrackSummary& t : d.tracks) {
    const std::string name = t.track.empty() ? "(unnamed)" : t.track;
    appendf(out, "  %-16s %8" PRIu64 " %14.3f %6.1f%% %12s %12s\n", name.c_str(), t.events, to_us(t.busy_ps),
            100.0 * t.utilisation, human_bytes(t.bytes).c_str(), human_flops(t.flops).c_str());
  }
}

void append_overlap(std::string& out, const OverlapSummary& o, uint64_t span_ps) {
  if (o.classes.empty()) return;
  appendf(out, "engines (simulated): some engine busy %.3f us of the %.3f us span (%.1f%%)\n", to_us(o.any_busy_ps),
          to_us(span_ps), percent(o.any_busy_ps, span_ps));
  appendf(out, "  %-8s %8s %14s %7s\n", "class", "engines", "busy us", "util");
  for (const EngineClassBusy& c : o.classes) {
    appendf(out, "  %-8s %8u %14.3f %6.1f%%\n", c.engine_class.c_str(), c.engines, to_us(c.busy_ps),
            percent(c.busy_ps, span_ps));
  }
  for (const EngineOverlap& p : o.pairs) {
    const std::string both = p.a + "+" + p.b;
    appendf(out, "  %-8s %8s %14.3f %6.1f%%  both busy at once\n", both.c_str(), "", to_us(p.both_busy_ps),
            percent(p.both_busy_ps, span_ps));
  }
}

void append_ops(std::string& out, const std::vector<OpSummary>& ops, std::size_t top) {
  if (ops.empty() || top == 0) return;
  const std::size_t shown = std::min(top, ops.size());
  appendf(out, "top ops by engine time (%zu of %zu):\n", shown, ops.size());
  appendf(out, "  %6s %12s %12s %7s %5s %12s %12s %9s %8s %8s  %s\n", "share", "engine us", "wall us", "events", "class",
          "bytes", "flops", "FLOP/B", "bound", "roofline", "op");
  for (std::size_t i = 0; i < shown; ++i) {
    const OpSummary& op = ops[i];
    const RooflineText r = roofline_text(op);
    appendf(out, "  %5.1f%% %12.3f %12.3f %7" PRIu64 " %5s %12s %12s %9s %8s %8s  %s\n", 100.0 * op.share,
            to_us(op.engine_ps), to_us(op.wall_ps), op.events, op.engine_class.c_str(), human_bytes(op.bytes).c_str(),
            human_flops(op.flops).c_str(), r.intensity.c_str(), r.bound.c_str(), r.efficiency.c_str(),
            op.name.c_str());
  }
}

std::string join_ops(const std::vector<std::string>& ops) {
  std::string out;
  for (const std::string& op : ops) out += (out.empty() ? "" : "+") + op;
  return out;
}

void append_model_ops(std::string& out, const std::vector<ModelOpSummary>& ops, std::size_t top) {
  if (ops.empty() || top == 0) return;
  const std::size_t shown = std::min(top, ops.size());
  appendf(out,
          "model ops by simulated time (%zu of %zu; time: each job from its first start to its last end, summed; "
          "a fused job's split equally among its ops):\n",
          shown, ops.size());
  appendf(out, "  %6s %12s %12s %12s %12s %6s %6s %-14s %12s %12s  %s\n", "share", "time us", "engine us", "span us",
          "wait us", "jobs", "fused", "engines", "bytes", "flops", "op");
  for (std::size_t i = 0; i < shown; ++i) {
    const ModelOpSummary& op = ops[i];
    appendf(out, "  %5.1f%% %12.3f %12.3f %12.3f %12.3f %6" PRIu64 " %6" PRIu64 " %-14s %12s %12s  %s\n",
            100.0 * op.share, to_us(op.time_ps), to_us(op.engine_ps), to_us(op.span_ps()), to_us(op.wait_ps), op.jobs,
            op.fused, format_engines(op.engines).c_str(), human_bytes(op.bytes).c_str(),
            human_flops(op.flops).c_str(), op.op.c_str());
  }
}

void append_path_step(std::string& out, const CriticalPathStep& step, bool first) {
  const std::string ops = step.ops.empty() ? "" : "  [" + join_ops(step.ops) + "]";
  appendf(out, "  %12.3f %12.3f %12.3f %5s  %-10s %s%s\n", to_us(step.start_ps), to_us(step.end_ps),
          to_us(step.added_ps), first ? "" : step.via_dependency ? "dep" : "track", step.track.c_str(),
          step.name.c_str(), ops.c_str());
}

// " in [a, b) us" for a path taken over a window, else "".
std::string window_of(const CriticalPath& path) {
  if (!path.windowed()) return "";
  std::string out;
  appendf(out, " in [%.3f, ", to_us(path.window_from_ps));
  if (path.window_to_ps == UINT64_MAX) {
    out += "end) us";
  } else {
    appendf(out, "%.3f) us", to_us(path.window_to_ps));
  }
  return out;
}

void append_critical_path(std::string& out, const CriticalPath& path) {
  if (path.steps.empty()) {
    if (path.windowed()) appendf(out, "critical path%s: no events in the window\n", window_of(path).c_str());
    return;
  }
  appendf(out, "critical path%s: %zu steps, %.3f us of the %.3f us span (%.1f%%); edge: dep = waits_for, track = "
               "same-track order\n",
          window_of(path).c_str(), path.steps.size(), to_us(path.length_ps), to_us(path.span_ps()),
          percent(path.length_ps, path.span_ps()));
  appendf(out, "  %12s %12s %12s %5s  %-10s %s\n", "start us", "end us", "added us", "edge", "track", "event  [ops]");
  const std::size_t n = path.steps.size();
  const std::size_t half = kMaxPrintedPathSteps / 2;
  for (std::size_t i = 0; i < n; ++i) {
    if (n > kMaxPrintedPathSteps && i == half) {
      appendf(out, "  ... %zu steps ...\n", n - 2 * half);
      i = n - half - 1;
      continue;
    }
    append_path_step(out, path.steps[i], i == 0);
  }
}

}  // namespace

std::string format_analysis(const TraceAnalysis& analysis, std::size_t top_ops) {
  std::string out;
  const std::string device = analysis.device.empty() ? "device" : analysis.device;
  append_domain(out, device + " (simulated)", analysis.device_time);
  if (!analysis.host_simulated.tracks.empty()) append_domain(out, "host (simulated)", analysis.host_simulated);
  append_domain(out, "host (wall)", analysis.host_time);
  append_overlap(out, analysis.overlap, analysis.device_time.span_ps());
  append_ops(out, analysis.ops, top_ops);
  append_model_ops(out, analysis.model_ops, top_ops);
  append_critical_path(out, analysis.critical_path);
  return out;
}

}  // namespace kiln::traces
