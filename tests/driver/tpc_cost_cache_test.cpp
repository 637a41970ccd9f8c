// Timing-only mode reuses the cost of a vector-core launch it has seen: the
// same kernel, shapes, dtypes, scalars, core count and memory placement.
#include <algorithm>

#include "kiln/kernels/kernel_registry.h"
#include "test_util.h"

namespace kiln::driver {
namespace {

using testing::take;

struct Launch {
  std::vector<traces::TraceEvent> cores;
  bool reused() const {
    return !cores.empty() && std::all_of(cores.begin(), cores.end(), [](const auto& e) {
      return e.detail.find("(cost reused)") != std::string::npos;
    });
  }
  uint64_t duration() const {
    uint64_t start = UINT64_MAX, end = 0;
    for (const auto& e : cores) start = std::min(start, e.start_ps), end = std::max(end, e.end_ps);
    return end - start;
  }
};

Launch launch(Device& dev, const std::string& kernel, int64_t w, int64_t h, int tensors, float scalar = 0) {
  kernels::KernelArgs args;
  for (int i = 0; i < tensors; ++i) {
    args.add_tensor(
        kernels::TensorDesc::contiguous(take(dev.allocate(static_cast<uint64_t>(w * h) * 4)).address, DType::kF32, {w, h}));
  }
  if (scalar != 0) args.add_float(scalar);
  CommandBuffer cb;
  cb.launch_tpc(kernels::kernel_id(kernel), args);
  Stream& s = dev.default_stream();
  const uint64_t seq = take(s.submit(cb));
  EXPECT_TRUE(s.wait(seq).ok());
  return {testing::device_events(dev, "TPC", static_cast<int>(s.queue()), seq)};
}

TEST(TpcCostCache, TimingOnlyReusesTheCostOfARepeatedLaunch) {
  auto dev = testing::open_device("gaudi2", /*functional=*/false);
  const Launch first = launch(*dev, "add", 4096, 64, 3);
  const Launch again = launch(*dev, "add", 4096, 64, 3);  // other tensors, same shapes
  EXPECT_FALSE(first.reused());
  EXPECT_TRUE(again.reused());
  EXPECT_EQ(again.duration(), first.duration());
  ASSERT_EQ(again.cores.size(), first.cores.size());
  for (std::size_t i = 0; i < first.cores.size(); ++i) {
    EXPECT_EQ(again.cores[i].bytes, first.cores[i].bytes);
    EXPECT_EQ(again.cores[i].flops, first.cores[i].flops);
  }
  // Another shape, or another scalar, is another cost.
  EXPECT_FALSE(launch(*dev, "add", 4096, 65, 3).reused());
  EXPECT_FALSE(launch(*dev, "leaky_relu", 4096, 64, 2, 0.1f).reused());
  EXPECT_TRUE(launch(*dev, "leaky_relu", 4096, 64, 2, 0.1f).reused());
  EXPECT_FALSE(launch(*dev, "leaky_relu", 4096, 64, 2, 0.2f).reused());
}

TEST(TpcCostCache, FunctionalRunsAlwaysExecute) {
  auto dev = testing::open_device("tiny", /*functional=*/true);
  EXPECT_FALSE(launch(*dev, "add", 300, 7, 3).reused());
  EXPECT_FALSE(launch(*dev, "add", 300, 7, 3).reused());
}

TEST(TpcCostCache, AKernelWhoseCostDependsOnDataRunsEveryTime) {
  DeviceOptions options;
  options.functional = false;
  options.kernel_paths = {KILN_TEST_PLUGIN};
  auto dev = take(Device::open("tiny", options));
  EXPECT_FALSE(launch(*dev, "test_plugin_nonzero", 1000, 1, 2).reused());
  EXPECT_FALSE(launch(*dev, "test_plugin_nonzero", 1000, 1, 2).reused());
  EXPECT_FALSE(launch(*dev, "test_plugin_scale", 1024, 1, 2).reused());
  EXPECT_TRUE(launch(*dev, "test_plugin_scale", 1024, 1, 2).reused());
}

}  // namespace
}  // namespace kiln::driver
