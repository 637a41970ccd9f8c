// Shared by the trace writers and reports: quantities as they print them, and
// writing a whole text file.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "kiln/common/status.h"

namespace kiln::traces {

std::string human_bytes(uint64_t bytes);  // "512 B", "3.00 KiB", "1.50 GiB"
std::string human_flops(uint64_t flops);  // "999", "2.00 G"
double to_us(uint64_t ps);

// Writes `content` to `path`; errors name the file and `what` it was to hold.
Status write_text_file(const std::string& path, std::string_view content, std::string_view what);

}  // namespace kiln::traces
