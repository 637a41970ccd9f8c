// The vector-core cluster shared by several queues: launches on disjoint
// cores run at the same time; a launch that needs more cores than are free
// waits, and holds back the launches dispatched after it.
#include <cstring>
#include <set>

#include "kiln/kernels/kernel_args.h"
#include "kiln/kernels/kernel_registry.h"
#include "test_util.h"

namespace kiln::driver {
namespace {

using kernels::KernelArgs;
using kernels::TensorDesc;
using testing::take;

struct Launch {
  Stream* stream = nullptr;
  CommandBuffer commands;
  uint64_t sequence = 0;
};

struct Span {
  uint64_t start = UINT64_MAX, end = 0;
  std::set<std::string> cores;
};

class TpcCluster : public ::testing::Test {
 protected:
  void SetUp() override { dev_ = testing::open_device("gaudi2", /*functional=*/false); }
  void TearDown() override {
    for (const HostBuffer& b : blocks_) EXPECT_TRUE(dev_->free_host(b).ok());
  }

  // Prepares, on a new stream, an optional copy of `prelude_bytes` (to delay
  // the launch's dispatch) and then `add` over w x h floats on `cores` cores.
  // Everything is allocated first, so that the submissions of several
  // launches follow each other at the host's submission cost.
  Launch prepare_add(uint32_t cores, int64_t w, int64_t h, uint64_t prelude_bytes = 0) {
    Stream* s = take(dev_->create_stream());
    KernelArgs args;
    for (int i = 0; i < 3; ++i) {
      args.add_tensor(TensorDesc::contiguous(take(dev_->allocate(w * h * 4)).address, DType::kF32, {w, h}));
    }
    blocks_.push_back(testing::kernel_arg_block(*dev_, args));
    CommandBuffer cb;
    if (prelude_bytes > 0) {
      const uint64_t a = take(dev_->allocate(prelude_bytes)).address, b = take(dev_->allocate(prelude_bytes)).address;
      cb.copy(b, a, prelude_bytes);
    }
    cb.launch_tpc(kernels::kernel_id("add"), blocks_.back().address, cores);  // waits for the copy (kOrdered)
    return {s, std::move(cb)};
  }

  void submit(Launch& l) { l.sequence = take(l.stream->submit(l.commands)); }
  uint64_t submit_cost_ps() const {
    const auto& h = dev_->config().host();
    return static_cast<uint64_t>((h.submit_ns() + 2 * h.packet_record_ns()) * 1000);
  }

  Span span_of(const Launch& l) {
    EXPECT_TRUE(l.stream->wait(l.sequence).ok());
    Span s;
    for (const auto& e : testing::device_events(*dev_, "TPC", static_cast<int>(l.stream->queue()), l.sequence)) {
      s.start = std::min(s.start, e.start_ps);
      s.end = std::max(s.end, e.end_ps);
      s.cores.insert(e.track);
    }
    return s;
  }

  static std::set<std::string> core_names(int first, int count) {
    std::set<std::string> out;
    for (int c = first; c < first + count; ++c) out.insert("TPC" + std::to_string(c));
    return out;
  }

  std::unique_ptr<Device> dev_;
  std::vector<HostBuffer> blocks_;
};

TEST_F(TpcCluster, LaunchesOnDisjointCoresRunAtTheSameTime) {
  Launch a = prepare_add(12, 4096, 256);
  Launch b = prepare_add(12, 4096, 256);
  submit(a);
  submit(b);
  const Span sa = span_of(a), sb = span_of(b);
  ASSERT_EQ(sa.cores.size(), 12u);
  ASSERT_EQ(sb.cores.size(), 12u);
  // Between them they hold every core once.
  std::set<std::string> all = sa.cores;
  all.insert(sb.cores.begin(), sb.cores.end());
  EXPECT_EQ(all, core_names(0, 24));
  // B reaches the device one submission's host cost after A.
  EXPECT_EQ(sb.start - sa.start, submit_cost_ps() - 1000 * uint64_t(dev_->config().host().packet_record_ns()));
  EXPECT_LT(sb.start, sa.end);  // they overlap

  // Sharing HBM, together they take about as long as one launch on all 24
  // cores moving the bytes of both (they are memory-bound).
  Launch both = prepare_add(0, 4096, 512);
  submit(both);
  const Span s_both = span_of(both);
  EXPECT_EQ(s_both.cores, core_names(0, 24));
  const double together = static_cast<double>(std::max(sa.end, sb.end) - sa.start);
  const double one_launch = static_cast<double>(s_both.end - s_both.start);
  EXPECT_NEAR(together, one_launch, one_launch * 0.05);
}

TEST_F(TpcCluster, ALaunchWaitsForCoresAndHoldsBackLaterOnes) {
  // A takes 20 of 24 cores for a long time. B (dispatched next) needs 8 and
  // must wait for A; C (dispatched after B) needs only 4, which are free, but
  // may not pass B: launches get their cores in dispatch order.
  Launch a = prepare_add(20, 4096, 2048);
  Launch b = prepare_add(8, 1024, 64, /*prelude_bytes=*/4096);
  Launch c = prepare_add(4, 1024, 64, /*prelude_bytes=*/65536);
  for (Launch* l : {&a, &b, &c}) submit(*l);
  const Span sa = span_of(a), sb = span_of(b), sc = span_of(c);
  EXPECT_EQ(sa.cores, core_names(0, 20));
  EXPECT_GE(sb.start, sa.end);
  EXPECT_GE(sc.start, sb.start);
  // When A frees its cores, B and C both fit: they start together, B on the
  // lowest cores.
  EXPECT_EQ(sb.start, sc.start);
  EXPECT_EQ(sb.cores, core_names(0, 8));
  EXPECT_EQ(sc.cores, core_names(8, 4));
}

}  // namespace
}  // namespace kiln::driver
