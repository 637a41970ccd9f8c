// Memory kinds: where the bytes behind a device virtual address live. The one
// enum of Kiln for them: the simulator's MMU and memories, the driver's
// allocations and page mappings, and the transport between the two use it.
//
// Pure value type; memory_kind_name() is thread-safe.
#pragma once

#include <cstdint>
#include <string_view>

namespace kiln {

enum class MemoryKind : uint8_t {
  kHbm,   // device HBM; physical address = offset into HBM
  kSram,  // on-die SRAM; physical address = offset into SRAM
  kHost,  // pinned host memory; physical address = the host pointer's value
};

// "HBM", "SRAM", "host"; "invalid" for a value outside the enum.
std::string_view memory_kind_name(MemoryKind kind);

}  // namespace kiln
