// The ONNX frontend on hand-made models: malformed files, one error listing
// every unsupported node, symbolic dims bound at run time, the CLI.
// ONNX headers live in /usr/include, a system directory: their warnings stay out of -Werror.
#include <onnx/onnx_pb.h>

#include <gtest/gtest.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "kiln/frontend/onnx_runner.h"
#include "onnx_builder.h"

namespace kiln::frontend {
namespace {

namespace fs = std::filesystem;
using namespace testing;

fs::path temp_dir() {
  fs::path d = testing::scratch_dir() / "onnx_model";
  fs::create_directories(d);
  return d;
}

// x [N, 4] -> relu -> exp -> y
onnx::ModelProto relu_exp_model(const std::string& batch) {
  onnx::ModelProto m = model(17);
  auto* g = m.mutable_graph();
  add_symbolic_io(g->add_input(), "x", {batch, "4"});
  add_symbolic_io(g->add_output(), "y", {batch, "4"});
  add_node(g, "Relu", {"x"}, "r", "relu0");
  add_node(g, "Exp", {"r"}, "y", "exp0");
  return m;
}

TEST(HostBytes, AdoptsAStringsBufferWithoutCopyingIt) {
  std::string weights(1 << 20, '\x7f');
  const char* buffer = weights.data();
  HostBytes bytes(std::move(weights));
  EXPECT_EQ(reinterpret_cast<const char*>(bytes.data()), buffer);  // a model's weights are not copied again
  EXPECT_EQ(bytes.size(), std::size_t{1} << 20);
  EXPECT_EQ(bytes[12345], std::byte{0x7f});
  bytes.resize(bytes.size() + 3);
  EXPECT_EQ(bytes[bytes.size() - 1], std::byte{0});  // grown bytes are zero
  HostBytes other;
  other.assign(bytes.data(), bytes.data() + bytes.size());
  EXPECT_EQ(other, bytes);
  other[0] = std::byte{1};
  EXPECT_FALSE(other == bytes);
}

TEST(OnnxModel, TruncatedAndGarbageFilesFailClearly) {
  const fs::path d = temp_dir();
  std::string bytes = relu_exp_model("2").SerializeAsString();
  write(d / "truncated.onnx", bytes.substr(0, bytes.size() / 2));
  write(d / "garbage.onnx", std::string(300, '\xff'));
  write(d / "empty.onnx", "");
  for (const char* f : {"truncated.onnx", "garbage.onnx", "empty.onnx"}) {
    auto m = OnnxModel::load((d / f).string());
    ASSERT_FALSE(m.ok()) << f;
    EXPECT_EQ(m.status().code(), ErrorCode::kInvalidArgument) << m.status().to_string();
    EXPECT_NE(m.status().message().find(f), std::string::npos) << m.status().to_string();
  }
  auto missing = OnnxModel::load((d / "nope.onnx").string());
  EXPECT_EQ(missing.status().code(), ErrorCode::kNotFound);
  auto t = read_tensor_file((d / "garbage.onnx").string());
  EXPECT_FALSE(t.ok());
}

TEST(OnnxModel, CheckerRejectsAModelWithADanglingInput) {
  onnx::ModelProto m = relu_exp_model("2");
  m.mutable_graph()->mutable_node(1)->set_input(0, "nowhere");
  const fs::path p = temp_dir() / "dangling.onnx";
  write(p, m.SerializeAsString());
  auto r = OnnxModel::load(p.string());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("ONNX checker"), std::string::npos) << r.status().to_string();
}

TEST(OnnxModel, OneErrorListsEveryUnsupportedNode) {
  onnx::ModelProto m = model(17);
  auto* g = m.mutable_graph();
  add_symbolic_io(g->add_input(), "x", {"2", "3", "4", "5", "6"});
  add_symbolic_io(g->add_output(), "y", {"2", "3", "4", "5", "6"});
  add_node(g, "Relu", {"x"}, "a", "ok_relu");
  add_node(g, "LpNormalization", {"a"}, "b", "the_lpnorm");  // no lowering
  auto* pool = add_node(g, "MaxPool", {"b"}, "c", "pool3d");  // 3-D pooling with dilations
  auto* k = pool->add_attribute();
  k->set_name("kernel_shape");
  k->set_type(onnx::AttributeProto::INTS);
  for (int i = 0; i < 3; ++i) k->add_ints(1);
  auto* dil = pool->add_attribute();
  dil->set_name("dilations");
  dil->set_type(onnx::AttributeProto::INTS);
  for (int i = 0; i < 3; ++i) dil->add_ints(2);
  add_node(g, "Bernoulli", {"c"}, "y", "the_bernoulli");  // no lowering
  const fs::path p = temp_dir() / "unsupported.onnx";
  write(p, m.SerializeAsString());
  auto r = OnnxModel::load(p.string());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kUnimplemented);
  const std::string& msg = r.status().message();
  EXPECT_NE(msg.find("3 unsupported nodes"), std::string::npos) << msg;
  EXPECT_NE(msg.find("the_lpnorm (LpNormalization): unsupported: no lowering"), std::string::npos) << msg;
  EXPECT_NE(msg.find("pool3d (MaxPool): unsupported: dilations of 3-D pooling"), std::string::npos) << msg;
  EXPECT_NE(msg.find("the_bernoulli (Bernoulli)"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("ok_relu"), std::string::npos) << msg;
}

TEST(OnnxModel, SymbolicDimMustBeBoundAndIsBoundAtRunTime) {
  const fs::path p = temp_dir() / "symbolic.onnx";
  write(p, relu_exp_model("batch").SerializeAsString());
  auto unbound = OnnxModel::load(p.string());
  ASSERT_FALSE(unbound.ok());
  EXPECT_NE(unbound.status().message().find("--bind batch=SIZE"), std::string::npos) << unbound.status().to_string();

  auto rt = runtime::Runtime::open("tiny").value();
  RunOptions o;
  o.model_path = p.string();
  o.bindings = {{"batch", 3}};
  auto report = run_onnx(*rt, o);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  ASSERT_EQ(report->outputs.size(), 1u);
  EXPECT_EQ(report->outputs[0].shape, (std::vector<int64_t>{3, 4}));
  for (int64_t i = 0; i < report->outputs[0].numel(); ++i) EXPECT_GE(report->outputs[0].at(i), 1.0);  // exp(relu) >= 1
}

TEST(OnnxModel, ModesAgreeAndGraphModeReplays) {
  const fs::path p = temp_dir() / "modes.onnx";
  write(p, relu_exp_model("2").SerializeAsString());
  auto rt = runtime::Runtime::open("tiny").value();
  std::vector<HostTensor> results;
  for (RunMode mode : {RunMode::kEager, RunMode::kLazy, RunMode::kGraph}) {
    RunOptions o;
    o.model_path = p.string();
    o.mode = mode;
    o.iterations = 3;
    auto report = run_onnx(*rt, o);
    ASSERT_TRUE(report.ok()) << report.status().to_string();
    ASSERT_EQ(report->iterations.size(), 3u);
    EXPECT_GT(report->iterations[0].simulated_ns, 0);
    results.push_back(report->outputs.at(0));
  }
  EXPECT_EQ(results[0].data, results[1].data);
  EXPECT_EQ(results[1].data, results[2].data);
  EXPECT_GE(rt->stats().replays, 3u);
}

TEST(KilnRunCli, ChecksANodeTestAndReportsTiming) {
  const std::string dir = std::string(KILN_ONNX_NODE_TESTS) + "/test_relu";
  const std::string cmd = std::string(KILN_CLI) + " run " + dir + "/model.onnx --config tiny --iterations 2 --check " + dir +
                          "/test_data_set_0 --inputs " + dir + "/test_data_set_0 > /dev/null";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

}  // namespace
}  // namespace kiln::frontend
