// Memory kinds a device virtual address can map to.
#pragma once

#include <cstdint>
#include <string_view>

namespace kiln::sim {

enum class MemoryKind : uint8_t {
  kHbm,   // device HBM; physical address = offset into HBM
  kSram,  // on-die SRAM; physical address = offset into SRAM
  kHost,  // pinned host memory; physical address = the host pointer's value
};

std::string_view memory_kind_name(MemoryKind kind);

}  // namespace kiln::sim
