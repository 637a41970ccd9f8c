// Trace analyses: busy time as a union, utilisation, engine-class overlap,
// ops by engine time, and the roofline verdict, on hand-built traces whose
// answers are worked out in the comments.
#include "kiln/traces/analysis.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "trace_builder.h"

namespace kiln::traces {
namespace {

using testing::add;
using testing::kUs;

// 0..100 us of device time:
//   MME0 gemm [0,40)  MME1 gemm [0,40)          -> MME busy [0,40)
//   TPC0 add [30,50)  TPC1 add [35,45)  TPC0 softmax [60,70)  -> TPC busy [30,50) [60,70)
//   DMA0 copy [45,65) DMA1 copy [90,100)          -> DMA busy [45,65) [90,100)
//   CP0 submission [0,100) (not an engine)
proto::Trace sample() {
  proto::Trace t;
  t.set_device("test");
  add(t, "CP0", "submission", 0, 100);
  add(t, "MME0", "gemm 64x64x64", 0, 40, 3000, 4'000'000);
  add(t, "MME1", "gemm 64x64x64", 0, 40, 3000, 4'000'000);
  add(t, "TPC0", "add", 30, 50, 8000, 1000);
  add(t, "TPC1", "add", 35, 45, 4000, 500);
  add(t, "TPC0", "softmax", 60, 70, 100, 2000);
  add(t, "DMA0", "copy", 45, 65, 1 << 20);
  add(t, "DMA1", "copy", 90, 100, 1 << 10);
  add(t, "host", "copy_to_device", 5, 7, 0, 0, proto::HOST_WALL);
  return t;
}

TEST(TraceAnalysis, EngineClassesAreTheNumberedMmeTpcAndDmaTracks) {
  EXPECT_EQ(engine_class("MME0"), "MME");
  EXPECT_EQ(engine_class("TPC23"), "TPC");
  EXPECT_EQ(engine_class("DMA1"), "DMA");
  EXPECT_EQ(engine_class("CP3"), "");
  EXPECT_EQ(engine_class("SYNC"), "");
  EXPECT_EQ(engine_class("MME"), "");
  EXPECT_EQ(engine_class("TPCx"), "");
  EXPECT_EQ(engine_class("host"), "");
}

TEST(TraceAnalysis, TracksPerClockDomainWithBusyTimeAsAUnion) {
  const TraceAnalysis a = analyze_trace(sample());
  EXPECT_EQ(a.device, "test");
  EXPECT_EQ(a.events, 9u);
  EXPECT_EQ(a.device_time.first_ps, 0u);
  EXPECT_EQ(a.device_time.span_ps(), 100 * kUs);
  ASSERT_EQ(a.device_time.tracks.size(), 7u);
  // Natural order.
  EXPECT_EQ(a.device_time.tracks[0].track, "CP0");
  EXPECT_EQ(a.device_time.tracks[1].track, "DMA0");
  EXPECT_EQ(a.device_time.tracks[3].track, "MME0");
  EXPECT_EQ(a.device_time.tracks[6].track, "TPC1");
  const TrackSummary& tpc0 = a.device_time.tracks[5];
  EXPECT_EQ(tpc0.track, "TPC0");
  EXPECT_EQ(tpc0.events, 2u);
  EXPECT_EQ(tpc0.busy_ps, 30 * kUs);
  EXPECT_DOUBLE_EQ(tpc0.utilisation, 0.3);
  EXPECT_EQ(tpc0.bytes, 8100u);
  EXPECT_EQ(tpc0.flops, 3000u);

  ASSERT_EQ(a.host_time.tracks.size(), 1u);
  EXPECT_EQ(a.host_time.tracks[0].track, "host");
  EXPECT_EQ(a.host_time.span_ps(), 2 * kUs);
  EXPECT_DOUBLE_EQ(a.host_time.tracks[0].utilisation, 1.0);
}

TEST(TraceAnalysis, OverlapOfEngineClasses) {
  const OverlapSummary o = analyze_trace(sample()).overlap;
  // Any engine: [0,70) and [90,100).
  EXPECT_EQ(o.any_busy_ps, 80 * kUs);
  ASSERT_EQ(o.classes.size(), 3u);
  EXPECT_EQ(o.classes[0].engine_class, "MME");
  EXPECT_EQ(o.classes[0].engines, 2u);
  EXPECT_EQ(o.classes[0].busy_ps, 40 * kUs);
  EXPECT_EQ(o.classes[1].engine_class, "TPC");
  EXPECT_EQ(o.classes[1].busy_ps, 30 * kUs);
  EXPECT_EQ(o.classes[2].engine_class, "DMA");
  EXPECT_EQ(o.classes[2].busy_ps, 30 * kUs);
  ASSERT_EQ(o.pairs.size(), 3u);
  EXPECT_EQ(o.pairs[0].a + "+" + o.pairs[0].b, "MME+TPC");
  EXPECT_EQ(o.pairs[0].both_busy_ps, 10 * kUs);  // [30,40)
  EXPECT_EQ(o.pairs[1].a + "+" + o.pairs[1].b, "MME+DMA");
  EXPECT_EQ(o.pairs[1].both_busy_ps, 0u);
  EXPECT_EQ(o.pairs[2].a + "+" + o.pairs[2].b, "TPC+DMA");
  EXPECT_EQ(o.pairs[2].both_busy_ps, 10 * kUs);  // [45,50) and [60,65)
}

TEST(TraceAnalysis, OpsByEngineTimeWithShareAndWallTime) {
  const TraceAnalysis a = analyze_trace(sample());
  // Engine time: gemm 80, copy 30, add 30, softmax 10 (of 150); ties by name.
  ASSERT_EQ(a.ops.size(), 4u);
  EXPECT_EQ(a.ops[0].name, "gemm 64x64x64");
  EXPECT_EQ(a.ops[0].engine_class, "MME");
  EXPECT_EQ(a.ops[0].engines, 2u);
  EXPECT_EQ(a.ops[0].events, 2u);
  EXPECT_EQ(a.ops[0].engine_ps, 80 * kUs);
  EXPECT_EQ(a.ops[0].wall_ps, 40 * kUs);
  EXPECT_DOUBLE_EQ(a.ops[0].share, 80.0 / 150.0);
  EXPECT_EQ(a.ops[1].name, "add");
  EXPECT_EQ(a.ops[1].wall_ps, 20 * kUs);  // [30,50) covers [35,45)
  EXPECT_EQ(a.ops[2].name, "copy");
  EXPECT_EQ(a.ops[2].wall_ps, 30 * kUs);
  EXPECT_EQ(a.ops[2].engine_class, "DMA");
  EXPECT_EQ(a.ops[3].name, "softmax");
  EXPECT_EQ(a.ops[3].engines, 1u);
  // CP events are not ops.
  for (const OpSummary& op : a.ops) EXPECT_NE(op.name, "submission");
  // No peaks given: no verdicts.
  for (const OpSummary& op : a.ops) EXPECT_FALSE(op.roofline.has_value()) << op.name;
}

TEST(TraceAnalysis, RooflineVerdictAgainstTheEnginesTheOpRanOn) {
  DevicePeaks peaks;
  peaks.matrix_flops_per_s = 2e12;  // 1e12 per MME
  peaks.matrix_engines = 2;
  peaks.vector_flops_per_s = 4e9;  // 1e9 per TPC
  peaks.vector_engines = 4;
  peaks.hbm_bytes_per_s = 1e9;
  const TraceAnalysis a = analyze_trace(sample(), peaks);

  // gemm: 8e6 FLOPs over 6000 B on 2 MMEs (2e12 FLOP/s): ridge 2000 FLOP/B,
  // intensity 1333.3 -> memory-bound; ceiling 1333.3 * 1e9 = 1.333e12 FLOP/s;
  // attained 8e6 / 40 us = 2e11 -> 15 %.
  const auto& gemm = a.ops[0].roofline;
  ASSERT_TRUE(gemm.has_value());
  EXPECT_DOUBLE_EQ(gemm->peak_flops_per_s, 2e12);
  EXPECT_DOUBLE_EQ(gemm->ridge, 2000.0);
  EXPECT_NEAR(gemm->intensity, 8e6 / 6000.0, 1e-9);
  EXPECT_FALSE(gemm->compute_bound);
  EXPECT_NEAR(gemm->ceiling_flops_per_s, 8e6 / 6000.0 * 1e9, 1.0);
  EXPECT_NEAR(gemm->attained_flops_per_s, 2e11, 1.0);
  EXPECT_NEAR(gemm->efficiency, 0.15, 1e-12);

  // softmax: 2000 FLOPs over 100 B on 1 TPC (1e9 FLOP/s): ridge 1, intensity
  // 20 -> compute-bound; ceiling 1e9; attained 2000 / 10 us = 2e8 -> 20 %.
  const auto& softmax = a.ops[3].roofline;
  ASSERT_TRUE(softmax.has_value());
  EXPECT_TRUE(softmax->compute_bound);
  EXPECT_DOUBLE_EQ(softmax->peak_flops_per_s, 1e9);
  EXPECT_NEAR(softmax->efficiency, 0.2, 1e-12);

  // add ran on 2 of the 4 TPCs: its peak is theirs.
  ASSERT_TRUE(a.ops[1].roofline.has_value());
  EXPECT_DOUBLE_EQ(a.ops[1].roofline->peak_flops_per_s, 2e9);

  // copy moves bytes only: no FLOPs, no verdict.
  EXPECT_FALSE(a.ops[2].roofline.has_value());
}

TEST(TraceAnalysis, DevicePeaksFromAConfig) {
  DeviceConfig c;
  c.mutable_mme()->set_count(2);
  c.mutable_mme()->set_array_rows(128);
  c.mutable_mme()->set_array_cols(128);
  c.mutable_mme()->set_clock_mhz(1000);
  c.mutable_tpc()->set_count(4);
  c.mutable_tpc()->set_vector_width_bytes(256);
  c.mutable_tpc()->set_clock_mhz(1000);
  c.mutable_hbm()->set_bandwidth_gb_per_s(100);
  const DevicePeaks p = device_peaks(c);
  EXPECT_DOUBLE_EQ(p.matrix_flops_per_s, 2 * 128 * 128 * 2 * 1e9);
  EXPECT_EQ(p.matrix_engines, 2u);
  EXPECT_DOUBLE_EQ(p.vector_flops_per_s, 4 * 128 * 2 * 1e9);
  EXPECT_EQ(p.vector_engines, 4u);
  EXPECT_DOUBLE_EQ(p.hbm_bytes_per_s, 100e9);
}

TEST(TraceAnalysis, PeaksRecordedInATraceComeBack) {
  proto::Trace t = sample();
  EXPECT_FALSE(recorded_peaks(t).has_value());
  record_peaks(t, {2e12, 2, 4e9, 4, 1e9});
  const auto p = recorded_peaks(t);
  ASSERT_TRUE(p.has_value());
  EXPECT_DOUBLE_EQ(p->matrix_flops_per_s, 2e12);
  EXPECT_EQ(p->matrix_engines, 2u);
  EXPECT_DOUBLE_EQ(p->vector_flops_per_s, 4e9);
  EXPECT_EQ(p->vector_engines, 4u);
  EXPECT_DOUBLE_EQ(p->hbm_bytes_per_s, 1e9);
}

TEST(TraceAnalysis, AnEmptyTraceHasNothingToReport) {
  const TraceAnalysis a = analyze_trace(proto::Trace{});
  EXPECT_TRUE(a.device_time.tracks.empty());
  EXPECT_EQ(a.device_time.span_ps(), 0u);
  EXPECT_TRUE(a.ops.empty());
  EXPECT_TRUE(a.overlap.classes.empty());
  EXPECT_EQ(format_analysis(a, 10), "");
}

TEST(TraceAnalysis, ReportListsOverlapAndTopOps) {
  DevicePeaks peaks{2e12, 2, 4e9, 4, 1e9};
  const std::string report = format_analysis(analyze_trace(sample(), peaks), 2);
  EXPECT_NE(report.find("test (simulated): span 100.000 us"), std::string::npos) << report;
  EXPECT_NE(report.find("engines (simulated): some engine busy 80.000 us of the 100.000 us span (80.0%)"),
            std::string::npos)
      << report;
  EXPECT_NE(report.find("MME+TPC"), std::string::npos) << report;
  EXPECT_NE(report.find("top ops by engine time (2 of 4):"), std::string::npos) << report;
  EXPECT_NE(report.find("memory    15.0%  gemm 64x64x64"), std::string::npos) << report;
  EXPECT_EQ(report.find("softmax"), std::string::npos) << "only the top 2 ops: " << report;
}

}  // namespace
}  // namespace kiln::traces
