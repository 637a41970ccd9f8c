#include "kiln/common/memory_kind.h"

namespace kiln {

std::string_view memory_kind_name(MemoryKind kind) {
  switch (kind) {
    case MemoryKind::kHbm: return "HBM";
    case MemoryKind::kSram: return "SRAM";
    case MemoryKind::kHost: return "host";
  }
  return "invalid";
}

}  // namespace kiln
