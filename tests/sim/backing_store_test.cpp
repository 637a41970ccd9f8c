#include "backing_store.h"

#include <gtest/gtest.h>

#include <numeric>
#include <vector>

namespace kiln::sim {
namespace {

TEST(BackingStore, SparseReadsZeroAndWritesAcrossFrames) {
  BackingStore store(96ull << 30);  // 96 GiB of address space, nothing resident
  std::vector<uint8_t> out(16, 0xff);
  store.read(50ull << 30, out.data(), out.size());
  for (uint8_t b : out) EXPECT_EQ(b, 0);
  EXPECT_EQ(store.resident_frames(), 0u);

  std::vector<uint8_t> in(3 * BackingStore::kFrameBytes / 2);
  std::iota(in.begin(), in.end(), 0);
  const uint64_t at = BackingStore::kFrameBytes - 100;
  store.write(at, in.data(), in.size());
  EXPECT_EQ(store.resident_frames(), 3u);
  std::vector<uint8_t> back(in.size());
  store.read(at, back.data(), back.size());
  EXPECT_EQ(back, in);
}

}  // namespace
}  // namespace kiln::sim
