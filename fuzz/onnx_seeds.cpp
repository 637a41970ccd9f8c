// The seeds of the ONNX targets (onnx_model, onnx_tensor): small models and
// tensors built with ONNX's own protobuf classes, a few bytes to a few
// hundred each. Valid ones reach the parts of a load (initializers as raw
// bytes and as typed fields, external data in the target's weights.bin and
// missing, a symbolic dim, Constant nodes and shape arithmetic that folds,
// the lowerings of the common ops); near-valid ones fail at one check each.
#include "onnx_seeds.h"

#include <onnx/onnx_pb.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

#include "onnx_builder.h"  // tests/frontend: the tests' model builders

namespace kiln::fuzz {
namespace {

namespace fs = std::filesystem;
using TP = onnx::TensorProto;
using frontend::testing::model;

void write(const fs::path& dir, const std::string& name, const std::string& bytes) {
  fs::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary);
  out << bytes;
  if (!out) {
    std::fprintf(stderr, "make_seeds: cannot write %s\n", (dir / name).c_str());
    std::exit(1);
  }
}

// A dim is a size, or a symbolic name when it starts with a letter.
void add_value(onnx::ValueInfoProto* v, const std::string& name, int32_t type, std::initializer_list<const char*> dims) {
  v->set_name(name);
  auto* tt = v->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(type);
  auto* shape = tt->mutable_shape();
  for (const char* d : dims) {
    auto* dim = shape->add_dim();
    if (d[0] >= '0' && d[0] <= '9') dim->set_dim_value(std::atoll(d));
    else dim->set_dim_param(d);
  }
}

onnx::NodeProto* add_node(onnx::GraphProto* g, const std::string& op, std::initializer_list<const char*> in,
                          std::initializer_list<const char*> out) {
  auto* n = g->add_node();
  n->set_op_type(op);
  for (const char* i : in) n->add_input(i);
  for (const char* o : out) n->add_output(o);
  return n;
}

void add_ints(onnx::NodeProto* n, const std::string& name, std::initializer_list<int64_t> values) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values) a->add_ints(v);
}

// An f32 tensor with values 0.5, 1.0, ... as raw bytes or float_data.
void fill_f32(TP* t, const std::string& name, std::initializer_list<int64_t> dims, bool raw) {
  t->set_name(name);
  t->set_data_type(TP::FLOAT);
  int64_t n = 1;
  for (int64_t d : dims) {
    t->add_dims(d);
    n *= d;
  }
  std::vector<float> v(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = 0.5f * static_cast<float>(i + 1);
  if (raw) {
    t->set_raw_data(std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)));
  } else {
    for (float f : v) t->add_float_data(f);
  }
}

void fill_i64(TP* t, const std::string& name, std::initializer_list<int64_t> values) {
  t->set_name(name);
  t->set_data_type(TP::INT64);
  t->add_dims(static_cast<int64_t>(values.size()));
  for (int64_t v : values) t->add_int64_data(v);
}

void external(TP* t, const std::string& location, const std::string& offset, const std::string& length) {
  t->set_data_location(TP::EXTERNAL);
  auto add = [&](const char* key, const std::string& value) {
    auto* e = t->add_external_data();
    e->set_key(key);
    e->set_value(value);
  };
  add("location", location);
  if (!offset.empty()) add("offset", offset);
  if (!length.empty()) add("length", length);
}

void model_seeds(const fs::path& dir) {
  auto save = [&](const std::string& name, const onnx::ModelProto& m) { write(dir, name, m.SerializeAsString()); };
  {
    onnx::ModelProto m = model();
    auto* g = m.mutable_graph();
    add_value(g->add_input(), "x", TP::FLOAT, {"1", "4"});
    add_value(g->add_output(), "y", TP::FLOAT, {"1", "4"});
    add_node(g, "Relu", {"x"}, {"y"});
    save("relu", m);
  }
  {
    onnx::ModelProto m = model();
    auto* g = m.mutable_graph();
    add_value(g->add_input(), "x", TP::FLOAT, {"1", "2", "5", "5"});
    add_value(g->add_output(), "y", TP::FLOAT, {"1", "3", "3", "3"});
    fill_f32(g->add_initializer(), "w", {3, 2, 3, 3}, true);
    fill_f32(g->add_initializer(), "b", {3}, false);
    auto* n = add_node(g, "Conv", {"x", "w", "b"}, {"y"});
    add_ints(n, "pads", {1, 1, 1, 1});
    add_ints(n, "strides", {2, 2});
    save("conv", m);
  }
  {
    onnx::ModelProto m = model();
    auto* g = m.mutable_graph();
    add_value(g->add_input(), "x", TP::FLOAT, {"2", "3"});
    add_value(g->add_output(), "y", TP::FLOAT, {"2", "4"});
    fill_f32(g->add_initializer(), "w", {3, 4}, false);
    fill_f32(g->add_initializer(), "b", {4}, true);
    add_node(g, "MatMul", {"x", "w"}, {"xw"});
    add_node(g, "Add", {"xw", "b"}, {"y"});
    save("matmul_add", m);
  }
  {
    // Initializers of every kind a load converts, and a Reshape by one.
    onnx::ModelProto m = model();
    auto* g = m.mutable_graph();
    add_value(g->add_input(), "x", TP::FLOAT, {"2", "6"});
    add_value(g->add_output(), "y", TP::FLOAT, {"3", "4"});
    fill_i64(g->add_initializer(), "shape", {3, 4});
    fill_f32(g->add_initializer(), "scale", {4}, false);
    add_node(g, "Reshape", {"x", "shape"}, {"r"});
    add_node(g, "Mul", {"r", "scale"}, {"y"});
    save("initializers_reshape", m);
  }
  {
    onnx::ModelProto m = model();
    auto* g = m.mutable_graph();
    add_value(g->add_input(), "x", TP::FLOAT, {"N", "8"});
    add_value(g->add_output(), "y", TP::FLOAT, {"N", "8"});
    add_node(g, "Softmax", {"x"}, {"s"});
    add_node(g, "Tanh", {"s"}, {"y"});
    save("symbolic_dim", m);
  }
  {
    // Weights in the target's weights.bin (4 KiB beside the model), and
    // weights in a file that is not there (timing-only loads take the shape).
    onnx::ModelProto m = model();
    auto* g = m.mutable_graph();
    add_value(g->add_input(), "x", TP::FLOAT, {"2", "4"});
    add_value(g->add_output(), "y", TP::FLOAT, {"2", "4"});
    auto* w = g->add_initializer();
    w->set_name("w");
    w->set_data_type(TP::FLOAT);
    w->add_dims(4);
    w->add_dims(4);
    external(w, "weights.bin", "128", "64");
    add_node(g, "MatMul", {"x", "w"}, {"y"});
    save("external_data", m);
    auto* v = g->mutable_initializer(0);
    v->clear_external_data();
    external(v, "absent.bin", "", "");
    save("external_data_missing", m);
  }
  {
    // A shape computed at load (Shape, Gather, Concat: torch.onnx's
    // x.view(x.size(0), -1)), a Constant, and the inference after folding.
    onnx::ModelProto m = model();
    auto* g = m.mutable_graph();
    add_value(g->add_input(), "x", TP::FLOAT, {"2", "3", "4"});
    add_value(g->add_output(), "y", TP::FLOAT, {"2", "12"});
    fill_i64(g->add_initializer(), "zero", {0});
    auto* c = add_node(g, "Constant", {}, {"minus1"});
    auto* a = c->add_attribute();
    a->set_name("value");
    a->set_type(onnx::AttributeProto::TENSOR);
    fill_i64(a->mutable_t(), "", {-1});
    add_node(g, "Shape", {"x"}, {"s"});
    add_node(g, "Gather", {"s", "zero"}, {"n"});
    auto* axis = add_node(g, "Concat", {"n", "minus1"}, {"shape"})->add_attribute();
    axis->set_name("axis");
    axis->set_type(onnx::AttributeProto::INT);
    axis->set_i(0);
    add_node(g, "Reshape", {"x", "shape"}, {"y"});
    save("folded_shape", m);
  }
  {
    // Near-valid: an op with no lowering, an opset above Kiln's, a dangling
    // input, an input of a negative size.
    onnx::ModelProto m = model();
    auto* g = m.mutable_graph();
    add_value(g->add_input(), "x", TP::FLOAT, {"4"});
    add_value(g->add_output(), "y", TP::FLOAT, {"4"});
    add_node(g, "Det", {"x"}, {"y"});
    save("unsupported_op", m);
    m.mutable_opset_import(0)->set_version(18);
    g->mutable_node(0)->set_op_type("Relu");
    save("opset_18", m);
    m.mutable_opset_import(0)->set_version(17);
    g->mutable_node(0)->set_input(0, "nowhere");
    save("dangling_input", m);
    g->mutable_node(0)->set_input(0, "x");
    g->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0)->set_dim_value(-4);
    save("negative_input_dim", m);
  }
}

void tensor_seeds(const fs::path& dir) {
  auto save = [&](const std::string& name, const TP& t) { write(dir, name, t.SerializeAsString()); };
  TP t;
  fill_f32(&t, "raw_f32", {2, 3}, true);
  save("f32_raw", t);
  t.Clear();
  fill_f32(&t, "typed_f32", {3, 1}, false);
  save("f32_float_data", t);
  t.Clear();
  fill_i64(&t, "i64", {1, -2, 3});
  save("i64", t);
  t.Clear();
  t.set_data_type(TP::FLOAT16);  // ONNX keeps halves in int32_data: 1.0, -2.0, NaN
  t.add_dims(3);
  for (int32_t v : {0x3c00, 0xc000, 0x7e00}) t.add_int32_data(v);
  save("f16_int32_data", t);
  t.set_data_type(TP::BFLOAT16);
  save("bf16_int32_data", t);
  t.Clear();
  t.set_data_type(TP::BOOL);
  t.add_dims(2);
  t.add_dims(2);
  for (int32_t v : {0, 1, 2, 0}) t.add_int32_data(v);
  save("bool", t);
  t.Clear();
  t.set_data_type(TP::INT32);  // a scalar: no dims, one value
  t.add_int32_data(7);
  save("i32_scalar", t);
  t.Clear();
  t.set_data_type(TP::DOUBLE);
  t.add_dims(1);
  t.add_double_data(1.0);
  save("unsupported_double", t);
  t.Clear();
  fill_f32(&t, "external", {4}, false);
  t.clear_float_data();
  external(&t, "weights.bin", "0", "16");
  save("external_refused", t);
}

}  // namespace

void onnx_seeds(const fs::path& root) {
  model_seeds(root / "onnx_model");
  tensor_seeds(root / "onnx_tensor");
}

}  // namespace kiln::fuzz
