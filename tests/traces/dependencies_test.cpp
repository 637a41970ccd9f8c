// The analyses built on labels and dependency edges, on hand-built traces
// whose answers are worked out in the comments: the critical path (the
// longest chain of own time through waits_for edges and same-track order)
// and the model-op table (simulated time per op, summed over its jobs).
#include <gtest/gtest.h>

#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "kiln/traces/analysis.h"
#include "kiln/traces/html_report.h"
#include "trace_builder.h"

namespace kiln::traces {
namespace {

using testing::add;
using testing::add_linked;
using testing::kUs;

std::vector<uint64_t> ids_of(const CriticalPath& path) {
  std::vector<uint64_t> ids;
  for (const CriticalPathStep& step : path.steps) ids.push_back(step.id);
  return ids;
}

// ---- Critical path ------------------------------------------------------------

// Chain A on queue 0: MME0 [0,10) -> TPC0 [12,30) -> DMA0 [31,40): 10 + 18 + 9
// = 37 us of work. Chain B on queue 1: DMA1 [0,20) -> TPC1 [20,25): 25 us.
// DMA2 [38,41): alone, the last to end, 3 us.
proto::Trace two_chains() {
  proto::Trace t;
  add_linked(t, "MME0", "gemm", 0, 10, {.id = 1});
  add_linked(t, "TPC0", "relu", 12, 30, {.id = 2, .waits_for = {1}});
  add_linked(t, "DMA0", "copy", 31, 40, {.id = 3, .waits_for = {2}});
  add_linked(t, "DMA1", "copy", 0, 20, {.id = 4});
  add_linked(t, "TPC1", "add", 20, 25, {.id = 5, .waits_for = {4}});
  add_linked(t, "DMA2", "copy", 38, 41, {.id = 6});
  return t;
}

TEST(CriticalPath, OfTwoChainsOfJobsItIsTheOneWithMoreWorkNotTheOneThatEndsLast) {
  const CriticalPath path = critical_path(two_chains());
  EXPECT_EQ(ids_of(path), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(path.length_ps, 37 * kUs);
  EXPECT_EQ(path.first_ps, 0u);
  EXPECT_EQ(path.span_ps(), 41 * kUs);
  ASSERT_EQ(path.steps.size(), 3u);
  EXPECT_EQ(path.steps[0].added_ps, 10 * kUs);
  EXPECT_EQ(path.steps[1].added_ps, 18 * kUs);
  EXPECT_EQ(path.steps[2].added_ps, 9 * kUs);
  EXPECT_FALSE(path.steps[0].via_dependency);  // the first step is reached from nothing
  EXPECT_TRUE(path.steps[1].via_dependency);
  EXPECT_TRUE(path.steps[2].via_dependency);
  EXPECT_EQ(path.steps[1].track, "TPC0");
  EXPECT_EQ(path.steps[1].name, "relu");
  EXPECT_EQ(path.steps[1].start_ps, 12 * kUs);
  EXPECT_EQ(path.steps[1].end_ps, 30 * kUs);
}

// DMA1 [0,20) signals; CP0's sync wait [5,22) was released by it (the signal
// took 2 us to land); DMA0 [23,60) ran after the wait. MME0 [0,30): longer
// than DMA1 but waited for by nothing.
proto::Trace signal_and_wait(bool wait_knows_its_releaser) {
  proto::Trace t;
  add_linked(t, "DMA1", "copy", 0, 20, {.id = 1});
  add_linked(t, "CP0", "sync wait", 5, 22, {.id = 2, .waits_for = wait_knows_its_releaser ? std::vector<uint64_t>{1}
                                                                                        : std::vector<uint64_t>{}});
  add_linked(t, "DMA0", "copy", 23, 60, {.id = 3, .waits_for = {2}});
  add_linked(t, "MME0", "gemm", 0, 30, {.id = 4});
  return t;
}

TEST(CriticalPath, AWaitAddsOnlyWhatItRanAfterItsReleaserEnded) {
  // 20 (the signalling copy) + 2 (the wait's tail) + 37 (the copy after it).
  CriticalPath path = critical_path(signal_and_wait(true));
  EXPECT_EQ(ids_of(path), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(path.length_ps, 59 * kUs);
  ASSERT_EQ(path.steps.size(), 3u);
  EXPECT_EQ(path.steps[1].added_ps, 2 * kUs);

  // A wait that does not say what released it is all its own time.
  path = critical_path(signal_and_wait(false));
  EXPECT_EQ(ids_of(path), (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(path.length_ps, (17 + 37) * kUs);
}

TEST(CriticalPath, AHostWaitAddsItsWakeUpAndTheWallClockIsNotOnIt) {
  // The host submits [0,2), the copy [5,45) waits for the submit, the
  // host's synchronize [2,50) waits for the copy: 2 + 40 + 5, not the 2 + 48
  // of the host thread's own calls in a row.
  proto::Trace t;
  add_linked(t, "host", "submit", 0, 2, {.id = 11}, proto::HOST_SIMULATED);
  add_linked(t, "host", "synchronize", 2, 50, {.id = 12, .waits_for = {3}}, proto::HOST_SIMULATED);
  add_linked(t, "DMA0", "copy", 5, 45, {.id = 3, .waits_for = {11}});
  add_linked(t, "host", "synchronize", 0, 1000, {.id = 13, .waits_for = {3}}, proto::HOST_WALL);
  const CriticalPath path = critical_path(t);
  EXPECT_EQ(ids_of(path), (std::vector<uint64_t>{11, 3, 12}));
  EXPECT_EQ(path.length_ps, 47 * kUs);
  EXPECT_EQ(path.span_ps(), 50 * kUs);
  ASSERT_EQ(path.steps.size(), 3u);
  EXPECT_EQ(path.steps[2].added_ps, 5 * kUs);
  EXPECT_TRUE(path.steps[2].via_dependency);
}

TEST(CriticalPath, TrackOrderLinksOnlyWhereTheTrackWasTheGate) {
  // DMA0 [0,10) then [10,15): the second began as the first ended. [16,20)
  // began later: not reached from them. SYNC [0,8) and [8,16) are monitors,
  // which fire independently: never linked.
  proto::Trace t;
  add_linked(t, "DMA0", "copy", 0, 10, {.id = 1});
  add_linked(t, "DMA0", "copy", 10, 15, {.id = 2});
  add_linked(t, "DMA0", "copy", 16, 20, {.id = 3});
  add_linked(t, "SYNC", "monitor 0 -> fence", 0, 8, {.id = 4});
  add_linked(t, "SYNC", "monitor 1 -> fence", 8, 16, {.id = 5});
  const CriticalPath path = critical_path(t);
  EXPECT_EQ(ids_of(path), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(path.length_ps, 15 * kUs);
  ASSERT_EQ(path.steps.size(), 2u);
  EXPECT_FALSE(path.steps[1].via_dependency);
}

TEST(CriticalPath, AnEdgeToAJobIsAnEdgeToEachOfItsEvents) {
  // One GEMM on two MMEs, [0,10) and [0,14); the kernel [15,20) waited for
  // the job: the chain runs through the engine that finished last.
  proto::Trace t;
  add_linked(t, "MME0", "gemm", 0, 10, {.id = 1, .job = 100});
  add_linked(t, "MME1", "gemm", 0, 14, {.id = 2, .job = 100});
  add_linked(t, "TPC0", "gelu", 15, 20, {.id = 3, .waits_for = {100}});
  const CriticalPath path = critical_path(t);
  EXPECT_EQ(ids_of(path), (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(path.length_ps, 19 * kUs);
  ASSERT_EQ(path.steps.size(), 2u);
  EXPECT_EQ(path.steps[0].job, 100u);
}

TEST(CriticalPath, AWindowKeepsOnlyTheEventsInsideIt) {
  // Of signal_and_wait, only the copy [23,60) lies inside [20,60).
  const CriticalPath path = critical_path(signal_and_wait(true), 20 * kUs, 60 * kUs);
  EXPECT_EQ(ids_of(path), (std::vector<uint64_t>{3}));
  EXPECT_EQ(path.length_ps, 37 * kUs);
  EXPECT_EQ(path.first_ps, 23 * kUs);
}

TEST(CriticalPath, MalformedEdgesAreIgnoredAndSubmissionRecordsAreNotSteps) {
  // A and B wait for each other (a cycle), A for an event that ends later
  // and for an id that is not in the trace; the submission record spans all.
  proto::Trace t;
  add_linked(t, "DMA0", "a", 0, 10, {.id = 1, .waits_for = {2, 3, 999}});
  add_linked(t, "DMA1", "b", 0, 10, {.id = 2, .waits_for = {1}});
  add_linked(t, "MME0", "c", 0, 20, {.id = 3});
  add_linked(t, "CP0", "submission", 0, 100, {.id = 4});
  const CriticalPath path = critical_path(t);
  EXPECT_EQ(ids_of(path), (std::vector<uint64_t>{3}));
  EXPECT_EQ(path.length_ps, 20 * kUs);
  EXPECT_EQ(path.span_ps(), 20 * kUs);

  EXPECT_TRUE(critical_path(proto::Trace()).steps.empty());
  EXPECT_EQ(critical_path(proto::Trace()).length_ps, 0u);
}

TEST(CriticalPath, AChainAsLongAsTheTraceNeedsNoDeepStack) {
  proto::Trace t;
  const uint64_t n = 200'000;
  for (uint64_t i = 0; i < n; ++i) {
    add_linked(t, "DMA0", "copy", i, i + 1, {.id = i + 1, .waits_for = {i}});
  }
  const CriticalPath path = critical_path(t);
  EXPECT_EQ(path.steps.size(), n);
  EXPECT_EQ(path.length_ps, n * kUs);
}

// ---- Model ops ----------------------------------------------------------------

// A fused job (TPC0 [0,10), ops a and b, 101 bytes, 11 FLOPs); one GEMM job on
// two MMEs (MME0 [10,20), MME1 [10,22), 40 bytes each) after a labelled wait
// (CP0 [5,10)); an unlabelled copy (DMA0 [0,4), 16 bytes). Jobs' time: 10 +
// 12 + 4 = 26 us.
proto::Trace labelled() {
  proto::Trace t;
  proto::TraceEvent* fused = add_linked(t, "TPC0", "fused_kernel", 0, 10, {.id = 1, .ops = {"a", "b"}, .job = 50});
  fused->set_bytes(101);
  fused->set_flops(11);
  add_linked(t, "MME0", "gemm", 10, 20, {.id = 2, .ops = {"gemm"}, .job = 51})->set_bytes(40);
  add_linked(t, "MME1", "gemm", 10, 22, {.id = 3, .ops = {"gemm"}, .job = 51})->set_bytes(40);
  add_linked(t, "CP0", "sync wait", 5, 10, {.id = 4, .ops = {"gemm"}});
  add(t, "DMA0", "copy", 0, 4, 16);
  add_linked(t, "CP0", "submission", 0, 30, {.id = 5, .ops = {"gemm"}});  // not a wait
  add_linked(t, "host", "submit", 0, 1, {.id = 6, .ops = {"gemm"}}, proto::HOST_SIMULATED);  // not engine work
  return t;
}

TEST(ModelOps, TimeIsSummedOverJobsAndAFusedJobIsSplitEqually) {
  const std::vector<ModelOpSummary> table = model_op_table(labelled());
  ASSERT_EQ(table.size(), 4u);
  // By time: gemm 12, a 5, b 5 (ties by name), (unlabelled) 4.
  EXPECT_EQ(table[0].op, "gemm");
  EXPECT_EQ(table[1].op, "a");
  EXPECT_EQ(table[2].op, "b");
  EXPECT_EQ(table[3].op, "(unlabelled)");

  const ModelOpSummary& gemm = table[0];
  EXPECT_EQ(gemm.jobs, 1u);  // one job on two engines
  EXPECT_EQ(gemm.fused, 0u);
  EXPECT_EQ(gemm.time_ps, 12 * kUs);
  EXPECT_EQ(gemm.engine_ps, 22 * kUs);
  EXPECT_EQ(gemm.engines, (std::map<std::string, uint32_t>{{"MME", 2}}));
  EXPECT_EQ(gemm.span_ps(), 12 * kUs);
  EXPECT_EQ(gemm.wall_ps, 12 * kUs);
  EXPECT_EQ(gemm.wait_ps, 5 * kUs);
  EXPECT_EQ(gemm.bytes, 80u);
  EXPECT_DOUBLE_EQ(gemm.share, 12.0 / 26.0);

  // The fused job's 10 us, 101 bytes and 11 FLOPs, split: the first op gets
  // the remainder.
  EXPECT_EQ(table[1].time_ps, 5 * kUs);
  EXPECT_EQ(table[2].time_ps, 5 * kUs);
  EXPECT_EQ(table[1].bytes, 51u);
  EXPECT_EQ(table[2].bytes, 50u);
  EXPECT_EQ(table[1].flops, 6u);
  EXPECT_EQ(table[2].flops, 5u);
  EXPECT_EQ(table[1].jobs, 1u);
  EXPECT_EQ(table[1].fused, 1u);
  EXPECT_EQ(table[1].engines, (std::map<std::string, uint32_t>{{"TPC", 1}}));

  EXPECT_EQ(table[3].time_ps, 4 * kUs);
  EXPECT_EQ(table[3].engines, (std::map<std::string, uint32_t>{{"DMA", 1}}));
  double shares = 0;
  for (const ModelOpSummary& op : table) shares += op.share;
  EXPECT_NEAR(shares, 1.0, 1e-12);
  EXPECT_EQ(format_engines({{"MME", 2}, {"TPC", 24}}), "MME:2 TPC:24");
}

TEST(ModelOps, ATraceWithoutLabelsHasNoTable) {
  proto::Trace t;
  add(t, "DMA0", "copy", 0, 4, 16);
  add_linked(t, "DMA1", "copy", 4, 8, {.id = 2, .waits_for = {1}});
  EXPECT_TRUE(model_op_table(t).empty());
  const TraceAnalysis a = analyze_trace(t);
  EXPECT_TRUE(a.model_ops.empty());
  EXPECT_EQ(format_analysis(a, 10).find("model ops"), std::string::npos);
}

// ---- Reports ------------------------------------------------------------------

// The whitespace-separated fields of the first line of `text` that ends with
// `suffix`, after the line starting with `section`.
std::vector<std::string> row(const std::string& text, const std::string& section, const std::string& suffix) {
  std::istringstream lines(text.substr(text.find(section)));
  std::string line;
  while (std::getline(lines, line)) {
    if (line.size() >= suffix.size() && line.compare(line.size() - suffix.size(), suffix.size(), suffix) == 0) {
      std::istringstream fields(line);
      return {std::istream_iterator<std::string>(fields), {}};
    }
  }
  return {};
}

TEST(DependencyReports, TheSummaryPrintsTheModelOpTableAndTheCriticalPath) {
  proto::Trace t = labelled();
  add_linked(t, "TPC0", "gelu", 23, 30, {.id = 7, .waits_for = {51}, .ops = {"gelu"}, .job = 52});
  const std::string out = format_analysis(analyze_trace(t), 10);
  EXPECT_NE(out.find("model ops by simulated time (5 of 5;"), std::string::npos) << out;
  // share time engine span wait jobs fused engines bytes flops op
  EXPECT_EQ(row(out, "model ops", " gemm"),
            (std::vector<std::string>{"36.4%", "12.000", "22.000", "12.000", "5.000", "1", "0", "MME:2", "80", "B",
                                      "0", "gemm"}))
      << out;
  // The chain: the GEMM's longer event (12) and gelu (7) = 19 of the 30 us
  // span of the simulated timeline (the submission record excluded).
  EXPECT_NE(out.find("critical path: 2 steps, 19.000 us of the 30.000 us span (63.3%)"), std::string::npos) << out;
  EXPECT_EQ(row(out, "critical path", "[gelu]"),
            (std::vector<std::string>{"23.000", "30.000", "7.000", "dep", "TPC0", "gelu", "[gelu]"}))
      << out;
  EXPECT_EQ(row(out, "critical path", "[gemm]"),
            (std::vector<std::string>{"10.000", "22.000", "12.000", "MME1", "gemm", "[gemm]"}))
      << out;

  const std::string html = to_html_report(t, analyze_trace(t), {});
  EXPECT_NE(html.find("Model ops by simulated time (5 of 5)"), std::string::npos);
  EXPECT_NE(html.find("Critical path: 2 steps"), std::string::npos);
  EXPECT_NE(html.find("class=\"ev crit\""), std::string::npos);  // outlined on the timeline
  EXPECT_NE(html.find("ops gelu"), std::string::npos);             // in the hover text
}

TEST(DependencyReports, ALongPathPrintsItsFirstAndLastSteps) {
  proto::Trace t;
  const uint64_t n = 100;
  for (uint64_t i = 0; i < n; ++i) add_linked(t, "DMA0", "copy " + std::to_string(i), i, i + 1, {.id = i + 1, .waits_for = {i}});
  const std::string out = format_analysis(analyze_trace(t), 10);
  EXPECT_NE(out.find("critical path: 100 steps"), std::string::npos) << out;
  EXPECT_NE(out.find(" copy 19\n"), std::string::npos) << out;
  EXPECT_EQ(out.find(" copy 20\n"), std::string::npos) << out;
  EXPECT_NE(out.find("  ... 60 steps ...\n"), std::string::npos) << out;
  EXPECT_NE(out.find(" copy 80\n"), std::string::npos) << out;
  EXPECT_NE(out.find(" copy 99\n"), std::string::npos) << out;
}

}  // namespace
}  // namespace kiln::traces
