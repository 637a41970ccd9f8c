// `kiln trace export` and `kiln trace summary`, run in-process: exit codes,
// output files, and the numbers the summary prints.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "commands.h"
#include "kiln/traces/analysis.h"
#include "kiln/traces/trace_io.h"

namespace kiln::tools {
namespace {

namespace fs = std::filesystem;
using traces::TraceClock;
using traces::TraceEvent;

constexpr uint64_t kUs = 1'000'000;  // picoseconds per microsecond

TraceEvent ev(std::string track, uint64_t start_us, uint64_t end_us, uint64_t bytes = 0,
              uint64_t flops = 0, TraceClock clock = TraceClock::kDeviceSimulated) {
  TraceEvent e;
  e.track = std::move(track);
  e.name = "job";
  e.start_ps = start_us * kUs;
  e.end_ps = end_us * kUs;
  e.bytes = bytes;
  e.flops = flops;
  e.clock = clock;
  return e;
}

struct Outcome {
  int code;
  std::string out;
  std::string err;
};

Outcome run(const Args& args) {
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  const int code = run_trace(args);
  Outcome r{code, ::testing::internal::GetCapturedStdout(), ::testing::internal::GetCapturedStderr()};
  return r;
}

class TraceCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("kiln_trace_cmd_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    trace_ = traces::to_proto("gaudi2", {
        ev("DMA0", 0, 10, 1024),
        ev("DMA0", 5, 15, 2048),  // overlaps the first: busy time counts it once
        ev("DMA0", 20, 30),
        ev("MME0", 0, 40, 0, 2'000'000'000),
        ev("DMA10", 1, 2),
        ev("DMA2", 1, 2),
        ev("host", 0, 1, 0, 0, TraceClock::kHostWall),
    });
    trace_file_ = path("run.kiln-trace");
    ASSERT_TRUE(traces::write_trace_file(trace_file_, trace_).ok());
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  static std::string slurp(const std::string& file) {
    std::ifstream in(file, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }

  fs::path dir_;
  proto::Trace trace_;
  std::string trace_file_;
};

TEST_F(TraceCommandTest, ExportWritesChromeJson) {
  const std::string expected = traces::to_chrome_json(trace_);
  const std::vector<Args> forms = {
      {"export", trace_file_, "--format", "chrome", "-o", path("a.json")},
      {"export", "--output", path("b.json"), trace_file_},
      {"export", trace_file_, "--format=chrome", "--output=" + path("c.json")},
  };
  for (const Args& args : forms) {
    Outcome r = run(args);
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.err, "");
  }
  for (const char* name : {"a.json", "b.json", "c.json"}) EXPECT_EQ(slurp(path(name)), expected);
}

TEST_F(TraceCommandTest, ExportToStdout) {
  Outcome r = run({"export", trace_file_, "-o", "-"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, traces::to_chrome_json(trace_));
}

TEST_F(TraceCommandTest, UnreadableTraceOrOutputExitsOneNamingThePath) {
  const std::string missing = path("missing.kiln-trace");
  Outcome r = run({"export", missing, "-o", path("x.json")});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err.rfind("kiln trace: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(missing), std::string::npos) << r.err;

  const std::string bad_out = path("no/dir/x.json");
  r = run({"export", trace_file_, "-o", bad_out});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find(bad_out), std::string::npos) << r.err;

  r = run({"summary", missing});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find(missing), std::string::npos) << r.err;
}

TEST_F(TraceCommandTest, UsageErrorsExitTwo) {
  const std::vector<Args> bad = {
      {},
      {"frobnicate"},
      {"export"},
      {"export", trace_file_},
      {"export", trace_file_, "-o"},
      {"export", trace_file_, "--format", "perfetto", "-o", path("x.json")},
      {"export", trace_file_, "--verbose", "-o", path("x.json")},
      {"export", trace_file_, trace_file_, "-o", path("x.json")},
      {"summary"},
      {"summary", trace_file_, trace_file_},
      {"summary", trace_file_, "--top"},
      {"summary", trace_file_, "--top", "many"},
      {"summary", trace_file_, "--top", "-1"},
      {"summary", trace_file_, "--config"},
      {"summary", trace_file_, "--verbose"},
      {"summary", trace_file_, "-o", path("x.html")},
      {"report", trace_file_},
      {"report", "-o", path("x.html")},
      {"report", trace_file_, "-o"},
      {"report", trace_file_, "-o", path("x.html"), "--top", "x"},
      {"summary", trace_file_, "--window"},
      {"summary", trace_file_, "--window", "5"},
      {"summary", trace_file_, "--window", "9:3"},
      {"summary", trace_file_, "--window", "a:b"},
      {"summary", trace_file_, "--window", "1:2:3"},
      {"report", trace_file_, "-o", path("x.html"), "--window", "-1:3"},
  };
  for (const Args& args : bad) {
    Outcome r = run(args);
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    EXPECT_EQ(r.code, 2) << joined;
    EXPECT_EQ(r.err.rfind("kiln trace: ", 0), 0u) << joined << r.err;
    EXPECT_NE(r.err.find("usage:"), std::string::npos) << joined;
  }
  EXPECT_EQ(run({"--help"}).code, 0);
}

// The row for `track` in the section whose header starts with `section`,
// split into whitespace-separated fields.
std::vector<std::string> row(const std::string& out, const std::string& section,
                             const std::string& track) {
  std::istringstream lines(out);
  std::string line;
  bool in_section = false;
  while (std::getline(lines, line)) {
    if (!line.empty() && line[0] != ' ') {
      in_section = line.rfind(section, 0) == 0;
      continue;  // a section header, not a row
    }
    std::istringstream fields(line);
    std::vector<std::string> f{std::istream_iterator<std::string>(fields), {}};
    if (in_section && !f.empty() && f[0] == track) return f;
  }
  return {};
}

TEST_F(TraceCommandTest, SummaryReportsBusyTimeUtilisationAndBytesPerTrack) {
  Outcome r = run({"summary", trace_file_});
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string& out = r.out;
  EXPECT_NE(out.find("gaudi2 (simulated): span 40.000 us"), std::string::npos) << out;
  EXPECT_NE(out.find("host (wall): span 1.000 us"), std::string::npos) << out;

  // track events busy util bytes(value unit) flops(value unit)
  EXPECT_EQ(row(out, "gaudi2", "DMA0"),
            (std::vector<std::string>{"DMA0", "3", "25.000", "62.5%", "3.00", "KiB", "0"}))
      << out;
  EXPECT_EQ(row(out, "gaudi2", "MME0"),
            (std::vector<std::string>{"MME0", "1", "40.000", "100.0%", "0", "B", "2.00", "G"}))
      << out;
  EXPECT_EQ(row(out, "host", "host"),
            (std::vector<std::string>{"host", "1", "1.000", "100.0%", "0", "B", "0"}))
      << out;
  EXPECT_TRUE(row(out, "host", "DMA0").empty()) << "device tracks listed under host";

  // Natural order: DMA2 before DMA10.
  EXPECT_LT(out.find("  DMA2 "), out.find("  DMA10 ")) << out;
}

TEST_F(TraceCommandTest, SummaryReportsEngineOverlapAndTopOpsWithTheirRoofline) {
  // The trace names gaudi2: its peaks are found without --config. MME0 [0,40)
  // and the DMAs ([0,15) and [20,30)) overlap for 25 us; "job" is the only op.
  Outcome r = run({"summary", trace_file_});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("roofline against config gaudi2 (the trace's device"), std::string::npos) << r.out;
  EXPECT_EQ(row(r.out, "engines", "MME+DMA"),
            (std::vector<std::string>{"MME+DMA", "25.000", "62.5%", "both", "busy", "at", "once"}))
      << r.out;
  EXPECT_NE(r.out.find("top ops by engine time (1 of 1):"), std::string::npos) << r.out;
  // "job" ran on MME and DMA tracks: an op of mixed class, which has no
  // single peak and so no roofline verdict.
  const std::vector<std::string> job = row(r.out, "top ops", "100.0%");
  ASSERT_GE(job.size(), 4u) << r.out;
  EXPECT_EQ(job[4], "mixed") << r.out;
  EXPECT_EQ(job[job.size() - 3], "-") << r.out;  // bound
  EXPECT_EQ(job[job.size() - 2], "-") << r.out;  // roofline efficiency
  EXPECT_EQ(job.back(), "job") << r.out;

  // A trace that recorded its device's peaks is judged against them.
  proto::Trace with_peaks = trace_;
  traces::record_peaks(with_peaks, {1e12, 1, 1e9, 1, 1e9});
  const std::string peaks_file = path("peaks.kiln-trace");
  ASSERT_TRUE(traces::write_trace_file(peaks_file, with_peaks).ok());
  r = run({"summary", peaks_file});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("roofline against the peaks of the device that ran (recorded in the trace"),
            std::string::npos)
      << r.out;

  r = run({"summary", trace_file_, "--top", "0"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.find("top ops"), std::string::npos) << r.out;

  r = run({"summary", "--config=tiny", trace_file_});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("roofline against config tiny"), std::string::npos) << r.out;

  const std::string missing = path("nowhere.textproto");
  r = run({"summary", trace_file_, "--config", missing});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find(missing), std::string::npos) << r.err;
}

TEST_F(TraceCommandTest, SummaryPrintsTheCriticalPathOfTheTraceOrOfAWindow) {
  // No event says what it waited for: each chain is one event, or a track's
  // events back to back. The whole trace's is MME0's 40 us.
  Outcome r = run({"summary", trace_file_});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("critical path: 1 steps, 40.000 us of the 40.000 us span (100.0%)"), std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("model ops"), std::string::npos) << r.out;  // nothing is labelled

  // Inside [0, 35) us MME0 is not: of the 10 us DMA0 jobs, the last to end.
  r = run({"summary", trace_file_, "--window", "0:35"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("critical path in [0.000, 35.000) us: 1 steps, 10.000 us of the 30.000 us span (33.3%)"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(row(r.out, "critical path", "20.000"),
            (std::vector<std::string>{"20.000", "30.000", "10.000", "DMA0", "job"}))
      << r.out;

  r = run({"summary", trace_file_, "--window=50:"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("critical path in [50.000, end) us: no events in the window"), std::string::npos) << r.out;

  r = run({"report", trace_file_, "-o", path("w.html"), "--window", "0:35"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(slurp(path("w.html")).find("Critical path in [0.000, 35.000) us: 1 steps"), std::string::npos);
}

TEST_F(TraceCommandTest, ReportWritesOneHtmlPage) {
  const std::string out = path("report.html");
  Outcome r = run({"report", trace_file_, "-o", out, "--top", "5"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("wrote " + out), std::string::npos) << r.out;
  const std::string html = slurp(out);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("<h1>Kiln trace: gaudi2</h1>"), std::string::npos);
  EXPECT_NE(html.find("roofline against config gaudi2"), std::string::npos);
  EXPECT_NE(html.find("<svg"), std::string::npos);

  const std::string bad_out = path("no/dir/report.html");
  r = run({"report", trace_file_, "-o", bad_out});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find(bad_out), std::string::npos) << r.err;
}

}  // namespace
}  // namespace kiln::tools
