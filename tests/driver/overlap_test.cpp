// Independent work overlaps: GEMMs from two queues each take one of gaudi2's
// two matrix engines (a count above the device's takes them all), and a
// vector-core launch on a subset of the cores runs beside matrix and DMA work.
#include <algorithm>
#include <cstdint>

#include "kiln/kernels/kernel_registry.h"
#include "test_util.h"

namespace kiln::driver {
namespace {

using testing::take;

struct Span {
  uint64_t start = UINT64_MAX, end = 0;
  std::vector<std::string> tracks;
};

Span span(const Device& dev, const std::string& prefix, const Stream& s, uint64_t seq) {
  Span out;
  for (const auto& e : testing::device_events(dev, prefix, static_cast<int>(s.queue()), seq)) {
    out.start = std::min(out.start, e.start_ps);
    out.end = std::max(out.end, e.end_ps);
    out.tracks.push_back(e.track);
  }
  return out;
}

CommandBuffer gemm(Device& dev, uint32_t size, uint32_t engines) {
  auto d = mme::gemm_descriptor(size, size, size, DType::kBF16, DType::kBF16, DType::kBF16);
  const uint64_t bytes = uint64_t{size} * size * 2;
  d.a_addr = take(dev.allocate(bytes)).address;
  d.b_addr = take(dev.allocate(bytes)).address;
  d.c_addr = take(dev.allocate(bytes)).address;
  CommandBuffer cb;
  cb.launch_mme(d, engines);
  return cb;
}

TEST(Overlap, TwoGemmsFromTwoQueuesEachTakeOneMatrixEngine) {
  auto dev = testing::open_device("gaudi2", /*functional=*/false);
  ASSERT_EQ(dev->properties().mme_count, 2u);
  Stream* q1 = take(dev->create_stream());
  Stream* q2 = take(dev->create_stream());
  const uint32_t n = 4096;  // compute-bound: 2 x n^3 / (one engine's peak) >> its operands / HBM
  // Alone on both engines, for reference.
  CommandBuffer both = gemm(*dev, n, 0);
  const uint64_t ref = take(q1->submit(both));
  ASSERT_OK(q1->wait(ref));
  const Span alone = span(*dev, "MME", *q1, ref);
  ASSERT_EQ(alone.tracks.size(), 2u);

  CommandBuffer a = gemm(*dev, n, 1), b = gemm(*dev, n, 1);
  const uint64_t sa = take(q1->submit(a)), sb = take(q2->submit(b));
  ASSERT_OK(dev->synchronize());
  const Span ja = span(*dev, "MME", *q1, sa), jb = span(*dev, "MME", *q2, sb);
  ASSERT_EQ(ja.tracks.size(), 1u);
  ASSERT_EQ(jb.tracks.size(), 1u);
  EXPECT_NE(ja.tracks[0], jb.tracks[0]);  // one engine each
  EXPECT_LT(jb.start, ja.end);            // side by side
  // On one engine each takes about twice as long as on two.
  const double one = static_cast<double>(ja.end - ja.start), two = static_cast<double>(alone.end - alone.start);
  EXPECT_NEAR(one, 2 * two, 0.05 * 2 * two);
  // The pair finishes about when one two-engine GEMM after another would.
  EXPECT_LT(static_cast<double>(std::max(ja.end, jb.end) - ja.start), 2.1 * two);
}

// LAUNCH_MME's engine count is any uint32: one past INT32_MAX once became a
// negative count, no engines and a read past an empty vector (found by
// fuzz/decoder_fuzz.cpp; its input is fuzz/corpus/decoder/found_mme_engines_2pow31).
// Every count above the device's means all of its engines.
TEST(Overlap, AnEngineCountPastInt32MaxTakesEveryMatrixEngine) {
  auto dev = testing::open_device("gaudi2", /*functional=*/false);
  Stream* q = take(dev->create_stream());
  CommandBuffer all = gemm(*dev, 1024, 0);
  const uint64_t ref = take(q->submit(all));
  ASSERT_OK(q->wait(ref));
  const Span alone = span(*dev, "MME", *q, ref);
  ASSERT_EQ(alone.tracks.size(), 2u);
  for (uint32_t engines : {uint32_t{3}, uint32_t{0x80000000}, uint32_t{0xfc000000}, UINT32_MAX}) {
    CommandBuffer cb = gemm(*dev, 1024, engines);
    const uint64_t seq = take(q->submit(cb));
    ASSERT_OK(q->wait(seq));
    EXPECT_FALSE(take(q->info(seq)).fault) << engines;
    const Span s = span(*dev, "MME", *q, seq);
    EXPECT_EQ(s.tracks.size(), 2u) << engines;
    EXPECT_EQ(s.end - s.start, alone.end - alone.start) << engines;
  }
}

TEST(Overlap, AVectorLaunchOnSomeCoresRunsBesideMatrixAndDmaWork) {
  auto dev = testing::open_device("gaudi2", /*functional=*/false);
  Stream* mme_q = take(dev->create_stream());
  Stream* tpc_q = take(dev->create_stream());
  Stream* dma_q = take(dev->create_stream());
  CommandBuffer g = gemm(*dev, 4096, 1);
  const int64_t w = 4096, h = 512;
  kernels::KernelArgs args;
  for (int i = 0; i < 3; ++i) {
    args.add_tensor(kernels::TensorDesc::contiguous(take(dev->allocate(w * h * 4)).address, DType::kF32, {w, h}));
  }
  CommandBuffer add;
  add.launch_tpc(kernels::kernel_id("add"), args, /*cores=*/12);
  const uint64_t bytes = 64 << 20;
  auto x = take(dev->allocate(bytes)), y = take(dev->allocate(bytes));
  CommandBuffer copy;
  copy.copy(y.address, x.address, bytes);

  const uint64_t sg = take(mme_q->submit(g));
  const uint64_t st = take(tpc_q->submit(add));
  const uint64_t sd = take(dma_q->submit(copy));
  ASSERT_OK(dev->synchronize());
  const Span m = span(*dev, "MME", *mme_q, sg), t = span(*dev, "TPC", *tpc_q, st), d = span(*dev, "DMA", *dma_q, sd);
  EXPECT_EQ(t.tracks.size(), 12u);  // the cores it asked for
  // All three are busy at once.
  const uint64_t from = std::max({m.start, t.start, d.start}), to = std::min({m.end, t.end, d.end});
  EXPECT_LT(from, to) << "MME " << m.start << "-" << m.end << ", TPC " << t.start << "-" << t.end << ", DMA "
                      << d.start << "-" << d.end;
}

}  // namespace
}  // namespace kiln::driver
