// run_onnx's report: the profile of the last iteration (engine utilisation,
// top ops, critical path), autocast (--precision) and its tolerance, JSON.
// Uses a convolution from libonnx-testdata's pytorch-converted suite.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "kiln/frontend/onnx_runner.h"

namespace kiln::frontend {
namespace {

namespace fs = std::filesystem;

const fs::path kConv = fs::path(KILN_ONNX_DATA) / "pytorch-converted" / "test_Conv2d";

RunOptions conv_options() {
  RunOptions o;
  o.model_path = (kConv / "model.onnx").string();
  o.inputs_dir = (kConv / "test_data_set_0").string();
  o.check_dir = o.inputs_dir;
  o.measure_device = true;
  return o;
}

class RunReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kConv)) GTEST_SKIP() << kConv << " is missing: install libonnx-testdata (scripts/setup.sh)";
  }
};

TEST_F(RunReportTest, ProfileOfTheLastIterationNamesTheModelOps) {
  auto rt = runtime::Runtime::open("tiny").value();
  RunOptions o = conv_options();
  o.iterations = 3;
  std::vector<std::pair<int, int>> progress;
  o.on_iteration = [&](int done, int total) { progress.emplace_back(done, total); };
  auto report = run_onnx(*rt, o);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_TRUE(report->passed);
  EXPECT_EQ(progress, (std::vector<std::pair<int, int>>{{1, 3}, {2, 3}, {3, 3}}));
  ASSERT_TRUE(report->profile.has_value());
  const RunProfile& p = *report->profile;
  EXPECT_DOUBLE_EQ(p.window_ns, report->iterations.back().simulated_ns);
  ASSERT_TRUE(p.utilisation.count("MME"));
  EXPECT_GT(p.utilisation.at("MME"), 0.0);
  EXPECT_LE(p.utilisation.at("MME"), 1.0);
  // The convolution, labelled with its ONNX node, ran on the MME.
  auto conv = std::find_if(p.top_ops.begin(), p.top_ops.end(), [](const OpTime& t) { return t.op.find("conv2d") != std::string::npos; });
  ASSERT_NE(conv, p.top_ops.end());
  EXPECT_NE(conv->engines.find("MME"), std::string::npos);
  EXPECT_GT(conv->time_ns, 0.0);
  // The steady iteration compiles nothing: the path is host launch work and the jobs, within the window.
  EXPECT_GT(p.critical_path_ns, 0.0);
  EXPECT_LE(p.critical_path_ns, p.window_ns + 1e-6);
  for (const auto& [op, ns] : p.critical_ops) EXPECT_EQ(op.find("compile"), std::string::npos) << op;
  const std::string text = report->summary();
  EXPECT_GT(report->load_wall_ns, 0.0);
  EXPECT_EQ(report->mapped_weight_bytes, 0u) << "the conv's weights are small: parsed, not left in the file";
  EXPECT_EQ(text.rfind("load: host wall ", 0), 0u) << text;
  EXPECT_NE(text.find("engine utilisation"), std::string::npos) << text;
  EXPECT_NE(text.find("critical path"), std::string::npos) << text;
}

TEST_F(RunReportTest, AutocastRunsTheConvolutionInBf16WithinItsTolerance) {
  auto rt = runtime::Runtime::open("tiny").value();
  auto fp32 = run_onnx(*rt, conv_options());
  RunOptions o = conv_options();
  o.precision = DType::kBF16;
  auto bf16 = run_onnx(*rt, o);
  ASSERT_TRUE(fp32.ok() && bf16.ok());
  EXPECT_TRUE(fp32->passed);
  EXPECT_TRUE(bf16->passed) << bf16->summary();
  ASSERT_EQ(bf16->outputs.size(), 1u);
  EXPECT_EQ(bf16->outputs[0].dtype, DType::kF32);  // cast back, as the model declares
  // bf16 operands lose about 8 mantissa bits: the error grows well past the fp32 run's.
  EXPECT_GT(bf16->checks[0].comparison.max_abs_error, 10 * fp32->checks[0].comparison.max_abs_error);
  ASSERT_TRUE(bf16->profile.has_value());
  bool cast = false;
  for (const auto& t : bf16->profile->top_ops) cast = cast || t.op.find("cast") != std::string::npos;
  EXPECT_TRUE(cast);
}

TEST(RunReport, AutocastOnlyToLowerFloatPrecisions) {
  auto rt = runtime::Runtime::open("tiny").value();
  RunOptions o = conv_options();
  if (!fs::exists(kConv)) GTEST_SKIP();
  o.precision = DType::kI32;
  auto r = run_onnx(*rt, o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("only bf16 and f16"), std::string::npos) << r.status().to_string();
}

// fp32 too: ResNet-50 at 224x224 with random weights has logits up to ~9000
// whose small elements torch's own fp32 and fp64 runs put 5e-3 apart.
TEST(RunReport, ToleranceScalesWithTheReference) {
  HostTensor e;
  e.dtype = DType::kF32;
  e.shape = {2};
  e.data.resize(8);
  const float v[2] = {0.5f, -40.0f};
  std::memcpy(e.data.data(), v, 8);
  const Tolerance f32 = compare_tolerance(e, std::nullopt);
  EXPECT_DOUBLE_EQ(f32.atol, tolerance_for(DType::kF32).atol * 40.0);
  EXPECT_DOUBLE_EQ(f32.rtol, tolerance_for(DType::kF32).rtol);
  HostTensor small = e;
  const float tiny[2] = {0.5f, -0.25f};
  std::memcpy(small.data.data(), tiny, 8);
  EXPECT_DOUBLE_EQ(compare_tolerance(small, std::nullopt).atol, tolerance_for(DType::kF32).atol);
  const Tolerance bf = compare_tolerance(e, DType::kBF16);
  EXPECT_DOUBLE_EQ(bf.atol, tolerance_for(DType::kBF16).atol * 40.0);
  EXPECT_DOUBLE_EQ(bf.rtol, tolerance_for(DType::kBF16).rtol);
  HostTensor ints = e;
  ints.dtype = DType::kI32;
  EXPECT_DOUBLE_EQ(compare_tolerance(ints, DType::kBF16).atol, 0.0);
}

TEST_F(RunReportTest, JsonHoldsTheReport) {
  auto rt = runtime::Runtime::open("tiny").value();
  auto report = run_onnx(*rt, conv_options());
  ASSERT_TRUE(report.ok());
  const std::string j = report->to_json();
  EXPECT_EQ(j.front(), '{');
  EXPECT_EQ(std::count(j.begin(), j.end(), '{'), std::count(j.begin(), j.end(), '}'));
  EXPECT_EQ(std::count(j.begin(), j.end(), '['), std::count(j.begin(), j.end(), ']'));
  for (const char* key : {"\"load_ms\"", "\"mapped_weight_bytes\":0", "\"iterations\"", "\"steady_us\"", "\"utilisation\"", "\"top_ops\"", "\"critical_path\"",
                          "\"outputs\"", "\"passed\":true"})
    EXPECT_NE(j.find(key), std::string::npos) << key << " in " << j;
}

}  // namespace
}  // namespace kiln::frontend
