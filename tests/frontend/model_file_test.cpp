// Reading model files: large weights are left in the mapped file instead of
// copied out of it, and everything else parses exactly as protobuf's own
// parse of the whole file would have it.
#include "model_file.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <onnx/onnx_pb.h>

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <numeric>

#include "kiln/frontend/onnx_model.h"
#include "kiln/frontend/onnx_runner.h"
#include "onnx_builder.h"

namespace kiln::frontend {
namespace {

namespace fs = std::filesystem;
using namespace testing;
using TP = onnx::TensorProto;

constexpr int64_t kRows = 64, kCols = 300;  // 76,800 bytes of f32: above kInFileWeightMinBytes

std::vector<float> ramp(int64_t n, float scale) {
  std::vector<float> v(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = scale * static_cast<float>(i % 1000) - 3.0f;
  return v;
}

std::string bytes_of(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

TP f32_tensor(const std::string& name, std::vector<int64_t> dims, const std::string& raw) {
  TP t;
  t.set_name(name);
  t.set_data_type(TP::FLOAT);
  for (int64_t d : dims) t.add_dims(d);
  t.set_raw_data(raw);
  return t;
}

// y = x + w, then z = y * s: w large (left in the file), s small (parsed).
onnx::ModelProto add_mul_model(const std::string& w_raw, std::vector<int64_t> w_dims = {kRows, kCols}) {
  onnx::ModelProto m = model();
  auto* g = m.mutable_graph();
  add_io(g->add_input(), "x", TP::FLOAT, {kRows, kCols});
  add_io(g->add_output(), "z", TP::FLOAT, {kRows, kCols});
  add_node(g, "Add", {"x", "w"}, "y");
  *g->add_initializer() = f32_tensor("w", std::move(w_dims), w_raw);
  add_node(g, "Mul", {"y", "s"}, "z");  // a node after the initializer: merged in order
  *g->add_initializer() = f32_tensor("s", {kCols}, bytes_of(ramp(kCols, 0.01f)));
  g->mutable_initializer(0)->set_doc_string("fields after raw_data are parsed too");
  return m;
}

// A length-delimited field as protobuf writes it.
std::string field(int number, const std::string& value) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.WriteTag(static_cast<uint32_t>(number << 3 | 2));
    coded.WriteVarint32(static_cast<uint32_t>(value.size()));
    coded.WriteString(value);
  }
  return out;
}

// `model` with the weights parse_leaving_weights left in `bytes` put back as
// raw_data: what protobuf's own parse gives, if the walk is right.
onnx::ModelProto inlined(onnx::ModelProto model, const std::string& bytes, const std::string& file_name) {
  for (auto& t : *model.mutable_graph()->mutable_initializer()) {
    if (t.data_location() != TP::EXTERNAL || t.has_raw_data()) continue;
    std::string location;
    uint64_t offset = 0, length = 0;
    for (const auto& e : t.external_data()) {
      if (e.key() == "location") location = e.value();
      if (e.key() == "offset") offset = std::stoull(e.value());
      if (e.key() == "length") length = std::stoull(e.value());
    }
    EXPECT_EQ(location, file_name);
    t.clear_external_data();
    t.clear_data_location();
    t.set_raw_data(bytes.substr(offset, length));
  }
  return model;
}

// Parses `bytes` both ways; returns the walk's result (names checked against
// protobuf's after inlining).
onnx::ModelProto expect_same_as_protobuf(const std::string& bytes) {
  onnx::ModelProto walked, parsed;
  EXPECT_TRUE(parsed.ParseFromString(bytes));
  EXPECT_TRUE(detail::parse_leaving_weights(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size(), "m.onnx", walked));
  EXPECT_EQ(inlined(walked, bytes, "m.onnx").SerializeAsString(), parsed.SerializeAsString());
  return walked;
}

TEST(ModelFile, LargeWeightsStayInTheFileAndTheRestParsesAsProtobufDoes) {
  const std::string w = bytes_of(ramp(kRows * kCols, 0.5f));
  const std::string bytes = add_mul_model(w).SerializeAsString();
  const onnx::ModelProto walked = expect_same_as_protobuf(bytes);
  const TP& wt = walked.graph().initializer(0);
  EXPECT_EQ(wt.data_location(), TP::EXTERNAL);
  EXPECT_FALSE(wt.has_raw_data());
  EXPECT_EQ(wt.doc_string(), "fields after raw_data are parsed too");
  const TP& st = walked.graph().initializer(1);
  EXPECT_NE(st.data_location(), TP::EXTERNAL) << "a small initializer is parsed (shape inference reads those)";
  EXPECT_EQ(st.raw_data().size(), kCols * sizeof(float));
  EXPECT_EQ(walked.graph().node_size(), 2);
}

TEST(ModelFile, TheLastRawDataOfAnInitializerCounts) {
  const std::string large = bytes_of(ramp(kRows * kCols, 0.5f)), large2 = bytes_of(ramp(kRows * kCols, 0.25f));
  const std::string small = bytes_of(ramp(4, 1.0f));
  TP head;
  head.set_name("w");
  head.set_data_type(TP::FLOAT);
  auto model_with = [&](const std::vector<std::string>& raws, const TP& front) {
    std::string tensor = front.SerializeAsString();
    for (const auto& r : raws) tensor += field(9, r);  // TensorProto.raw_data, repeated: protobuf keeps the last
    onnx::ModelProto m = model();
    return m.SerializeAsString() + field(7, field(5, tensor));  // ModelProto.graph { initializer }
  };
  // Large then small: the small one.
  onnx::ModelProto a = expect_same_as_protobuf(model_with({large, small}, head));
  EXPECT_EQ(a.graph().initializer(0).raw_data(), small);
  EXPECT_NE(a.graph().initializer(0).data_location(), TP::EXTERNAL);
  // Small then large, and large then large: the last large one, in the file.
  onnx::ModelProto b = expect_same_as_protobuf(model_with({small, large}, head));
  EXPECT_EQ(b.graph().initializer(0).data_location(), TP::EXTERNAL);
  const std::string two = model_with({large, large2}, head);
  onnx::ModelProto c = expect_same_as_protobuf(two);
  EXPECT_EQ(inlined(c, two, "m.onnx").graph().initializer(0).raw_data(), large2);
  // Raw and external data at once: parsed as protobuf has it (the checks
  // downstream refuse it), not made external data of the model file.
  TP external = head;
  external.set_data_location(TP::EXTERNAL);
  auto* e = external.add_external_data();
  e->set_key("location");
  e->set_value("w.bin");
  onnx::ModelProto d = expect_same_as_protobuf(model_with({large}, external));
  EXPECT_EQ(d.graph().initializer(0).raw_data(), large);
}

TEST(ModelFile, AGraphFieldTwiceMergesAsProtobufMerges) {
  const std::string w = bytes_of(ramp(kRows * kCols, 0.5f));
  onnx::ModelProto second;
  *second.mutable_graph()->add_initializer() = f32_tensor("w2", {kRows, kCols}, w);
  add_node(second.mutable_graph(), "Relu", {"z"}, "r");
  const std::string bytes = add_mul_model(w).SerializeAsString() + second.SerializeAsString();
  const onnx::ModelProto walked = expect_same_as_protobuf(bytes);
  EXPECT_EQ(walked.graph().initializer_size(), 3);
  EXPECT_EQ(walked.graph().node_size(), 3);
}

TEST(ModelFile, BytesTheWalkDoesNotTakeAreLeftToProtobuf) {
  const std::string bytes = add_mul_model(bytes_of(ramp(kRows * kCols, 0.5f))).SerializeAsString();
  auto walk = [](const std::string& b) {
    onnx::ModelProto m;
    return detail::parse_leaving_weights(reinterpret_cast<const std::byte*>(b.data()), b.size(), "m.onnx", m);
  };
  EXPECT_FALSE(walk(bytes.substr(0, bytes.size() / 2))) << "cut inside the large raw_data";
  EXPECT_FALSE(walk(bytes.substr(0, bytes.size() - 3)));
  EXPECT_FALSE(walk(bytes + std::string("\x0c", 1))) << "an end-group tag at the top";
  EXPECT_FALSE(walk(bytes + std::string("\0\0", 2))) << "a zero tag";
  // A graph claiming more bytes than the file has.
  onnx::ModelProto m = model();
  EXPECT_FALSE(walk(m.SerializeAsString() + std::string("\x3a\xff\xff\xff\x0f", 5)));
  // The whole file, read: the plain parse's error.
  const fs::path d = scratch_dir() / "model_file";
  fs::create_directories(d);
  write(d / "cut.onnx", bytes.substr(0, bytes.size() / 2));
  auto cut = detail::read_model_file((d / "cut.onnx").string());
  ASSERT_FALSE(cut.ok());
  EXPECT_NE(cut.status().message().find("does not parse"), std::string::npos) << cut.status().to_string();
}

std::string save_model(const std::string& name, const onnx::ModelProto& m) { return save("model_file", m, name); }

TEST(ModelFile, WeightsReadInPlaceComputeTheModelsValues) {
  const std::vector<float> w = ramp(kRows * kCols, 0.5f), s = ramp(kCols, 0.01f);
  const std::string path = save_model("in_place.onnx", add_mul_model(bytes_of(w)));
  auto model = OnnxModel::load(path);
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  EXPECT_EQ((*model)->mapped_weight_bytes(), w.size() * sizeof(float)) << "w is read from the file, s parsed";
  auto rt = runtime::Runtime::open("tiny").value();
  const std::vector<float> x = ramp(kRows * kCols, -0.125f);
  auto xt = rt->from_host(x, {kRows, kCols}).value();
  auto out = (*model)->run(*rt, {xt});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  const std::vector<float> z = out->at(0).to_host<float>().value();
  for (std::size_t i = 0; i < z.size(); ++i) {
    ASSERT_EQ(z[i], (x[i] + w[i]) * s[i % kCols]) << "element " << i;  // one rounding each, as the host's
  }
  // What `kiln run` reports of it.
  RunOptions o;
  o.model_path = path;
  auto report = run_onnx(*rt, o);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_EQ(report->mapped_weight_bytes, w.size() * sizeof(float));
  EXPECT_NE(report->summary().find(", 0.1 MB of weights read in place"), std::string::npos) << report->summary();
}

TEST(ModelFile, AWeightWhoseBytesContradictItsShapeIsNamed) {
  const std::string path = save_model("contradict.onnx", add_mul_model(bytes_of(ramp(kRows * kCols, 0.5f)), {kRows + 1, kCols}));
  auto model = OnnxModel::load(path);
  ASSERT_FALSE(model.ok());
  const std::string message = model.status().to_string();
  EXPECT_NE(message.find("initializer 'w'"), std::string::npos) << message;
  EXPECT_NE(message.find("raw_data holds 76800 bytes, its shape needs 78000"), std::string::npos) << message;
}

TEST(ModelFile, TimingOnlyLeavesLargeWeightsUnread) {
  const std::string path = save_model("timing.onnx", add_mul_model(bytes_of(ramp(kRows * kCols, 0.5f))));
  auto model = OnnxModel::load(path, {.timing_only = true});
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  EXPECT_EQ((*model)->mapped_weight_bytes(), 0u);
  runtime::RuntimeOptions ro;
  ro.device.functional = false;
  auto rt = runtime::Runtime::open("tiny", ro).value();
  auto xt = rt->empty({kRows, kCols}, DType::kF32).value();
  auto out = (*model)->run(*rt, {xt});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_TRUE(rt->synchronize().ok());
}

}  // namespace
}  // namespace kiln::frontend
