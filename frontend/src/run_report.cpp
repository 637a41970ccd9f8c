// RunReport as text (what `kiln run` prints) and as one JSON object (`--json`).
#include <cmath>
#include <cstdio>
#include <sstream>

#include "kiln/frontend/onnx_runner.h"

namespace kiln::frontend {

namespace {

double steady_ns(const std::vector<IterationTime>& its) {
  if (its.size() < 2) return its.empty() ? 0 : its[0].simulated_ns;
  double sum = 0;
  for (std::size_t i = 1; i < its.size(); ++i) sum += its[i].simulated_ns;
  return sum / static_cast<double>(its.size() - 1);
}

std::string json_string(const std::string& v) {
  std::string out = "\"";
  for (const char ch : v) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  out += '"';
  return out;
}

// JSON has no NaN or infinity: those become null.
std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

}  // namespace

std::string RunReport::summary() const {
  std::ostringstream s;
  s.setf(std::ios::fixed);
  s.precision(1);
  s << "load: host wall " << load_wall_ns / 1e6 << " ms";
  if (mapped_weight_bytes > 0) s << ", " << static_cast<double>(mapped_weight_bytes) / 1e6 << " MB of weights read in place";
  s << "\n";
  for (std::size_t i = 0; i < iterations.size(); ++i) {
    const auto& t = iterations[i];
    s << "iteration " << i << ": simulated " << t.simulated_ns / 1e3 << " us";
    if (t.device_busy_ns > 0)
      s << " (device busy " << t.device_busy_ns / 1e3 << " us, host-side " << (t.simulated_ns - t.device_busy_ns) / 1e3 << " us)";
    s << ", host wall " << t.wall_ns / 1e6 << " ms, " << t.compilations << " compilation" << (t.compilations == 1 ? "" : "s")
      << "\n";
  }
  if (iterations.size() > 1)
    s << "latency: first " << iterations[0].simulated_ns / 1e3 << " us, steady " << steady_ns(iterations) / 1e3
      << " us (mean of " << iterations.size() - 1 << ")\n";
  s << "compilations " << stats.compilations << ", cache hits " << stats.cache_hits << ", misses " << stats.cache_misses
    << ", replays " << stats.replays << "\n";
  if (profile) {
    const RunProfile& p = *profile;
    s << "last iteration (" << p.window_ns / 1e3 << " us simulated): engine utilisation";
    if (p.utilisation.empty()) s << " -";
    for (const auto& [engine, u] : p.utilisation) s << " " << engine << " " << u * 100 << "%";
    s << "\n";
    if (!p.top_ops.empty()) {
      s << "top ops by simulated time:\n";
      for (const auto& op : p.top_ops) {
        char line[256];
        std::snprintf(line, sizeof line, "  %10.1f us %5.1f%%  %-14s %s\n", op.time_ns / 1e3, op.share * 100,
                      op.engines.c_str(), op.op.c_str());
        s << line;
      }
    }
    s << "critical path: " << p.critical_path_ns / 1e3 << " us over " << p.critical_steps << " steps";
    if (!p.critical_ops.empty()) s << "; most of it in:";
    s << "\n";
    for (const auto& [op, ns] : p.critical_ops) {
      char line[256];
      std::snprintf(line, sizeof line, "  %10.1f us  %s\n", ns / 1e3, op.c_str());
      s << line;
    }
  }
  for (const auto& c : checks)
    s << "output '" << c.name << "': " << (c.comparison.ok ? "ok" : "MISMATCH") << (c.comparison.message.empty() ? "" : ": ")
      << c.comparison.message << "\n";
  if (checked) s << (passed ? "check: PASS" : "check: FAIL") << "\n";
  return s.str();
}

std::string RunReport::to_json() const {
  std::ostringstream s;
  s << "{\"load_ms\":" << json_number(load_wall_ns / 1e6) << ",\"mapped_weight_bytes\":" << mapped_weight_bytes
    << ",\"iterations\":[";
  for (std::size_t i = 0; i < iterations.size(); ++i) {
    const auto& t = iterations[i];
    s << (i ? "," : "") << "{\"simulated_us\":" << json_number(t.simulated_ns / 1e3)
      << ",\"device_busy_us\":" << json_number(t.device_busy_ns / 1e3)
      << ",\"host_side_us\":" << json_number((t.simulated_ns - t.device_busy_ns) / 1e3)
      << ",\"wall_ms\":" << json_number(t.wall_ns / 1e6) << ",\"compilations\":" << t.compilations << "}";
  }
  s << "],\"first_us\":" << json_number(iterations.empty() ? 0 : iterations[0].simulated_ns / 1e3)
    << ",\"steady_us\":" << json_number(steady_ns(iterations) / 1e3);
  s << ",\"stats\":{\"compilations\":" << stats.compilations << ",\"cache_hits\":" << stats.cache_hits
    << ",\"cache_misses\":" << stats.cache_misses << ",\"replays\":" << stats.replays
    << ",\"peak_workspace_bytes\":" << stats.peak_workspace_bytes << "}";
  if (profile) {
    const RunProfile& p = *profile;
    s << ",\"profile\":{\"window_us\":" << json_number(p.window_ns / 1e3) << ",\"utilisation\":{";
    bool first = true;
    for (const auto& [engine, u] : p.utilisation) {
      s << (first ? "" : ",") << json_string(engine) << ":" << json_number(u);
      first = false;
    }
    s << "},\"top_ops\":[";
    for (std::size_t i = 0; i < p.top_ops.size(); ++i) {
      const auto& op = p.top_ops[i];
      s << (i ? "," : "") << "{\"op\":" << json_string(op.op) << ",\"us\":" << json_number(op.time_ns / 1e3)
        << ",\"share\":" << json_number(op.share) << ",\"engines\":" << json_string(op.engines) << ",\"jobs\":" << op.jobs
        << "}";
    }
    s << "],\"critical_path\":{\"us\":" << json_number(p.critical_path_ns / 1e3) << ",\"steps\":" << p.critical_steps
      << ",\"ops\":[";
    for (std::size_t i = 0; i < p.critical_ops.size(); ++i)
      s << (i ? "," : "") << "{\"op\":" << json_string(p.critical_ops[i].first)
        << ",\"us\":" << json_number(p.critical_ops[i].second / 1e3) << "}";
    s << "]}}";
  }
  s << ",\"outputs\":[";
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    s << (i ? "," : "") << "{\"name\":" << json_string(outputs[i].name) << ",\"type\":" << json_string(describe(outputs[i]));
    for (const auto& c : checks) {
      if (c.name != outputs[i].name) continue;
      s << ",\"ok\":" << (c.comparison.ok ? "true" : "false") << ",\"max_abs_error\":" << json_number(c.comparison.max_abs_error)
        << ",\"max_rel_error\":" << json_number(c.comparison.max_rel_error) << ",\"worst_index\":" << c.comparison.worst_index
        << ",\"mismatches\":" << c.comparison.mismatches << ",\"message\":" << json_string(c.comparison.message);
    }
    s << "}";
  }
  s << "],\"checked\":" << (checked ? "true" : "false") << ",\"passed\":" << (passed ? "true" : "false") << "}\n";
  return s.str();
}

}  // namespace kiln::frontend
