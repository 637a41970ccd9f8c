// The runtime end to end: tensors in, ops in eager and lazy mode, values out,
// checked against host references.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include <map>
#include <set>

#include "kiln/proto/trace.pb.h"
#include "kiln/runtime/ops.h"
#include "kiln/runtime/runtime.h"

namespace kiln::runtime {
namespace {

template <typename T>
T take(Result<T> r) {
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  if (!r.ok()) throw std::runtime_error(r.status().to_string());
  return std::move(r).value();
}

std::unique_ptr<Runtime> open_runtime(Mode mode) {
  RuntimeOptions o;
  o.mode = mode;
  return take(Runtime::open("tiny", o));
}

std::vector<float> random_floats(std::size_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = d(g);
  return v;
}

class Modes : public ::testing::TestWithParam<Mode> {};

TEST_P(Modes, ElementwiseChainMatchesTheHost) {
  auto rt = open_runtime(GetParam());
  const auto a = random_floats(6 * 5, 1), b = random_floats(5, 2);
  Tensor ta = take(rt->from_host(a, {6, 5}));
  Tensor tb = take(rt->from_host(b, {5}));
  Tensor y = take(relu(take(add(take(mul(ta, tb)), 0.25))));
  ASSERT_TRUE(rt->mark_step().ok());
  const auto out = take(y.to_host<float>());
  ASSERT_EQ(out.size(), a.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    const float want = std::max(0.0f, a[i] * b[i % 5] + 0.25f);
    EXPECT_NEAR(out[i], want, 1e-6f) << i;
  }
}

TEST_P(Modes, MatmulMatchesTheHost) {
  auto rt = open_runtime(GetParam());
  const int m = 7, k = 19, n = 11;
  const auto a = random_floats(m * k, 3), b = random_floats(k * n, 4);
  Tensor c = take(matmul(take(rt->from_host(a, {m, k})), take(rt->from_host(b, {k, n}))));
  const auto out = take(c.to_host<float>());
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      double want = 0;
      for (int p = 0; p < k; ++p) want += static_cast<double>(a[i * k + p]) * b[p * n + j];
      EXPECT_NEAR(out[static_cast<std::size_t>(i * n + j)], want, 1e-4) << i << "," << j;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Runtime, Modes, ::testing::Values(Mode::kEager, Mode::kLazy),
                         [](const auto& p) { return p.param == Mode::kEager ? "Eager" : "Lazy"; });

TEST(Runtime, AShapeMismatchNamesTheOpAndBothShapesAndEnqueuesNothing) {
  auto rt = open_runtime(Mode::kLazy);
  Tensor a = take(rt->zeros({3, 4}, DType::kF32));
  Tensor b = take(rt->zeros({5}, DType::kF32));
  const auto before = rt->stats().ops_recorded;
  auto r = add(a, b);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("add: shapes do not broadcast: f32[3, 4] and f32[5]"), std::string::npos)
      << r.status().message();
  EXPECT_EQ(rt->stats().ops_recorded, before);
}

// A shape whose element count overflowed int64 (2^33 x 2^33, from a model's
// ConstantOfShape) was undefined behaviour in numel and then an internal
// error when the step compiled. It is refused where the tensor is made, in
// both modes, and the runtime goes on working.
TEST(Runtime, ATensorOfMoreThan2To48ElementsIsRefusedWhereItIsMade) {
  const int64_t big = int64_t{1} << 33;
  for (const Mode mode : {Mode::kEager, Mode::kLazy}) {
    auto rt = open_runtime(mode);
    auto expect_refused = [&](const Result<Tensor>& r, const char* op) {
      ASSERT_FALSE(r.ok()) << op;
      EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument) << r.status().to_string();
      EXPECT_NE(r.status().message().find(std::string(op) + ": "), std::string::npos) << r.status().to_string();
      EXPECT_NE(r.status().message().find("more than 2^48 elements"), std::string::npos) << r.status().to_string();
    };
    expect_refused(rt->full({big, big}, 1.0, DType::kF32), "full");
    expect_refused(rt->empty({big, big}, DType::kF32), "empty");
    expect_refused(rt->from_host(nullptr, 0, {big, big, 4}, DType::kF32), "from_host");
    // Each operand is small enough; their broadcast is not.
    Tensor column = take(rt->empty({int64_t{1} << 24, 1}, DType::kBF16));
    Tensor row = take(rt->empty({1, int64_t{1} << 25}, DType::kBF16));
    expect_refused(add(column, row), "add");
    // reshape multiplied the sizes it was given unchecked (found through an
    // ONNX Reshape by the onnx_model fuzz target).
    Tensor small = take(rt->full({2}, 1.0, DType::kF32));
    for (const Shape& shape : {Shape{2, std::numeric_limits<int64_t>::max()}, Shape{big, big, -1}}) {
      auto r = small.reshape(shape);
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument) << r.status().to_string();
      EXPECT_NE(r.status().message().find("more than 2^48 elements"), std::string::npos) << r.status().to_string();
    }
    Tensor a = take(rt->full({1, 1}, 2.0, DType::kF32));
    Tensor b = take(rt->full({2, 2}, 3.0, DType::kF32));
    EXPECT_EQ(take(take(add(a, b)).to_host<float>()), (std::vector<float>{5, 5, 5, 5}));
  }
}

TEST(Runtime, ASecondIdenticalStepCompilesNothing) {
  auto rt = open_runtime(Mode::kLazy);
  for (int step = 0; step < 3; ++step) {
    Tensor x = take(rt->from_host(random_floats(64, 10 + step), {8, 8}));
    Tensor y = take(softmax(take(mul(x, 2.0)), -1));
    ASSERT_TRUE(rt->mark_step().ok());
    (void)take(y.to_host<float>());
  }
  const RuntimeStats s = rt->stats();
  EXPECT_EQ(s.compilations, 1u);
  EXPECT_EQ(s.cache_hits, 2u);
}

// Eager ops of one signature (op, attributes, shapes, dtypes) under
// different scopes, the same op in each layer of a model, share one recipe
// as a real eager stack's recipe cache does; the trace still names each
// launch's own op, and a device fault would too.
TEST(Runtime, EagerOpsOfOneSignatureShareARecipeAndKeepTheirOwnLabels) {
  auto rt = open_runtime(Mode::kEager);
  const std::vector<float> host = random_floats(64 * 64, 5);
  Tensor x = take(rt->from_host(host, {64, 64}));
  std::vector<Tensor> ys;
  RuntimeStats first;
  for (const char* layer : {"layer0", "layer1", "layer2"}) {
    OpScope scope(layer);
    ys.push_back(take(mul(x, 2.0)));
    if (ys.size() == 1) first = rt->stats();
  }
  const RuntimeStats s = rt->stats();
  ASSERT_GT(first.compilations, 0u);
  EXPECT_EQ(s.compilations, first.compilations);
  EXPECT_EQ(s.cache_hits - first.cache_hits, 2 * first.compilations);
  for (Tensor& y : ys) {
    const auto v = take(y.to_host<float>());
    for (std::size_t i = 0; i < v.size(); ++i) ASSERT_EQ(v[i], 2.0f * host[i]) << i;
  }
  std::map<std::string, int> jobs;  // TPC jobs' labels
  const proto::Trace trace = rt->device().trace_proto();
  for (const auto& e : trace.events()) {
    if (e.track().rfind("TPC", 0) != 0) continue;
    ASSERT_EQ(e.ops_size(), 1) << e.name();
    ++jobs[e.ops(0)];
  }
  ASSERT_GT(jobs["layer0/mul"], 0);
  EXPECT_EQ(jobs["layer1/mul"], jobs["layer0/mul"]);
  EXPECT_EQ(jobs["layer2/mul"], jobs["layer0/mul"]);
  for (const auto& [op, count] : jobs) EXPECT_EQ(op.rfind("layer", 0), 0u) << op << " (" << count << " jobs)";
}

// Tensors may outlive their runtime: materialized, pending and view handles
// all stay safe to inspect and drop; ops and reads on them fail by name.
TEST(Runtime, TensorsOutlivingTheirRuntimeFailCleanlyAndDropSafely) {
  Tensor done, pending, view, eager;
  {
    auto rt = open_runtime(Mode::kLazy);
    done = take(rt->from_host(random_floats(12, 3), {3, 4}));
    Tensor doubled = take(mul(done, 2.0));
    ASSERT_TRUE(rt->mark_step().ok());
    (void)take(doubled.to_host<float>());
    pending = take(add(done, doubled));  // recorded: closing launches it (synchronize)
    view = take(pending.transpose(0, 1));
    {
      ModeScope scope(*rt, Mode::kEager);
      eager = take(exp(done));
    }
  }
  EXPECT_EQ(view.shape(), (Shape{4, 3}));
  EXPECT_TRUE(pending.materialized());
  auto read = done.to_host<float>();
  ASSERT_FALSE(read.ok());
  EXPECT_NE(read.status().message().find("the runtime this tensor belongs to is closed"), std::string::npos)
      << read.status().message();
  auto op = add(eager, done);
  ASSERT_FALSE(op.ok());
  EXPECT_NE(op.status().message().find("add: the runtime this tensor belongs to is closed"), std::string::npos)
      << op.status().message();
  EXPECT_FALSE(view.to_host<float>().ok());
  done = pending = view = eager = Tensor();  // drops them after the device: no use after free (ASan)
}

// A new runtime after one closed with live tensors works normally.
TEST(Runtime, ARuntimeOpenedAfterAClosedOneWorks) {
  Tensor survivor;
  {
    auto rt = open_runtime(Mode::kLazy);
    survivor = take(rt->full({64}, 1.0, DType::kF32));
    ASSERT_TRUE(rt->synchronize().ok());
  }
  auto rt = open_runtime(Mode::kLazy);
  Tensor x = take(rt->full({64}, 2.0, DType::kF32));
  const auto v = take(take(add(x, x)).to_host<float>());
  EXPECT_EQ(v, std::vector<float>(64, 4.0f));
  EXPECT_FALSE(add(x, survivor).ok());
}

}  // namespace
}  // namespace kiln::runtime
