#include "report_util.h"

#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>

namespace kiln::traces {

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

double percent(uint64_t part, uint64_t whole) {
  return whole == 0 ? 0.0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole);
}

RooflineText roofline_text(const OpSummary& op) {
  RooflineText t;
  if (!op.roofline) return t;
  t.intensity = std::isinf(op.roofline->intensity) ? "inf" : format("%.1f", op.roofline->intensity);
  t.bound = op.roofline->compute_bound ? "compute" : "memory";
  t.efficiency = format("%.1f%%", 100.0 * op.roofline->efficiency);
  return t;
}

Status write_text_file(const std::string& path, std::string_view content, std::string_view what) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return invalid_argument("cannot open '" + path + "' for writing: " + std::strerror(errno));
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  out.close();
  if (out.fail()) {
    return internal_error("cannot write " + std::string(what) + " to '" + path + "': " + std::strerror(errno));
  }
  return Status::ok_status();
}

}  // namespace kiln::traces
