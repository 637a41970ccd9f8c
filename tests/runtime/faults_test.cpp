// A device fault during a step comes back naming the graph op, the step and
// the queue, from synchronize() and from a read of a value it wrote; the
// runtime stays usable.
#include <gtest/gtest.h>

#include "blocks.h"

namespace kiln::runtime::testing {
namespace {

TEST(RuntimeFaults, AFaultDuringAStepNamesTheOpAndTheRuntimeGoesOn) {
  RuntimeOptions o;
  o.mode = Mode::kLazy;
  auto rt = take(Runtime::open("tiny", o));
  const HostTensor x = host_random({4, 8}, 1), w = host_random({6, 8}, 2);
  Tensor tx = upload(*rt, x), tw = upload(*rt, w);
  ASSERT_TRUE(rt->synchronize().ok());
  ASSERT_TRUE(rt->device().inject_fault({.engine = "MME"}).ok());
  Tensor y;
  {
    OpScope scope("layer1");
    y = take(relu(take(linear(tx, tw))));
  }
  const Status s = rt->synchronize();
  ASSERT_EQ(s.code(), ErrorCode::kDeviceFault) << s.to_string();
  EXPECT_NE(s.message().find("op 'layer1/linear"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("MME queue"), std::string::npos) << s.message();
  // Its value is not read as if it were fine.
  auto read = y.to_host<float>();
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), ErrorCode::kDeviceFault);
  EXPECT_NE(read.status().message().find("layer1/linear"), std::string::npos) << read.status().message();
  // The next step runs and computes the right values.
  Tensor z = take(relu(take(linear(tx, tw))));
  HostTensor want = h_linear(x, w, HostTensor{});
  for (double& v : want.v) v = std::max(v, 0.0);
  expect_close(download(z), want, 1e-5, 1e-5, "after the fault");
}

// An eager op's recipe is shared by every op of its signature: a fault in a
// later launch names that launch's op, not the one the recipe was compiled for.
TEST(RuntimeFaults, AFaultInAnEagerOpSharingARecipeNamesItsOwnOp) {
  RuntimeOptions o;
  o.mode = Mode::kEager;
  auto rt = take(Runtime::open("tiny", o));
  Tensor tx = upload(*rt, host_random({4, 8}, 1)), tw = upload(*rt, host_random({6, 8}, 2));
  {
    OpScope scope("layer0");
    (void)take(linear(tx, tw));
  }
  ASSERT_TRUE(rt->synchronize().ok());
  const uint64_t compilations = rt->stats().compilations;
  ASSERT_TRUE(rt->device().inject_fault({.engine = "MME"}).ok());
  {
    OpScope scope("layer5");
    (void)linear(tx, tw);
  }
  const Status s = rt->synchronize();
  EXPECT_EQ(rt->stats().compilations, compilations);  // the same recipe
  ASSERT_EQ(s.code(), ErrorCode::kDeviceFault) << s.to_string();
  EXPECT_NE(s.message().find("op 'layer5/linear"), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find("layer0"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace kiln::runtime::testing
