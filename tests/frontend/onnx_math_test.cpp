// Lowerings the node tests cannot reach (their cases are float64 only, or
// leave a variant out): CumSum on float32, Mod's integer floor semantics
// with mixed signs, Sign of integers, ReduceLogSumExp on float32 values whose exp overflows, the
// window functions' output_datatype and edge sizes, Einsum (whose node tests are all float64).
// Small
// models built with ONNX's protobuf classes, run through run_onnx, checked
// against host loops.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>

#include "kiln/frontend/onnx_runner.h"
#include <onnx/onnx_pb.h>  // a system header: its warnings stay out of -Werror
#include "onnx_builder.h"

namespace kiln::frontend {
namespace {

namespace fs = std::filesystem;
using namespace testing;

fs::path case_dir(const std::string& name) {
  fs::path d = testing::scratch_dir() / "onnx_math" / name;
  fs::create_directories(d / "inputs");
  return d;
}

// Writes the model and its input_<i>.pb files; returns the run's outputs.
Result<RunReport> run(const fs::path& dir, const onnx::ModelProto& m, const std::vector<onnx::TensorProto>& inputs) {
  std::ofstream(dir / "model.onnx", std::ios::binary) << m.SerializeAsString();
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    std::string file = "input_";
    file += std::to_string(i);
    file += ".pb";
    std::ofstream(dir / "inputs" / file, std::ios::binary) << inputs[i].SerializeAsString();
  }
  auto rt = runtime::Runtime::open("tiny").value();
  RunOptions o;
  o.model_path = (dir / "model.onnx").string();
  o.inputs_dir = (dir / "inputs").string();
  return run_onnx(*rt, o);
}

onnx::TensorProto floats(const std::string& name, const std::vector<int64_t>& dims, const std::vector<float>& v) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) t.add_dims(d);
  for (float x : v) t.add_float_data(x);
  return t;
}

onnx::TensorProto int64s(const std::string& name, const std::vector<int64_t>& dims, const std::vector<int64_t>& v) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(onnx::TensorProto::INT64);
  for (int64_t d : dims) t.add_dims(d);
  for (int64_t x : v) t.add_int64_data(x);
  return t;
}

TEST(OnnxMath, CumSumFloatExclusiveReverseAlongAnInitializerAxis) {
  onnx::ModelProto m = model(14);
  auto* g = m.mutable_graph();
  add_io(g->add_input(), "x", onnx::TensorProto::FLOAT, {2, 3});
  add_io(g->add_output(), "y", onnx::TensorProto::FLOAT, {2, 3});
  *g->add_initializer() = int64s("axis", {}, {-1});
  auto* n = add_node(g, "CumSum", {"x", "axis"}, "y");
  set_int(n, "exclusive", 1);
  set_int(n, "reverse", 1);
  const std::vector<float> x = {1, 2, 3, 4, 5, 6};
  auto report = run(case_dir("cumsum"), m, {floats("x", {2, 3}, x)});
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  const std::vector<double> want = {5, 3, 0, 11, 6, 0};  // sums of the elements after each
  for (std::size_t i = 0; i < want.size(); ++i) EXPECT_EQ(report->outputs.at(0).at(static_cast<int64_t>(i)), want[i]) << i;
}

TEST(OnnxMath, ModOfIntegersTakesTheDivisorsSign) {
  onnx::ModelProto m = model(13);
  auto* g = m.mutable_graph();
  add_io(g->add_input(), "a", onnx::TensorProto::INT64, {6});
  add_io(g->add_input(), "b", onnx::TensorProto::INT64, {6});
  add_io(g->add_output(), "y", onnx::TensorProto::INT64, {6});
  add_node(g, "Mod", {"a", "b"}, "y");
  const std::vector<int64_t> a = {7, -7, 7, -7, 6, -6}, b = {3, 3, -3, -3, 3, -4};
  auto report = run(case_dir("mod"), m, {int64s("a", {6}, a), int64s("b", {6}, b)});
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  for (std::size_t i = 0; i < a.size(); ++i) {
    int64_t r = a[i] % b[i];
    if (r != 0 && ((r < 0) != (b[i] < 0))) r += b[i];  // Python's %
    EXPECT_EQ(report->outputs.at(0).at(static_cast<int64_t>(i)), static_cast<double>(r)) << a[i] << " mod " << b[i];
  }
}

TEST(OnnxMath, SignOfIntegers) {
  onnx::ModelProto m = model(13);
  auto* g = m.mutable_graph();
  add_io(g->add_input(), "x", onnx::TensorProto::INT64, {4});
  add_io(g->add_output(), "y", onnx::TensorProto::INT64, {4});
  add_node(g, "Sign", {"x"}, "y");
  auto report = run(case_dir("sign"), m, {int64s("x", {4}, {-5, 0, 9, std::numeric_limits<int64_t>::min()})});
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  const std::vector<double> want = {-1, 0, 1, -1};
  for (std::size_t i = 0; i < want.size(); ++i) EXPECT_EQ(report->outputs.at(0).at(static_cast<int64_t>(i)), want[i]) << i;
}

TEST(OnnxMath, ReduceLogSumExpOfFloatsDoesNotOverflow) {
  onnx::ModelProto m = model(13);
  auto* g = m.mutable_graph();
  add_io(g->add_input(), "x", onnx::TensorProto::FLOAT, {2, 3});
  add_io(g->add_output(), "y", onnx::TensorProto::FLOAT, {2});
  auto* n = add_node(g, "ReduceLogSumExp", {"x"}, "y");
  set_int(n, "keepdims", 0);
  auto* axes = n->add_attribute();
  axes->set_name("axes");
  axes->set_type(onnx::AttributeProto::INTS);
  axes->add_ints(1);
  auto report = run(case_dir("lse"), m, {floats("x", {2, 3}, {1000, 1000, 0, -1, 0, 1})});
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_NEAR(report->outputs.at(0).at(0), 1000 + std::log(2.0), 1e-3);  // exp(1000) alone is inf in fp32
  EXPECT_NEAR(report->outputs.at(0).at(1), std::log(std::exp(-1.0) + 1 + std::exp(1.0)), 1e-5);
}

// The node tests run each window at size 10 in f32. Here: another output
// dtype, a size of 1 (periodic: N = 1, one zero; symmetric: N = 0, NaN as
// ONNX's reference divides by it) and 0 (empty), against host formulas.
TEST(OnnxMath, WindowsInOtherDtypesAndEdgeSizes) {
  struct Case {
    const char* op;
    int64_t size, periodic, output_datatype;
  };
  const Case cases[] = {{"HannWindow", 7, 0, onnx::TensorProto::FLOAT16}, {"BlackmanWindow", 5, 1, onnx::TensorProto::BFLOAT16},
                        {"HammingWindow", 1, 1, onnx::TensorProto::FLOAT}, {"HannWindow", 1, 0, onnx::TensorProto::FLOAT},
                        {"HammingWindow", 0, 1, onnx::TensorProto::FLOAT}, {"BlackmanWindow", 9, 0, onnx::TensorProto::INT32}};
  for (const Case& k : cases) {
    onnx::ModelProto m = model(17);
    auto* g = m.mutable_graph();
    add_io(g->add_input(), "size", onnx::TensorProto::INT64, {});
    add_io(g->add_output(), "w", static_cast<int32_t>(k.output_datatype), {k.size});
    auto* n = add_node(g, k.op, {"size"}, "w");
    set_int(n, "periodic", k.periodic);
    set_int(n, "output_datatype", k.output_datatype);
    auto report = run(case_dir(std::string(k.op) + std::to_string(k.size)), m, {int64s("size", {}, {k.size})});
    ASSERT_TRUE(report.ok()) << k.op << " " << k.size << ": " << report.status().to_string();
    const HostTensor& w = report->outputs.at(0);
    ASSERT_EQ(w.numel(), k.size) << k.op;
    const double big_n = static_cast<double>(k.periodic ? k.size : k.size - 1);
    const std::string op = k.op;
    const double tolerance = k.output_datatype == onnx::TensorProto::FLOAT ? 1e-5 : 1e-2;
    for (int64_t i = 0; i < k.size; ++i) {
      const double x = 2 * M_PI * static_cast<double>(i) / big_n;
      double want = op == "HannWindow"      ? 0.5 - 0.5 * std::cos(x)
                    : op == "HammingWindow" ? 25.0 / 46 - 21.0 / 46 * std::cos(x)
                                            : 0.42 - 0.5 * std::cos(x) + 0.08 * std::cos(2 * x);
      if (k.output_datatype == onnx::TensorProto::INT32) want = std::trunc(want);
      if (std::isnan(want)) {
        EXPECT_TRUE(std::isnan(w.at(i))) << op << " size " << k.size << " [" << i << "]";
      } else {
        EXPECT_NEAR(w.at(i), want, tolerance) << op << " size " << k.size << " [" << i << "]";
      }
    }
  }
}

// Einsum by definition: every assignment of the labels, the product of the
// operands' elements, summed into the output's element. Ellipses are spelt
// out here as capital letters (one per dim).
std::vector<double> host_einsum(const std::vector<std::string>& terms, const std::string& out,
                                const std::vector<std::vector<int64_t>>& shapes, const std::vector<std::vector<float>>& values) {
  std::map<char, int64_t> size;
  for (std::size_t i = 0; i < terms.size(); ++i)
    for (std::size_t d = 0; d < terms[i].size(); ++d) size[terms[i][d]] = std::max(size[terms[i][d]], shapes[i][d]);
  std::vector<char> labels;
  for (const auto& [l, n] : size) labels.push_back(l);
  int64_t out_numel = 1;
  for (char l : out) out_numel *= size[l];
  std::vector<double> y(static_cast<std::size_t>(out_numel), 0.0);
  std::map<char, int64_t> at;
  for (char l : labels) at[l] = 0;
  while (true) {
    double product = 1;
    for (std::size_t i = 0; i < terms.size(); ++i) {
      int64_t flat = 0;
      for (std::size_t d = 0; d < terms[i].size(); ++d) flat = flat * shapes[i][d] + (shapes[i][d] == 1 ? 0 : at[terms[i][d]]);
      product *= values[i][static_cast<std::size_t>(flat)];
    }
    int64_t flat = 0;
    for (char l : out) flat = flat * size[l] + at[l];
    y[static_cast<std::size_t>(flat)] += product;
    std::size_t k = labels.size();
    while (k > 0 && ++at[labels[k - 1]] == size[labels[k - 1]]) at[labels[--k]] = 0;
    if (k == 0) break;
  }
  return y;
}

TEST(OnnxMath, EinsumContractsLikeItsDefinition) {
  struct Case {
    std::string equation;
    std::vector<std::string> terms;  // for the host, ellipses as capitals
    std::string out;
    std::vector<std::vector<int64_t>> shapes;
    std::vector<int64_t> out_shape;
  };
  const Case cases[] = {
      {"ij,jk->ik", {"ij", "jk"}, "ik", {{3, 4}, {4, 5}}, {3, 5}},
      {"bij,bjk->bik", {"bij", "bjk"}, "bik", {{2, 3, 4}, {2, 4, 5}}, {2, 3, 5}},
      {"bhqd,bhkd->bhqk", {"bhqd", "bhkd"}, "bhqk", {{1, 2, 3, 4}, {1, 2, 5, 4}}, {1, 2, 3, 5}},
      {"i,i", {"i", "i"}, "", {{6}, {6}}, {}},                       // implicit: an inner product
      {"ij->ji", {"ij"}, "ji", {{3, 4}}, {4, 3}},
      {"ij->", {"ij"}, "", {{3, 4}}, {}},
      {"ij,kj", {"ij", "kj"}, "ik", {{3, 4}, {5, 4}}, {3, 5}},        // implicit: i, k in order
      {"ij,jk,kl->il", {"ij", "jk", "kl"}, "il", {{2, 3}, {3, 4}, {4, 5}}, {2, 5}},
      {"i,j->ij", {"i", "j"}, "ij", {{3}, {4}}, {3, 4}},              // an outer product
      {"...ij,...jk->...ik", {"ABij", "ABjk"}, "ABik", {{2, 1, 3, 4}, {1, 3, 4, 2}}, {2, 3, 3, 2}},
      {"bij,bkj->bk", {"bij", "bkj"}, "bk", {{2, 3, 4}, {2, 5, 4}}, {2, 5}},  // i summed before the product
  };
  for (const Case& k : cases) {
    onnx::ModelProto m = model(12);
    auto* g = m.mutable_graph();
    std::vector<std::string> names;
    std::vector<onnx::TensorProto> inputs;
    std::vector<std::vector<float>> values;
    for (std::size_t i = 0; i < k.shapes.size(); ++i) {
      names.push_back("x" + std::to_string(i));
      add_io(g->add_input(), names.back(), onnx::TensorProto::FLOAT, k.shapes[i]);
      int64_t n = 1;
      for (int64_t d : k.shapes[i]) n *= d;
      std::vector<float> v(static_cast<std::size_t>(n));
      for (std::size_t e = 0; e < v.size(); ++e) v[e] = static_cast<float>((e * 7 + i * 3) % 11) / 4.0f - 1.0f;
      values.push_back(v);
      inputs.push_back(floats(names.back(), k.shapes[i], v));
    }
    add_io(g->add_output(), "y", onnx::TensorProto::FLOAT, k.out_shape);
    auto* n = add_node(g, "Einsum", names, "y");
    auto* a = n->add_attribute();
    a->set_name(std::string("equation"));
    a->set_type(onnx::AttributeProto::STRING);
    a->set_s(k.equation);
    std::string dir = "einsum_" + std::to_string(&k - cases);
    auto report = run(case_dir(dir), m, inputs);
    ASSERT_TRUE(report.ok()) << k.equation << ": " << report.status().to_string();
    const std::vector<double> want = host_einsum(k.terms, k.out, k.shapes, values);
    const HostTensor& y = report->outputs.at(0);
    ASSERT_EQ(static_cast<std::size_t>(y.numel()), want.size()) << k.equation;
    for (std::size_t e = 0; e < want.size(); ++e)
      EXPECT_NEAR(y.at(static_cast<int64_t>(e)), want[e], 1e-4 * (1 + std::abs(want[e]))) << k.equation << " [" << e << "]";
  }
}

TEST(OnnxMath, EinsumRefusesADiagonalNamingIt) {
  onnx::ModelProto m = model(12);
  auto* g = m.mutable_graph();
  add_io(g->add_input(), "x", onnx::TensorProto::FLOAT, {3, 3});
  add_io(g->add_output(), "y", onnx::TensorProto::FLOAT, {3});
  auto* n = add_node(g, "Einsum", {"x"}, "y");
  auto* a = n->add_attribute();
  a->set_name(std::string("equation"));
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(std::string("ii->i"));
  auto report = run(case_dir("einsum_diagonal"), m, {floats("x", {3, 3}, std::vector<float>(9, 1.0f))});
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), ErrorCode::kUnimplemented) << report.status().to_string();
  EXPECT_NE(report.status().message().find("the subscript 'i' repeats within operand 0 (a diagonal)"), std::string::npos)
      << report.status().to_string();
}

}  // namespace
}  // namespace kiln::frontend
