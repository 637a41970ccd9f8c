// Whole numbers from the command line: digits only, in range, or refused
// (strtoul alone reads "abc" as 0 and "-1" as its wrap-around).
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace kiln::tools {

// `text` as an integer in [min, max]; false if it is anything else.
inline bool parse_whole(const std::string& text, uint64_t min, uint64_t max, uint64_t* out) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) return false;
  errno = 0;
  const unsigned long long v = std::strtoull(text.c_str(), nullptr, 10);
  if (errno == ERANGE || v < min || v > max) return false;
  *out = v;
  return true;
}

}  // namespace kiln::tools
