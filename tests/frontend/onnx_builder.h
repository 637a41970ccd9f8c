// Building small ONNX models in tests: graph inputs/outputs, nodes,
// attributes, int64 initializers, and saving the model into the process's
// scratch directory (scratch_dir.h).
#pragma once

#include <onnx/onnx_pb.h>

#include <cctype>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "scratch_dir.h"

namespace kiln::frontend::testing {

// A tensor value of `type` (onnx::TensorProto's enum) with fixed dims; no
// dims is a scalar (the shape is present and empty).
inline void add_io(onnx::ValueInfoProto* v, const std::string& name, int32_t type, const std::vector<int64_t>& dims) {
  v->set_name(name);
  auto* tt = v->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(type);
  tt->mutable_shape();
  for (int64_t d : dims) tt->mutable_shape()->add_dim()->set_dim_value(d);
}

// A float value whose dims may be symbolic: a dim that starts with a digit is
// a size, any other a dim_param.
inline void add_symbolic_io(onnx::ValueInfoProto* v, const std::string& name, const std::vector<std::string>& dims) {
  v->set_name(name);
  auto* tt = v->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  for (const auto& d : dims) {
    auto* dim = tt->mutable_shape()->add_dim();
    if (!d.empty() && std::isdigit(static_cast<unsigned char>(d[0]))) dim->set_dim_value(std::stoll(d));
    else dim->set_dim_param(d);
  }
}

// A node with one output, named `name` (or "<output>_node"). Names go in as
// std::string: add_input(const char*) trips GCC 12's false -Wrestrict.
inline onnx::NodeProto* add_node(onnx::GraphProto* g, const std::string& op, const std::vector<std::string>& inputs,
                                 const std::string& output, const std::string& name = "") {
  auto* n = g->add_node();
  n->set_op_type(op);
  n->set_name(name.empty() ? output + "_node" : name);
  for (const std::string& i : inputs) n->add_input(i);
  n->add_output(output);
  return n;
}

inline void set_int(onnx::NodeProto* n, const std::string& name, int64_t v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

inline void set_ints(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}

// An int64 initializer of the given dims (none: a scalar).
inline void add_ints(onnx::GraphProto* g, const std::string& name, const std::vector<int64_t>& dims,
                     const std::vector<int64_t>& values) {
  auto* t = g->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::INT64);
  for (int64_t d : dims) t->add_dims(d);
  for (int64_t v : values) t->add_int64_data(v);
}

// An empty model of the default ONNX domain at `opset`.
inline onnx::ModelProto model(int opset = 17) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  auto* o = m.add_opset_import();
  o->set_domain("");
  o->set_version(opset);
  m.mutable_graph()->set_name("g");
  return m;
}

inline void write(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary) << bytes;
}

// `m` saved as scratch_dir()/dir/name; returns the path.
inline std::string save(const std::string& dir, const onnx::ModelProto& m, const std::string& name) {
  const std::filesystem::path d = scratch_dir() / dir;
  std::filesystem::create_directories(d);
  write(d / name, m.SerializeAsString());
  return (d / name).string();
}

}  // namespace kiln::frontend::testing
