// Graph capture and replay: values, what cannot be captured, binding and
// parameter updates, the graphed-callable wrapper, and the host time a
// replay saves on the simulated timeline.
#include <gtest/gtest.h>

#include <cstdio>

#include "blocks.h"
#include "kiln/runtime/custom_op.h"

namespace kiln::runtime::testing {
namespace {

std::unique_ptr<Runtime> open_capturing(const char* config = "tiny") {
  RuntimeOptions o;
  o.mode = Mode::kLazy;
  return take(Runtime::open(config, o));
}

std::vector<float> floats(const HostTensor& t) { return std::vector<float>(t.v.begin(), t.v.end()); }

TEST(GraphCapture, ReplaysGiveTheLazyValuesAndCompileNothing) {
  auto rt = open_capturing();
  const MlpParams p = mlp_params({16, 32, 8}, 1);
  const DeviceMlp dp = mlp_upload(*rt, p, DType::kF32);
  Tensor x = upload(*rt, host_random({4, 16}, 1));
  ASSERT_TRUE(rt->capture_begin().ok());
  Tensor y = mlp_device(dp, x);
  CapturedGraph g = take(rt->capture_end());
  EXPECT_FALSE(rt->capturing());
  ASSERT_EQ(g.outputs().size(), 1u);
  EXPECT_GT(g.ops(), 3u);
  const RuntimeStats after_capture = rt->stats();
  for (uint32_t step = 0; step < 3; ++step) {
    const HostTensor in = host_random({4, 16}, 10 + step);
    ASSERT_TRUE(rt->copy_from_host(x, floats(in).data(), 4 * 16 * sizeof(float)).ok());
    ASSERT_TRUE(g.replay().ok());
    // The same tensor, rewritten in place by each replay.
    auto plain = open_capturing();
    const DeviceMlp rp = mlp_upload(*plain, p, DType::kF32);
    EXPECT_EQ(download(y).v, download(mlp_device(rp, upload(*plain, in))).v) << "replay " << step;
    expect_close(download(y), mlp_host(p, in), 2e-4, 2e-4, "host");
  }
  const RuntimeStats s = rt->stats();
  EXPECT_EQ(s.compilations, after_capture.compilations);
  EXPECT_EQ(s.cache_hits, after_capture.cache_hits);
  EXPECT_EQ(s.replays, 3u);
  EXPECT_EQ(s.captures, 1u);
  EXPECT_EQ(g.replays(), 3u);
}

TEST(GraphCapture, AReadToTheHostDiscardsTheCaptureAndTheRuntimeStaysUsable) {
  auto rt = open_capturing();
  Tensor x = upload(*rt, host_random({8}, 2));
  ASSERT_TRUE(rt->capture_begin().ok());
  Tensor y = take(relu(x));
  const Status read = y.to_host(std::vector<float>(8).data(), 8 * sizeof(float));
  EXPECT_NE(read.message().find("to_host"), std::string::npos) << read.message();
  EXPECT_NE(read.message().find("is not supported during graph capture"), std::string::npos) << read.message();
  EXPECT_FALSE(rt->capturing());
  EXPECT_EQ(rt->stats().captures_discarded, 1u);
  // Nothing of the capture is half-kept: its tensors are lost.
  EXPECT_FALSE(y.to_host<float>().ok());
  // The runtime goes on: a lazy step, then a capture that works.
  Tensor z = take(neg(x));
  ASSERT_TRUE(rt->mark_step().ok());
  HostTensor want = download(x);
  for (double& v : want.v) v = -v;
  EXPECT_EQ(download(z).v, want.v);
  ASSERT_TRUE(rt->capture_begin().ok());
  Tensor w = take(neg(x));
  CapturedGraph g = take(rt->capture_end());
  ASSERT_TRUE(g.replay().ok());
  EXPECT_EQ(download(w).v, want.v);
}

TEST(GraphCapture, WhatCannotBeCapturedIsNamedAndOnlyOneCaptureAtATime) {
  auto rt = open_capturing();
  Tensor x = upload(*rt, host_random({8}, 3));
  EXPECT_FALSE(rt->capture_end().ok());
  ASSERT_TRUE(rt->capture_begin().ok());
  const Status twice = rt->capture_begin();
  EXPECT_NE(twice.message().find("in progress already"), std::string::npos) << twice.message();
  EXPECT_TRUE(rt->capturing());
  const Status sync = rt->synchronize();
  EXPECT_NE(sync.message().find("synchronize is not supported during graph capture"), std::string::npos)
      << sync.message();
  ASSERT_TRUE(rt->capture_begin().ok());
  const Status copy = rt->copy_(x, x);
  EXPECT_NE(copy.message().find("copy_ is not supported during graph capture"), std::string::npos) << copy.message();
  EXPECT_EQ(rt->stats().captures_discarded, 2u);
  // mark_step inside a capture is a no-op: the capture is one graph.
  ASSERT_TRUE(rt->capture_begin().ok());
  Tensor a = take(relu(x));
  ASSERT_TRUE(rt->mark_step().ok());
  Tensor b = take(neg(a));
  CapturedGraph g = take(rt->capture_end());
  EXPECT_EQ(g.ops(), 2u);
  ASSERT_TRUE(g.replay().ok());
  EXPECT_EQ(download(b).v, download(take(neg(take(relu(x))))).v);
}

TEST(GraphCapture, EagerThreadsAreRecordedWhileCapturing) {
  auto rt = open_capturing();
  Tensor x = upload(*rt, host_random({8}, 4));
  ASSERT_TRUE(rt->capture_begin().ok());
  Tensor y;
  {
    ModeScope eager(*rt, Mode::kEager);
    y = take(exp(x));
  }
  CapturedGraph g = take(rt->capture_end());
  EXPECT_EQ(rt->stats().ops_eager, 0u);
  ASSERT_TRUE(g.replay().ok());
  HostTensor want = download(x);
  for (double& v : want.v) v = std::exp(v);
  expect_close(download(y), want, 1e-6, 1e-6, "exp");
}

TEST(GraphCapture, InputsRebindAndScalarParametersUpdateWithoutRecapturing) {
  auto rt = open_capturing();
  Tensor x1 = upload(*rt, host_random({6}, 5));
  Tensor x2 = upload(*rt, host_random({6}, 6));
  ASSERT_TRUE(rt->capture_begin().ok());
  Tensor y = take(mul(x1, 2.0));
  CapturedGraph g = take(rt->capture_end());
  ASSERT_TRUE(g.replay().ok());
  HostTensor want = download(x1);
  for (double& v : want.v) v *= 2;
  EXPECT_EQ(download(y).v, want.v);

  // Another input: no compilation.
  const uint64_t compiled = rt->stats().compilations;
  ASSERT_TRUE(g.rebind_input(x1, x2).ok());
  ASSERT_TRUE(g.replay().ok());
  want = download(x2);
  for (double& v : want.v) v *= 2;
  EXPECT_EQ(download(y).v, want.v);
  EXPECT_EQ(rt->stats().compilations, compiled);
  EXPECT_FALSE(g.rebind_input(x1, x2).ok());  // x1 is no longer an input
  EXPECT_FALSE(g.rebind_input(x2, upload(*rt, host_random({7}, 1))).ok());

  // A newer capture with another scalar: y (this graph's output) gets it.
  ASSERT_TRUE(rt->capture_begin().ok());
  Tensor y3 = take(mul(x2, 3.0));
  CapturedGraph newer = take(rt->capture_end());
  ASSERT_TRUE(g.update(newer).ok());
  ASSERT_TRUE(g.replay().ok());
  want = download(x2);
  for (double& v : want.v) v = static_cast<float>(v) * 3.0f;
  EXPECT_EQ(download(y).v, want.v);

  // Another topology is refused, naming the node.
  ASSERT_TRUE(rt->capture_begin().ok());
  Tensor y4 = take(add(x2, x2));
  CapturedGraph other = take(rt->capture_end());
  const Status refused = g.update(other);
  EXPECT_NE(refused.message().find("node 0 (add"), std::string::npos) << refused.message();
  // (node 0 of `mul(x, 3.0)` is the scalar constant it multiplies by)
  EXPECT_NE(refused.message().find("not full"), std::string::npos) << refused.message();
  ASSERT_TRUE(g.replay().ok());  // unchanged
  EXPECT_EQ(download(y).v, want.v);
}

TEST(GraphCapture, AWorkspaceGivenBackBetweenReplaysGivesTheSameValues) {
  auto rt = open_capturing();
  const BlockParams p = block_params(16, 2, 32, 7);
  const DeviceBlock dp = block_upload(*rt, p, DType::kF32);
  const HostTensor in = host_random({1, 5, 16}, 8);
  Tensor x = upload(*rt, in);
  for (bool keep : {true, false}) {
    ASSERT_TRUE(rt->capture_begin().ok());
    Tensor y = block_device(dp, x);
    CaptureOptions o;
    o.keep_workspace = keep;
    CapturedGraph g = take(rt->capture_end(o));
    ASSERT_TRUE(g.replay().ok());
    ASSERT_TRUE(g.replay().ok());
    expect_close(download(y), block_host(p, in), 2e-4, 2e-4, keep ? "kept workspace" : "pooled workspace");
  }
}

// A kernel-implemented custom op and fused attention are ordinary graph
// nodes: captured and replayed like the rest, with the lazy values.
TEST(GraphCapture, CustomOpsAndFusedAttentionReplay) {
  CustomOpDef def;
  def.schema.name = "graph_capture_test.leaky";
  def.schema.inputs = {{"x", {DType::kF32}}};
  def.schema.attrs = {{"slope", AttrType::kFloat, AttrValue{0.25}}};
  def.infer = [](const std::vector<TensorMeta>& in, const AttrMap&, std::vector<TensorMeta>& out) {
    out = {in[0]};
    return Status{};
  };
  def.kernel.kernel = "leaky_relu";
  ASSERT_TRUE(register_custom_op(def).ok());
  auto rt = open_capturing();
  Tensor q = upload(*rt, host_random({1, 2, 40, 16}, 13));
  Tensor k = upload(*rt, host_random({1, 2, 48, 16}, 14));
  Tensor v = upload(*rt, host_random({1, 2, 48, 16}, 15));
  auto program = [&] {
    SdpaOptions o;
    o.causal = true;
    const Tensor a = take(fused_sdpa(q, k, v, o));
    return take(call_custom_op("graph_capture_test.leaky", {a}, {{"slope", 0.1}}))[0];
  };
  const HostTensor want = download(program());  // lazy
  ASSERT_TRUE(rt->capture_begin().ok());
  Tensor y = program();
  CapturedGraph g = take(rt->capture_end());
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(g.replay().ok());
    EXPECT_EQ(download(y).v, want.v) << "replay " << i;
  }
}

TEST(GraphedCallables, OneGraphPerSignatureStaticOutputsAndAFallbackPastTheBound) {
  auto rt = open_capturing();
  const MlpParams p = mlp_params({8, 16, 4}, 9);
  const DeviceMlp dp = mlp_upload(*rt, p, DType::kF32);
  GraphedOptions o;
  o.max_graphs = 2;
  GraphedCallable f(*rt, [&](const std::vector<Tensor>& in) -> Result<std::vector<Tensor>> {
    return std::vector<Tensor>{mlp_device(dp, in[0])};
  }, o);
  std::vector<Tensor> first;
  for (int64_t batch : {4, 4, 2, 4, 3}) {
    const HostTensor in = host_random({batch, 8}, static_cast<uint32_t>(batch) + 20);
    const std::vector<Tensor> out = take(f({upload(*rt, in)}));
    ASSERT_EQ(out.size(), 1u);
    expect_close(download(out[0]), mlp_host(p, in), 2e-4, 2e-4, "graphed mlp");
    if (batch == 4 && first.empty()) first = out;
  }
  EXPECT_EQ(f.graphs(), 2u);
  EXPECT_EQ(f.fallbacks(), 1u);  // batch 3: a third signature, past max_graphs
  EXPECT_EQ(rt->stats().captures, 2u);
  EXPECT_EQ(rt->stats().replays, 4u);

  // Without copies the outputs alias the static outputs: the next call of
  // the same signature rewrites them. With copies they stay.
  const HostTensor a = host_random({4, 8}, 30), b = host_random({4, 8}, 31);
  const Tensor out_a = take(f({upload(*rt, a)}))[0];
  (void)take(f({upload(*rt, b)}));
  expect_close(download(out_a), mlp_host(p, b), 2e-4, 2e-4, "aliased");
  GraphedOptions copies;
  copies.return_copies = true;
  GraphedCallable g(*rt, [&](const std::vector<Tensor>& in) -> Result<std::vector<Tensor>> {
    return std::vector<Tensor>{mlp_device(dp, in[0])};
  }, copies);
  const Tensor kept = take(g({upload(*rt, a)}))[0];
  (void)take(g({upload(*rt, b)}));
  expect_close(download(kept), mlp_host(p, a), 2e-4, 2e-4, "copied");
}

// Many small ops at batch 1: the host dominates the step. Eager dispatches
// each op, lazy records each and launches one recipe, a replay only
// launches: the simulated step time shows it.
TEST(GraphCapture, AHostBoundStepIsFasterUnderReplayThanLazyAndEager) {
  const MlpParams p = mlp_params({16, 16, 16, 16, 16, 16, 16, 16, 16}, 11);
  const HostTensor in = host_random({1, 16}, 12);
  auto step_ns = [](Runtime& rt, const std::function<void()>& body) {
    for (int warm = 0; warm < 2; ++warm) {
      body();
      EXPECT_TRUE(rt.synchronize().ok());
    }
    const double t0 = rt.device().now_ns();
    body();
    EXPECT_TRUE(rt.synchronize().ok());
    return rt.device().now_ns() - t0;
  };
  double ns[3];
  for (int mode = 0; mode < 3; ++mode) {
    RuntimeOptions o;
    o.mode = mode == 0 ? Mode::kEager : Mode::kLazy;
    auto rt = take(Runtime::open("gaudi2", o));
    const DeviceMlp dp = mlp_upload(*rt, p, DType::kF32);
    Tensor x = upload(*rt, in);
    if (mode < 2) {
      ns[mode] = step_ns(*rt, [&] {
        (void)mlp_device(dp, x);
        EXPECT_TRUE(rt->mark_step().ok());
      });
    } else {
      ASSERT_TRUE(rt->capture_begin().ok());
      Tensor y = mlp_device(dp, x);
      CapturedGraph g = take(rt->capture_end());
      ns[mode] = step_ns(*rt, [&] { EXPECT_TRUE(g.replay().ok()); });
      expect_close(download(y), mlp_host(p, in), 2e-4, 2e-4, "replayed");
    }
  }
  std::printf("host-bound step (simulated): eager %.2f us, lazy %.2f us, replay %.2f us\n", ns[0] / 1e3, ns[1] / 1e3,
              ns[2] / 1e3);
  EXPECT_LT(ns[2], ns[1]);
  EXPECT_LT(ns[1], ns[0]);
}

}  // namespace
}  // namespace kiln::runtime::testing
