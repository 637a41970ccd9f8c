// Initializers stored outside the model file (ONNX external data): read from
// files next to the model, refused when their location escapes its
// directory or their bytes do not match their shape, and absent altogether
// in timing-only runs.
#include <onnx/onnx_pb.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "kiln/frontend/onnx_runner.h"
#include "kiln/runtime/ops.h"
#include "onnx_builder.h"

namespace kiln::frontend {
namespace {

namespace fs = std::filesystem;
using namespace testing;

fs::path fresh_dir(const std::string& name) {
  fs::path d = testing::scratch_dir() / "external_data" / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::string float_bytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

const std::vector<float> kWeights = {1, 2, 3, 4, 5, 6};

// y = x + w, x and w f32[rows, 3]; w's bytes in `location` at `offset`
// (length given unless negative).
onnx::ModelProto add_external_model(const std::string& location, int64_t offset, int64_t length, int64_t rows = 2) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(17);
  auto* g = m.mutable_graph();
  g->set_name("g");
  for (auto [v, name] : {std::pair{g->add_input(), "x"}, std::pair{g->add_output(), "y"}}) {
    v->set_name(name);
    auto* tt = v->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    tt->mutable_shape()->add_dim()->set_dim_value(rows);
    tt->mutable_shape()->add_dim()->set_dim_value(3);
  }
  auto* w = g->add_initializer();
  w->set_name("w");
  w->set_data_type(onnx::TensorProto::FLOAT);
  w->add_dims(rows);
  w->add_dims(3);
  w->set_data_location(onnx::TensorProto::EXTERNAL);
  auto entry = [&](const char* key, const std::string& value) {
    auto* e = w->add_external_data();
    e->set_key(key);
    e->set_value(value);
  };
  entry("location", location);
  entry("offset", std::to_string(offset));
  if (length >= 0) entry("length", std::to_string(length));
  auto* n = g->add_node();
  n->set_op_type("Add");
  n->set_name("add_w");
  n->add_input("x");
  n->add_input("w");
  n->add_output("y");
  return m;
}

Result<std::vector<float>> run_add(OnnxModel& model) {
  auto rt = runtime::Runtime::open("tiny").value();
  const std::vector<float> x = {10, 20, 30, 40, 50, 60};
  KILN_ASSIGN_OR_RETURN(runtime::Tensor xt, rt->from_host(x, {2, 3}));
  KILN_ASSIGN_OR_RETURN(auto outs, model.run(*rt, {xt}));
  return outs.at(0).to_host<float>();
}

TEST(ExternalData, ReadsTheBytesAtTheOffsetOfAFileNextToTheModel) {
  const fs::path d = fresh_dir("present");
  fs::create_directories(d / "weights");
  write(d / "weights" / "w.bin", std::string(16, 'x') + float_bytes(kWeights));
  write(d / "model.onnx", add_external_model("weights/w.bin", 16, 24).SerializeAsString());
  auto model = OnnxModel::load((d / "model.onnx").string());
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  EXPECT_EQ((*model)->mapped_weight_bytes(), 24u) << "read in place from a mapping of w.bin";
  auto y = run_add(**model);
  ASSERT_TRUE(y.ok()) << y.status().to_string();
  EXPECT_EQ(*y, (std::vector<float>{11, 22, 33, 44, 55, 66}));

  // No length: the tensor runs to the end of the file.
  write(d / "model_nolength.onnx", add_external_model("weights/w.bin", 16, -1).SerializeAsString());
  auto to_end = OnnxModel::load((d / "model_nolength.onnx").string());
  ASSERT_TRUE(to_end.ok()) << to_end.status().to_string();
  EXPECT_EQ(run_add(**to_end).value(), (std::vector<float>{11, 22, 33, 44, 55, 66}));
}

TEST(ExternalData, BadFilesFailNamingTheInitializerAndFile) {
  const fs::path d = fresh_dir("bad");
  write(d / "short.bin", float_bytes({1, 2, 3}));
  write(d / "w.bin", float_bytes(kWeights));
  struct Case {
    const char* label;
    std::string location;
    int64_t offset, length;
    const char* expect;
  };
  const Case cases[] = {
      {"missing", "nothing.bin", 0, 24, "is missing"},
      {"short", "short.bin", 0, 24, "is too short"},
      {"offset past the end", "w.bin", 100, 24, "less than the offset"},
      {"length mismatch", "w.bin", 0, 20, "need 24"},
      {"to the end, wrong size", "short.bin", 0, -1, "need 24"},
      {"absolute", (d / "w.bin").string(), 0, 24, "is absolute"},
      {"escapes", "../bad/w.bin", 0, 24, "leaves the model's directory"},
      {"escapes after a detour", "sub/../../w.bin", 0, 24, "leaves the model's directory"},
  };
  for (const Case& c : cases) {
    write(d / "model.onnx", add_external_model(c.location, c.offset, c.length).SerializeAsString());
    auto model = OnnxModel::load((d / "model.onnx").string());
    ASSERT_FALSE(model.ok()) << c.label;
    const std::string msg = model.status().message();
    EXPECT_NE(msg.find(c.expect), std::string::npos) << c.label << ": " << msg;
    EXPECT_NE(msg.find("initializer 'w'"), std::string::npos) << c.label << ": " << msg;
    if (std::string(c.label) != "absolute" && std::string(c.label).rfind("escapes", 0) != 0) {
      EXPECT_NE(msg.find(fs::path(c.location).filename().string()), std::string::npos) << c.label << ": " << msg;
    }
  }
}

// A location that stays inside the directory by its words but leads out of
// it through a symbolic link (to a file, or a directory on the way) is
// refused as an escape (the path traversal ONNX's own loader closed in
// 1.16); a link that stays inside is followed.
TEST(ExternalData, SymbolicLinksOutOfTheModelsDirectoryAreRefused) {
  const fs::path outside = fresh_dir("outside");
  write(outside / "w.bin", float_bytes(kWeights));
  const fs::path d = fresh_dir("links");
  fs::create_directories(d / "real");
  write(d / "real" / "w.bin", float_bytes(kWeights));
  fs::create_symlink(outside / "w.bin", d / "out.bin");
  fs::create_directory_symlink(outside, d / "outdir");
  fs::create_symlink(d / "real" / "w.bin", d / "in.bin");
  fs::create_directory_symlink(d / "real", d / "indir");
  for (const char* location : {"out.bin", "outdir/w.bin"}) {
    write(d / "model.onnx", add_external_model(location, 0, 24).SerializeAsString());
    for (bool timing_only : {false, true}) {
      LoadOptions o;
      o.timing_only = timing_only;
      auto model = OnnxModel::load((d / "model.onnx").string(), o);
      ASSERT_FALSE(model.ok()) << location;
      const std::string msg = model.status().message();
      EXPECT_NE(msg.find("leaves the model's directory through a symbolic link"), std::string::npos) << location << ": " << msg;
      EXPECT_NE(msg.find(location), std::string::npos) << msg;
    }
  }
  for (const char* location : {"in.bin", "indir/w.bin"}) {
    write(d / "model.onnx", add_external_model(location, 0, 24).SerializeAsString());
    auto model = OnnxModel::load((d / "model.onnx").string());
    ASSERT_TRUE(model.ok()) << location << ": " << model.status().to_string();
    EXPECT_EQ(run_add(**model).value(), (std::vector<float>{11, 22, 33, 44, 55, 66})) << location;
  }
}

TEST(ExternalData, TimingOnlyRunsWithTheWeightsAbsent) {
  const fs::path d = fresh_dir("absent");
  const fs::path p = d / "model.onnx";
  write(p, add_external_model("never_written.bin", 0, 24).SerializeAsString());

  runtime::RuntimeOptions timing;
  timing.device.functional = false;
  auto rt = runtime::Runtime::open("tiny", timing).value();
  RunOptions o;
  o.model_path = p.string();
  o.iterations = 2;
  auto report = run_onnx(*rt, o);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  ASSERT_EQ(report->iterations.size(), 2u);
  EXPECT_GT(report->iterations[1].simulated_ns, 0);
  EXPECT_TRUE(report->outputs.empty());  // timing-only: no values

  // A model loaded for timing only refuses a functional runtime by name.
  LoadOptions lo;
  lo.timing_only = true;
  auto model = OnnxModel::load(p.string(), lo);
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  auto values = run_add(**model);
  ASSERT_FALSE(values.ok());
  EXPECT_NE(values.status().message().find("initializer 'w' has no values"), std::string::npos) << values.status().to_string();

  // Still refused when timing: a location outside the model's directory.
  write(p, add_external_model("../w.bin", 0, 24).SerializeAsString());
  EXPECT_FALSE(OnnxModel::load(p.string(), lo).ok());
}

// An absent initializer becomes device memory when a node first reads it:
// one no node reads costs nothing (an 8-dim one, more than the device's
// tensors have, failed every run with a message naming nothing: found by
// the onnx_model fuzz target); one a node reads is refused at load, naming
// the node and the initializer.
TEST(ExternalData, AnAbsentWeightIsAllocatedByItsFirstReaderAndNamedByIt) {
  const fs::path d = fresh_dir("absent_rank");
  // y = ReduceSum(w) (to a scalar), w f32[1, 1, 1, 1, 1, 1, 2, 3] absent; z = Relu(x).
  auto build = [](bool read_w) {
    onnx::ModelProto m = model();
    auto* g = m.mutable_graph();
    g->set_name("g");
    add_io(g->add_input(), "x", onnx::TensorProto::FLOAT, {2, 3});
    add_io(g->add_output(), "z", onnx::TensorProto::FLOAT, {2, 3});
    add_node(g, "Relu", {"x"}, {"z"});
    auto* w = g->add_initializer();
    w->set_name("w");
    w->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t dim : {1, 1, 1, 1, 1, 1, 2, 3}) w->add_dims(dim);
    w->set_data_location(onnx::TensorProto::EXTERNAL);
    auto* e = w->add_external_data();
    e->set_key("location");
    e->set_value("never_written.bin");
    if (read_w) {
      add_io(g->add_output(), "y", onnx::TensorProto::FLOAT, {});
      set_int(add_node(g, "ReduceSum", {"w"}, {"y"}, "sum_w"), "keepdims", 0);
    }
    return m;
  };
  runtime::RuntimeOptions timing;
  timing.device.functional = false;
  auto rt = runtime::Runtime::open("tiny", timing).value();
  RunOptions o;
  o.model_path = (d / "model.onnx").string();
  write(d / "model.onnx", build(false).SerializeAsString());
  auto unused = run_onnx(*rt, o);
  EXPECT_TRUE(unused.ok()) << unused.status().to_string();

  write(d / "model.onnx", build(true).SerializeAsString());
  auto read = run_onnx(*rt, o);
  ASSERT_FALSE(read.ok());
  const std::string msg = read.status().message();
  EXPECT_NE(msg.find("sum_w (ReduceSum): unsupported: input 'w' has rank 8"), std::string::npos) << msg;
}

TEST(ExternalData, TimingOnlyChecksButDoesNotReadLargeWeights) {
  const fs::path d = fresh_dir("large");
  const int64_t rows = 8192;  // 96 KiB, above kTimingOnlyReadLimit
  const std::vector<float> w(static_cast<std::size_t>(rows * 3), 0.5f);
  write(d / "w.bin", float_bytes(w));
  write(d / "model.onnx", add_external_model("w.bin", 0, rows * 12, rows).SerializeAsString());
  LoadOptions lo;
  lo.timing_only = true;
  auto timed = OnnxModel::load((d / "model.onnx").string(), lo);
  ASSERT_TRUE(timed.ok()) << timed.status().to_string();
  // Not read: on a functional runtime it has no values.
  auto rt = runtime::Runtime::open("tiny").value();
  auto x = rt->zeros({rows, 3}, DType::kF32).value();
  auto run = (*timed)->run(*rt, {x});
  ASSERT_FALSE(run.ok());
  EXPECT_NE(run.status().message().find("has no values"), std::string::npos) << run.status().to_string();
  // Checked all the same: a file too short fails timing-only loads too.
  write(d / "w.bin", float_bytes({1, 2, 3}));
  auto short_file = OnnxModel::load((d / "model.onnx").string(), lo);
  ASSERT_FALSE(short_file.ok());
  EXPECT_NE(short_file.status().message().find("w.bin"), std::string::npos) << short_file.status().to_string();
}

TEST(ExternalData, KilnRunTimingOnlyPrintsALatency) {
  const fs::path d = fresh_dir("cli");
  write(d / "model.onnx", add_external_model("absent.bin", 0, 24).SerializeAsString());
  const std::string model = (d / "model.onnx").string();
  const std::string timed = std::string(KILN_CLI) + " run " + model + " --config tiny --timing-only > " + (d / "out.txt").string();
  EXPECT_EQ(std::system(timed.c_str()), 0) << timed;
  std::ifstream out(d / "out.txt");
  const std::string text((std::istreambuf_iterator<char>(out)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("simulated"), std::string::npos) << text;
  const std::string functional = std::string(KILN_CLI) + " run " + model + " --config tiny > /dev/null 2>&1";
  EXPECT_NE(std::system(functional.c_str()), 0) << functional;
}

}  // namespace
}  // namespace kiln::frontend
