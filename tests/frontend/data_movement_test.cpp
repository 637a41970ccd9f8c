// The data-movement lowerings on hand-made models, against host
// references: GatherElements with negative indices, Slice with a negative
// step; and bad parameters failing with an error that names the node.
// ONNX headers live in /usr/include, a system directory: their warnings stay out of -Werror.
#include <onnx/onnx_pb.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "kiln/frontend/onnx_model.h"
#include "onnx_builder.h"

namespace kiln::frontend {
namespace {

namespace fs = std::filesystem;
using namespace testing;

std::vector<float> iota(std::size_t n) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<float>(i) + 0.25f;
  return v;
}

Result<std::vector<float>> run_one(const std::string& path, const std::vector<float>& x, runtime::Shape shape) {
  KILN_ASSIGN_OR_RETURN(auto m, OnnxModel::load(path));
  auto rt = runtime::Runtime::open("tiny").value();
  KILN_ASSIGN_OR_RETURN(runtime::Tensor t, rt->from_host(x, shape));
  KILN_ASSIGN_OR_RETURN(auto outs, m->run(*rt, {t}));
  return outs[0].to_host<float>();
}

TEST(DataMovement, GatherElementsWrapsNegativeIndices) {
  // x [3, 4], axis 1, indices [3, 2] with negatives: y[i][j] = x[i][idx[i][j] mod 4].
  onnx::ModelProto m = model();
  auto* g = m.mutable_graph();
  add_io(g->add_input(), "x", onnx::TensorProto::FLOAT, {3, 4});
  add_io(g->add_output(), "y", onnx::TensorProto::FLOAT, {3, 2});
  const std::vector<int64_t> idx = {0, -1, 2, 1, -4, 3};
  add_ints(g, "idx", {3, 2}, idx);
  set_int(add_node(g, "GatherElements", {"x", "idx"}, "y"), "axis", 1);
  const auto x = iota(12);
  auto y = run_one(save("data_movement", m, "gather_elements.onnx"), x, {3, 4});
  ASSERT_TRUE(y.ok()) << y.status().to_string();
  std::vector<float> want;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 2; ++j) want.push_back(x[static_cast<std::size_t>(i * 4 + (idx[static_cast<std::size_t>(i * 2 + j)] + 4) % 4)]);
  EXPECT_EQ(*y, want);
}

TEST(DataMovement, AnOutOfRangeGatherElementsIndexFaults) {
  // Index 4 of a dim of 4 would read the next row of the flattened data:
  // it faults instead, naming the op.
  onnx::ModelProto m = model();
  auto* g = m.mutable_graph();
  add_io(g->add_input(), "x", onnx::TensorProto::FLOAT, {3, 4});
  add_io(g->add_output(), "y", onnx::TensorProto::FLOAT, {3, 1});
  add_ints(g, "idx", {3, 1}, {0, 4, 1});
  set_int(add_node(g, "GatherElements", {"x", "idx"}, "y"), "axis", 1);
  auto y = run_one(save("data_movement", m, "gather_elements_oob.onnx"), iota(12), {3, 4});
  ASSERT_FALSE(y.ok());
  EXPECT_NE(y.status().message().find("y_node"), std::string::npos) << y.status().to_string();
  EXPECT_NE(y.status().message().find("outside"), std::string::npos) << y.status().to_string();
}

// ScatterElements / ScatterND of x [3, 4] with the given indices and
// updates of ones.
onnx::ModelProto scatter_model(const std::string& op, std::vector<int64_t> idx_dims, std::vector<int64_t> idx,
                               std::vector<int64_t> update_dims) {
  onnx::ModelProto m = model();
  auto* g = m.mutable_graph();
  add_io(g->add_input(), "x", onnx::TensorProto::FLOAT, {3, 4});
  add_io(g->add_output(), "y", onnx::TensorProto::FLOAT, {3, 4});
  add_ints(g, "idx", std::move(idx_dims), std::move(idx));
  auto* u = g->add_initializer();
  u->set_name("u");
  u->set_data_type(onnx::TensorProto::FLOAT);
  int64_t n = 1;
  for (int64_t d : update_dims) u->add_dims(d), n *= d;
  for (int64_t i = 0; i < n; ++i) u->add_float_data(-1.0f);
  auto* node = add_node(g, op, {"x", "idx", "u"}, "y");
  if (op == "ScatterElements") set_int(node, "axis", 1);
  return m;
}

TEST(DataMovement, ScatterElementsWritesItsRowsAndWrapsNegativeIndices) {
  auto y = run_one(save("data_movement", scatter_model("ScatterElements", {3, 1}, {0, -1, 2}, {3, 1}), "scatter.onnx"), iota(12), {3, 4});
  ASSERT_TRUE(y.ok()) << y.status().to_string();
  std::vector<float> want = iota(12);
  want[0] = want[4 + 3] = want[8 + 2] = -1.0f;
  EXPECT_EQ(*y, want);
}

TEST(DataMovement, AnOutOfRangeScatterIndexFaultsInsteadOfBeingDropped) {
  // ONNX makes an index outside [-s, s) an error. The one-hot product that
  // places the updates has no row for it: it used to vanish silently.
  for (const std::vector<int64_t>& idx : {std::vector<int64_t>{0, 4, 1}, std::vector<int64_t>{0, -5, 1}}) {
    SCOPED_TRACE(idx[1]);
    auto y = run_one(save("data_movement", scatter_model("ScatterElements", {3, 1}, idx, {3, 1}), "scatter_oob.onnx"), iota(12), {3, 4});
    ASSERT_FALSE(y.ok());
    EXPECT_NE(y.status().message().find("y_node"), std::string::npos) << y.status().to_string();
    EXPECT_NE(y.status().message().find("outside"), std::string::npos) << y.status().to_string();
  }
  // ScatterND: row 3 of 3.
  auto y = run_one(save("data_movement", scatter_model("ScatterND", {2, 1}, {1, 3}, {2, 4}), "scatter_nd_oob.onnx"), iota(12), {3, 4});
  ASSERT_FALSE(y.ok());
  EXPECT_NE(y.status().message().find("y_node"), std::string::npos) << y.status().to_string();
  EXPECT_NE(y.status().message().find("outside"), std::string::npos) << y.status().to_string();
  // In range, ScatterND replaces whole rows.
  auto ok = run_one(save("data_movement", scatter_model("ScatterND", {2, 1}, {2, -3}, {2, 4}), "scatter_nd.onnx"), iota(12), {3, 4});
  ASSERT_TRUE(ok.ok()) << ok.status().to_string();
  std::vector<float> want = iota(12);
  for (int j = 0; j < 4; ++j) want[static_cast<std::size_t>(j)] = want[static_cast<std::size_t>(8 + j)] = -1.0f;
  EXPECT_EQ(*ok, want);
}

TEST(DataMovement, SliceWithANegativeStep) {
  // x [2, 5], axis 1 from -1 down to (not reaching) 0, step -2: columns 4, 2.
  onnx::ModelProto m = model();
  auto* g = m.mutable_graph();
  add_io(g->add_input(), "x", onnx::TensorProto::FLOAT, {2, 5});
  add_io(g->add_output(), "y", onnx::TensorProto::FLOAT, {2, 2});
  add_ints(g, "starts", {1}, {-1});
  add_ints(g, "ends", {1}, {0});
  add_ints(g, "axes", {1}, {1});
  add_ints(g, "steps", {1}, {-2});
  add_node(g, "Slice", {"x", "starts", "ends", "axes", "steps"}, "y");
  const auto x = iota(10);
  auto y = run_one(save("data_movement", m, "slice.onnx"), x, {2, 5});
  ASSERT_TRUE(y.ok()) << y.status().to_string();
  EXPECT_EQ(*y, (std::vector<float>{x[4], x[2], x[9], x[7]}));
}

TEST(DataMovement, BadParametersNameTheNode) {
  // A Slice step of 0 (ONNX's shape inference sees it) and reflect pads as
  // large as the dim (seen when lowering): errors naming the node.
  onnx::ModelProto m = model();
  auto* g = m.mutable_graph();
  add_io(g->add_input(), "x", onnx::TensorProto::FLOAT, {2, 5});
  add_io(g->add_output(), "y", onnx::TensorProto::FLOAT, {2, 4});
  add_ints(g, "starts", {1}, {0});
  add_ints(g, "ends", {1}, {4});
  add_ints(g, "axes", {1}, {1});
  add_ints(g, "steps", {1}, {0});
  add_node(g, "Slice", {"x", "starts", "ends", "axes", "steps"}, "y");
  auto y = run_one(save("data_movement", m, "bad_slice.onnx"), iota(10), {2, 5});
  ASSERT_FALSE(y.ok());
  EXPECT_NE(y.status().message().find("y_node"), std::string::npos) << y.status().to_string();
  EXPECT_NE(y.status().message().find("step"), std::string::npos) << y.status().to_string();

  onnx::ModelProto p = model();
  g = p.mutable_graph();
  add_io(g->add_input(), "x", onnx::TensorProto::FLOAT, {2, 5});
  add_io(g->add_output(), "y", onnx::TensorProto::FLOAT, {2, 15});
  add_ints(g, "pads", {4}, {0, 5, 0, 5});
  auto* pad = add_node(g, "Pad", {"x", "pads"}, "y");
  auto* mode = pad->add_attribute();
  mode->set_name("mode");
  mode->set_type(onnx::AttributeProto::STRING);
  mode->set_s("reflect");
  y = run_one(save("data_movement", p, "bad_pad.onnx"), iota(10), {2, 5});
  ASSERT_FALSE(y.ok());
  EXPECT_NE(y.status().message().find("y_node (Pad)"), std::string::npos) << y.status().to_string();
  EXPECT_NE(y.status().message().find("reflect pads"), std::string::npos) << y.status().to_string();
}

}  // namespace
}  // namespace kiln::frontend
