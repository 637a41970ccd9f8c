// `kiln info`: the summary shows the public figures in the units people quote,
// and errors go to stderr with a non-zero exit code.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "commands.h"

namespace kiln::tools {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct InfoRun {
  int exit_code;
  std::string out;
  std::string err;
};

InfoRun run(const Args& args) {
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  const int code = run_info(args);
  InfoRun r{code, ::testing::internal::GetCapturedStdout(), ::testing::internal::GetCapturedStderr()};
  return r;
}

TEST(InfoCommandTest, Gaudi2ShowsPublicFigures) {
  const InfoRun r = run({"--config", "gaudi2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_THAT(r.out, HasSubstr("gaudi2: "));
  EXPECT_THAT(r.out, HasSubstr("96 GB"));
  EXPECT_THAT(r.out, HasSubstr("2.46 TB/s"));
  EXPECT_THAT(r.out, HasSubstr("TPC       24 vector cores"));
  EXPECT_THAT(r.out, HasSubstr("MME       2 matrix engines, 256x256 array at 1648 MHz"));
  EXPECT_THAT(r.out, HasSubstr("WEIGHT_STATIONARY_PIPELINED"));
  EXPECT_THAT(r.out, HasSubstr("48 MB"));
  EXPECT_THAT(r.out, HasSubstr("PCIe 4.0 x16, 32 GB/s per direction (64 GB/s both ways)"));
  EXPECT_THAT(r.out, HasSubstr("432 TFLOP/s"));
  EXPECT_THAT(r.out, HasSubstr("16 queues"));
  EXPECT_THAT(r.out, HasSubstr("8 engines, setup latency 100 ns"));
}

TEST(InfoCommandTest, DefaultsToGaudi2) {
  const InfoRun r = run({});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("gaudi2: "));
}

TEST(InfoCommandTest, Gaudi3FormatsTerabytesAndVectorPeak) {
  const InfoRun r = run({"--config=gaudi3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("128 GB, 3.67 TB/s"));
  EXPECT_THAT(r.out, HasSubstr("96 MB, 12.80 TB/s"));
  EXPECT_THAT(r.out, HasSubstr("128 GB/s both ways"));
  EXPECT_THAT(r.out, HasSubstr("1835 TFLOP/s"));
  EXPECT_THAT(r.out, HasSubstr("28.7 TFLOP/s"));
  EXPECT_THAT(r.out, HasSubstr("MACs per cell per cycle: bf16 1, fp16 1, tf32 0.25, fp32 0.125"));
  EXPECT_THAT(r.out, HasSubstr("matrix fp16 1835 TFLOP/s, tf32 459 TFLOP/s, fp32 229 TFLOP/s"));
}

TEST(InfoCommandTest, AcceptsAPath) {
  std::string path = KILN_TEST_CONFIG_DIR;
  path += "/tiny.textproto";  // not string + "literal": GCC 12's false -Warray-bounds here
  const InfoRun r = run({"--config", path});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("tiny: "));
  EXPECT_THAT(r.out, HasSubstr("256 MB, 100 GB/s"));
  EXPECT_THAT(r.out, HasSubstr("512 GFLOP/s"));  // below 1 TFLOP/s
}

TEST(InfoCommandTest, OverridesChangeTheFiguresDerivedFromThem) {
  // A 512x512 array has 4x the MACs: 4 x 432 = 1728 TFLOP/s.
  const InfoRun r = run({"--config", "gaudi2", "--set", "mme.array_rows=512", "--set", "mme.array_cols=512"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("--set mme.array_rows=512 --set mme.array_cols=512"));
  EXPECT_THAT(r.out, HasSubstr("512x512 array"));
  EXPECT_THAT(r.out, HasSubstr("1728 TFLOP/s"));

  const InfoRun bad = run({"--config", "gaudi2", "--set", "mme.count=0"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.err, HasSubstr("kiln info: gaudi2 with mme.count=0: field 'mme.count' must be > 0"));
}

TEST(InfoCommandTest, UnknownConfigFails) {
  const InfoRun r = run({"--config", "no_such_device"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, HasSubstr("kiln info: device config 'no_such_device' not found"));
}

TEST(InfoCommandTest, BadArgumentsAreUsageErrors) {
  const InfoRun missing = run({"--config"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr("--config needs a value"));
  const InfoRun unknown = run({"--frobnicate"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_THAT(unknown.err, HasSubstr("unknown argument '--frobnicate'"));
  EXPECT_THAT(unknown.out, Not(HasSubstr("gaudi2")));
}

}  // namespace
}  // namespace kiln::tools
