// Sequence bucketing: varying sequence lengths reuse the recipe of their
// bucket, with masks where positions meet, and the values of the unpadded
// computation bit for bit.
#include <gtest/gtest.h>

#include <functional>

#include "blocks.h"

namespace kiln::runtime::testing {
namespace {

RuntimeOptions lazy_with(std::vector<int64_t> sequence_buckets) {
  RuntimeOptions o;
  o.mode = Mode::kLazy;
  o.sequence_buckets = std::move(sequence_buckets);
  return o;
}

// The transformer block's values for x, on a runtime without bucketing.
HostTensor block_unpadded(const BlockParams& p, const HostTensor& x, DType dtype) {
  auto rt = take(Runtime::open("tiny", lazy_with({})));
  const DeviceBlock dp = block_upload(*rt, p, dtype);
  return download(block_device(dp, upload(*rt, x, dtype)));
}

class SequenceBucketingBlock : public ::testing::TestWithParam<DType> {};

TEST_P(SequenceBucketingBlock, LengthsInOneBucketShareARecipeWithTheUnpaddedValues) {
  const DType dtype = GetParam();
  auto rt = take(Runtime::open("tiny", lazy_with({8, 16})));
  const BlockParams p = block_params(16, 2, 32, 3);
  const DeviceBlock dp = block_upload(*rt, p, dtype);
  ASSERT_TRUE(rt->mark_step().ok());
  const uint64_t before = rt->stats().compilations;
  // Batch 2: the real positions of each sequence are not one prefix of the
  // padded layout, so inputs and outputs are copied run by run.
  for (int64_t length : {8, 5, 7, 2}) {
    const HostTensor x = host_random({2, length, 16}, static_cast<uint32_t>(length));
    // The marked input is the step's input (in f32); the cast is in the step.
    Tensor tx = upload(*rt, x);
    ASSERT_TRUE(tx.mark_dynamic_sequence(1).ok());
    Tensor y = block_device(dp, dtype == DType::kF32 ? tx : take(cast(tx, dtype)));
    if (dtype != DType::kF32) y = take(cast(y, DType::kF32));  // read with no step of its own
    ASSERT_TRUE(rt->mark_step().ok()) << rt->stats().last_bucketing;
    EXPECT_EQ(y.shape(), (std::vector<int64_t>{2, length, 16}));
    EXPECT_EQ(download(y).v, block_unpadded(p, x, dtype).v) << "length " << length;
    if (dtype == DType::kF32) expect_close(download(y), block_host(p, x), 2e-4, 2e-4, "host");
  }
  const RuntimeStats s = rt->stats();
  EXPECT_EQ(s.compilations - before, 1u) << s.report();
  EXPECT_EQ(s.bucketed_steps, 3u);
  EXPECT_EQ(s.last_bucketing, "");
  // The masks are in the compiled graph: before the softmax (keys) and
  // before attention's second matmul (values); the softmax's padded
  // probabilities are zeros already.
  EXPECT_NE(s.last_compile_log.find("sequence_mask"), std::string::npos) << s.last_compile_log;
  // A length in the next bucket compiles once more.
  Tensor tx = upload(*rt, host_random({2, 12, 16}, 12));
  ASSERT_TRUE(tx.mark_dynamic_sequence(1).ok());
  Tensor y = block_device(dp, dtype == DType::kF32 ? tx : take(cast(tx, dtype)));
  ASSERT_TRUE(rt->mark_step().ok());
  EXPECT_EQ(rt->stats().compilations - before, 2u);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, SequenceBucketingBlock, ::testing::Values(DType::kF32, DType::kBF16, DType::kF16),
                         [](const auto& param_info) { return std::string(dtype_name(param_info.param)); });

// A decoder's causal mask made of the sequence length (arange, compare) is
// made at the padded length; token ids feed an embedding. Returns the mixed
// values and, per key, the sum of its probabilities over the queries.
std::pair<Tensor, Tensor> causal_attention(Runtime& rt, const Tensor& table, const Tensor& ids) {
  const int64_t t = ids.dim(1);
  const Tensor x = take(embedding(table, ids));                                // [B, T, D]
  const Tensor scores = take(matmul(x, take(x.transpose(1, 2))));             // [B, T, T]
  const Tensor pos = take(rt.arange(t, DType::kF32));
  const Tensor causal = take(le(take(pos.unsqueeze(0)), take(pos.unsqueeze(1))));  // [T, T]: j <= i
  const Tensor masked = take(where(causal, scores, take(rt.full(Shape{}, -1e9, DType::kF32))));
  const Tensor probs = take(softmax(masked, -1));
  return {take(matmul(probs, x)), take(sum(probs, {1}))};  // [B, T, D], [B, T]
}

TEST(SequenceBucketing, ACausalMaskMadeOfTheLengthIsMadeAtThePaddedLength) {
  const HostTensor table = host_random({11, 8}, 1);
  auto rt = take(Runtime::open("tiny", lazy_with({16})));
  const Tensor dtable = upload(*rt, table);
  const uint64_t before = rt->stats().compilations;
  for (int64_t length : {9, 13, 16}) {
    std::vector<int32_t> ids(static_cast<std::size_t>(length));
    for (int64_t i = 0; i < length; ++i) ids[static_cast<std::size_t>(i)] = static_cast<int32_t>((i * 7 + length) % 11);
    Tensor tids = take(rt->from_host(ids.data(), ids.size() * 4, {1, length}, DType::kI32));
    ASSERT_TRUE(tids.mark_dynamic_sequence(1).ok());
    const auto [mixed, per_key] = causal_attention(*rt, dtable, tids);
    ASSERT_TRUE(rt->mark_step().ok());
    EXPECT_EQ(rt->stats().last_bucketing, "");

    auto plain = take(Runtime::open("tiny", lazy_with({})));
    Tensor pids = take(plain->from_host(ids.data(), ids.size() * 4, {1, length}, DType::kI32));
    const auto [want_mixed, want_per_key] = causal_attention(*plain, upload(*plain, table), pids);
    EXPECT_EQ(download(mixed).v, download(want_mixed).v) << "length " << length;
    EXPECT_EQ(download(per_key).v, download(want_per_key).v) << "length " << length;
  }
  EXPECT_EQ(rt->stats().compilations - before, 1u) << rt->stats().report();
  EXPECT_EQ(rt->stats().bucketed_steps, 2u);
}

TEST(SequenceBucketing, OpsThatMixPositionsRunUnpaddedAndSayWhy) {
  struct Case {
    const char* why;
    std::function<Tensor(Runtime&, const Tensor&)> program;
  };
  const std::vector<Case> cases = {
      {"averages over the sequence", [](Runtime&, const Tensor& x) { return take(mean(x, {1})); }},
      {"reads across the sequence",
       [](Runtime&, const Tensor& x) { return take(layer_norm(x, 2, std::nullopt, std::nullopt)); }},
      {"reads part of the sequence", [](Runtime&, const Tensor& x) { return take(relu(take(x.slice(1, 0, 3)))); }},
      {"folds the sequence into another dim",
       [](Runtime&, const Tensor& x) { return take(relu(take(x.reshape({x.dim(0) * x.dim(1), x.dim(2)})))); }},
      {"shares the sequence dim but is not marked",
       [](Runtime& rt, const Tensor& x) { return take(add(x, upload(rt, host_random({x.dim(1), 4}, 9)))); }},
  };
  for (const Case& c : cases) {
    auto rt = take(Runtime::open("tiny", lazy_with({8})));
    const HostTensor x = host_random({2, 5, 4}, 3);
    Tensor tx = upload(*rt, x);
    ASSERT_TRUE(tx.mark_dynamic_sequence(1).ok());
    Tensor y = c.program(*rt, tx);
    ASSERT_TRUE(rt->mark_step().ok()) << c.why;
    EXPECT_EQ(rt->stats().bucketed_steps, 0u) << c.why;
    EXPECT_NE(rt->stats().last_bucketing.find(c.why), std::string::npos) << rt->stats().last_bucketing;
    // And the values are the program's.
    auto plain = take(Runtime::open("tiny", lazy_with({})));
    EXPECT_EQ(download(y).v, download(c.program(*plain, upload(*plain, x))).v) << c.why;
  }
}

TEST(SequenceBucketing, SumsAndMaxesOverTheSequenceAreMasked) {
  auto rt = take(Runtime::open("tiny", lazy_with({32})));
  const HostTensor x = host_random({3, 19, 5}, 4, -2.0, -1.0);  // all negative: a zero in the max would show
  Tensor tx = upload(*rt, x);
  ASSERT_TRUE(tx.mark_dynamic_sequence(1).ok());
  Tensor total = take(sum(tx, {1}));
  Tensor top = take(amax(take(exp(tx)), {1}));
  Tensor low = take(amin(take(neg(tx)), {1}));
  ASSERT_TRUE(rt->mark_step().ok());
  EXPECT_EQ(rt->stats().bucketed_steps, 1u) << rt->stats().last_bucketing;
  auto plain = take(Runtime::open("tiny", lazy_with({})));
  const Tensor px = upload(*plain, x);
  EXPECT_EQ(download(total).v, download(take(sum(px, {1}))).v);
  EXPECT_EQ(download(top).v, download(take(amax(take(exp(px)), {1}))).v);
  EXPECT_EQ(download(low).v, download(take(amin(take(neg(px)), {1}))).v);
}

TEST(SequenceBucketing, MarkingAViewIsRefused) {
  auto rt = take(Runtime::open("tiny", lazy_with({8})));
  Tensor x = upload(*rt, host_random({2, 5, 4}, 3));
  EXPECT_FALSE(take(x.transpose(0, 1)).mark_dynamic_sequence(0).ok());
  EXPECT_FALSE(x.mark_dynamic_sequence(3).ok());
  EXPECT_TRUE(x.mark_dynamic_sequence(-2).ok());
  // Only a step's input can be padded: a value the step computes cannot.
  const Status pending = take(relu(x)).mark_dynamic_sequence(1);
  EXPECT_NE(pending.message().find("not computed yet"), std::string::npos) << pending.message();
}

}  // namespace
}  // namespace kiln::runtime::testing
