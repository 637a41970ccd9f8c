// Device memory, pinned host memory, and the bytes copies really move.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "kiln/common/config_overrides.h"
#include "kiln/common/device_config.h"
#include "test_util.h"

namespace kiln::driver {
namespace {

using testing::open_device;
using testing::pattern_bytes;
using testing::take;

TEST(DriverMemory, RoundTripHostHbmSramHost) {
  auto dev = open_device();
  const std::size_t n = 3 * 1024 * 1024 + 17;  // crosses backing-store frames, not page-aligned
  auto src = pattern_bytes(n, 1);
  auto hbm_a = take(dev->allocate(n));
  auto hbm_b = take(dev->allocate(n));
  auto sram = take(dev->allocate(n, MemoryKind::kSram));
  ASSERT_OK(dev->copy_to_device(hbm_a.address, src.data(), n));
  ASSERT_OK(dev->copy_on_device(hbm_b.address, hbm_a.address, n));
  ASSERT_OK(dev->copy_on_device(sram.address, hbm_b.address, n));
  std::vector<uint8_t> back(n, 0);
  ASSERT_OK(dev->copy_to_host(back.data(), sram.address, n));
  EXPECT_EQ(back, src);
}

TEST(DriverMemory, MemsetRepeatsPatternAcrossChunks) {
  auto dev = open_device();
  const std::size_t n = (2 << 20) + 6;  // ends mid-pattern, crosses the 2 MiB frame boundary
  auto buf = take(dev->allocate(n + 64));
  ASSERT_OK(dev->memset(buf.at(2), 0x44332211u, n));
  std::vector<uint8_t> back(n + 4);
  ASSERT_OK(dev->copy_to_host(back.data(), buf.address, n + 4));
  EXPECT_EQ(back[0], 0);
  EXPECT_EQ(back[1], 0);
  for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(back[2 + i], 0x11 + 0x11 * (i % 4)) << "byte " << i;
  EXPECT_EQ(back[n + 2], 0);
}

// Large enough to be split over the host workers, not a multiple of a
// frame, and starting mid-frame.
TEST(DriverMemory, LargeCopiesAndFillsKeepEveryByte) {
  auto dev = open_device();
  const std::size_t n = (24 << 20) + 13;
  auto src = pattern_bytes(n, 7);
  auto a = take(dev->allocate(n + 64));
  auto b = take(dev->allocate(n + 64));
  ASSERT_OK(dev->copy_to_device(a.at(5), src.data(), n));
  ASSERT_OK(dev->copy_on_device(b.at(3), a.at(5), n));
  std::vector<uint8_t> back(n, 0);
  ASSERT_OK(dev->copy_to_host(back.data(), b.at(3), n));
  EXPECT_EQ(back, src);

  // Down by 1 MiB + 1 within one buffer: each piece reads before the pieces
  // after it overwrite its source.
  const std::size_t shift = (1 << 20) + 1;
  ASSERT_OK(dev->copy_on_device(b.at(3), b.at(3 + shift), n - shift));
  ASSERT_OK(dev->copy_to_host(back.data(), b.at(3), n - shift));
  for (std::size_t i = 0; i < n - shift; ++i) ASSERT_EQ(back[i], src[i + shift]) << "byte " << i;

  ASSERT_OK(dev->memset(a.at(1), 0xa3a2a1a0u, n));
  ASSERT_OK(dev->copy_to_host(back.data(), a.at(1), n));
  for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(back[i], 0xa0 + i % 4) << "byte " << i;
}

// Zero fills over written data, ending mid-frame at both ends, read back as
// zeros; the bytes around them stay.
TEST(DriverMemory, ZeroFillClearsWrittenDataUpToItsEnds) {
  auto dev = open_device();
  constexpr std::size_t kFrame = 2 << 20;
  const std::size_t n = 5 * kFrame;
  auto data = pattern_bytes(n, 3);
  auto buf = take(dev->allocate(n));
  for (const auto& [from, size] : std::vector<std::pair<std::size_t, std::size_t>>{
           {kFrame / 2 + 1, 3 * kFrame + 7}, {10, 100}, {kFrame - 1, 2}}) {
    ASSERT_OK(dev->copy_to_device(buf.address, data.data(), n));
    ASSERT_OK(dev->memset(buf.at(from), 0, size));
    std::vector<uint8_t> back(n);
    ASSERT_OK(dev->copy_to_host(back.data(), buf.address, n));
    for (std::size_t i = 0; i < n; ++i) {
      ASSERT_EQ(back[i], i >= from && i < from + size ? 0 : data[i]) << "byte " << i << " of a fill at " << from;
    }
  }
}

// This process's resident memory, from /proc.
uint64_t resident_bytes() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    unsigned long long kib = 0;
    if (std::sscanf(line.c_str(), "VmRSS: %llu kB", &kib) == 1) return kib << 10;
  }
  return 0;
}

TEST(DriverMemory, ZeroFillOfHugeBufferCostsNoHostMemory) {
  auto dev = open_device("gaudi2");
  const uint64_t n = 64ull << 30;
  auto buf = take(dev->allocate(n));
  const uint8_t marker[4] = {1, 2, 3, 4};
  ASSERT_OK(dev->copy_to_device(buf.at(n / 2), marker, sizeof marker));  // one resident frame
  uint64_t before = resident_bytes();
  // First a fill small enough to survive a regression, which would make the
  // big one below write (and need) 64 GiB of host memory.
  ASSERT_OK(dev->memset(buf.address, 0, 256 << 20));
  ASSERT_LT(resident_bytes(), before + (8 << 20)) << "a 256 MiB zero fill allocated memory";
  before = resident_bytes();
  ASSERT_OK(dev->memset(buf.address, 0, n));
  const uint64_t after = resident_bytes();
  EXPECT_LT(after, before + (8 << 20)) << "RSS grew from " << before << " to " << after << " bytes";
  uint8_t back[4] = {9, 9, 9, 9};
  ASSERT_OK(dev->copy_to_host(back, buf.at(n / 2), sizeof back));
  for (uint8_t b : back) EXPECT_EQ(b, 0);
  // A pattern that is not zero still writes every byte it covers.
  ASSERT_OK(dev->memset(buf.at(n - 8), 0x5a5a5a5au, 8));
  uint8_t tail[8] = {};
  ASSERT_OK(dev->copy_to_host(tail, buf.at(n - 8), sizeof tail));
  for (uint8_t b : tail) EXPECT_EQ(b, 0x5a);
}

TEST(DriverMemory, AllocationThatDoesNotFitNamesRequestedAndFreeSizes) {
  auto dev = open_device();
  const uint64_t free_before = dev->free_bytes(MemoryKind::kHbm);
  auto r = dev->allocate(free_before + 1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kOutOfMemory);
  EXPECT_NE(r.status().message().find(std::to_string(free_before + 1) + " bytes"), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find(std::to_string(free_before) + " bytes"), std::string::npos)
      << r.status().message();
  // Nothing was lost: the whole memory can still be allocated and freed.
  auto all = take(dev->allocate(free_before));
  EXPECT_EQ(dev->free_bytes(MemoryKind::kHbm), 0u);
  ASSERT_OK(dev->free(all));
  EXPECT_EQ(dev->free_bytes(MemoryKind::kHbm), free_before);
}

TEST(DriverMemory, AllocateRejectsHostMemoryAndPointsToAllocateHost) {
  auto dev = open_device();
  const uint64_t hbm_free = dev->free_bytes(MemoryKind::kHbm);
  auto r = dev->allocate(4096, MemoryKind::kHost);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("use allocate_host"), std::string::npos) << r.status().message();
  EXPECT_EQ(dev->allocate(4096, static_cast<MemoryKind>(9)).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(dev->free_bytes(MemoryKind::kHbm), hbm_free);  // nothing was taken
  EXPECT_EQ(dev->free_bytes(MemoryKind::kHost), 0u);
}

TEST(DriverMemory, FreeCoalescesAndRejectsUnknownAddresses) {
  auto dev = open_device();
  const uint64_t total = dev->free_bytes(MemoryKind::kHbm);
  auto a = take(dev->allocate(1000));
  auto b = take(dev->allocate(5000));
  auto c = take(dev->allocate(1 << 20));
  EXPECT_NE(a.address, b.address);
  ASSERT_OK(dev->free(b));
  ASSERT_OK(dev->free(a));
  ASSERT_OK(dev->free(c));
  EXPECT_EQ(dev->free_bytes(MemoryKind::kHbm), total);
  EXPECT_EQ(dev->free(a).code(), ErrorCode::kNotFound);
  EXPECT_EQ(dev->free(DeviceBuffer{0x1234, 8, MemoryKind::kHbm}).code(), ErrorCode::kNotFound);
}

TEST(DriverMemory, AllocateHostIsZeroedAndDmaReachable) {
  auto dev = open_device();
  auto host = take(dev->allocate_host(10000));
  const auto* bytes = static_cast<const uint8_t*>(host.data);
  for (int i = 0; i < 10000; ++i) ASSERT_EQ(bytes[i], 0);
  auto buf = take(dev->allocate(10000));
  ASSERT_OK(dev->memset(buf.address, 0xabababab, 10000));
  ASSERT_OK(dev->copy_on_device(host.address, buf.address, 10000));
  for (int i = 0; i < 10000; ++i) ASSERT_EQ(bytes[i], 0xab);
  ASSERT_OK(dev->free_host(host));
  EXPECT_EQ(dev->free_host(host).code(), ErrorCode::kNotFound);
}

// The simulator reserves host address space for all of a device's memory
// (sim/src/backing_store.h): a memory larger than the host can address fails
// the open with a clear error, and the process opens the next device as usual.
TEST(DriverMemory, AMemoryBeyondTheHostsAddressSpaceFailsTheOpenClearly) {
  DeviceConfig config = take(load_device_config("tiny"));
  ASSERT_OK(apply_config_overrides(config, {"hbm.capacity_mib=4294967296"}));  // 4 PiB, the most a config may say
  const auto dev = Device::open(config);
  ASSERT_FALSE(dev.ok());
  EXPECT_EQ(dev.status().code(), ErrorCode::kOutOfMemory) << dev.status().to_string();
  EXPECT_NE(dev.status().message().find("cannot reserve address space for 4294967296 MiB of HBM"), std::string::npos)
      << dev.status().to_string();
  const Status refused = apply_config_overrides(config, {"hbm.capacity_mib=4294967297"});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("hbm.capacity_mib"), std::string::npos) << refused.to_string();
  auto usable = open_device();
  auto buf = take(usable->allocate(4096));
  const uint32_t word = 0x12345678u;
  uint32_t back = 0;
  ASSERT_OK(usable->copy_to_device(buf.address, &word, sizeof word));
  ASSERT_OK(usable->copy_to_host(&back, buf.address, sizeof back));
  EXPECT_EQ(back, word);
}

TEST(DriverMemory, UnknownConfigIsAClearError) {
  auto r = Device::open("no-such-device");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kNotFound);
  EXPECT_NE(r.status().message().find("no-such-device"), std::string::npos);
}

TEST(DriverMemory, PropertiesComeFromTheConfig) {
  auto dev = open_device("gaudi2", false);
  const auto& p = dev->properties();
  EXPECT_EQ(p.name, "gaudi2");
  EXPECT_EQ(p.hbm_bytes, 96ull << 30);
  EXPECT_DOUBLE_EQ(p.hbm_bandwidth_gb_per_s, 2460);
  EXPECT_EQ(p.tpc_count, 24u);
  EXPECT_EQ(p.mme_count, 2u);
  EXPECT_NEAR(p.peak_matrix_flops, 432e12, 432e12 * 0.005);
}

}  // namespace
}  // namespace kiln::driver
