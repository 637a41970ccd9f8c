// The same program gives the same device trace, to the picosecond and byte.
#include <cstring>

#include "test_util.h"

namespace kiln::driver {
namespace {

using testing::take;

std::vector<traces::TraceEvent> run_program() {
  auto dev = testing::open_device();
  const uint64_t n = 2 << 20;
  auto data = testing::pattern_bytes(n, 11);
  auto host = take(dev->allocate_host(n));
  std::memcpy(host.data, data.data(), n);
  auto a = take(dev->allocate(n)), b = take(dev->allocate(n)), c = take(dev->allocate(n, MemoryKind::kSram));
  Stream* s1 = take(dev->create_stream());
  Stream* s2 = take(dev->create_stream());
  auto e = take(dev->create_event());
  (void)take(s1->copy(a.address, host.address, n));
  EXPECT_TRUE(s1->record(*e).ok());
  EXPECT_TRUE(s2->wait_event(*e).ok());
  (void)take(s2->copy(b.address, a.address, n));
  (void)take(s1->copy(c.address, a.address, n));  // overlaps s2's copy in HBM
  (void)take(s2->memset(a.address, 0x5a5a5a5a, n));
  EXPECT_TRUE(dev->synchronize().ok());
  (void)take(s1->copy(host.address, b.address, n));
  EXPECT_TRUE(s1->synchronize().ok());
  EXPECT_EQ(std::memcmp(host.data, data.data(), n), 0);
  std::vector<traces::TraceEvent> device_side;
  for (auto& ev : dev->trace()->events()) {
    if (ev.clock == traces::TraceClock::kDeviceSimulated) device_side.push_back(ev);
  }
  return device_side;
}

TEST(Determinism, SameProgramGivesIdenticalDeviceTrace) {
  const auto first = run_program();
  const auto second = run_program();
  ASSERT_EQ(first.size(), second.size());
  ASSERT_GT(first.size(), 10u);
  for (std::size_t i = 0; i < first.size(); ++i) {
    SCOPED_TRACE("event " + std::to_string(i) + " " + first[i].track + " " + first[i].name);
    EXPECT_EQ(first[i].track, second[i].track);
    EXPECT_EQ(first[i].name, second[i].name);
    EXPECT_EQ(first[i].queue, second[i].queue);
    EXPECT_EQ(first[i].start_ps, second[i].start_ps);
    EXPECT_EQ(first[i].end_ps, second[i].end_ps);
    EXPECT_EQ(first[i].bytes, second[i].bytes);
    EXPECT_EQ(first[i].sequence, second[i].sequence);
  }
}

}  // namespace
}  // namespace kiln::driver
