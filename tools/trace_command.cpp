// `kiln trace`: work with trace files written by the driver.
//
//   kiln trace export FILE [--format chrome] -o|--output OUT.json   (OUT "-" = stdout)
//   kiln trace summary FILE
//
// Usage errors exit 2, failures (unreadable trace, unwritable output) exit 1;
// both print "kiln trace: <what>" to stderr.
#include <algorithm>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "commands.h"
#include "kiln/traces/trace_io.h"

namespace kiln::tools {
namespace {

constexpr const char* kUsage =
    "usage: kiln trace export FILE [--format chrome] -o|--output OUT.json\n"
    "       kiln trace summary FILE\n"
    "  export   convert a Kiln trace to Chrome trace JSON (ui.perfetto.dev); -o - for stdout\n"
    "  summary  per-track events, busy time, utilisation over the trace span, bytes moved\n";

int usage_error(const std::string& message) {
  std::fprintf(stderr, "kiln trace: %s\n%s", message.c_str(), kUsage);
  return 2;
}

int failure(const std::string& message) {
  std::fprintf(stderr, "kiln trace: %s\n", message.c_str());
  return 1;
}

// Accepts "--name value" and "--name=value". Returns true if args[i] is the
// option (advancing i past its value); sets *missing if the value is absent.
bool take_option(const Args& args, std::size_t& i, std::initializer_list<std::string_view> names,
                 std::string* value, bool* missing) {
  const std::string& arg = args[i];
  for (std::string_view name : names) {
    if (arg == name) {
      if (i + 1 >= args.size()) {
        *missing = true;
      } else {
        *value = args[++i];
      }
      return true;
    }
    if (arg.size() > name.size() && arg.compare(0, name.size(), name) == 0 &&
        arg[name.size()] == '=') {
      *value = arg.substr(name.size() + 1);
      return true;
    }
  }
  return false;
}

int run_export(const Args& args) {
  std::optional<std::string> input;
  std::string format = "chrome";
  std::optional<std::string> output;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string value;
    bool missing = false;
    if (take_option(args, i, {"--format"}, &value, &missing)) {
      if (missing) return usage_error("--format needs a value");
      format = value;
    } else if (take_option(args, i, {"-o", "--output"}, &value, &missing)) {
      if (missing) return usage_error(args[i] + " needs a file name");
      output = value;
    } else if (args[i].size() > 1 && args[i][0] == '-') {
      return usage_error("unknown option '" + args[i] + "' for export");
    } else if (input) {
      return usage_error("export takes one trace file, got '" + *input + "' and '" + args[i] +
                         "'");
    } else {
      input = args[i];
    }
  }
  if (!input) return usage_error("export needs a trace file");
  if (format != "chrome") return usage_error("unknown format '" + format + "' (supported: chrome)");
  if (!output) return usage_error("export needs an output file: -o OUT.json (or -o - for stdout)");

  Result<proto::Trace> trace = traces::read_trace_file(*input);
  if (!trace.ok()) return failure(trace.status().message());
  if (*output == "-") {
    const std::string json = traces::to_chrome_json(*trace);
    if (std::fwrite(json.data(), 1, json.size(), stdout) != json.size() ||
        std::fflush(stdout) != 0) {
      return failure("cannot write Chrome trace JSON to stdout");
    }
    return 0;
  }
  if (Status s = traces::write_chrome_json(*output, *trace); !s.ok()) return failure(s.message());
  return 0;
}


struct TrackStats {
  uint64_t events = 0;
  uint64_t bytes = 0;
  uint64_t flops = 0;
  std::vector<std::pair<uint64_t, uint64_t>> intervals;  // [start, end) ps
};

// Busy time is the union of the track's intervals: overlapping jobs on one
// engine (pipelined DMA descriptors, say) must not count twice.
uint64_t busy_ps(std::vector<std::pair<uint64_t, uint64_t>> intervals) {
  std::sort(intervals.begin(), intervals.end());
  uint64_t busy = 0;
  uint64_t cur_start = 0;
  uint64_t cur_end = 0;
  bool open = false;
  for (const auto& [start, end] : intervals) {
    if (open && start <= cur_end) {
      cur_end = std::max(cur_end, end);
      continue;
    }
    if (open) busy += cur_end - cur_start;
    cur_start = start;
    cur_end = end;
    open = true;
  }
  if (open) busy += cur_end - cur_start;
  return busy;
}

std::string human_bytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double v = static_cast<double>(bytes);
  int unit = 0;
  while (v >= 1024.0 && unit < 6) {
    v /= 1024.0;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f %s", v, kUnits[unit]);
  return buf;
}

std::string human_flops(uint64_t flops) {
  static constexpr const char* kUnits[] = {"", "K", "M", "G", "T", "P", "E"};
  double v = static_cast<double>(flops);
  int unit = 0;
  while (v >= 1000.0 && unit < 6) {
    v /= 1000.0;
    ++unit;
  }
  char buf[32];
  if (unit == 0) {
    std::snprintf(buf, sizeof buf, "%" PRIu64, flops);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f %s", v, kUnits[unit]);
  }
  return buf;
}

double to_us(uint64_t ps) { return static_cast<double>(ps) / 1e6; }

// One clock domain (device simulated time or host wall time): the two clocks
// are not comparable, so each gets its own span and utilisation baseline.
void print_domain(const char* title, const std::map<std::string, TrackStats>& tracks) {
  if (tracks.empty()) return;
  uint64_t first = UINT64_MAX;
  uint64_t last = 0;
  for (const auto& [name, stats] : tracks) {
    for (const auto& [start, end] : stats.intervals) {
      first = std::min(first, start);
      last = std::max(last, end);
    }
  }
  const uint64_t span = last - first;
  std::printf("%s: span %.3f us (%.3f .. %.3f us)\n", title, to_us(span), to_us(first),
              to_us(last));
  std::printf("  %-16s %8s %14s %7s %12s %12s\n", "track", "events", "busy us", "util", "bytes",
              "flops");

  std::vector<const std::pair<const std::string, TrackStats>*> order;
  for (const auto& entry : tracks) order.push_back(&entry);
  std::sort(order.begin(), order.end(),
            [](const auto* a, const auto* b) { return traces::natural_less(a->first, b->first); });
  for (const auto* entry : order) {
    const TrackStats& s = entry->second;
    const uint64_t busy = busy_ps(s.intervals);
    const double util = span == 0 ? 0.0 : 100.0 * static_cast<double>(busy) / static_cast<double>(span);
    const std::string name = entry->first.empty() ? "(unnamed)" : entry->first;
    std::printf("  %-16s %8" PRIu64 " %14.3f %6.1f%% %12s %12s\n", name.c_str(), s.events,
                to_us(busy), util, human_bytes(s.bytes).c_str(), human_flops(s.flops).c_str());
  }
}

int run_summary(const Args& args) {
  if (args.empty()) return usage_error("summary needs a trace file");
  if (args.size() > 1) return usage_error("summary takes one trace file, got extra '" + args[1] + "'");
  if (args[0].size() > 1 && args[0][0] == '-') {
    return usage_error("unknown option '" + args[0] + "' for summary");
  }
  Result<proto::Trace> trace = traces::read_trace_file(args[0]);
  if (!trace.ok()) return failure(trace.status().message());

  std::map<std::string, TrackStats> device;
  std::map<std::string, TrackStats> host;
  for (const proto::TraceEvent& e : trace->events()) {
    TrackStats& s = (e.clock() == proto::HOST_WALL ? host : device)[e.track()];
    ++s.events;
    s.bytes += e.bytes();
    s.flops += e.flops();
    // An event ending before it starts counts as instantaneous.
    s.intervals.emplace_back(e.start_ps(), std::max(e.start_ps(), e.end_ps()));
  }
  const std::string device_name = trace->device().empty() ? "device" : trace->device();
  std::printf("trace %s: device %s, %d events\n", args[0].c_str(), device_name.c_str(),
              trace->events_size());
  print_domain((device_name + " (simulated)").c_str(), device);
  print_domain("host (wall)", host);
  return 0;
}

}  // namespace

int run_trace(const Args& args) {
  if (args.empty()) return usage_error("missing subcommand (export, summary)");
  const std::string& sub = args[0];
  const Args rest(args.begin() + 1, args.end());
  if (sub == "export") return run_export(rest);
  if (sub == "summary") return run_summary(rest);
  if (sub == "help" || sub == "--help" || sub == "-h") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  return usage_error("unknown subcommand '" + sub + "'");
}

}  // namespace kiln::tools
