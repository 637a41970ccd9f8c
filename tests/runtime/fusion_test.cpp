// The compiler's fusion passes: what they fuse, that the compile log says
// so, that each can be switched off by name, and that values do not change.
#include <gtest/gtest.h>

#include "blocks.h"
#include "kiln/proto/trace.pb.h"

namespace kiln::runtime::testing {
namespace {

struct StepRun {
  HostTensor values;
  RuntimeStats stats;
};

template <typename Build>
StepRun run_lazy(Build&& build, std::vector<std::string> disabled = {}) {
  RuntimeOptions o;
  o.mode = Mode::kLazy;
  o.disabled_passes = std::move(disabled);
  auto rt = take(Runtime::open("tiny", o));
  Tensor y = build(*rt);
  EXPECT_TRUE(rt->synchronize().ok());
  // Step stats of the model's step, before the read adds a cast.
  RuntimeStats s = rt->stats();
  return {download(y), s};
}

TEST(Fusion, LinearBiasAndActivationRunAsOneMatrixEngineJob) {
  const HostTensor x = host_random({6, 16}, 1), w = host_random({24, 16}, 2), b = host_random({24}, 3);
  auto build = [&](Runtime& rt) {
    Tensor tx = upload(rt, x), tw = upload(rt, w), tb = upload(rt, b);
    EXPECT_TRUE(rt.mark_step().ok());
    return take(relu(take(linear(tx, tw, tb))));
  };
  const StepRun fused = run_lazy(build);
  const StepRun plain = run_lazy(build, {"fuse_epilogue", "fuse_elementwise"});
  EXPECT_NE(fused.stats.last_compile_log.find("fuse_epilogue: matmul+bias+relu (linear+relu)"), std::string::npos)
      << fused.stats.last_compile_log;
  EXPECT_EQ(plain.stats.last_compile_log.find("fuse_epilogue"), std::string::npos);
  // Unfused: the GEMM, the add and the relu (the weight is read transposed in place either way).
  EXPECT_EQ(fused.stats.last_step_jobs + 2, plain.stats.last_step_jobs);
  HostTensor want = h_linear(x, w, b);
  for (double& v : want.v) v = std::max(v, 0.0);
  expect_close(fused.values, want, 1e-5, 1e-5, "fused");
  expect_close(plain.values, want, 1e-5, 1e-5, "unfused");
}

// A bias computed after the GEMM was recorded (ONNX Gemm's beta·C): the
// fused GEMM must run after it, not read it before it exists.
TEST(Fusion, ABiasComputedAfterTheGemmIsReadyForItsEpilogue) {
  const HostTensor a = host_random({5, 8}, 1), w = host_random({8, 6}, 2), c = host_random({6}, 3);
  auto build = [&](Runtime& rt) {
    Tensor ta = upload(rt, a), tw = upload(rt, w), tc = upload(rt, c);
    EXPECT_TRUE(rt.mark_step().ok());
    Tensor product = take(matmul(ta, tw));
    return take(add(product, take(mul(tc, 0.5))));
  };
  const StepRun fused = run_lazy(build);
  EXPECT_NE(fused.stats.last_compile_log.find("fuse_epilogue: matmul+bias"), std::string::npos)
      << fused.stats.last_compile_log;
  HostTensor want = host_matmul(a, w);
  for (int64_t i = 0; i < 5; ++i)
    for (int64_t j = 0; j < 6; ++j) want[i * 6 + j] += 0.5 * c[j];
  expect_close(fused.values, want, 1e-5, 1e-5, "matmul + 0.5 c");
}

TEST(Fusion, ABf16BiasIsCastForTheEpilogueAndAConvTakesItsRelu) {
  const HostTensor x = host_random({4, 8}, 4), w = host_random({8, 8}, 5), b = host_random({8}, 6);
  auto build = [&](Runtime& rt) {
    Tensor tx = upload(rt, x, DType::kBF16), tw = upload(rt, w, DType::kBF16), tb = upload(rt, b, DType::kBF16);
    EXPECT_TRUE(rt.mark_step().ok());
    return take(silu(take(linear(tx, tw, tb))));
  };
  const StepRun fused = run_lazy(build);
  EXPECT_NE(fused.stats.last_compile_log.find("matmul+bias+silu"), std::string::npos) << fused.stats.last_compile_log;
  HostTensor want = h_linear(rounded(DType::kBF16, x), rounded(DType::kBF16, w), rounded(DType::kBF16, b));
  for (double& v : want.v) v = v / (1 + std::exp(-v));
  expect_close(fused.values, want, 2e-2, 2e-2, "bf16 linear+silu");

  auto conv = [&](Runtime& rt) {
    Tensor tx = upload(rt, host_random({1, 2, 5, 5}, 7)), tw = upload(rt, host_random({3, 2, 3, 3}, 8));
    EXPECT_TRUE(rt.mark_step().ok());
    return take(relu(take(conv2d(tx, tw))));
  };
  const StepRun c = run_lazy(conv);
  EXPECT_NE(c.stats.last_compile_log.find("fuse_epilogue: conv2d+relu"), std::string::npos) << c.stats.last_compile_log;
  EXPECT_EQ(c.stats.last_step_jobs, 1u);
}

TEST(Fusion, AnOpOnScalarConstantsAloneIsNoKernelWithoutInputs) {
  // fused_elementwise reads 1..7 tensors: rsqrt of a fill has none to give it.
  const StepRun r = run_lazy([](Runtime& rt) { return take(rsqrt(take(rt.full({}, 4.0, DType::kF32)))); });
  EXPECT_EQ(r.stats.last_compile_log.find("fuse_elementwise"), std::string::npos) << r.stats.last_compile_log;
  expect_close(r.values, HostTensor{{}, {0.5}}, 0, 0, "rsqrt(4)");
}

TEST(Fusion, AValueTheStepKeepsOrAnotherOpReadsIsNotFused) {
  const HostTensor x = host_random({4, 8}, 9), w = host_random({8, 8}, 10);
  RuntimeOptions o;
  o.mode = Mode::kLazy;
  auto rt = take(Runtime::open("tiny", o));
  Tensor tx = upload(*rt, x), tw = upload(*rt, w);
  ASSERT_TRUE(rt->mark_step().ok());
  Tensor y = take(matmul(tx, tw));
  Tensor r = take(relu(y));
  Tensor s = take(sigmoid(y));  // y has two readers
  ASSERT_TRUE(rt->mark_step().ok());
  EXPECT_EQ(rt->stats().last_compile_log.find("fuse_epilogue"), std::string::npos) << rt->stats().last_compile_log;
  HostTensor mm = host_zeros({4, 8});
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 8; ++j)
      for (int p = 0; p < 8; ++p) mm[i * 8 + j] += x[i * 8 + p] * w[p * 8 + j];
  expect_close(download(r), h_unary(mm, h_relu), 1e-5, 1e-5, "relu");
}

}  // namespace
}  // namespace kiln::runtime::testing

namespace kiln::runtime::testing {
namespace {

struct TpcWork {
  std::vector<std::string> kernels;  // kernel names launched, in order (core 0's events)
  uint64_t bytes = 0;                // bytes every core loaded and stored
};

TpcWork tpc_work_since(const proto::Trace& trace, int first_event) {
  TpcWork w;
  for (int i = first_event; i < trace.events_size(); ++i) {
    const auto& e = trace.events(i);
    if (e.track().rfind("TPC", 0) != 0) continue;
    w.bytes += e.bytes();
    if (e.track() == "TPC0") w.kernels.push_back(e.name());
  }
  return w;
}

TEST(Fusion, AChainOfFiveElementwiseOpsIsOneKernelMovingAFifthOfTheBytes) {
  const HostTensor x = host_random({64, 256}, 40, -2, 2);
  TpcWork work[2];
  HostTensor values[2];
  for (int fused = 0; fused < 2; ++fused) {
    RuntimeOptions o;
    o.mode = Mode::kLazy;
    if (fused == 0) o.disabled_passes = {"fuse_elementwise"};
    auto rt = take(Runtime::open("tiny", o));
    Tensor tx = upload(*rt, x);
    ASSERT_TRUE(rt->synchronize().ok());
    const int before = rt->device().trace_proto().events_size();
    Tensor y = take(exp(take(neg(take(relu(take(add(take(mul(tx, 2.0)), 1.0))))))));
    ASSERT_TRUE(rt->synchronize().ok());
    work[fused] = tpc_work_since(rt->device().trace_proto(), before);
    if (fused == 1) {
      EXPECT_NE(rt->stats().last_compile_log.find("fuse_elementwise: 5 ops and 2 constants into one kernel"),
                std::string::npos)
          << rt->stats().last_compile_log;
    }
    values[fused] = download(y);
  }
  ASSERT_EQ(work[1].kernels, std::vector<std::string>{"fused_elementwise"});
  EXPECT_EQ(work[0].kernels.size(), 7u);  // two scalar fills and five ops
  const double ratio = static_cast<double>(work[1].bytes) / static_cast<double>(work[0].bytes);
  EXPECT_GT(ratio, 0.15);
  EXPECT_LT(ratio, 0.25);
  HostTensor want = x;
  for (double& v : want.v) v = std::exp(-std::max(v * 2 + 1, 0.0));
  expect_close(values[1], want, 1e-6, 2e-5, "fused");
  expect_close(values[1], values[0], 0, 0, "fused against unfused");  // the same bits
}

TEST(Fusion, AResidualAddAndLayerNormAreOneKernelThatKeepsTheSum) {
  const HostTensor x = host_random({4, 32}, 41), r = host_random({4, 32}, 42);
  const HostTensor g = host_random({32}, 43, 0.5, 1.5), b = host_random({32}, 44);
  auto build = [&](Runtime& rt, Tensor* sum_out) {
    Tensor tx = upload(rt, x), tr = upload(rt, r), tg = upload(rt, g), tb = upload(rt, b);
    EXPECT_TRUE(rt.mark_step().ok());
    Tensor sum = take(add(tx, tr));
    *sum_out = sum;
    return take(layer_norm(sum, 1, tg, tb));
  };
  RuntimeOptions o;
  o.mode = Mode::kLazy;
  auto rt = take(Runtime::open("tiny", o));
  Tensor sum;
  Tensor y = build(*rt, &sum);
  ASSERT_TRUE(rt->mark_step().ok());
  EXPECT_NE(rt->stats().last_compile_log.find("fuse_add_norm: add+layer_norm"), std::string::npos)
      << rt->stats().last_compile_log;
  EXPECT_EQ(rt->stats().last_step_jobs, 1u);
  const HostTensor want_sum = h_add(x, r);
  expect_close(download(sum), want_sum, 1e-6, 1e-6, "sum");
  expect_close(download(y), h_layer_norm(want_sum, g, b), 1e-4, 1e-4, "norm");
}

}  // namespace
}  // namespace kiln::runtime::testing
