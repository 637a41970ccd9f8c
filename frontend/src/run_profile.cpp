// RunProfile: one iteration's window of the device trace through the trace
// analyses (kiln/traces/analysis.h): engine utilisation, the model ops by
// simulated time, the critical path.
#include "run_profile.h"

#include <algorithm>

#include "kiln/traces/analysis.h"

namespace kiln::frontend::detail {

RunProfile profile_window(const proto::Trace& trace, double from_ns, double to_ns, std::size_t top_ops) {
  const auto lo = static_cast<uint64_t>(from_ns * 1e3), hi = static_cast<uint64_t>(to_ns * 1e3);
  // Only the simulated timeline of this iteration: earlier iterations (the
  // first one's compilation) and host wall time are not what it spent.
  proto::Trace window;
  window.set_device(trace.device());
  *window.mutable_peaks() = trace.peaks();
  for (const auto& e : trace.events()) {
    if (e.clock() == proto::HOST_WALL || e.start_ps() < lo || e.start_ps() >= hi) continue;
    *window.add_events() = e;
  }
  const traces::TraceAnalysis a = traces::analyze_trace(window);
  RunProfile p;
  p.window_ns = to_ns - from_ns;
  for (const auto& c : a.overlap.classes)
    p.utilisation[c.engine_class] = p.window_ns > 0 ? static_cast<double>(c.busy_ps) / 1e3 / p.window_ns : 0;
  for (const auto& op : a.model_ops) {
    if (p.top_ops.size() == top_ops) break;
    p.top_ops.push_back({op.op, static_cast<double>(op.time_ps) / 1e3, op.share, traces::format_engines(op.engines), op.jobs});
  }
  p.critical_path_ns = static_cast<double>(a.critical_path.length_ps) / 1e3;
  p.critical_steps = a.critical_path.steps.size();
  std::map<std::string, double> on_path;
  for (const auto& s : a.critical_path.steps) {
    // A fused job's time is split among its ops, as the op table does.
    const double each = static_cast<double>(s.added_ps) / 1e3 / static_cast<double>(std::max<std::size_t>(1, s.ops.size()));
    if (s.ops.empty()) on_path[s.name.empty() ? s.track : s.track + " " + s.name] += each;
    for (const auto& op : s.ops) on_path[op] += each;
  }
  p.critical_ops.assign(on_path.begin(), on_path.end());
  std::stable_sort(p.critical_ops.begin(), p.critical_ops.end(), [](const auto& x, const auto& y) { return x.second > y.second; });
  if (p.critical_ops.size() > top_ops) p.critical_ops.resize(top_ops);
  return p;
}

}  // namespace kiln::frontend::detail
