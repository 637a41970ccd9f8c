// `kiln trace`: work with trace files written by the driver.
//
//   kiln trace export FILE [--format chrome] -o|--output OUT.json   (OUT "-" = stdout)
//   kiln trace summary FILE [--config NAME|PATH] [--top N] [--window FROM:TO]
//   kiln trace report FILE -o OUT.html [--config NAME|PATH] [--top N] [--window FROM:TO]
//
// Usage errors exit 2, failures (unreadable trace, unwritable output) exit 1;
// both print "kiln trace: <what>" to stderr.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "commands.h"
#include "kiln/common/device_config.h"
#include "kiln/traces/analysis.h"
#include "kiln/traces/html_report.h"
#include "kiln/traces/trace_io.h"

namespace kiln::tools {
namespace {

constexpr const char* kUsage =
    "usage: kiln trace export FILE [--format chrome] -o|--output OUT.json\n"
    "       kiln trace summary FILE [--config NAME|PATH] [--top N] [--window FROM:TO]\n"
    "       kiln trace report FILE -o OUT.html [--config NAME|PATH] [--top N] [--window FROM:TO]\n"
    "  export   convert a Kiln trace to Chrome trace JSON (ui.perfetto.dev); -o - for stdout\n"
    "  summary  per-track events, busy time, utilisation, bytes and FLOPs; how the engine\n"
    "           classes overlapped; the N ops (default 10) with most engine time, each with\n"
    "           its roofline verdict against the device's peaks (--config, else the trace's device);\n"
    "           the N model ops (command-buffer labels) with most simulated time; the critical\n"
    "           path, of the events inside FROM..TO us of simulated time with --window (a step)\n"
    "  report   the same as one self-contained HTML page with a timeline per clock domain\n"
    "           (default 20 ops)\n";

int usage_error(const std::string& message) {
  std::fprintf(stderr, "kiln trace: %s\n%s", message.c_str(), kUsage);
  return 2;
}

int failure(const std::string& message) { return command_failed("trace", message); }

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


// What summary and report share: one trace file, the config for the
// roofline, how many ops to list, and (report) an output file.
struct AnalysisRequest {
  std::string input;
  std::optional<std::string> config;
  std::size_t top = 10;
  std::optional<std::string> output;
  uint64_t window_from_ps = 0, window_to_ps = UINT64_MAX;  // for the critical path
};

// "FROM:TO" in microseconds of simulated time (either may be empty: the
// start, the end); false if it is not that.
bool parse_window(const std::string& text, uint64_t* from_ps, uint64_t* to_ps) {
  const std::size_t colon = text.find(':');
  if (colon == std::string::npos || text.find(':', colon + 1) != std::string::npos) return false;
  auto parse_us = [](const std::string& part, uint64_t* ps) {
    if (part.empty()) return true;
    char* end = nullptr;
    const double us = std::strtod(part.c_str(), &end);
    if (*end != '\0' || !(us >= 0) || us > 9e12) return false;  // below 2^63 ps
    *ps = static_cast<uint64_t>(std::llround(us * 1e6));
    return true;
  };
  return parse_us(text.substr(0, colon), from_ps) && parse_us(text.substr(colon + 1), to_ps) && *from_ps < *to_ps;
}

// Parses the arguments of `command`; returns the exit code of a usage error.
std::optional<int> parse_analysis_args(const Args& args, const std::string& command, bool wants_output,
                                       AnalysisRequest* request) {
  std::optional<std::string> input;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string value;
    bool missing = false;
    if (take_option(args, i, {"--config"}, &value, &missing)) {
      if (missing) return usage_error("--config needs a config name or path");
      request->config = value;
    } else if (take_option(args, i, {"--top"}, &value, &missing)) {
      if (missing) return usage_error("--top needs a number of ops");
      char* end = nullptr;
      const unsigned long long n = std::strtoull(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || value[0] == '-') {
        return usage_error("--top takes a number of ops, got '" + value + "'");
      }
      request->top = static_cast<std::size_t>(n);
    } else if (take_option(args, i, {"--window"}, &value, &missing)) {
      if (missing) return usage_error("--window needs FROM:TO in microseconds");
      if (!parse_window(value, &request->window_from_ps, &request->window_to_ps)) {
        return usage_error("--window takes FROM:TO in microseconds with FROM < TO, got '" + value + "'");
      }
    } else if (wants_output && take_option(args, i, {"-o", "--output"}, &value, &missing)) {
      if (missing) return usage_error(args[i] + " needs a file name");
      request->output = value;
    } else if (args[i].size() > 1 && args[i][0] == '-') {
      return usage_error("unknown option '" + args[i] + "' for " + command);
    } else if (input) {
      return usage_error(command + " takes one trace file, got extra '" + args[i] + "'");
    } else {
      input = args[i];
    }
  }
  if (!input) return usage_error(command + " needs a trace file");
  if (wants_output && !request->output) return usage_error(command + " needs an output file: -o OUT.html");
  request->input = *input;
  return std::nullopt;
}

// The roofline needs the device's peaks: from --config, else those the trace
// recorded, else from the config the trace names, if it can be found. *note
// says which (or why none).
Result<traces::DevicePeaks> peaks_for(const proto::Trace& trace, const std::optional<std::string>& config_name,
                                      std::string* note) {
  if (config_name) {
    KILN_ASSIGN_OR_RETURN(DeviceConfig config, load_device_config(*config_name));
    *note = "roofline against config " + *config_name;
    return traces::device_peaks(config);
  }
  if (std::optional<traces::DevicePeaks> recorded = traces::recorded_peaks(trace)) {
    *note = "roofline against the peaks of the device that ran (recorded in the trace; --config to choose)";
    return *recorded;
  }
  if (trace.device().empty()) {
    *note = "no roofline: the trace names no device (--config to give one)";
    return traces::DevicePeaks{};
  }
  Result<DeviceConfig> config = load_device_config(trace.device());
  if (!config.ok()) {
    *note = "no roofline: config '" + trace.device() + "' not found (--config to give one)";
    return traces::DevicePeaks{};
  }
  *note = "roofline against config " + trace.device() + " (the trace's device; --config to choose)";
  return traces::device_peaks(*config);
}

// The analyses, with the critical path of the requested window.
traces::TraceAnalysis analyse(const proto::Trace& trace, const traces::DevicePeaks& peaks,
                              const AnalysisRequest& request) {
  traces::TraceAnalysis analysis = traces::analyze_trace(trace, peaks);
  if (request.window_from_ps != 0 || request.window_to_ps != UINT64_MAX) {
    analysis.critical_path = traces::critical_path(trace, request.window_from_ps, request.window_to_ps);
  }
  return analysis;
}

int run_summary(const Args& args) {
  AnalysisRequest request;
  if (auto code = parse_analysis_args(args, "summary", /*wants_output=*/false, &request)) return *code;
  Result<proto::Trace> trace = traces::read_trace_file(request.input);
  if (!trace.ok()) return failure(trace.status().message());
  std::string note;
  Result<traces::DevicePeaks> peaks = peaks_for(*trace, request.config, &note);
  if (!peaks.ok()) return failure(peaks.status().message());

  const std::string device_name = trace->device().empty() ? "device" : trace->device();
  std::printf("trace %s: device %s, %d events; %s\n", request.input.c_str(), device_name.c_str(),
              trace->events_size(), note.c_str());
  const std::string report = traces::format_analysis(analyse(*trace, *peaks, request), request.top);
  std::fwrite(report.data(), 1, report.size(), stdout);
  return 0;
}

int run_report(const Args& args) {
  AnalysisRequest request;
  request.top = 20;
  if (auto code = parse_analysis_args(args, "report", /*wants_output=*/true, &request)) return *code;
  Result<proto::Trace> trace = traces::read_trace_file(request.input);
  if (!trace.ok()) return failure(trace.status().message());
  traces::HtmlReportOptions options;
  options.top_ops = request.top;
  Result<traces::DevicePeaks> peaks = peaks_for(*trace, request.config, &options.note);
  if (!peaks.ok()) return failure(peaks.status().message());
  const Status written =
      traces::write_html_report(*request.output, *trace, analyse(*trace, *peaks, request), options);
  if (!written.ok()) return failure(written.message());
  std::printf("wrote %s (%d events; %s)\n", request.output->c_str(), trace->events_size(), options.note.c_str());
  return 0;
}

}  // namespace

int run_trace(const Args& args) {
  if (args.empty()) return usage_error("missing subcommand (export, summary, report)");
  const std::string& sub = args[0];
  const Args rest(args.begin() + 1, args.end());
  if (sub == "export") return run_export(rest);
  if (sub == "summary") return run_summary(rest);
  if (sub == "report") return run_report(rest);
  if (sub == "help" || sub == "--help" || sub == "-h") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  return usage_error("unknown subcommand '" + sub + "'");
}

}  // namespace kiln::tools
