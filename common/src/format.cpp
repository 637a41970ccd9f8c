#include "kiln/common/format.h"

#include <cstdio>

namespace kiln {

std::string hex(uint64_t value) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(value));
  return buf;
}

std::string human_bytes(uint64_t bytes) {
  char buf[64];
  const auto n = static_cast<unsigned long long>(bytes);
  if (bytes >= (1ull << 30)) {
    std::snprintf(buf, sizeof buf, "%llu bytes (%.2f GiB)", n, bytes / double(1ull << 30));
  } else if (bytes >= (1ull << 20)) {
    std::snprintf(buf, sizeof buf, "%llu bytes (%.2f MiB)", n, bytes / double(1ull << 20));
  } else {
    std::snprintf(buf, sizeof buf, "%llu bytes", n);
  }
  return buf;
}

}  // namespace kiln
