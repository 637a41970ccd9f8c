// Model and tensor files crafted to break the readers: what the fuzz targets
// (fuzz/onnx_model_fuzz.cpp, fuzz/onnx_tensor_fuzz.cpp) found, each kept as
// a test of the fix.
// ONNX headers live in /usr/include, a system directory: their warnings stay out of -Werror.
#include <onnx/onnx_pb.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "kiln/frontend/host_tensor.h"
#include "kiln/frontend/onnx_model.h"
#include "scratch_dir.h"

namespace kiln::frontend {
namespace {

namespace fs = std::filesystem;

fs::path write_temp(const std::string& name, const std::string& bytes) {
  const fs::path d = testing::scratch_dir() / "hostile_files";
  fs::create_directories(d);
  std::ofstream(d / name, std::ios::binary) << bytes;
  return d / name;
}

// A few bytes claiming 2^40 floats: the count of values is checked before
// anything is allocated for them (it was 4 TiB first, then the check).
TEST(HostileFiles, ATensorClaimingHugeDimsWithoutTheValuesFailsWithoutAllocating) {
  for (const bool raw : {false, true}) {
    onnx::TensorProto t;
    t.set_data_type(onnx::TensorProto::FLOAT);
    t.add_dims(int64_t{1} << 20);
    t.add_dims(int64_t{1} << 20);
    if (raw) t.set_raw_data(std::string(8, '\0'));
    const fs::path p = write_temp("huge.pb", t.SerializeAsString());
    auto r = read_tensor_file(p.string());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(raw ? "raw_data holds 8 bytes" : "float_data holds 0 values"), std::string::npos)
        << r.status().to_string();
  }
}

void add_f32(onnx::ValueInfoProto* v, const std::string& name, int64_t size) {
  v->set_name(name);
  auto* tt = v->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  tt->mutable_shape()->add_dim()->set_dim_value(size);
}

// x [4] -> Relu -> r, with a graph output of its own.
onnx::ModelProto relu_model(const std::string& output) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(17);
  auto* g = m.mutable_graph();
  g->set_name("g");
  add_f32(g->add_input(), "x", 4);
  add_f32(g->add_output(), output, 4);
  // Names as std::string: protobuf's const char* overloads, inlined, give
  // GCC 12 a false -Wrestrict at -O3.
  const std::string op = "Relu", in = "x", out = "r";
  auto* n = g->add_node();
  n->set_op_type(op);
  n->add_input(in);
  n->add_output(out);
  return m;
}

// relu_model with x of the given dims and an output of symbolic dims of x's rank.
onnx::ModelProto relu_model_of(const std::vector<int64_t>& x_dims, const std::string& output) {
  onnx::ModelProto m = relu_model(output);
  auto* g = m.mutable_graph();
  auto* in = g->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape();
  in->clear_dim();
  for (int64_t d : x_dims) in->add_dim()->set_dim_value(d);
  auto* out = g->mutable_output(0)->mutable_type()->mutable_tensor_type()->mutable_shape();
  out->clear_dim();
  for (std::size_t i = 0; i < x_dims.size(); ++i) out->add_dim()->set_dim_param("d" + std::to_string(i));
  return m;
}

// ONNX's checker lets a graph output that nothing produces through; the
// lowering then had no value for it and failed as an internal error.
TEST(HostileFiles, AGraphOutputNothingProducesFailsAtLoad) {
  const fs::path p = write_temp("unproduced.onnx", relu_model("nowhere").SerializeAsString());
  auto r = OnnxModel::load(p.string());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument) << r.status().to_string();
  EXPECT_NE(r.status().message().find("output 'nowhere' is produced by no node"), std::string::npos)
      << r.status().to_string();
  // An output that is the input itself, or produced by the node, loads.
  for (const char* fine : {"x", "r"}) {
    const fs::path q = write_temp("fine.onnx", relu_model(fine).SerializeAsString());
    EXPECT_TRUE(OnnxModel::load(q.string()).ok()) << fine;
  }
}

// A graph output that is a graph input or an initializer passes its value
// through: its declared type and shape must be that value's. ONNX's checker
// and shape inference let a contradiction through (an input 'y' of bool
// [0, 4] declared as output 'y' of f32 [2, 4]), and the model then returned
// a bool tensor where load announced f32 (the onnx_model fuzz target).
TEST(HostileFiles, APassThroughOutputContradictingItsValueFailsAtLoad) {
  auto load_with = [](const std::string& name, auto&& edit) {
    onnx::ModelProto m = relu_model("x");
    edit(*m.mutable_graph());
    return OnnxModel::load(write_temp(name, m.SerializeAsString()).string());
  };
  auto type_of = [](onnx::ValueInfoProto* v) { return v->mutable_type()->mutable_tensor_type(); };
  auto bool_input = load_with("pass_dtype.onnx", [&](onnx::GraphProto& g) { type_of(g.mutable_input(0))->set_elem_type(onnx::TensorProto::BOOL); });
  ASSERT_FALSE(bool_input.ok());
  EXPECT_EQ(bool_input.status().code(), ErrorCode::kInvalidArgument) << bool_input.status().to_string();
  EXPECT_NE(bool_input.status().message().find("graph output 'x' declares FLOAT [4], but it is graph input 'x' of BOOL [4]"),
            std::string::npos)
      << bool_input.status().to_string();
  auto other_shape = load_with("pass_shape.onnx", [&](onnx::GraphProto& g) { type_of(g.mutable_output(0))->mutable_shape()->mutable_dim(0)->set_dim_value(2); });
  ASSERT_FALSE(other_shape.ok());
  EXPECT_NE(other_shape.status().message().find("graph output 'x' declares FLOAT [2], but it is graph input 'x' of FLOAT [4]"),
            std::string::npos)
      << other_shape.status().to_string();
  // An initializer passed through: its dtype and dims.
  auto initializer = load_with("pass_initializer.onnx", [&](onnx::GraphProto& g) {
    auto* t = g.add_initializer();
    t->set_name(std::string("c"));
    t->set_data_type(onnx::TensorProto::INT64);
    t->add_dims(4);
    for (int i = 0; i < 4; ++i) t->add_int64_data(i);
    auto* o = g.add_output();
    o->set_name(std::string("c"));
    type_of(o)->set_elem_type(onnx::TensorProto::FLOAT);
    type_of(o)->mutable_shape()->add_dim()->set_dim_value(4);
  });
  ASSERT_FALSE(initializer.ok());
  EXPECT_NE(initializer.status().message().find("graph output 'c' declares FLOAT [4], but it is initializer 'c' of INT64 [4]"),
            std::string::npos)
      << initializer.status().to_string();
  // Symbolic or unknown dims declared on the output constrain nothing.
  auto symbolic = load_with("pass_symbolic.onnx", [&](onnx::GraphProto& g) { type_of(g.mutable_output(0))->mutable_shape()->mutable_dim(0)->set_dim_param("n"); });
  EXPECT_TRUE(symbolic.ok()) << symbolic.status().to_string();
}

// libonnx's shape inference divides by a Conv's or a pool's strides (and a
// DepthToSpace's blocksize) without checking them: a zero was a SIGFPE
// inside libonnx. The load checks them before shape inference runs.
TEST(HostileFiles, AZeroStrideOrBlocksizeFailsBeforeOnnxShapeInference) {
  struct Case {
    const char* op;
    const char* attribute;
    std::vector<int64_t> values;
  };
  for (const Case& c : {Case{"MaxPool", "strides", {0, 1}}, Case{"Conv", "strides", {1, -2}},
                        Case{"DepthToSpace", "blocksize", {0}}}) {
    onnx::ModelProto m = relu_model_of({1, 4, 6, 6}, "r");
    auto* g = m.mutable_graph();
    auto* n = g->mutable_node(0);
    n->set_op_type(c.op);
    if (std::string(c.op) == "Conv") {
      auto* w = g->add_initializer();
      const std::string name = "w";
      w->set_name(name);
      w->set_data_type(onnx::TensorProto::FLOAT);
      for (int64_t d : {2, 4, 1, 1}) w->add_dims(d);
      w->set_raw_data(std::string(8 * sizeof(float), '\0'));
      n->add_input(name);
    }
    if (std::string(c.op) == "MaxPool") {
      auto* k = n->add_attribute();
      const std::string name = "kernel_shape";
      k->set_name(name);
      k->set_type(onnx::AttributeProto::INTS);
      k->add_ints(2);
      k->add_ints(2);
    }
    auto* a = n->add_attribute();
    a->set_name(c.attribute);
    a->set_type(c.values.size() == 1 ? onnx::AttributeProto::INT : onnx::AttributeProto::INTS);
    if (c.values.size() == 1) a->set_i(c.values[0]);
    else for (int64_t v : c.values) a->add_ints(v);
    const fs::path p = write_temp("zero_stride.onnx", m.SerializeAsString());
    auto r = OnnxModel::load(p.string());
    ASSERT_FALSE(r.ok()) << c.op;
    EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument) << r.status().to_string();
    EXPECT_NE(r.status().message().find(std::string(c.attribute) + " must be positive"), std::string::npos)
        << r.status().to_string();
  }
}

// ONNX's checker takes a negative dim_value, and the input's spec kept it:
// `kiln run` then sized its random values by a negative element count.
TEST(HostileFiles, AGraphInputWithANegativeDimFailsAtLoad) {
  onnx::ModelProto m = relu_model("r");
  m.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0)->set_dim_value(-3);
  const fs::path p = write_temp("negative_dim.onnx", m.SerializeAsString());
  for (const bool timing_only : {false, true}) {
    auto r = OnnxModel::load(p.string(), {.allow_unbound = timing_only, .timing_only = timing_only});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument) << r.status().to_string();
    EXPECT_NE(r.status().message().find("input 'x' has the dim -3"), std::string::npos) << r.status().to_string();
  }
}

// A Conv without kernel_shape whose W has more dims than X: libonnx's shape
// inference took the kernel from W and read X's dims and the pads past
// their ends (a SIGSEGV inside libonnx, found by the onnx_model fuzz target).
TEST(HostileFiles, AConvWeightOfAnotherRankThanItsInputFailsAtLoad) {
  for (const int extra_dims : {0, 3}) {
    onnx::ModelProto m = relu_model_of({1, 2, 5, 5}, "r");
    auto* g = m.mutable_graph();
    auto* n = g->mutable_node(0);
    n->set_op_type(std::string("Conv"));
    auto* w = g->add_initializer();
    const std::string name = "w";
    w->set_name(name);
    w->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : {3, 2, 3, 3}) w->add_dims(d);
    for (int i = 0; i < extra_dims; ++i) w->add_dims(1);
    w->set_raw_data(std::string(54 * sizeof(float), '\0'));
    n->add_input(name);
    const fs::path p = write_temp("conv_rank.onnx", m.SerializeAsString());
    auto r = OnnxModel::load(p.string());
    if (extra_dims == 0) {
      EXPECT_TRUE(r.ok()) << r.status().to_string();  // the same model with a W of X's rank loads
      continue;
    }
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument) << r.status().to_string();
    EXPECT_NE(r.status().message().find("kernel_shape"), std::string::npos) << r.status().to_string();
  }
}

// The same where W is not an initializer, so its rank is known only to the
// inference itself: a graph input declared with 187 dims, and a Reshape of
// an initializer to them (a Constant shape). Every convolution op that
// takes its kernel from W (Conv, ConvInteger, QLinearConv, ConvTranspose)
// fails at load naming the ranks, instead of libonnx reading past X's dims.
TEST(HostileFiles, AComputedConvWeightOfAnotherRankFailsAtLoad) {
  const int kRank = 187;
  for (const std::string op : {"Conv", "ConvTranspose", "ConvInteger", "QLinearConv"}) {
    for (const bool computed : {false, true}) {
      SCOPED_TRACE(op + (computed ? ", W computed" : ", W a graph input"));
      onnx::ModelProto m = relu_model_of({1, 2, 5, 5}, "r");
      auto* g = m.mutable_graph();
      const bool quantized = op != "Conv" && op != "ConvTranspose";
      const auto elem = quantized ? onnx::TensorProto::UINT8 : onnx::TensorProto::FLOAT;
      g->mutable_input(0)->mutable_type()->mutable_tensor_type()->set_elem_type(elem);
      auto* n = g->mutable_node(0);
      n->set_op_type(op);
      const std::string w = "w", shape = "w_shape", flat = "w_flat", x = "x";
      if (computed) {
        auto* t = g->add_initializer();
        t->set_name(flat);
        t->set_data_type(elem);
        t->add_dims(12);
        t->set_raw_data(std::string(12 * (quantized ? 1 : 4), '\0'));
        auto* s = g->add_initializer();
        s->set_name(shape);
        s->set_data_type(onnx::TensorProto::INT64);
        s->add_dims(kRank);
        for (int i = 0; i < kRank; ++i) s->add_int64_data(i < 4 ? std::vector<int64_t>{3, 2, 1, 2}[i] : 1);
        auto* reshape = g->add_node();
        reshape->set_op_type(std::string("Reshape"));
        reshape->add_input(flat);
        reshape->add_input(shape);
        reshape->add_output(w);
        g->mutable_node()->SwapElements(0, 1);
        n = g->mutable_node(1);
      } else {
        auto* in = g->add_input();
        in->set_name(w);
        auto* tt = in->mutable_type()->mutable_tensor_type();
        tt->set_elem_type(elem);
        for (int i = 0; i < kRank; ++i) tt->mutable_shape()->add_dim()->set_dim_value(i < 4 ? std::vector<int64_t>{3, 2, 1, 2}[i] : 1);
      }
      if (op == "QLinearConv") {
        // x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point
        n->clear_input();
        for (const std::string& name : {x, std::string("s"), std::string("z"), w, std::string("s"), std::string("z"),
                                        std::string("s"), std::string("z")})
          n->add_input(name);
        auto* s = g->add_initializer();
        s->set_name(std::string("s"));
        s->set_data_type(onnx::TensorProto::FLOAT);
        s->add_float_data(1);
        auto* z = g->add_initializer();
        z->set_name(std::string("z"));
        z->set_data_type(onnx::TensorProto::UINT8);
        z->add_int32_data(0);
      } else {
        n->add_input(w);
      }
      const fs::path p = write_temp("conv_rank_computed.onnx", m.SerializeAsString());
      auto r = OnnxModel::load(p.string());
      ASSERT_FALSE(r.ok());
      EXPECT_NE(r.status().message().find("W has 187 dims, X has 4"), std::string::npos) << r.status().to_string();
    }
  }
}

// A Reshape to a computed shape [2, INT64_MAX] (Shape, Gather, Concat with
// a Constant, as the onnx_model fuzz target wrote it): the lowering
// multiplied the sizes unchecked (int64 overflow, UBSan).
TEST(HostileFiles, AReshapeToMoreThan2To48ElementsIsRefusedNamingTheNode) {
  onnx::ModelProto m = relu_model_of({2, 3}, "y");
  auto* g = m.mutable_graph();
  g->clear_node();
  auto node = [&](const std::string& op, std::vector<std::string> ins, const std::string& output) {
    auto* n = g->add_node();
    n->set_op_type(op);
    for (const auto& i : ins) n->add_input(i);
    n->add_output(output);
    return n;
  };
  auto* huge = node("Constant", {}, "huge")->add_attribute();
  huge->set_name(std::string("value"));
  huge->set_type(onnx::AttributeProto::TENSOR);
  huge->mutable_t()->set_data_type(onnx::TensorProto::INT64);
  huge->mutable_t()->add_dims(1);
  huge->mutable_t()->add_int64_data(std::numeric_limits<int64_t>::max());
  auto* zero = node("Constant", {}, "zero")->add_attribute();
  zero->set_name(std::string("value"));
  zero->set_type(onnx::AttributeProto::TENSOR);
  zero->mutable_t()->set_data_type(onnx::TensorProto::INT64);
  zero->mutable_t()->add_int64_data(0);
  node("Shape", {"x"}, "s");
  node("Gather", {"s", "zero"}, "n0");
  node("Unsqueeze", {"n0", "zero_axes"}, "n");
  auto* axes = g->add_initializer();
  axes->set_name(std::string("zero_axes"));
  axes->set_data_type(onnx::TensorProto::INT64);
  axes->add_dims(1);
  axes->add_int64_data(0);
  auto* concat = node("Concat", {"n", "huge"}, "shape")->add_attribute();
  concat->set_name(std::string("axis"));
  concat->set_type(onnx::AttributeProto::INT);
  concat->set_i(0);
  node("Reshape", {"x", "shape"}, "y");
  const fs::path p = write_temp("huge_reshape.onnx", m.SerializeAsString());
  auto model = OnnxModel::load(p.string());
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  auto rt = runtime::Runtime::open("tiny");
  ASSERT_TRUE(rt.ok()) << rt.status().to_string();
  auto x = (*rt)->from_host(std::vector<float>(6, 1.0f), {2, 3});
  ASSERT_TRUE(x.ok()) << x.status().to_string();
  auto r = (*model)->run(**rt, {*x});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument) << r.status().to_string();
  EXPECT_NE(r.status().message().find("(Reshape)"), std::string::npos) << r.status().to_string();
  EXPECT_NE(r.status().message().find("[2, 9223372036854775807] has more than 2^48 elements"), std::string::npos)
      << r.status().to_string();
}

// A two-node-sized model asking for 2^66 elements (ConstantOfShape of an
// initializer [2^33, 2^33]): the element count overflowed int64 inside the
// runtime, then the step failed as an internal error. It is refused as bad
// input naming the node, and the runtime runs the next model.
TEST(HostileFiles, AConstantOfShapeOfMoreThan2To48ElementsIsRefusedNamingTheNode) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(17);
  auto* g = m.mutable_graph();
  g->set_name("g");
  const std::string shape = "shape", out = "y", op = "ConstantOfShape";
  auto* init = g->add_initializer();
  init->set_name(shape);
  init->set_data_type(onnx::TensorProto::INT64);
  init->add_dims(2);
  init->add_int64_data(int64_t{1} << 33);
  init->add_int64_data(int64_t{1} << 33);
  auto* y = g->add_output();
  y->set_name(out);
  y->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  for (const std::string d : {"a", "b"}) y->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_param(d);
  auto* n = g->add_node();
  n->set_op_type(op);
  n->add_input(shape);
  n->add_output(out);
  const fs::path p = write_temp("huge_constant.onnx", m.SerializeAsString());
  const fs::path fine = write_temp("relu.onnx", relu_model("r").SerializeAsString());
  for (const bool timing_only : {false, true}) {
    auto model = OnnxModel::load(p.string(), {.timing_only = timing_only});
    ASSERT_TRUE(model.ok()) << model.status().to_string();
    runtime::RuntimeOptions o;
    o.device.functional = !timing_only;
    auto rt = runtime::Runtime::open("tiny", o);
    ASSERT_TRUE(rt.ok()) << rt.status().to_string();
    auto r = (*model)->run(**rt, {});
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument) << r.status().to_string();
    EXPECT_NE(r.status().message().find("(ConstantOfShape)"), std::string::npos) << r.status().to_string();
    EXPECT_NE(r.status().message().find("[8589934592, 8589934592] has more than 2^48 elements"), std::string::npos)
        << r.status().to_string();
    auto relu = OnnxModel::load(fine.string());
    ASSERT_TRUE(relu.ok()) << relu.status().to_string();
    auto x = (*rt)->from_host(std::vector<float>{-1, 2, -3, 4}, {4});
    ASSERT_TRUE(x.ok()) << x.status().to_string();
    auto outs = (*relu)->run(**rt, {*x});
    ASSERT_TRUE(outs.ok()) << outs.status().to_string();
    if (!timing_only) {
      EXPECT_EQ((*outs)[0].to_host<float>().value(), (std::vector<float>{0, 2, 0, 4}));
    }
  }
}

}  // namespace
}  // namespace kiln::frontend
