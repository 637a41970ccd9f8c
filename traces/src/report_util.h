// Shared by the trace writers and reports: quantities as they print them, and
// writing a whole text file.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "kiln/common/status.h"
#include "kiln/traces/analysis.h"

namespace kiln::traces {

std::string human_bytes(uint64_t bytes);  // "512 B", "3.00 KiB", "1.50 GiB"
std::string human_flops(uint64_t flops);  // "999", "2.00 G"
double to_us(uint64_t ps);
double percent(uint64_t part, uint64_t whole);  // 0 when whole is 0

// printf into a string; output past 512 bytes is cut.
template <typename... Args>
std::string format(const char* format_string, Args... args) {
  char buf[512];
  const int n = std::snprintf(buf, sizeof buf, format_string, args...);
  return std::string(buf, static_cast<std::size_t>(std::clamp(n, 0, static_cast<int>(sizeof buf) - 1)));
}

// An op's roofline columns as reports print them; "-" when it has no verdict.
struct RooflineText {
  std::string intensity = "-";   // FLOP/B, "inf" when no bytes moved
  std::string bound = "-";       // "compute" or "memory"
  std::string efficiency = "-";  // of the roofline ceiling, "93.1%"
};
RooflineText roofline_text(const OpSummary& op);

// Writes `content` to `path`; errors name the file and `what` it was to hold.
Status write_text_file(const std::string& path, std::string_view content, std::string_view what);

}  // namespace kiln::traces
