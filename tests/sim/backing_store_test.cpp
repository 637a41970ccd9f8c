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

// Bytes [at, at+n) of `store`.
std::vector<uint8_t> bytes_at(BackingStore& store, uint64_t at, uint64_t n) {
  std::vector<uint8_t> out(n);
  store.read(at, out.data(), n);
  return out;
}

TEST(BackingStore, ZeroOfUntouchedMemoryAllocatesNothing) {
  BackingStore store(96ull << 30);
  store.zero(0, 64ull << 30);
  store.zero(BackingStore::kFrameBytes / 2, 3 * BackingStore::kFrameBytes);  // partial frames at both ends
  EXPECT_EQ(store.resident_frames(), 0u);
  for (uint8_t b : bytes_at(store, 10ull << 30, 64)) EXPECT_EQ(b, 0);
}

TEST(BackingStore, ZeroReleasesCoveredFramesAndClearsPartialOnes) {
  constexpr uint64_t kFrame = BackingStore::kFrameBytes;
  BackingStore store(64 * kFrame);
  const std::vector<uint8_t> ones(4 * kFrame, 0xee);
  store.write(kFrame, ones.data(), ones.size());  // frames 1..4
  ASSERT_EQ(store.resident_frames(), 4u);

  // From the middle of frame 1 to the middle of frame 4: frames 2 and 3
  // are released, 1 and 4 keep their bytes outside the range.
  const uint64_t from = kFrame + kFrame / 2 + 3;
  const uint64_t to = 4 * kFrame + 1000;
  store.zero(from, to - from);
  EXPECT_EQ(store.resident_frames(), 2u);
  const auto back = bytes_at(store, kFrame, 4 * kFrame);
  for (uint64_t i = 0; i < back.size(); ++i) {
    const uint64_t at = kFrame + i;
    ASSERT_EQ(back[i], at >= from && at < to ? 0 : 0xee) << "byte " << at;
  }

  // A released frame can be written again.
  store.write(2 * kFrame + 5, ones.data(), 10);
  EXPECT_EQ(store.resident_frames(), 3u);
  EXPECT_EQ(bytes_at(store, 2 * kFrame + 4, 12),
            (std::vector<uint8_t>{0, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0}));
}

TEST(BackingStore, LargeZeroWalksResidentFramesOnly) {
  constexpr uint64_t kFrame = BackingStore::kFrameBytes;
  BackingStore store(96ull << 30);
  const uint8_t one = 1;
  for (uint64_t f : {3ull, 1000ull, 40000ull}) store.write(f * kFrame + 7, &one, 1);
  store.write(45000 * kFrame, &one, 1);  // outside the range below
  ASSERT_EQ(store.resident_frames(), 4u);
  store.zero(kFrame, 44000 * kFrame);
  EXPECT_EQ(store.resident_frames(), 1u);
  for (uint64_t f : {3ull, 1000ull, 40000ull}) EXPECT_EQ(bytes_at(store, f * kFrame + 7, 1)[0], 0);
  EXPECT_EQ(bytes_at(store, 45000 * kFrame, 1)[0], 1);
}

}  // namespace
}  // namespace kiln::sim
