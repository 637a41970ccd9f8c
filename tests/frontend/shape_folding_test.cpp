// Load-time folding of shape computations (frontend/src/fold.h) on small
// hand-made models: a shape computed from Shape/Gather/Concat feeds a
// Reshape; a folding error names the node; large or data-carrying values
// are not folded but computed on the device.
// ONNX headers live in /usr/include, a system directory: their warnings stay out of -Werror.
#include <onnx/onnx_pb.h>

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "kiln/frontend/onnx_model.h"
#include "kiln/runtime/ops.h"
#include "onnx_builder.h"

namespace kiln::frontend {
namespace {

namespace fs = std::filesystem;
using namespace testing;

TEST(ShapeFolding, ComputedShapeFeedsReshape) {
  // y = Reshape(x, Concat(Gather(Shape(x), [0]), [-1])): [2, 3, 4] -> [2, 12].
  onnx::ModelProto m = model();
  auto* g = m.mutable_graph();
  add_io(g->add_input(), "x", onnx::TensorProto::FLOAT, {2, 3, 4});
  add_io(g->add_output(), "y", onnx::TensorProto::FLOAT, {2, 12});
  add_ints(g, "first", {1}, {0});
  add_ints(g, "rest", {1}, {-1});
  add_node(g, "Shape", {"x"}, "s");
  add_node(g, "Gather", {"s", "first"}, "n");
  add_node(g, "Concat", {"n", "rest"}, "shape")->add_attribute()->CopyFrom([] {
    onnx::AttributeProto a;
    a.set_name("axis");
    a.set_type(onnx::AttributeProto::INT);
    a.set_i(0);
    return a;
  }());
  add_node(g, "Reshape", {"x", "shape"}, "y");
  auto loaded = OnnxModel::load(save("shape_folding", m, "reshape.onnx"));
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  auto rt = runtime::Runtime::open("tiny").value();
  std::vector<float> xs(24);
  for (std::size_t i = 0; i < xs.size(); ++i) xs[i] = static_cast<float>(i) * 0.5f;
  auto x = rt->from_host(xs, {2, 3, 4}).value();
  auto outs = (*loaded)->run(*rt, {x});
  ASSERT_TRUE(outs.ok()) << outs.status().to_string();
  EXPECT_EQ((*outs)[0].shape(), (runtime::Shape{2, 12}));
  EXPECT_EQ((*outs)[0].to_host<float>().value(), xs);
}

// ONNX's shape inference runs before folding: a Reshape whose shape is
// computed has no inferred output shape, and a Conv after it no rank (as in
// torchvision's ShuffleNet, whose channel shuffle reshapes by x.size()).
// The loader infers again with the folded values, so the Conv lowers.
TEST(ShapeFolding, ShapesAfterAComputedReshapeAreInferred) {
  onnx::ModelProto m = model();
  auto* g = m.mutable_graph();
  add_io(g->add_input(), "x", onnx::TensorProto::FLOAT, {1, 4, 3, 3});
  auto* out = g->add_output();  // dims unknown: inference must find them
  out->set_name("z");
  out->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  for (int i = 0; i < 4; ++i) out->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim();
  add_ints(g, "first", {1}, {0});
  add_ints(g, "rest", {3}, {4, 3, 3});
  add_node(g, "Shape", {"x"}, "s");
  add_node(g, "Gather", {"s", "first"}, "n");
  auto* concat = add_node(g, "Concat", {"n", "rest"}, "shape")->add_attribute();
  concat->set_name("axis");
  concat->set_type(onnx::AttributeProto::INT);
  concat->set_i(0);
  add_node(g, "Reshape", {"x", "shape"}, "y");
  auto* w = g->add_initializer();
  w->set_name("w");
  w->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : {2, 4, 1, 1}) w->add_dims(d);
  for (int o = 0; o < 2; ++o)
    for (int c = 0; c < 4; ++c) w->add_float_data(static_cast<float>(o + 1) * 0.25f * static_cast<float>(c));
  add_node(g, "Conv", {"y", "w"}, "z");
  auto loaded = OnnxModel::load(save("shape_folding", m, "reshape_conv.onnx"));
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  auto rt = runtime::Runtime::open("tiny").value();
  std::vector<float> xs(36);
  for (std::size_t i = 0; i < xs.size(); ++i) xs[i] = static_cast<float>(i % 7) - 3.0f;
  auto outs = (*loaded)->run(*rt, {rt->from_host(xs, {1, 4, 3, 3}).value()});
  ASSERT_TRUE(outs.ok()) << outs.status().to_string();
  ASSERT_EQ((*outs)[0].shape(), (runtime::Shape{1, 2, 3, 3}));
  const auto z = (*outs)[0].to_host<float>().value();
  for (int o = 0; o < 2; ++o)
    for (int p = 0; p < 9; ++p) {
      float want = 0;
      for (int c = 0; c < 4; ++c) want += static_cast<float>(o + 1) * 0.25f * static_cast<float>(c) * xs[static_cast<std::size_t>(c * 9 + p)];
      EXPECT_NEAR(z[static_cast<std::size_t>(o * 9 + p)], want, 1e-4) << o << "," << p;
    }
}

TEST(ShapeFolding, AFoldingErrorNamesTheNode) {
  // A division of the shape by zero (shape inference does not look at values).
  onnx::ModelProto m = model();
  auto* g = m.mutable_graph();
  add_io(g->add_input(), "x", onnx::TensorProto::FLOAT, {2, 3, 4});
  add_io(g->add_output(), "n", onnx::TensorProto::INT64, {3});
  add_ints(g, "zero", {1}, {0});
  add_node(g, "Shape", {"x"}, "s");
  add_node(g, "Div", {"s", "zero"}, "n");
  auto loaded = OnnxModel::load(save("shape_folding", m, "bad_gather.onnx"));
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.status().message().find("n_node (Div)"), std::string::npos) << loaded.status().to_string();
  EXPECT_NE(loaded.status().message().find("division by zero"), std::string::npos) << loaded.status().to_string();
}

TEST(ShapeFolding, LargeValuesAreMadeOnTheDevice) {
  // ConstantOfShape of [64, 64] int32 (4096 elements, above the fold bound)
  // and Range over graph inputs are device work; their values still match.
  onnx::ModelProto m = model();
  auto* g = m.mutable_graph();
  add_io(g->add_input(), "start", onnx::TensorProto::INT64, {});
  add_io(g->add_input(), "limit", onnx::TensorProto::INT64, {});
  add_io(g->add_input(), "delta", onnx::TensorProto::INT64, {});
  add_io(g->add_output(), "c", onnx::TensorProto::INT32, {64, 64});
  add_io(g->add_output(), "r", onnx::TensorProto::INT64, {4});
  add_ints(g, "shape", {2}, {64, 64});
  auto* cos = add_node(g, "ConstantOfShape", {"shape"}, "c");
  auto* value = cos->add_attribute();
  value->set_name("value");
  value->set_type(onnx::AttributeProto::TENSOR);
  value->mutable_t()->set_data_type(onnx::TensorProto::INT32);
  value->mutable_t()->add_dims(1);
  value->mutable_t()->add_int32_data(7);
  add_node(g, "Range", {"start", "limit", "delta"}, "r");
  auto loaded = OnnxModel::load(save("shape_folding", m, "device.onnx"));
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  for (const auto& in : (*loaded)->inputs()) EXPECT_TRUE(in.read_as_parameter) << in.name;
  auto rt = runtime::Runtime::open("tiny").value();
  std::vector<HostTensor> hosts;
  std::vector<runtime::Tensor> ins;
  for (int64_t v : {10, 2, -2}) {
    HostTensor h;
    h.dtype = DType::kI64;
    h.data.resize(8);
    std::memcpy(h.data.data(), &v, 8);
    auto t = rt->from_host(h.data.data(), 8, {}, DType::kI64);
    ASSERT_TRUE(t.ok()) << t.status().to_string();
    ins.push_back(*t);
    hosts.push_back(h);
  }
  auto outs = (*loaded)->run(*rt, ins, hosts);
  ASSERT_TRUE(outs.ok()) << outs.status().to_string();
  auto c = (*outs)[0].to_host<int32_t>();
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(*c, std::vector<int32_t>(4096, 7));
  auto r = runtime::cast((*outs)[1], DType::kI32);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  auto rv = r->to_host<int32_t>();
  ASSERT_TRUE(rv.ok()) << rv.status().to_string();
  EXPECT_EQ(*rv, (std::vector<int32_t>{10, 8, 6, 4}));
}

}  // namespace
}  // namespace kiln::frontend
