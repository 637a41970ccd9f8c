// Small formatting helpers for error messages and reports.
#pragma once

#include <cstdint>
#include <string>

namespace kiln {

// "0x1f40".
std::string hex(uint64_t value);
// "1048576 bytes (1.00 MiB)"; exact byte count first, so messages can be matched.
std::string human_bytes(uint64_t bytes);

}  // namespace kiln
