// Relocatable command buffers: recorded once with bindings, submitted with a
// new binding table each time; timeline sync objects; job-completion signals.
#include <cstring>

#include "kiln/kernels/kernel_registry.h"
#include "test_util.h"

namespace kiln::driver {
namespace {

using testing::pattern_bytes;
using testing::take;

std::vector<uint8_t> read_back(Device& dev, const DeviceBuffer& b) {
  std::vector<uint8_t> out(b.size);
  EXPECT_TRUE(dev.copy_to_host(out.data(), b.address, b.size).ok());
  return out;
}

uint64_t ps(double ns) { return static_cast<uint64_t>(ns * 1000.0 + 0.5); }

TEST(Bindings, OneRecordedBufferServesEveryBindingTable) {
  auto dev = testing::open_device();
  const uint64_t n = 64 << 10;
  CommandBuffer cb;  // dst = src, then the tail half again from src's head
  cb.copy(bound(1), bound(0), n).copy(bound(1, n / 2), bound(0), n / 2);
  ASSERT_EQ(cb.binding_uses().size(), 2u);
  EXPECT_EQ(cb.binding_uses()[0].extent, n);
  EXPECT_EQ(cb.binding_uses()[1].extent, n);

  Stream& s = dev->default_stream();
  const auto& h = dev->config().host();
  for (int round = 0; round < 3; ++round) {
    auto src = take(dev->allocate(n)), dst = take(dev->allocate(n));
    const auto data = pattern_bytes(n, 100 + round);
    ASSERT_OK(dev->copy_to_device(src.address, data.data(), n));
    BindingTable t;
    t.bind(0, src).bind(1, dst);
    ASSERT_OK(s.wait(take(s.submit(cb, t))));
    std::vector<uint8_t> want(data);
    std::memcpy(want.data() + n / 2, data.data(), n / 2);
    EXPECT_EQ(read_back(*dev, dst), want) << "round " << round;
  }
  // The first submission paid for recording both packets; replays did not.
  std::vector<traces::TraceEvent> submits;
  for (auto& e : dev->trace()->events()) {
    if (e.clock == traces::TraceClock::kHostSimulated && e.name == "submit" && e.bytes == cb.size_bytes()) {
      submits.push_back(e);
    }
  }
  ASSERT_EQ(submits.size(), 3u);
  EXPECT_EQ(submits[0].end_ps - submits[0].start_ps, ps(h.submit_ns()) + 2 * ps(h.packet_record_ns()));
  EXPECT_EQ(submits[1].end_ps - submits[1].start_ps, ps(h.submit_ns()));
  EXPECT_EQ(submits[2].end_ps - submits[2].start_ps, ps(h.submit_ns()));
}

TEST(Bindings, ASubmissionChecksItsTableAndNamesTheSlot) {
  auto dev = testing::open_device();
  auto a = take(dev->allocate(4096)), b = take(dev->allocate(1024));
  CommandBuffer cb;
  cb.copy(bound(3), bound(2), 2048);
  Stream& s = dev->default_stream();
  auto message = [&](const BindingTable& t) {
    auto r = s.submit(cb, t);
    EXPECT_FALSE(r.ok());
    return r.ok() ? std::string() : r.status().message();
  };
  BindingTable missing;
  missing.bind(2, a);
  EXPECT_NE(message(missing).find("binding slot 3 is used by the command buffer but not bound"), std::string::npos);
  BindingTable small;
  small.bind(2, a).bind(3, b);
  EXPECT_NE(message(small).find("binding slot 3: the command buffer touches 2048 bytes of it, but the bound range has 1024"),
            std::string::npos)
      << message(small);
  BindingTable sync;
  sync.bind(2, a).bind_sync(3, 100, 0);
  EXPECT_NE(message(sync).find("binding slot 3 is bound to a sync object"), std::string::npos);
  BindingTable unmapped;
  unmapped.bind(2, a).bind_range(3, a.address + 2048, 4096);  // runs past the allocation
  EXPECT_NE(message(unmapped).find("not inside one live allocation"), std::string::npos) << message(unmapped);
  BindingTable arena;
  arena.bind(2, a).bind(3, a).bind(packets::kArenaSlot, a);
  EXPECT_NE(message(arena).find("cannot be bound"), std::string::npos);
  // A freed allocation is no longer bindable.
  auto gone = take(dev->allocate(4096));
  ASSERT_OK(dev->free(gone));
  BindingTable stale;
  stale.bind(2, a).bind(3, gone);
  EXPECT_NE(message(stale).find("not inside one live allocation"), std::string::npos);
  // And a good table still works afterwards.
  BindingTable good;
  good.bind(2, a).bind(3, a);
  ASSERT_OK(s.wait(take(s.submit(cb, good))));
}

TEST(Bindings, TheDeviceChecksBoundAccessesItCannotSeeAtSubmit) {
  auto dev = testing::open_device();
  auto a = take(dev->allocate(4096));
  CommandBuffer cb;  // the recorded extent says 64 bytes ...
  cb.copy(bound(0, 64), bound(0), 64);
  // ... but a hand-made packet (validation skipped) reaches past the range.
  auto p = packets::make_packet<packets::LinDmaPacket>(packets::Opcode::LIN_DMA, kOrdered);
  p.src_addr = bound(0);
  p.dst_addr = bound(0, 4000);
  p.size_bytes = 200;
  cb.append_raw({reinterpret_cast<const uint8_t*>(&p), sizeof p});
  BindingTable t;
  t.bind(0, a);
  Stream& s = dev->default_stream();
  const uint64_t seq = take(s.submit(cb, t, {.skip_validation = true}));
  EXPECT_EQ(s.wait(seq).code(), ErrorCode::kDeviceFault);
  const auto info = take(s.info(seq));
  ASSERT_TRUE(info.fault.has_value());
  EXPECT_EQ(info.fault->cause, FaultCause::kPageFault);
  EXPECT_EQ(info.fault->packet_offset, 40u);
  EXPECT_NE(info.fault->detail.find("binding slot 0: 200 bytes at offset 4000 fall outside its 4096-byte range"),
            std::string::npos)
      << info.fault->describe();
}

// A GEMM recorded once into the buffer's arena, its operands bound, replayed
// over different matrices: values against a host reference.
void gemm_replays(bool functional) {
  auto dev = testing::open_device("tiny", functional);
  const uint32_t m = 8, k = 16, n = 12;
  auto desc = mme::gemm_descriptor(m, k, n, DType::kF32, DType::kF32, DType::kF32);
  desc.a_addr = bound(0);
  desc.b_addr = bound(1);
  desc.c_addr = bound(2);
  CommandBuffer cb;
  cb.launch_mme(desc);
  ASSERT_EQ(cb.arena().size(), sizeof desc);
  Stream& s = dev->default_stream();
  for (int round = 0; round < 2; ++round) {
    std::vector<float> a(m * k), b(k * n), want(m * n, 0.0f);
    for (uint32_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>((i * 7 + round) % 5) - 2.0f;
    for (uint32_t i = 0; i < b.size(); ++i) b[i] = static_cast<float>((i * 3 + 2 * round) % 7) - 3.0f;
    for (uint32_t i = 0; i < m; ++i)
      for (uint32_t j = 0; j < n; ++j)
        for (uint32_t p = 0; p < k; ++p) want[i * n + j] += a[i * k + p] * b[p * n + j];
    auto da = take(dev->allocate(a.size() * 4)), db = take(dev->allocate(b.size() * 4)),
         dc = take(dev->allocate(want.size() * 4));
    ASSERT_OK(dev->copy_to_device(da.address, a.data(), a.size() * 4));
    ASSERT_OK(dev->copy_to_device(db.address, b.data(), b.size() * 4));
    BindingTable t;
    t.bind(0, da).bind(1, db).bind(2, dc);
    ASSERT_OK(s.wait(take(s.submit(cb, t))));
    if (functional) {
      std::vector<float> c(want.size());
      ASSERT_OK(dev->copy_to_host(c.data(), dc.address, c.size() * 4));
      EXPECT_EQ(c, want) << "round " << round;  // small integers: exact in fp32
    }
  }
  EXPECT_EQ(testing::device_events(*dev, "MME").size(), 2u);  // tiny has one MME: one event per job
}

TEST(Bindings, AnMmeDescriptorInTheArenaReplaysOverNewOperands) { gemm_replays(true); }
TEST(Bindings, TheArenaIsWrittenInTimingOnlyModeToo) { gemm_replays(false); }

TEST(Timelines, ACrossQueueDependencyIsOnePacketAndReplaysWithANewBase) {
  auto dev = testing::open_device();
  const uint64_t n = 1 << 20;
  auto a = take(dev->allocate(n)), b = take(dev->allocate(n)), c = take(dev->allocate(n));
  Stream* producer = take(dev->create_stream());
  Stream* consumer = take(dev->create_stream());
  const uint32_t timeline = take(dev->allocate_sync_object());
  CommandBuffer produce;
  produce.copy(bound(1), bound(0), n).signal_when_done(bound_sync(2));
  CommandBuffer consume;
  consume.wait_sync(bound_sync(2), 1).copy(bound(1), bound(0), n);
  EXPECT_EQ(consume.packet_count(), 2u);  // the dependency is one packet
  for (uint32_t round = 0; round < 3; ++round) {
    BindingTable tp, tc;
    tp.bind(0, a).bind(1, b).bind_sync(2, timeline, round);
    tc.bind(0, b).bind(1, c).bind_sync(2, timeline, round);
    // The consumer is submitted first: it must wait for the producer's copy.
    const uint64_t sc = take(consumer->submit(consume, tc));
    const uint64_t sp = take(producer->submit(produce, tp));
    ASSERT_OK(dev->synchronize());
    EXPECT_GE(testing::dma_job(*dev, *consumer, sc).start_ps, testing::dma_job(*dev, *producer, sp).end_ps)
        << "round " << round;
    EXPECT_EQ(dev->sync_object_value(timeline), static_cast<int32_t>(round + 1));
  }
}

TEST(Signals, AJobSignalsItsOwnCompletionNotTheQueues) {
  auto dev = testing::open_device();
  const uint64_t big = 16 << 20, small = 64 << 10;
  auto a = take(dev->allocate(big)), b = take(dev->allocate(big)), c = take(dev->allocate(small)),
       d = take(dev->allocate(small)), e = take(dev->allocate(small));
  const uint32_t done = take(dev->allocate_sync_object());
  Stream* q = take(dev->create_stream());
  Stream* waiter = take(dev->create_stream());
  CommandBuffer wait;
  wait.wait_sync(done, 1).copy(e.address, d.address, small);
  CommandBuffer work;  // no barriers: the two copies run side by side
  work.copy(b.address, a.address, big, 0).copy(d.address, c.address, small, 0).signal_when_done(done);
  const uint64_t sw = take(waiter->submit(wait));
  const uint64_t sq = take(q->submit(work));
  ASSERT_OK(dev->synchronize());
  const auto jobs = testing::device_events(*dev, "DMA", static_cast<int>(q->queue()), sq);
  ASSERT_EQ(jobs.size(), 2u);
  const auto& big_job = jobs[0].bytes == big ? jobs[0] : jobs[1];
  const auto& small_job = jobs[0].bytes == big ? jobs[1] : jobs[0];
  const auto waited = testing::dma_job(*dev, *waiter, sw);
  EXPECT_GE(waited.start_ps, small_job.end_ps);
  EXPECT_LT(waited.start_ps, big_job.end_ps);  // it did not wait for the unrelated big copy
  EXPECT_EQ(dev->sync_object_value(done), 1);
}

TEST(Signals, AFailedJobDoesNotSignal) {
  auto dev = testing::open_device();
  const uint32_t done = take(dev->allocate_sync_object());
  CommandBuffer cb;
  cb.copy(0x40, 0x80, 64).signal_when_done(done);  // unmapped: page fault
  Stream& s = dev->default_stream();
  EXPECT_EQ(s.wait(take(s.submit(cb))).code(), ErrorCode::kDeviceFault);
  EXPECT_EQ(dev->sync_object_value(done), 0);
}

}  // namespace
}  // namespace kiln::driver

namespace kiln::driver {
namespace {

TEST(Bindings, AKernelLaunchInTheArenaReplaysOverNewTensors) {
  auto dev = testing::open_device();
  const int64_t w = 300, h = 7;
  const uint64_t bytes = static_cast<uint64_t>(w * h) * 4;
  kernels::KernelArgs args;
  for (uint32_t slot = 0; slot < 3; ++slot) {
    args.add_tensor(kernels::TensorDesc::contiguous(bound(slot), DType::kF32, {w, h}));
  }
  CommandBuffer cb;
  cb.launch_tpc(kernels::kernel_id("add"), args);
  ASSERT_TRUE(cb.recording_error().empty()) << cb.recording_error();
  ASSERT_EQ(cb.binding_uses().size(), 3u);
  EXPECT_EQ(cb.binding_uses()[2].extent, bytes);
  Stream& s = dev->default_stream();
  for (int round = 0; round < 2; ++round) {
    std::vector<float> a(w * h), b(w * h), want(w * h);
    for (std::size_t i = 0; i < a.size(); ++i) {
      a[i] = static_cast<float>(i % 13) + round;
      b[i] = static_cast<float>(i % 5) * 0.5f;
      want[i] = a[i] + b[i];
    }
    auto da = take(dev->allocate(bytes)), db = take(dev->allocate(bytes)), dc = take(dev->allocate(bytes));
    ASSERT_OK(dev->copy_to_device(da.address, a.data(), bytes));
    ASSERT_OK(dev->copy_to_device(db.address, b.data(), bytes));
    BindingTable t;
    t.bind(0, da).bind(1, db).bind(2, dc);
    ASSERT_OK(s.wait(take(s.submit(cb, t))));
    std::vector<float> c(w * h);
    ASSERT_OK(dev->copy_to_host(c.data(), dc.address, bytes));
    EXPECT_EQ(c, want) << "round " << round;
  }
  // A binding too small for a tensor is refused at submission.
  auto small = take(dev->allocate(bytes / 2));
  BindingTable t;
  t.bind(0, small).bind(1, small).bind(2, small);
  auto r = s.submit(cb, t);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("binding slot 0: the command buffer touches"), std::string::npos)
      << r.status().message();
}

}  // namespace
}  // namespace kiln::driver

namespace kiln::driver {
namespace {

// A launch over two queues whose second part fails its checks submits
// nothing: prepare every part, then submit.
TEST(Bindings, PreparedPartsSubmitOnlyWhenAllPassed) {
  auto dev = testing::open_device();
  const uint64_t n = 4096;
  auto src = take(dev->allocate(n)), dst = take(dev->allocate(n)), small = take(dev->allocate(n / 2));
  Stream& first = dev->default_stream();
  Stream& second = *take(dev->create_stream());
  CommandBuffer cb;
  cb.copy(bound(1), bound(0), n);
  BindingTable good, bad;
  good.bind(0, src).bind(1, dst);
  bad.bind(0, src).bind(1, small);  // too small for the copy
  const uint64_t before_first = first.last_sequence(), before_second = second.last_sequence();
  Result<PreparedSubmission> a = first.prepare(cb, good);
  ASSERT_OK(a.status());
  Result<PreparedSubmission> b = second.prepare(cb, bad);
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find("slot 1"), std::string::npos) << b.status().to_string();
  EXPECT_EQ(first.last_sequence(), before_first);
  EXPECT_EQ(second.last_sequence(), before_second);

  // Submitted on its own stream, once; a moved-from or foreign one is refused.
  PreparedSubmission p = std::move(*a);
  EXPECT_FALSE(second.submit(std::move(p)).ok());
  Result<PreparedSubmission> again = first.prepare(cb, good);
  ASSERT_OK(again.status());
  PreparedSubmission kept = std::move(*again);
  const uint64_t seq = take(first.submit(std::move(kept)));
  EXPECT_EQ(seq, before_first + 1);
  EXPECT_FALSE(first.submit(std::move(kept)).ok());
  ASSERT_OK(first.wait(seq));
  const auto data = pattern_bytes(n, 7);
  ASSERT_OK(dev->copy_to_device(src.address, data.data(), n));
  ASSERT_OK(first.wait(take(first.submit(cb, good))));
  EXPECT_EQ(read_back(*dev, dst), data);
}

}  // namespace
}  // namespace kiln::driver
