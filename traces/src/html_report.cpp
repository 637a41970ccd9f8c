#include "kiln/traces/html_report.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <vector>

#include "kiln/traces/trace_io.h"
#include "report_util.h"

namespace kiln::traces {
namespace {

constexpr int kLabelWidth = 110;  // px left of the plot for track names
constexpr int kPlotWidth = 1100;  // px of the time axis
constexpr int kRowHeight = 18;
constexpr int kAxisHeight = 24;

const char* track_colour(std::string_view track) {
  const std::string_view cls = engine_class(track);
  if (cls == "MME") return "#4e79a7";
  if (cls == "TPC") return "#f28e2b";
  if (cls == "DMA") return "#59a14f";
  if (track.substr(0, 2) == "CP") return "#bab0ac";
  if (track == "SYNC") return "#b07aa1";
  return "#9c755f";
}

// A tick step of 1, 2 or 5 x 10^n microseconds giving at most ~10 ticks.
double tick_step_us(double span_us) {
  if (span_us <= 0) return 1;
  const double raw = span_us / 10;
  const double base = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (base * m >= raw) return base * m;
  }
  return base * 10;
}

struct Row {
  std::string track;
  std::vector<const proto::TraceEvent*> events;
};

// One timeline: the events of one clock domain, a row per track.
// `outlined`: ids of the events drawn with an outline (the critical path).
void append_timeline(std::string& out, const std::string& title, const DomainSummary& domain,
                     const std::vector<Row>& rows, const HtmlReportOptions& options,
                     const std::set<uint64_t>& outlined = {}) {
  if (rows.empty()) return;
  const double first = static_cast<double>(domain.first_ps);
  const double span = std::max<double>(1.0, static_cast<double>(domain.span_ps()));
  const auto x_of = [&](uint64_t ps) { return kLabelWidth + (static_cast<double>(ps) - first) / span * kPlotWidth; };
  const int height = kAxisHeight + static_cast<int>(rows.size()) * kRowHeight;

  out += "<h2>" + html_escape(title) + "</h2>\n";
  out += format("<svg class=\"timeline\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n", kLabelWidth + kPlotWidth + 10,
             height, kLabelWidth + kPlotWidth + 10, height);
  const double span_us = span / 1e6;
  const double step = tick_step_us(span_us);
  for (double t = 0; t <= span_us * (1 + 1e-9); t += step) {
    const double x = kLabelWidth + t / span_us * kPlotWidth;
    out += format("<line class=\"tick\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>", x, kAxisHeight - 4, x, height);
    out += format("<text class=\"axis\" x=\"%.1f\" y=\"%d\">%g us</text>\n", x, kAxisHeight - 8, (first / 1e6) + t);
  }
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const Row& row = rows[r];
    const int y = kAxisHeight + static_cast<int>(r) * kRowHeight;
    const char* colour = track_colour(row.track);
    out += format("<text class=\"track\" x=\"%d\" y=\"%d\">", kLabelWidth - 6, y + kRowHeight - 5) +
           html_escape(row.track) + "</text>\n";
    if (row.events.size() <= options.max_bars_per_track) {
      for (const proto::TraceEvent* e : row.events) {
        const uint64_t end = std::max(e->start_ps(), e->end_ps());
        const double x = x_of(e->start_ps());
        const double w = std::max(0.5, x_of(end) - x);
        std::string tip = e->name() + " | " + format("%.3f us", to_us(end - e->start_ps()));
        if (e->bytes() != 0) tip += " | " + human_bytes(e->bytes());
        if (e->flops() != 0) tip += " | " + human_flops(e->flops()) + " FLOP";
        if (e->sequence() != 0) tip += format(" | submission %" PRIu64, e->sequence());
        if (!e->detail().empty()) tip += " | " + e->detail();
        if (e->ops_size() > 0) {
          tip += " | ops ";
          for (int k = 0; k < e->ops_size(); ++k) tip += (k > 0 ? "+" : "") + e->ops(k);
        }
        const bool outline = e->id() != 0 && outlined.count(e->id()) > 0;
        out += format("<rect class=\"%s\" x=\"%.2f\" y=\"%d\" width=\"%.2f\" height=\"%d\" fill=\"%s\">",
                      outline ? "ev crit" : "ev", x, y + 2, w, kRowHeight - 4, colour) +
               "<title>" + html_escape(tip) + "</title></rect>\n";
      }
      continue;
    }
    // Too many bars to draw one by one: the fraction of each pixel column
    // the track was busy, as the column's opacity.
    std::vector<double> busy(kPlotWidth, 0.0);
    const double ps_per_px = span / kPlotWidth;
    for (const proto::TraceEvent* e : row.events) {
      const double a = (static_cast<double>(e->start_ps()) - first) / ps_per_px;
      const double b = (static_cast<double>(std::max(e->start_ps(), e->end_ps())) - first) / ps_per_px;
      for (int px = std::max(0, static_cast<int>(a)); px < kPlotWidth && px <= static_cast<int>(b); ++px) {
        busy[static_cast<std::size_t>(px)] += std::max(0.0, std::min<double>(b, px + 1) - std::max<double>(a, px));
      }
    }
    for (int px = 0; px < kPlotWidth; ++px) {
      const double f = std::min(1.0, busy[static_cast<std::size_t>(px)]);
      if (f <= 0) continue;
      out += format("<rect class=\"col\" x=\"%d\" y=\"%d\" width=\"1\" height=\"%d\" fill=\"%s\" fill-opacity=\"%.2f\"/>",
                 kLabelWidth + px, y + 2, kRowHeight - 4, colour, f);
    }
    out += format("<title>%zu jobs: drawn as busy fraction per column</title>\n", row.events.size());
  }
  out += "</svg>\n";
}

void append_track_table(std::string& out, const DomainSummary& d) {
  if (d.tracks.empty()) return;
  out += "<table><tr><th>track</th><th>events</th><th>busy us</th><th>util</th><th>bytes</th><th>FLOPs</th></tr>\n";
  for (const TrackSummary& t : d.tracks) {
    out += "<tr><td>" + html_escape(t.track) + "</td>" + format("<td>%" PRIu64 "</td><td>%.3f</td><td>%.1f%%</td>", t.events,
                                                             to_us(t.busy_ps), 100.0 * t.utilisation) +
           "<td>" + human_bytes(t.bytes) + "</td><td>" + human_flops(t.flops) + "</td></tr>\n";
  }
  out += "</table>\n";
}

void append_overlap_table(std::string& out, const OverlapSummary& o, uint64_t span_ps) {
  if (o.classes.empty()) return;
  const auto pct = [&](uint64_t ps) { return percent(ps, span_ps); };
  out += "<h2>Engine overlap</h2>\n<table><tr><th>engines</th><th>busy us</th><th>of the span</th></tr>\n";
  out += format("<tr><td>any engine</td><td>%.3f</td><td>%.1f%%</td></tr>\n", to_us(o.any_busy_ps), pct(o.any_busy_ps));
  for (const EngineClassBusy& c : o.classes) {
    out += format("<tr><td>%s (%u)</td><td>%.3f</td><td>%.1f%%</td></tr>\n", c.engine_class.c_str(), c.engines,
               to_us(c.busy_ps), pct(c.busy_ps));
  }
  for (const EngineOverlap& p : o.pairs) {
    out += format("<tr><td>%s and %s at once</td><td>%.3f</td><td>%.1f%%</td></tr>\n", p.a.c_str(), p.b.c_str(),
               to_us(p.both_busy_ps), pct(p.both_busy_ps));
  }
  out += "</table>\n";
}

void append_ops_table(std::string& out, const std::vector<OpSummary>& ops, std::size_t top) {
  if (ops.empty() || top == 0) return;
  const std::size_t shown = std::min(top, ops.size());
  out += format("<h2>Top ops by engine time (%zu of %zu)</h2>\n", shown, ops.size());
  out += "<table><tr><th>op</th><th>class</th><th>share</th><th>engine us</th><th>wall us</th><th>events</th>"
         "<th>bytes</th><th>FLOPs</th><th>FLOP/B</th><th>bound</th><th>of roofline</th></tr>\n";
  for (std::size_t i = 0; i < shown; ++i) {
    const OpSummary& op = ops[i];
    const RooflineText r = roofline_text(op);
    out += "<tr><td>" + html_escape(op.name) + "</td><td>" + html_escape(op.engine_class) + "</td>" +
           format("<td>%.1f%%</td><td>%.3f</td><td>%.3f</td><td>%" PRIu64 "</td>", 100.0 * op.share, to_us(op.engine_ps),
               to_us(op.wall_ps), op.events) +
           "<td>" + human_bytes(op.bytes) + "</td><td>" + human_flops(op.flops) + "</td><td>" + r.intensity +
           "</td><td>" + r.bound + "</td><td>" + r.efficiency + "</td></tr>\n";
  }
  out += "</table>\n";
}

std::string joined_ops(const std::vector<std::string>& ops) {
  std::string out;
  for (const std::string& op : ops) out += (out.empty() ? "" : "+") + op;
  return out;
}

void append_model_ops_table(std::string& out, const std::vector<ModelOpSummary>& ops, std::size_t top) {
  if (ops.empty() || top == 0) return;
  const std::size_t shown = std::min(top, ops.size());
  out += format("<h2>Model ops by simulated time (%zu of %zu)</h2>\n", shown, ops.size());
  out += "<p>From the command buffers' labels. Time: each engine job from its first start to its last end, "
         "summed over the op's jobs; engine time: the sum of its jobs' events on every engine. A fused job's "
         "time, bytes and FLOPs are split equally among its ops; the span runs from an op's first job's start to "
         "its last job's end; waits are the command processors' sync and fence waits before its work.</p>\n";
  out += "<table><tr><th>op</th><th>share</th><th>time us</th><th>engine us</th><th>span us</th><th>wall us</th>"
         "<th>wait us</th><th>jobs</th><th>fused</th><th>engines</th><th>bytes</th><th>FLOPs</th></tr>\n";
  for (std::size_t i = 0; i < shown; ++i) {
    const ModelOpSummary& op = ops[i];
    out += "<tr><td>" + html_escape(op.op) + "</td>" +
           format("<td>%.1f%%</td><td>%.3f</td><td>%.3f</td><td>%.3f</td><td>%.3f</td><td>%.3f</td><td>%" PRIu64
                  "</td><td>%" PRIu64 "</td>",
                  100.0 * op.share, to_us(op.time_ps), to_us(op.engine_ps), to_us(op.span_ps()), to_us(op.wall_ps),
                  to_us(op.wait_ps), op.jobs, op.fused) +
           "<td>" + html_escape(format_engines(op.engines)) + "</td><td>" + human_bytes(op.bytes) + "</td><td>" +
           human_flops(op.flops) + "</td></tr>\n";
  }
  out += "</table>\n";
}

void append_critical_path_table(std::string& out, const CriticalPath& path) {
  if (path.steps.empty()) return;
  std::string window;
  if (path.windowed()) {
    window = format(" in [%.3f, ", to_us(path.window_from_ps)) +
             (path.window_to_ps == UINT64_MAX ? std::string("end") : format("%.3f", to_us(path.window_to_ps))) +
             ") us";
  }
  out += format("<h2>Critical path%s: %zu steps, %.3f us of the %.3f us span (%.1f%%)</h2>\n", window.c_str(),
                path.steps.size(), to_us(path.length_ps), to_us(path.span_ps()), percent(path.length_ps, path.span_ps()));
  out += "<p>The longest chain of events linked by dependencies (waits_for) and by same-track order; each adds "
         "the time it ran past the end of the one before. Outlined in black on the timeline.</p>\n";
  out += "<table><tr><th>event</th><th>track</th><th>ops</th><th>start us</th><th>end us</th><th>added us</th>"
         "<th>reached by</th></tr>\n";
  for (std::size_t i = 0; i < path.steps.size(); ++i) {
    const CriticalPathStep& step = path.steps[i];
    out += "<tr><td>" + html_escape(step.name) + "</td><td>" + html_escape(step.track) + "</td><td>" +
           html_escape(joined_ops(step.ops)) + "</td>" +
           format("<td>%.3f</td><td>%.3f</td><td>%.3f</td><td>%s</td></tr>\n", to_us(step.start_ps),
                  to_us(step.end_ps), to_us(step.added_ps),
                  i == 0 ? "" : step.via_dependency ? "dependency" : "track order");
  }
  out += "</table>\n";
}

std::vector<Row> rows_of(const proto::Trace& trace, bool host) {
  std::map<std::string, std::vector<const proto::TraceEvent*>> by_track;
  for (const proto::TraceEvent& e : trace.events()) {
    if ((e.clock() == proto::HOST_WALL) == host) by_track[e.track()].push_back(&e);
  }
  std::vector<Row> rows;
  for (auto& [track, events] : by_track) rows.push_back({track, std::move(events)});
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return natural_less(a.track, b.track); });
  return rows;
}

constexpr const char* kStyle = R"(<style>
body { font: 13px system-ui, sans-serif; margin: 16px; color: #222; }
h1 { font-size: 18px; } h2 { font-size: 15px; margin-top: 24px; }
table { border-collapse: collapse; margin: 6px 0; }
th, td { border: 1px solid #ccc; padding: 2px 8px; text-align: right; }
th { background: #f3f3f3; } td:first-child { text-align: left; }
svg.timeline { border: 1px solid #ddd; background: #fff; }
.track { font-size: 11px; text-anchor: end; } .axis { font-size: 10px; fill: #666; }
.tick { stroke: #eee; } rect.ev:hover { stroke: #000; } rect.crit { stroke: #000; stroke-width: 1.5; }
</style>
)";

}  // namespace

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string to_html_report(const proto::Trace& trace, const TraceAnalysis& analysis, const HtmlReportOptions& options) {
  const std::string device = trace.device().empty() ? "device" : trace.device();
  std::string out = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  out += "<title>Kiln trace: " + html_escape(device) + "</title>\n";
  out += kStyle;
  out += "</head>\n<body>\n";
  out += "<h1>Kiln trace: " + html_escape(device) + "</h1>\n";
  out += format("<p>%d events; device span %.3f us (simulated)", trace.events_size(), to_us(analysis.device_time.span_ps()));
  if (!options.note.empty()) out += "; " + html_escape(options.note);
  out += "</p>\n";
  // Host calls on their simulated clocks share the device's timeline.
  DomainSummary simulated = analysis.device_time;
  if (!analysis.host_simulated.tracks.empty()) {
    const DomainSummary& h = analysis.host_simulated;
    simulated.first_ps = simulated.tracks.empty() ? h.first_ps : std::min(simulated.first_ps, h.first_ps);
    simulated.last_ps = std::max(simulated.last_ps, h.last_ps);
  }
  std::set<uint64_t> on_path;
  for (const CriticalPathStep& step : analysis.critical_path.steps) on_path.insert(step.id);
  append_timeline(out, device + " and host (simulated time)", simulated, rows_of(trace, false), options, on_path);
  append_track_table(out, analysis.device_time);
  if (!analysis.host_simulated.tracks.empty()) append_track_table(out, analysis.host_simulated);
  append_overlap_table(out, analysis.overlap, analysis.device_time.span_ps());
  append_ops_table(out, analysis.ops, options.top_ops);
  append_model_ops_table(out, analysis.model_ops, options.top_ops);
  append_critical_path_table(out, analysis.critical_path);
  append_timeline(out, "host (wall time)", analysis.host_time, rows_of(trace, true), options);
  append_track_table(out, analysis.host_time);
  out += "</body>\n</html>\n";
  return out;
}

Status write_html_report(const std::string& path, const proto::Trace& trace, const TraceAnalysis& analysis,
                         const HtmlReportOptions& options) {
  return write_text_file(path, to_html_report(trace, analysis, options), "the HTML report");
}

}  // namespace kiln::traces
