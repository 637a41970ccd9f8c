// Steps as users see them: composite blocks in both modes against the host,
// recompilation and graph breaks, simulated step time (host and device),
// workspace planning, engine overlap, determinism and timing-only runs.
#include <gtest/gtest.h>

#include <cstdio>
#include <set>

#include "blocks.h"
#include "kiln/proto/trace.pb.h"
#include "kiln/traces/analysis.h"

namespace kiln::runtime::testing {
namespace {

std::unique_ptr<Runtime> open_rt(Mode mode, bool functional = true, const char* config = "tiny") {
  RuntimeOptions o;
  o.mode = mode;
  o.device.functional = functional;
  return take(Runtime::open(config, o));
}

// Simulated time of `body` plus waiting for everything it launched, in ns.
template <typename F>
double step_ns(Runtime& rt, F&& body) {
  const double t0 = rt.device().now_ns();
  body();
  EXPECT_TRUE(rt.synchronize().ok());
  return rt.device().now_ns() - t0;
}

struct BlockCase {
  Mode mode;
  DType dtype;
  double tol;
};

class Blocks : public ::testing::TestWithParam<BlockCase> {};

// fp32 within 2e-4; bf16 rounds every intermediate to 8 significant bits
// (relative error 2^-9 per rounding), so 5e-2 after a dozen ops.
TEST_P(Blocks, MlpMatchesTheHost) {
  const auto [mode, dtype, tol] = GetParam();
  auto rt = open_rt(mode);
  const MlpParams p = mlp_params({32, 64, 48, 16}, 100);
  const HostTensor x = host_random({8, 32}, 99);
  const DeviceMlp dp = mlp_upload(*rt, p, dtype);
  const Tensor y = mlp_device(dp, upload(*rt, x, dtype));
  ASSERT_TRUE(rt->mark_step().ok());
  expect_close(download(y), mlp_host(p, x), tol, tol, "mlp");
}

TEST_P(Blocks, TransformerBlockMatchesTheHost) {
  const auto [mode, dtype, tol] = GetParam();
  auto rt = open_rt(mode);
  const BlockParams p = block_params(32, 4, 64, 200);
  const HostTensor x = host_random({2, 6, 32}, 199);
  const DeviceBlock dp = block_upload(*rt, p, dtype);
  const Tensor y = block_device(dp, upload(*rt, x, dtype));
  ASSERT_TRUE(rt->mark_step().ok());
  expect_close(download(y), block_host(p, x), tol, tol, "transformer block");
}

INSTANTIATE_TEST_SUITE_P(Runtime, Blocks,
                         ::testing::Values(BlockCase{Mode::kEager, DType::kF32, 2e-4},
                                           BlockCase{Mode::kLazy, DType::kF32, 2e-4},
                                           BlockCase{Mode::kEager, DType::kBF16, 5e-2},
                                           BlockCase{Mode::kLazy, DType::kBF16, 5e-2},
                                           // fp16: 11 significant bits, 2^-12 per rounding.
                                           BlockCase{Mode::kEager, DType::kF16, 1e-2},
                                           BlockCase{Mode::kLazy, DType::kF16, 1e-2}),
                         [](const auto& p) {
                           return std::string(p.param.mode == Mode::kEager ? "Eager" : "Lazy") +
                                  std::string(dtype_name(p.param.dtype));
                         });

TEST(Steps, ASmallerLastBatchCompilesOnceMoreAndTheMissNamesTheInput) {
  auto rt = open_rt(Mode::kLazy);
  const MlpParams p = mlp_params({16, 32, 8}, 1);
  const DeviceMlp dp = mlp_upload(*rt, p, DType::kF32);
  ASSERT_TRUE(rt->mark_step().ok());
  const uint64_t before = rt->stats().compilations;
  for (int step = 0; step < 3; ++step) {
    Tensor y = mlp_device(dp, upload(*rt, host_random({8, 16}, step), DType::kF32));
    ASSERT_TRUE(rt->mark_step().ok());
  }
  EXPECT_EQ(rt->stats().compilations, before + 1);
  Tensor last = mlp_device(dp, upload(*rt, host_random({5, 16}, 9), DType::kF32));
  ASSERT_TRUE(rt->mark_step().ok());
  const RuntimeStats s = rt->stats();
  EXPECT_EQ(s.compilations, before + 2);
  ASSERT_FALSE(s.misses.empty());
  EXPECT_NE(s.misses.back().reason.find("f32[5, 16]"), std::string::npos) << s.misses.back().reason;
  EXPECT_NE(s.misses.back().reason.find("f32[8, 16]"), std::string::npos) << s.misses.back().reason;
  EXPECT_NE(s.misses.back().reason.find("linear"), std::string::npos) << s.misses.back().reason;
  expect_close(download(last), mlp_host(p, host_random({5, 16}, 9)), 2e-4, 2e-4, "last batch");
}

TEST(Steps, AReadMidStepIsAGraphBreakNamingTheOpAndTheSourceLine) {
  auto rt = open_rt(Mode::kLazy);
  Tensor a = upload(*rt, host_random({4, 4}, 1));
  ASSERT_TRUE(rt->mark_step().ok());
  Tensor scores = take(matmul(a, a));
  Tensor best = take(argmax(scores, -1));
  const int line = __LINE__ + 1;
  const auto index = take(best.to_host<int32_t>());  // a data-dependent branch would read this
  Tensor more = take(relu(scores));
  ASSERT_TRUE(rt->mark_step().ok());
  (void)take(more.to_host<float>());  // after mark_step: not a break
  const RuntimeStats s = rt->stats();
  EXPECT_EQ(s.graph_breaks, 1u);
  ASSERT_EQ(s.breaks.size(), 1u);
  EXPECT_EQ(s.breaks[0].op, "argmax");
  EXPECT_NE(s.breaks[0].source.find("steps_test.cpp:" + std::to_string(line)), std::string::npos)
      << s.breaks[0].source;
  EXPECT_NE(s.report().find("1x read of argmax at steps_test.cpp:"), std::string::npos) << s.report();
  // The host track marks it.
  const proto::Trace trace = rt->device().trace_proto();
  bool marked = false;
  for (const auto& e : trace.events()) marked |= e.name().find("graph break: read of argmax") != std::string::npos;
  EXPECT_TRUE(marked);
  EXPECT_EQ(index.size(), 4u);
}

// The simulated time of a steady-state step of `step` in `mode`: weights
// made by `setup` first, then a warm-up step that compiles.
template <typename Setup, typename Step>
double steady_step_ns(Mode mode, Setup&& setup, Step&& step) {
  auto rt = open_rt(mode);
  const auto weights = setup(*rt);
  EXPECT_TRUE(rt->synchronize().ok());
  auto run = [&] {
    Tensor y = step(*rt, weights);
    EXPECT_TRUE(rt->mark_step().ok());
  };
  (void)step_ns(*rt, run);
  return step_ns(*rt, run);
}

TEST(Steps, LazyBeatsEagerOnTheMlpAndTheTransformerBlockForTheRightReasons) {
  const MlpParams mp = mlp_params({64, 128, 128, 64}, 5);
  const HostTensor mx = host_random({16, 64}, 6);
  auto mlp_setup = [&](Runtime& rt) { return mlp_upload(rt, mp, DType::kBF16); };
  auto mlp = [&](Runtime& rt, const DeviceMlp& w) { return mlp_device(w, upload(rt, mx, DType::kBF16)); };
  const double eager_mlp = steady_step_ns(Mode::kEager, mlp_setup, mlp);
  const double lazy_mlp = steady_step_ns(Mode::kLazy, mlp_setup, mlp);
  EXPECT_LT(lazy_mlp, eager_mlp);

  const BlockParams bp = block_params(64, 4, 256, 7);
  const HostTensor bx = host_random({1, 16, 64}, 8);
  auto block_setup = [&](Runtime& rt) { return block_upload(rt, bp, DType::kBF16); };
  auto block = [&](Runtime& rt, const DeviceBlock& w) { return block_device(w, upload(rt, bx, DType::kBF16)); };
  const double eager_block = steady_step_ns(Mode::kEager, block_setup, block);
  const double lazy_block = steady_step_ns(Mode::kLazy, block_setup, block);
  EXPECT_LT(lazy_block, eager_block);
  std::printf("steady step (simulated): MLP eager %.1f us, lazy %.1f us; block eager %.1f us, lazy %.1f us\n",
              eager_mlp / 1e3, lazy_mlp / 1e3, eager_block / 1e3, lazy_block / 1e3);

  // Why: the eager step's host track holds one dispatch per op, the lazy
  // one a recording per op and one recipe launch.
  for (Mode mode : {Mode::kEager, Mode::kLazy}) {
    auto rt = open_rt(mode);
    const DeviceMlp w = mlp_setup(*rt);
    Tensor y = mlp(*rt, w);
    ASSERT_TRUE(rt->synchronize().ok());
    int dispatches = 0, records = 0, launches = 0;
    const proto::Trace trace = rt->device().trace_proto();
    for (const auto& e : trace.events()) {
      if (e.clock() != proto::HOST_SIMULATED) continue;
      dispatches += e.name().rfind("dispatch ", 0) == 0;
      records += e.name().rfind("record ", 0) == 0;
      launches += e.name() == "launch recipe";
    }
    const RuntimeStats s = rt->stats();
    if (mode == Mode::kEager) {
      EXPECT_EQ(dispatches, static_cast<int>(s.ops_eager));
      EXPECT_EQ(launches, static_cast<int>(s.steps));
    } else {
      EXPECT_EQ(dispatches, 0);
      EXPECT_EQ(records, static_cast<int>(s.ops_recorded));
      EXPECT_LE(launches, 2);  // the weights' step and the MLP's
    }
  }
}

TEST(Steps, TheWorkspaceIsSmallerThanTheIntermediatesAndEnginesOverlap) {
  // The Q, K and V projections as three GEMMs: independent work the
  // scheduler can overlap with the vector cores' (packed into one GEMM, the
  // block is a chain with nothing to overlap).
  RuntimeOptions o;
  o.mode = Mode::kLazy;
  o.disabled_passes = {"fuse_shared_input_gemms"};
  auto rt = take(Runtime::open("tiny", o));
  const BlockParams p = block_params(64, 4, 256, 11);
  const DeviceBlock dp = block_upload(*rt, p, DType::kBF16);
  ASSERT_TRUE(rt->synchronize().ok());
  const uint64_t events_before = static_cast<uint64_t>(rt->device().trace_proto().events_size());
  Tensor y = block_device(dp, upload(*rt, host_random({2, 32, 64}, 12), DType::kBF16));
  ASSERT_TRUE(rt->synchronize().ok());
  const RuntimeStats s = rt->stats();
  EXPECT_GT(s.last_workspace_bytes, 0u);
  EXPECT_LT(s.last_workspace_bytes, s.last_intermediate_bytes);
  // Some matrix-engine job runs while a vector-core job does.
  const proto::Trace trace = rt->device().trace_proto();
  std::vector<std::pair<uint64_t, uint64_t>> mme, tpc;
  for (int i = static_cast<int>(events_before); i < trace.events_size(); ++i) {
    const auto& e = trace.events(i);
    if (e.clock() != proto::DEVICE_SIMULATED) continue;
    if (e.track().rfind("MME", 0) == 0) mme.emplace_back(e.start_ps(), e.end_ps());
    if (e.track().rfind("TPC", 0) == 0) tpc.emplace_back(e.start_ps(), e.end_ps());
  }
  ASSERT_FALSE(mme.empty());
  ASSERT_FALSE(tpc.empty());
  bool overlap = false;
  for (const auto& m : mme)
    for (const auto& t : tpc) overlap |= m.first < t.second && t.first < m.second;
  EXPECT_TRUE(overlap);
}

std::vector<std::string> simulated_events(const proto::Trace& trace) {
  std::vector<std::string> out;
  for (const auto& e : trace.events()) {
    if (e.clock() == proto::HOST_WALL) continue;
    out.push_back(e.track() + "|" + e.name() + "|" + std::to_string(e.start_ps()) + "|" + std::to_string(e.end_ps()) +
                  "|" + std::to_string(e.bytes()));
  }
  return out;
}

TEST(Steps, TwoRunsOfALazyStepGiveIdenticalTraces) {
  std::vector<std::string> first;
  for (int run = 0; run < 2; ++run) {
    auto rt = open_rt(Mode::kLazy);
    const DeviceBlock dp = block_upload(*rt, block_params(32, 4, 64, 13), DType::kF32);
    Tensor y = block_device(dp, upload(*rt, host_random({2, 8, 32}, 14)));
    ASSERT_TRUE(rt->synchronize().ok());
    const auto events = simulated_events(rt->device().trace_proto());
    ASSERT_GT(events.size(), 20u);
    if (run == 0) first = events;
    else EXPECT_EQ(events, first);
  }
}

TEST(Steps, TimingOnlyRunsTheGpt2BlockInTheSameSimulatedTimeAsAFunctionalRun) {
  // GPT-2 124M's layer: d_model 768, 12 heads, FFN 3072; a 64-token sequence.
  const BlockParams shapes = block_params(768, 12, 3072, 15);
  double times[2] = {};
  for (int functional = 0; functional < 2; ++functional) {
    auto rt = open_rt(Mode::kLazy, functional == 1, "gaudi2");
    const DeviceBlock dp = block_upload(*rt, shapes, DType::kBF16);
    const Tensor x = upload(*rt, host_random({1, 64, 768}, 16), DType::kBF16);
    ASSERT_TRUE(rt->synchronize().ok());
    times[functional] = step_ns(*rt, [&] {
      Tensor y = block_device(dp, x);
      ASSERT_TRUE(rt->mark_step().ok());
      ASSERT_EQ(to_string(y.shape()), "[1, 64, 768]");
    });
  }
  EXPECT_GT(times[0], 0);
  EXPECT_EQ(times[0], times[1]);
}

}  // namespace
}  // namespace kiln::runtime::testing

namespace kiln::runtime::testing {
namespace {

TEST(Steps, EngineJobsNameTheirOpsSoTheTraceHasAPerOpTableAndACriticalPath) {
  auto rt = open_rt(Mode::kLazy);
  const DeviceBlock dp = block_upload(*rt, block_params(32, 4, 64, 17), DType::kBF16);
  ASSERT_TRUE(rt->synchronize().ok());
  Tensor y;
  {
    OpScope layer("layer0");
    y = block_device(dp, upload(*rt, host_random({1, 8, 32}, 18), DType::kBF16));
  }
  ASSERT_TRUE(rt->synchronize().ok());
  const proto::Trace trace = rt->device().trace_proto();
  std::set<std::string> ops;
  for (const auto& e : trace.events()) {
    if (e.track().rfind("MME", 0) == 0 || e.track().rfind("TPC", 0) == 0) {
      for (const auto& op : e.ops()) ops.insert(op);
    }
  }
  EXPECT_TRUE(ops.count("layer0/linear")) << ops.size();
  EXPECT_TRUE(ops.count("layer0/attention"));
  EXPECT_TRUE(ops.count("layer0/layer_norm"));
  const auto table = traces::model_op_table(trace);
  ASSERT_FALSE(table.empty());
  bool linear = false;
  for (const auto& row : table) linear |= row.op == "layer0/linear" && row.time_ps > 0;
  EXPECT_TRUE(linear);
  const traces::CriticalPath path = traces::critical_path(trace);
  EXPECT_FALSE(path.steps.empty());
  EXPECT_GT(path.length_ps, 0u);
  EXPECT_LE(path.length_ps, path.span_ps());
}

}  // namespace
}  // namespace kiln::runtime::testing
