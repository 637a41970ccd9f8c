// Legalisation of matrix-engine operands (runtime/src/compiler.cpp): a matmul
// operand that is the transpose of a dense matrix -- linear's W^T, x^T -- is
// read in place with kTransposeA / kTransposeB instead of being copied by a
// vector-core job; the "mme_transpose" switch brings the copy back. Values
// match the host either way (bit for bit between the two), the recipe cache
// tells a transposed view from a dense one, and the transformer block runs
// fewer vector-core jobs in less simulated time.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>

#include "blocks.h"
#include "kiln/proto/trace.pb.h"

namespace kiln::runtime::testing {
namespace {

std::unique_ptr<Runtime> open_lazy(std::vector<std::string> disabled = {}, const char* config = "tiny",
                                   bool functional = true) {
  RuntimeOptions o;
  o.mode = Mode::kLazy;
  o.disabled_passes = std::move(disabled);
  o.device.functional = functional;
  return take(Runtime::open(config, o));
}

int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// Vector-core kernels launched since event `first` (core 0's events: every job has a slice there).
std::vector<std::string> tpc_kernels_since(const proto::Trace& trace, int first) {
  std::vector<std::string> out;
  for (int i = first; i < trace.events_size(); ++i) {
    if (trace.events(i).track() == "TPC0") out.push_back(trace.events(i).name());
  }
  return out;
}

struct LinearRun {
  HostTensor values;
  RuntimeStats stats;
};

LinearRun run_linear(const HostTensor& x, const HostTensor& w, const HostTensor& b, DType dtype,
                     std::vector<std::string> disabled = {}) {
  auto rt = open_lazy(std::move(disabled));
  Tensor tx = upload(*rt, x, dtype), tw = upload(*rt, w, dtype), tb = upload(*rt, b, dtype);
  EXPECT_TRUE(rt->mark_step().ok());
  Tensor y = take(linear(tx, tw, tb));
  EXPECT_TRUE(rt->synchronize().ok());
  RuntimeStats s = rt->stats();  // the linear's step, before the read adds a cast
  return {download(y), s};
}

TEST(Legalize, LinearReadsItsWeightTransposedInPlaceWithNoCopy) {
  const HostTensor x = host_random({6, 16}, 1), w = host_random({24, 16}, 2), b = host_random({24}, 3);
  // f32 within fp32 accumulation; bf16 and f16 round inputs and output.
  const std::pair<DType, double> cases[] = {{DType::kF32, 1e-5}, {DType::kBF16, 2e-2}, {DType::kF16, 4e-3}};
  for (const auto& [dtype, tol] : cases) {
    SCOPED_TRACE(dtype_name(dtype));
    const LinearRun in_place = run_linear(x, w, b, dtype);
    const std::string& log = in_place.stats.last_compile_log;
    EXPECT_EQ(log.find("legalize: copied"), std::string::npos) << log;
    EXPECT_NE(log.find("legalize: matmul reads input 1 transposed in place (kTransposeB)"), std::string::npos) << log;
    // The GEMM with the bias in its epilogue (a bf16 or f16 bias is first cast to the epilogue's fp32).
    EXPECT_EQ(in_place.stats.last_step_jobs, dtype == DType::kF32 ? 1u : 2u);
    const HostTensor want = h_linear(rounded(dtype, x), rounded(dtype, w), rounded(dtype, b));
    expect_close(in_place.values, rounded(dtype, want), tol, tol, "linear");

    // As before: a vector-core copy of W^T, then the GEMM -- the same values, bit for bit.
    const LinearRun copied = run_linear(x, w, b, dtype, {"mme_transpose"});
    EXPECT_NE(copied.stats.last_compile_log.find("legalize: copied input 1 of matmul densely"), std::string::npos)
        << copied.stats.last_compile_log;
    EXPECT_EQ(copied.stats.last_step_jobs, in_place.stats.last_step_jobs + 1);
    EXPECT_EQ(copied.values.v, in_place.values.v);
  }
}

TEST(Legalize, ATransposedOrBatchedTransposedLeftOperandIsReadInPlace) {
  auto rt = open_lazy();
  // a [3, 5, 7] seen as [3, 7, 5] times b [3, 6, 5] seen as [3, 5, 6]: both transposed, batch strides 35 and 30.
  const HostTensor a = host_random({3, 5, 7}, 4), b = host_random({3, 6, 5}, 5);
  Tensor ta = upload(*rt, a), tb = upload(*rt, b);
  ASSERT_TRUE(rt->mark_step().ok());
  Tensor y = take(matmul(take(ta.transpose(-1, -2)), take(tb.transpose(-1, -2))));
  ASSERT_TRUE(rt->synchronize().ok());
  const std::string log = rt->stats().last_compile_log;
  EXPECT_EQ(log.find("legalize: copied"), std::string::npos) << log;
  EXPECT_NE(log.find("reads input 0 transposed in place (kTransposeA)"), std::string::npos) << log;
  EXPECT_NE(log.find("reads input 1 transposed in place (kTransposeB)"), std::string::npos) << log;
  EXPECT_EQ(rt->stats().last_step_jobs, 1u);
  HostTensor want = host_zeros({3, 7, 6});
  for (int bi = 0; bi < 3; ++bi)
    for (int i = 0; i < 7; ++i)
      for (int j = 0; j < 6; ++j)
        for (int p = 0; p < 5; ++p) want[(bi * 7 + i) * 6 + j] += a[(bi * 5 + p) * 7 + i] * b[(bi * 6 + j) * 5 + p];
  expect_close(download(y), want, 1e-5, 1e-5, "a^T b^T");

  // A weight shared by the batch (broadcast), transposed: x [2, 4, 8] times w [3, 8]^T.
  const HostTensor x = host_random({2, 4, 8}, 6), w = host_random({3, 8}, 7);
  Tensor tx = upload(*rt, x), tw = upload(*rt, w);
  ASSERT_TRUE(rt->mark_step().ok());
  Tensor z = take(matmul(tx, take(tw.transpose(0, 1))));
  ASSERT_TRUE(rt->synchronize().ok());
  EXPECT_EQ(rt->stats().last_compile_log.find("legalize: copied"), std::string::npos) << rt->stats().last_compile_log;
  expect_close(download(z), h_linear(x, w, HostTensor{}), 1e-5, 1e-5, "x w^T, shared w");
}

TEST(Legalize, TheRecipeCacheTellsATransposedViewFromADenseOperand) {
  auto rt = open_lazy();
  const HostTensor x = host_random({8, 8}, 8), w = host_random({8, 8}, 9);
  Tensor tx = upload(*rt, x), tw = upload(*rt, w);
  ASSERT_TRUE(rt->mark_step().ok());
  const uint64_t compiled = rt->stats().compilations;
  // The same inputs, the same shapes: only the strides of the view differ.
  Tensor dense = take(matmul(tx, tw));
  ASSERT_TRUE(rt->mark_step().ok());
  Tensor transposed = take(matmul(tx, take(tw.transpose(0, 1))));
  ASSERT_TRUE(rt->synchronize().ok());
  EXPECT_EQ(rt->stats().compilations, compiled + 2);
  HostTensor want_dense = host_zeros({8, 8}), want_transposed = host_zeros({8, 8});
  for (int i = 0; i < 8; ++i)
    for (int j = 0; j < 8; ++j)
      for (int p = 0; p < 8; ++p) {
        want_dense[i * 8 + j] += x[i * 8 + p] * w[p * 8 + j];
        want_transposed[i * 8 + j] += x[i * 8 + p] * w[j * 8 + p];
      }
  expect_close(download(dense), want_dense, 1e-5, 1e-5, "x w");
  expect_close(download(transposed), want_transposed, 1e-5, 1e-5, "x w^T");
}

// ResNet's stem pooling (3x3, stride 2, pad 1) and a padded 3x3 conv.
Pool2dOptions stem_pool() {
  Pool2dOptions pool;
  pool.kernel_h = pool.kernel_w = 3;
  pool.stride_h = pool.stride_w = 2;
  pool.pad_h = pool.pad_w = 1;
  return pool;
}
Conv2dOptions padded_conv() {
  Conv2dOptions three;
  three.pad_h = three.pad_w = 1;
  return three;
}

// A pooled image (the pooling kernels write NHWC: the NCHW result is a
// permuted view) read by two convolutions, as ResNet's first block reads
// its max pool's output in its first conv and its downsample. Read as
// channels-last input by both, with no copy, and the bits of a dense copy.
TEST(Legalize, ConvolutionsReadAPooledImageChannelsLastInPlace) {
  const HostTensor x = host_random({2, 8, 12, 12}, 33), w1 = host_random({8, 8, 1, 1}, 34),
                   w2 = host_random({16, 8, 3, 3}, 35);
  const Pool2dOptions pool = stem_pool();
  const Conv2dOptions three = padded_conv();
  std::vector<double> values[2][2];
  std::string logs[2];
  uint64_t jobs[2] = {0, 0};
  for (int copied = 0; copied < 2; ++copied) {
    auto rt = open_lazy(copied ? std::vector<std::string>{"mme_channels_last"} : std::vector<std::string>{});
    Tensor tx = upload(*rt, x), tw1 = upload(*rt, w1), tw2 = upload(*rt, w2);
    ASSERT_TRUE(rt->mark_step().ok());
    Tensor pooled = take(avg_pool2d(tx, pool));
    Tensor a = take(conv2d(pooled, tw1, std::nullopt)), b = take(conv2d(pooled, tw2, std::nullopt, three));
    ASSERT_TRUE(rt->synchronize().ok());
    logs[copied] = rt->stats().last_compile_log;
    jobs[copied] = rt->stats().last_step_jobs;
    values[copied][0] = download(a).v;
    values[copied][1] = download(b).v;
  }
  EXPECT_EQ(count(logs[0], "legalize: conv2d reads input 0 channels-last in place (kChannelsLastInput)"), 2) << logs[0];
  EXPECT_EQ(count(logs[0], "legalize: copied"), 0) << logs[0];
  EXPECT_EQ(count(logs[1], "legalize: copied input 0 of conv2d densely"), 1) << logs[1];
  EXPECT_EQ(jobs[1] - jobs[0], 1u);  // the copy's vector-core job
  EXPECT_EQ(values[0][0], values[1][0]);
  EXPECT_EQ(values[0][1], values[1][1]);
}

// The same two readers with channels-last reads off: one dense copy serves
// both, with the values each conv computes from a copy of its own.
TEST(Legalize, OneDenseCopyServesEveryMatrixEngineReaderOfAView) {
  const HostTensor x = host_random({1, 8, 12, 12}, 30), w1 = host_random({8, 8, 1, 1}, 31),
                   w2 = host_random({16, 8, 3, 3}, 32);
  const Pool2dOptions pool = stem_pool();
  const Conv2dOptions three = padded_conv();
  auto rt = open_lazy({"mme_channels_last"});
  Tensor tx = upload(*rt, x), tw1 = upload(*rt, w1), tw2 = upload(*rt, w2);
  ASSERT_TRUE(rt->mark_step().ok());
  Tensor pooled = take(max_pool2d(tx, pool));
  Tensor a = take(conv2d(pooled, tw1, std::nullopt)), b = take(conv2d(pooled, tw2, std::nullopt, three));
  ASSERT_TRUE(rt->synchronize().ok());
  const std::string log = rt->stats().last_compile_log;
  EXPECT_EQ(count(log, "legalize: copied input 0 of conv2d densely"), 1) << log;
  EXPECT_EQ(count(log, "legalize: input 0 of conv2d reads the dense copy made for an earlier reader"), 1) << log;
  // Each conv in a step of its own copies the view for itself.
  Tensor pooled_alone = take(max_pool2d(tx, pool));
  Tensor a_alone = take(conv2d(pooled_alone, tw1, std::nullopt));
  ASSERT_TRUE(rt->mark_step().ok());
  Tensor b_alone = take(conv2d(pooled_alone, tw2, std::nullopt, three));
  ASSERT_TRUE(rt->synchronize().ok());
  EXPECT_EQ(download(a).v, download(a_alone).v);
  EXPECT_EQ(download(b).v, download(b_alone).v);
}

// One lazy step of the transformer block: its compile log, engine jobs and vector-core kernels.
struct BlockStep {
  HostTensor values;
  RuntimeStats stats;
  std::vector<std::string> tpc;
};

BlockStep block_step(const BlockParams& p, const HostTensor& x, std::vector<std::string> disabled) {
  auto rt = open_lazy(std::move(disabled));
  const DeviceBlock dp = block_upload(*rt, p, DType::kF32);
  Tensor tx = upload(*rt, x);
  EXPECT_TRUE(rt->synchronize().ok());
  const int first = rt->device().trace_proto().events_size();
  Tensor y = block_device(dp, tx);
  EXPECT_TRUE(rt->synchronize().ok());
  BlockStep s{{}, rt->stats(), tpc_kernels_since(rt->device().trace_proto(), first)};
  s.values = download(y);
  return s;
}

TEST(Legalize, TheTransformerBlockRunsNoCopyOfAnyWeight) {
  const BlockParams p = block_params(32, 4, 64, 20);
  const HostTensor x = host_random({2, 8, 32}, 21);
  // Without QKV packing, so each of the six linears has its own weight.
  const BlockStep now = block_step(p, x, {"fuse_shared_input_gemms"});
  const BlockStep before = block_step(p, x, {"mme_transpose", "fuse_shared_input_gemms"});
  const int copies_now = count(now.stats.last_compile_log, "legalize: copied");
  const int copies_before = count(before.stats.last_compile_log, "legalize: copied");
  // Six linear layers (q, k, v, the projection, the two FFN layers): six
  // weight copies fewer. What is still copied is attention's: q, k^T and v
  // are views of [2, 8, 4, 8] over heads whose batch dims do not collapse to
  // one stride.
  EXPECT_EQ(copies_before - copies_now, 6) << now.stats.last_compile_log;
  EXPECT_EQ(before.stats.last_step_jobs - now.stats.last_step_jobs, 6u);
  EXPECT_EQ(before.tpc.size() - now.tpc.size(), 6u);
  EXPECT_EQ(count(now.stats.last_compile_log, "transposed in place (kTransposeB)"), 6) << now.stats.last_compile_log;
  std::printf("transformer block step: %zu vector-core jobs (%zu with the weight copies), %llu engine jobs (%llu)\n",
              now.tpc.size(), before.tpc.size(), static_cast<unsigned long long>(now.stats.last_step_jobs),
              static_cast<unsigned long long>(before.stats.last_step_jobs));
  expect_close(now.values, block_host(p, x), 2e-4, 2e-4, "transformer block");
  EXPECT_EQ(now.values.v, before.values.v);
}

TEST(Legalize, TheGpt2BlockStepTakesLessSimulatedTimeWithoutTheWeightCopies) {
  // GPT-2 124M's layer on gaudi2, timing-only: d_model 768, 12 heads, FFN 3072; 64 tokens.
  const BlockParams shapes = block_params(768, 12, 3072, 15);
  double ns[2] = {};
  uint64_t jobs[2] = {};
  for (int copies = 0; copies < 2; ++copies) {
    auto rt = open_lazy(copies ? std::vector<std::string>{"mme_transpose"} : std::vector<std::string>{}, "gaudi2",
                        /*functional=*/false);
    const DeviceBlock dp = block_upload(*rt, shapes, DType::kBF16);
    const Tensor x = upload(*rt, host_random({1, 64, 768}, 16), DType::kBF16);
    ASSERT_TRUE(rt->synchronize().ok());
    // The second step is the steady one (the first compiles).
    for (int step = 0; step < 2; ++step) {
      const double t0 = rt->device().now_ns();
      Tensor y = block_device(dp, x);
      ASSERT_TRUE(rt->synchronize().ok());
      ns[copies] = rt->device().now_ns() - t0;
    }
    jobs[copies] = rt->stats().last_step_jobs;
  }
  std::printf("GPT-2 block step on gaudi2 (simulated): %.1f us, %llu engine jobs; with weight copies %.1f us, %llu\n",
              ns[0] / 1e3, static_cast<unsigned long long>(jobs[0]), ns[1] / 1e3,
              static_cast<unsigned long long>(jobs[1]));
  EXPECT_LT(jobs[0], jobs[1]);
  EXPECT_LT(ns[0], ns[1]);
}

}  // namespace
}  // namespace kiln::runtime::testing
