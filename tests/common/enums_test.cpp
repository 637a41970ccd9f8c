// The one memory-kind enum of kiln_common: its size and names.
#include <gtest/gtest.h>

#include <cstdint>

#include "kiln/common/memory_kind.h"

namespace kiln {
namespace {

static_assert(sizeof(MemoryKind) == 1);

TEST(MemoryKind, Names) {
  EXPECT_EQ(memory_kind_name(MemoryKind::kHbm), "HBM");
  EXPECT_EQ(memory_kind_name(MemoryKind::kSram), "SRAM");
  EXPECT_EQ(memory_kind_name(MemoryKind::kHost), "host");
  EXPECT_EQ(memory_kind_name(static_cast<MemoryKind>(7)), "invalid");
}

}  // namespace
}  // namespace kiln
