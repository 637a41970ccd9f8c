#include "mmu.h"

#include <gtest/gtest.h>

namespace kiln::sim {
namespace {

TEST(Mmu, TranslatesAcrossMappingsAndFaultsOnHoles) {
  Mmu mmu(2, 4096);
  ASSERT_TRUE(mmu.map(1, 0x10000, MemoryKind::kHbm, 0x0, 0x2000).ok());
  ASSERT_TRUE(mmu.map(1, 0x12000, MemoryKind::kSram, 0x8000, 0x1000).ok());
  std::vector<Segment> segs;
  uint64_t fault = 0;
  ASSERT_TRUE(mmu.translate(1, 0x11ff0, 0x20, &segs, &fault));
  ASSERT_EQ(segs.size(), 2u);
  EXPECT_EQ(segs[0].kind, MemoryKind::kHbm);
  EXPECT_EQ(segs[0].phys, 0x1ff0u);
  EXPECT_EQ(segs[0].size, 0x10u);
  EXPECT_EQ(segs[1].kind, MemoryKind::kSram);
  EXPECT_EQ(segs[1].phys, 0x8000u);
  EXPECT_FALSE(mmu.translate(1, 0x12ff0, 0x20, &segs, &fault));
  EXPECT_EQ(fault, 0x13000u);
  EXPECT_FALSE(mmu.translate(1, 0xf000, 0x10, &segs, &fault));
  EXPECT_EQ(fault, 0xf000u);
  // Contexts are separate address spaces.
  EXPECT_FALSE(mmu.translate(0, 0x10000, 1, &segs, &fault));
  EXPECT_FALSE(mmu.translate(7, 0x10000, 1, &segs, &fault));
  EXPECT_FALSE(mmu.translate(1, UINT64_MAX - 2, 8, &segs, &fault));
}

TEST(Mmu, RejectsOverlapMisalignmentAndUnknownUnmap) {
  Mmu mmu(2, 4096);
  ASSERT_TRUE(mmu.map(1, 0x10000, MemoryKind::kHbm, 0, 0x2000).ok());
  EXPECT_FALSE(mmu.map(1, 0x11000, MemoryKind::kHbm, 0x4000, 0x1000).ok());
  EXPECT_FALSE(mmu.map(1, 0xf000, MemoryKind::kHbm, 0x4000, 0x2000).ok());
  EXPECT_FALSE(mmu.map(1, 0x20001, MemoryKind::kHbm, 0x4000, 0x1000).ok());
  EXPECT_FALSE(mmu.map(3, 0x20000, MemoryKind::kHbm, 0x4000, 0x1000).ok());
  EXPECT_EQ(mmu.unmap(1, 0x11000).code(), ErrorCode::kNotFound);
  EXPECT_TRUE(mmu.unmap(1, 0x10000).ok());
  EXPECT_TRUE(mmu.map(1, 0x11000, MemoryKind::kHbm, 0x4000, 0x1000).ok());
}

}  // namespace
}  // namespace kiln::sim
