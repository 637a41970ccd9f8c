// A trace as one self-contained HTML page, for people who would rather look
// than read: a timeline per clock domain (one row per track, each job a bar
// with its name, time, bytes and FLOPs on hover; tracks with very many jobs
// are drawn as busy-fraction columns instead, so the page stays small), then
// the tables of the analysis (tracks, engine overlap, top ops with their
// roofline verdicts). No scripts, no external resources.
//
// Pure functions; thread-safe. Errors name the file.
#pragma once

#include <cstddef>
#include <string>

#include "kiln/common/status.h"
#include "kiln/proto/trace.pb.h"
#include "kiln/traces/analysis.h"

namespace kiln::traces {

struct HtmlReportOptions {
  std::size_t top_ops = 20;  // rows of the ops table
  // Tracks with more jobs than this are drawn as busy-fraction columns.
  std::size_t max_bars_per_track = 2000;
  std::string note;  // one line under the title (e.g. which config the roofline used)
};

std::string to_html_report(const proto::Trace& trace, const TraceAnalysis& analysis,
                           const HtmlReportOptions& options = {});
Status write_html_report(const std::string& path, const proto::Trace& trace, const TraceAnalysis& analysis,
                         const HtmlReportOptions& options = {});

// Text made safe to place in HTML content or a quoted attribute.
std::string html_escape(std::string_view text);

}  // namespace kiln::traces
