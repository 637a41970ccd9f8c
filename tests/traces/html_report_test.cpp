// The HTML report: a bar per job with its details on hover, busy-fraction
// columns for crowded tracks, the analysis tables, names escaped, and a
// document whose tags all close.
#include "kiln/traces/html_report.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "trace_builder.h"

namespace kiln::traces {
namespace {

using testing::add;
using testing::kUs;

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

proto::Trace sample() {
  proto::Trace t;
  t.set_device("tiny");
  add(t, "MME0", "gemm 64x64x64", 0, 40, 3000, 4'000'000);
  add(t, "TPC0", "add<float> & \"friends\"", 30, 50, 8000, 1000);
  add(t, "DMA0", "copy", 45, 65, 1 << 20);
  add(t, "host", "submit", 1, 2, 0, 0, proto::HOST_WALL);
  return t;
}

TEST(HtmlReport, OneBarPerJobWithItsDetailsOnHover) {
  const proto::Trace t = sample();
  const std::string html = to_html_report(t, analyze_trace(t), {.note = "roofline against <none>"});
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(count(html, "<rect class=\"ev\""), 4u);
  EXPECT_EQ(count(html, "<svg"), 2u);  // device and host timelines
  EXPECT_EQ(count(html, "<svg"), count(html, "</svg>"));
  EXPECT_EQ(count(html, "<table"), count(html, "</table>"));
  EXPECT_EQ(count(html, "<tr>"), count(html, "</tr>"));
  EXPECT_NE(html.find("<title>gemm 64x64x64 | 40.000 us | 2.93 KiB | 4.00 M FLOP</title>"), std::string::npos) << html;
  // Names never reach the page unescaped.
  EXPECT_EQ(html.find("add<float>"), std::string::npos);
  EXPECT_NE(html.find("add&lt;float&gt; &amp; &quot;friends&quot;"), std::string::npos);
  EXPECT_NE(html.find("roofline against &lt;none&gt;"), std::string::npos);
  // The analysis tables.
  EXPECT_NE(html.find("<h2>Engine overlap</h2>"), std::string::npos);
  EXPECT_NE(html.find("<td>MME and TPC at once</td><td>10.000</td>"), std::string::npos) << html;
  EXPECT_NE(html.find("Top ops by engine time (3 of 3)"), std::string::npos);
  // No scripts and nothing fetched from elsewhere.
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("http"), std::string::npos);
}

TEST(HtmlReport, CrowdedTracksBecomeBusyFractionColumns) {
  proto::Trace t;
  t.set_device("tiny");
  // 3000 jobs of 1 us every 2 us: half busy throughout.
  for (uint64_t i = 0; i < 3000; ++i) add(t, "DMA0", "copy", 2 * i, 2 * i + 1, 64);
  add(t, "MME0", "gemm", 0, 6000);
  const std::string html = to_html_report(t, analyze_trace(t), {.max_bars_per_track = 2000});
  EXPECT_EQ(count(html, "<rect class=\"ev\""), 1u);  // the MME's one job
  const std::size_t columns = count(html, "<rect class=\"col\"");
  EXPECT_GT(columns, 1000u);
  EXPECT_LE(columns, 1100u);  // at most one per pixel column
  EXPECT_NE(html.find("fill-opacity=\"0.50\""), std::string::npos);
  EXPECT_NE(html.find("<title>3000 jobs: drawn as busy fraction per column</title>"), std::string::npos);
}

TEST(HtmlReport, AnEmptyTraceIsStillAPage) {
  const std::string html = to_html_report(proto::Trace{}, analyze_trace(proto::Trace{}));
  EXPECT_NE(html.find("<h1>Kiln trace: device</h1>"), std::string::npos);
  EXPECT_EQ(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("</html>"), std::string::npos);
}

TEST(HtmlReport, WriteNamesAnUnwritablePath) {
  const proto::Trace t = sample();
  const Status s = write_html_report("/nonexistent-dir/report.html", t, analyze_trace(t));
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("/nonexistent-dir/report.html"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace kiln::traces
