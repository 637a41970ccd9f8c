// Transfer timing against the analytic model: a DMA job takes the engine's
// setup latency, the slowest first-byte latency of the memories it touches,
// and bytes / bandwidth, with bandwidth shared fluidly among concurrent jobs.
// Every memory carries what is read from it and what is written to it: a
// copy within HBM moves its bytes through HBM twice.
#include <algorithm>

#include "kiln/common/config_overrides.h"
#include "test_util.h"

namespace kiln::driver {
namespace {

using testing::dma_job;
using testing::duration_ns;
using testing::open_device;
using testing::take;

struct Path {
  const char* name;
  MemoryKind device_kind;
  enum { kHostToDevice, kDeviceToHost, kOnDevice } direction;
};

class TransferTiming : public ::testing::TestWithParam<uint64_t> {};

// bytes / (GB/s) in ns: 1 GB/s moves one byte per ns.
double expected_ns(const DeviceConfig& c, uint64_t bytes, double gb_per_s, double latency_ns) {
  return c.dma().setup_latency_ns() + latency_ns + static_cast<double>(bytes) / gb_per_s;
}

TEST_P(TransferTiming, HostLinkAndHbmMatchBandwidthPlusLatency) {
  const uint64_t bytes = GetParam();
  auto dev = open_device("gaudi2", /*functional=*/false);
  const auto& c = dev->config();
  auto host = take(dev->allocate_host(bytes));
  auto a = take(dev->allocate(bytes));
  auto b = take(dev->allocate(bytes));
  Stream& s = dev->default_stream();

  const uint64_t h2d = take(s.copy(a.address, host.address, bytes));
  const uint64_t d2d = take(s.copy(b.address, a.address, bytes));
  const uint64_t d2h = take(s.copy(host.address, b.address, bytes));
  ASSERT_OK(s.synchronize());

  const double link_latency = std::max(c.host_link().latency_ns(), c.hbm().latency_ns());
  const double host_expected = expected_ns(c, bytes, c.host_link().bandwidth_gb_per_s(), link_latency);
  // Read from HBM and written to HBM: 2 x bytes through it.
  const double hbm_expected = expected_ns(c, 2 * bytes, c.hbm().bandwidth_gb_per_s(), c.hbm().latency_ns());
  EXPECT_NEAR(duration_ns(dma_job(*dev, s, h2d)), host_expected, host_expected * 0.02) << "host->HBM " << bytes;
  EXPECT_NEAR(duration_ns(dma_job(*dev, s, d2h)), host_expected, host_expected * 0.02) << "HBM->host " << bytes;
  EXPECT_NEAR(duration_ns(dma_job(*dev, s, d2d)), hbm_expected, hbm_expected * 0.02) << "HBM->HBM " << bytes;
  // Jobs of one stream run back to back: each starts after the previous ends.
  EXPECT_GE(dma_job(*dev, s, d2d).start_ps, dma_job(*dev, s, h2d).end_ps);
  EXPECT_GE(dma_job(*dev, s, d2h).start_ps, dma_job(*dev, s, d2d).end_ps);
}

INSTANTIATE_TEST_SUITE_P(Sizes, TransferTiming,
                         ::testing::Values(4ull << 10, 64ull << 10, 1ull << 20, 16ull << 20, 256ull << 20,
                                           1ull << 30),
                         [](const auto& p) { return std::to_string(p.param >> 10) + "KiB"; });

// Runs one copy per stream concurrently and returns each job's duration.
std::vector<double> concurrent_ns(Device& dev, const std::vector<std::pair<uint64_t, uint64_t>>& copies,
                                  uint64_t bytes) {
  std::vector<Stream*> streams;
  std::vector<uint64_t> seqs;
  for (const auto& [dst, src] : copies) {
    streams.push_back(take(dev.create_stream()));
    seqs.push_back(take(streams.back()->copy(dst, src, bytes)));
  }
  EXPECT_TRUE(dev.synchronize().ok());
  std::vector<double> out;
  for (std::size_t i = 0; i < streams.size(); ++i) out.push_back(duration_ns(dma_job(dev, *streams[i], seqs[i])));
  for (Stream* s : streams) EXPECT_TRUE(dev.destroy_stream(s).ok());
  return out;
}

TEST(SharedBandwidth, TwoCopiesInHbmShareItsBandwidth) {
  const uint64_t bytes = 256ull << 20;
  auto dev = open_device("gaudi2", false);
  auto a = take(dev->allocate(bytes)), b = take(dev->allocate(bytes));
  auto c = take(dev->allocate(bytes)), d = take(dev->allocate(bytes));
  const double alone = concurrent_ns(*dev, {{b.address, a.address}}, bytes)[0];
  const auto together = concurrent_ns(*dev, {{b.address, a.address}, {d.address, c.address}}, bytes);
  // Both start in the same instant and share HBM equally, so each takes
  // about twice as long as one alone.
  for (double t : together) EXPECT_NEAR(t, 2 * alone, 2 * alone * 0.05);
  EXPECT_NEAR(together[0], together[1], together[0] * 1e-6);
}

TEST(SharedBandwidth, CopiesOnDifferentMemoriesDoNotSlowEachOther) {
  const uint64_t bytes = 32ull << 20;
  auto dev = open_device("gaudi2", false);
  auto a = take(dev->allocate(bytes)), b = take(dev->allocate(bytes));
  auto s1 = take(dev->allocate(bytes / 2, MemoryKind::kSram)), s2 = take(dev->allocate(bytes / 2, MemoryKind::kSram));
  const double hbm_alone = concurrent_ns(*dev, {{b.address, a.address}}, bytes)[0];
  const double sram_alone = concurrent_ns(*dev, {{s2.address, s1.address}}, bytes / 2)[0];
  // Different sizes are fine: neither flow crosses the other's memory.
  std::vector<Stream*> streams{take(dev->create_stream()), take(dev->create_stream())};
  const uint64_t q0 = take(streams[0]->copy(b.address, a.address, bytes));
  const uint64_t q1 = take(streams[1]->copy(s2.address, s1.address, bytes / 2));
  ASSERT_OK(dev->synchronize());
  EXPECT_NEAR(duration_ns(dma_job(*dev, *streams[0], q0)), hbm_alone, hbm_alone * 0.01);
  EXPECT_NEAR(duration_ns(dma_job(*dev, *streams[1], q1)), sram_alone, sram_alone * 0.01);
}

TEST(SharedBandwidth, HostLinkDirectionsAreIndependentButEachIsShared) {
  const uint64_t bytes = 16ull << 20;
  auto dev = open_device("gaudi2", false);
  auto h1 = take(dev->allocate_host(bytes)), h2 = take(dev->allocate_host(bytes));
  auto a = take(dev->allocate(bytes)), b = take(dev->allocate(bytes));
  const double up_alone = concurrent_ns(*dev, {{a.address, h1.address}}, bytes)[0];
  const auto both_ways = concurrent_ns(*dev, {{a.address, h1.address}, {h2.address, b.address}}, bytes);
  EXPECT_NEAR(both_ways[0], up_alone, up_alone * 0.01);
  EXPECT_NEAR(both_ways[1], up_alone, up_alone * 0.01);
  const auto same_way = concurrent_ns(*dev, {{a.address, h1.address}, {b.address, h2.address}}, bytes);
  for (double t : same_way) EXPECT_NEAR(t, 2 * up_alone, 2 * up_alone * 0.05);
}

TEST(SharedBandwidth, UnequalFlowsGetTheRemainderWhenTheShorterEnds) {
  // 64 MiB and 192 MiB copies within HBM (each moving 2x its bytes through
  // it: read and written), the long one starting d later (the host's
  // submission cost separates the two submissions): the short one runs alone
  // for d, then at half rate to its end; the long one then gets the whole
  // bandwidth. Analytic durations: short = 2*2S/B - d, long = (2S + 2L)/B - d.
  const uint64_t small = 64ull << 20, large = 192ull << 20;
  auto dev = open_device("gaudi2", false);
  const auto& c = dev->config();
  auto a = take(dev->allocate(large)), b = take(dev->allocate(large));
  auto x = take(dev->allocate(small)), y = take(dev->allocate(small));
  std::vector<Stream*> s{take(dev->create_stream()), take(dev->create_stream())};
  const uint64_t qs = take(s[0]->copy(y.address, x.address, small));
  const uint64_t ql = take(s[1]->copy(b.address, a.address, large));
  ASSERT_OK(dev->synchronize());
  const double bw = c.hbm().bandwidth_gb_per_s();
  const double fixed = c.dma().setup_latency_ns() + c.hbm().latency_ns();
  const auto short_job = dma_job(*dev, *s[0], qs), long_job = dma_job(*dev, *s[1], ql);
  const double d = (static_cast<double>(long_job.start_ps) - static_cast<double>(short_job.start_ps)) / 1000.0;
  EXPECT_DOUBLE_EQ(d, c.host().submit_ns() + c.host().packet_record_ns());
  EXPECT_NEAR(duration_ns(short_job), fixed + 2.0 * (2.0 * small) / bw - d, 1.0);
  EXPECT_NEAR(duration_ns(long_job), fixed + double(2 * small + 2 * large) / bw - d, 1.0);
}

// A device opened from an overridden config runs at the overridden figures.
TEST(ConfigOverrides, AnHbmCopyFollowsTheOverriddenBandwidth) {
  DeviceConfig config = take(load_device_config("gaudi2"));
  ASSERT_OK(apply_config_overrides(config, {"hbm.bandwidth_gb_per_s=500", "hbm.latency_ns=0"}));
  DeviceOptions options;
  options.functional = false;
  auto dev = take(Device::open(config, options));
  EXPECT_DOUBLE_EQ(dev->properties().hbm_bandwidth_gb_per_s, 500.0);
  const uint64_t bytes = 64 << 20;
  auto a = take(dev->allocate(bytes)), b = take(dev->allocate(bytes));
  Stream& s = dev->default_stream();
  const uint64_t seq = take(s.copy(b.address, a.address, bytes));
  ASSERT_OK(s.wait(seq));
  const double expected = expected_ns(config, 2 * bytes, 500.0, 0.0);  // read and written in HBM
  EXPECT_NEAR(duration_ns(dma_job(*dev, s, seq)), expected, expected * 0.02);

  // An invalid description is refused before anything opens, naming the field.
  config.mutable_hbm()->set_bandwidth_gb_per_s(-1);
  const auto refused = Device::open(config);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("hbm.bandwidth_gb_per_s"), std::string::npos)
      << refused.status().message();
}

}  // namespace
}  // namespace kiln::driver
