// Kernel development without hardware: a plugin kernel (built outside the
// kernel library, loaded at open) checked against its own reference on the
// simulated TPC, through the GoogleTest helper.
#include "kiln/driver/kernel_check_testing.h"
#include "kiln/kernels/kernel_plugin.h"
#include "test_util.h"

namespace kiln::driver {
namespace {

using testing::take;

kernels::KernelTestDef plugin_test() {
  auto tests = take(kernels::load_kernel_plugin_tests(KILN_TEST_PLUGIN));
  for (const auto& t : tests) {
    if (t.kernel == "test_plugin_scale") return t;
  }
  ADD_FAILURE() << "the test plugin registers no test for test_plugin_scale";
  return {};
}

TEST(KernelCheck, PluginKernelMatchesItsReferenceOnTheSimulatedTpc) {
  DeviceOptions options;
  options.kernel_paths = {KILN_TEST_PLUGIN};
  auto dev = take(Device::open("gaudi2", options));
  const auto test = plugin_test();
  EXPECT_TRUE(KernelMatchesReference(*dev, test, {1000}));
  EXPECT_TRUE(KernelMatchesReference(*dev, test, {77}, {.cores = 1}));

  auto report = take(check_kernel_on_device(*dev, test, std::vector<int64_t>{100000}));
  EXPECT_TRUE(report.passed);
  EXPECT_EQ(report.elements_checked, 100000u);
  EXPECT_EQ(report.cores_used, dev->config().tpc().count());
  EXPECT_EQ(report.bytes_moved, 2u * 100000 * 4);  // one load and one store per element
  EXPECT_GT(report.device_ns, dev->config().tpc().launch_overhead_ns());
}

TEST(KernelCheck, AWrongReferenceFailsWithTheFirstMismatch) {
  DeviceOptions options;
  options.kernel_paths = {KILN_TEST_PLUGIN};
  auto dev = take(Device::open("tiny", options));
  auto test = plugin_test();
  test.reference = [](kernels::KernelTestCase& c) {
    for (std::size_t i = 0; i < c.tensors[0].values.size(); ++i) c.tensors[1].values[i] = 3.0f * c.tensors[0].values[i];
  };
  auto report = take(check_kernel_on_device(*dev, test, std::vector<int64_t>{64}));
  EXPECT_FALSE(report.passed);
  EXPECT_GT(report.mismatches, 0u);
  EXPECT_NE(report.first_mismatch.find("tensor 1"), std::string::npos) << report.first_mismatch;
  EXPECT_FALSE(KernelMatchesReference(*dev, test, {64}));
}

TEST(KernelCheck, KernelUnknownToTheDeviceIsAnError) {
  auto dev = take(Device::open("tiny"));  // the plugin is not loaded here
  const auto report = check_kernel_on_device(*dev, plugin_test(), std::vector<int64_t>{64});
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), ErrorCode::kDeviceFault);
  EXPECT_NE(report.status().message().find("invalid descriptor"), std::string::npos) << report.status().message();
}

}  // namespace
}  // namespace kiln::driver
