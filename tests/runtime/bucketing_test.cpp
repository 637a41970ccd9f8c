// Bucketing: varying batch sizes reuse the recipe of their bucket, with the
// values of the unpadded computation.
#include <gtest/gtest.h>

#include "blocks.h"

namespace kiln::runtime::testing {
namespace {

TEST(Bucketing, BatchesInOneBucketShareARecipeWithTheUnpaddedValues) {
  RuntimeOptions o;
  o.mode = Mode::kLazy;
  o.batch_buckets = {4, 8, 16};
  auto rt = take(Runtime::open("tiny", o));
  const MlpParams p = mlp_params({16, 32, 8}, 3);
  const DeviceMlp dp = mlp_upload(*rt, p, DType::kF32);
  ASSERT_TRUE(rt->mark_step().ok());
  const uint64_t before = rt->stats().compilations;
  for (int64_t batch : {8, 7, 5, 6, 8}) {
    const HostTensor x = host_random({batch, 16}, static_cast<uint32_t>(batch));
    Tensor tx = upload(*rt, x);
    ASSERT_TRUE(tx.mark_dynamic_batch().ok());
    Tensor y = mlp_device(dp, tx);
    ASSERT_TRUE(rt->mark_step().ok());
    // The padded rows' results are not the program's: they stay hidden.
    EXPECT_EQ(y.shape(), (std::vector<int64_t>{batch, 8}));
    // The unpadded values, bit for bit: each row is computed as it would be
    // alone, on the vector cores and on the matrix engine (whose functional
    // model runs fixed row blocks, sim/src/mme_math.h).
    RuntimeOptions plain;
    plain.mode = Mode::kLazy;
    auto reference = take(Runtime::open("tiny", plain));
    const DeviceMlp rp = mlp_upload(*reference, p, DType::kF32);
    const HostTensor want = download(mlp_device(rp, upload(*reference, x)));
    EXPECT_EQ(download(y).v, want.v) << "batch " << batch;
    expect_close(download(y), mlp_host(p, x), 2e-4, 2e-4, "host");
  }
  const RuntimeStats s = rt->stats();
  EXPECT_EQ(s.compilations - before, 1u) << s.report();
  EXPECT_EQ(s.bucketed_steps, 3u);
  // A batch in the next bucket compiles once more.
  Tensor tx = upload(*rt, host_random({12, 16}, 12));
  ASSERT_TRUE(tx.mark_dynamic_batch().ok());
  Tensor y = mlp_device(dp, tx);
  ASSERT_TRUE(rt->mark_step().ok());
  EXPECT_EQ(rt->stats().compilations - before, 2u);
}

TEST(Bucketing, AStepThatMixesBatchRowsRunsUnpaddedAndSaysWhy) {
  RuntimeOptions o;
  o.mode = Mode::kLazy;
  o.batch_buckets = {8};
  auto rt = take(Runtime::open("tiny", o));
  const HostTensor x = host_random({5, 4}, 1);
  Tensor tx = upload(*rt, x);
  ASSERT_TRUE(tx.mark_dynamic_batch().ok());
  Tensor s = take(sum(tx, {0}));  // sums over the batch: padding would change nothing here, but softmax would
  Tensor sm = take(softmax(tx, 0));
  ASSERT_TRUE(rt->mark_step().ok());
  EXPECT_EQ(rt->stats().bucketed_steps, 0u);
  EXPECT_NE(rt->stats().last_bucketing.find("mixes or moves the batch rows"), std::string::npos)
      << rt->stats().last_bucketing;
  HostTensor want = host_zeros({4});
  for (int r = 0; r < 5; ++r)
    for (int c = 0; c < 4; ++c) want[c] += x[r * 4 + c];
  expect_close(download(s), want, 1e-5, 1e-5, "sum over the batch");
}

}  // namespace
}  // namespace kiln::runtime::testing
