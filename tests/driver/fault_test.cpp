// Faults are data: each kind completes its submission with a record naming
// engine, queue, packet offset, address and cause; other queues keep running
// and the next valid submission succeeds with correct bytes.
#include "faults_fixture.h"

namespace kiln::driver {
namespace {

using testing::Faults;
using testing::take;

TEST_F(Faults, UnknownOpcodeOnTheDevice) {
  CommandBuffer cb;
  cb.nop();
  const uint8_t bogus[8] = {0x3f, 0, 8, 0, 0, 0, 0, 0};  // opcode 63, 8 bytes
  cb.append_raw(bogus);
  cb.copy(dst_.address, src_.address, kBytes);  // never executes
  const uint64_t seq = take(stream_->submit(cb, {.skip_validation = true}));
  const FaultRecord f = fault_of(seq);
  EXPECT_EQ(f.cause, FaultCause::kInvalidOpcode);
  EXPECT_EQ(f.engine, "CP" + std::to_string(stream_->queue()));
  EXPECT_EQ(f.queue, stream_->queue());
  EXPECT_EQ(f.sequence, seq);
  EXPECT_EQ(f.packet_offset, 8u);
  EXPECT_NE(f.describe().find("unknown opcode 63"), std::string::npos) << f.describe();
  EXPECT_TRUE(testing::device_events(*dev_, "DMA", static_cast<int>(stream_->queue()), seq).empty());
  expect_next_submission_succeeds();
}

TEST_F(Faults, PageFaultNamesTheUnmappedAddress) {
  const uint64_t unmapped = dst_.address + (64ull << 30);  // far beyond any allocation
  CommandBuffer cb;
  cb.nop().copy(unmapped, src_.address, 4096);
  const uint64_t seq = take(stream_->submit(cb));
  const FaultRecord f = fault_of(seq);
  EXPECT_EQ(f.cause, FaultCause::kPageFault);
  EXPECT_EQ(f.engine.rfind("DMA", 0), 0u) << f.engine;
  EXPECT_EQ(f.queue, stream_->queue());
  EXPECT_EQ(f.packet_offset, sizeof(packets::NopPacket));
  EXPECT_EQ(f.address, unmapped);
  expect_next_submission_succeeds();
}

TEST_F(Faults, PageFaultAtTheFirstUnmappedByteOfARange) {
  // The copy starts inside the allocation and runs past its last page.
  const uint64_t page = dev_->properties().page_bytes;
  const uint64_t mapped_end = dst_.address + (kBytes + page - 1) / page * page;
  const uint64_t seq = take(stream_->copy(mapped_end - 100, src_.address, 200));
  const FaultRecord f = fault_of(seq);
  EXPECT_EQ(f.cause, FaultCause::kPageFault);
  EXPECT_EQ(f.address, mapped_end);
  expect_next_submission_succeeds();
}

TEST_F(Faults, FenceThatNeverFiresTimesOutWhileOtherQueuesRun) {
  Stream* other = take(dev_->create_stream());
  CommandBuffer stuck;
  stuck.nop().fence(/*fence_id=*/1, /*target=*/1).copy(dst_.address, src_.address, kBytes);
  const uint64_t seq = take(stream_->submit(stuck));
  // Another queue keeps working meanwhile: copies on it complete normally.
  for (int i = 0; i < 3; ++i) ASSERT_OK(other->wait(take(other->copy(dst_.address, src_.address, kBytes))));
  const FaultRecord f = fault_of(seq);
  EXPECT_EQ(f.cause, FaultCause::kFenceTimeout);
  EXPECT_EQ(f.engine, "CP" + std::to_string(stream_->queue()));
  EXPECT_EQ(f.packet_offset, sizeof(packets::NopPacket));
  // It fired after the watchdog period of no progress, not before.
  const auto info = take(stream_->info(seq));
  EXPECT_GE(info.end_ps - info.start_ps, static_cast<uint64_t>(dev_->config().command_processor().watchdog_us() * 1e6));
  expect_next_submission_succeeds();
}

TEST_F(Faults, PrivilegedPacketIsRejectedByDriverAndDevice) {
  CommandBuffer cb;
  cb.write_register(packets::kRegScratchBase, 7);
  auto rejected = stream_->submit(cb);
  ASSERT_FALSE(rejected.ok());
  EXPECT_NE(rejected.status().message().find("privileged"), std::string::npos);
  const uint64_t seq = take(stream_->submit(cb, {.skip_validation = true}));
  EXPECT_EQ(fault_of(seq).cause, FaultCause::kPrivilegedPacket);
  // The kernel-mode path may write registers.
  ASSERT_OK(stream_->wait(take(stream_->submit(cb, {.privileged = true}))));
  CommandBuffer bad_register;
  bad_register.write_register(0xdead0, 1);
  const uint64_t bad = take(stream_->submit(bad_register, {.privileged = true}));
  const FaultRecord f = fault_of(bad);
  EXPECT_EQ(f.cause, FaultCause::kInvalidRegister);
  EXPECT_EQ(f.address, 0xdead0u);
  expect_next_submission_succeeds();
}

TEST_F(Faults, WatchdogRegisterShortensTheFenceTimeout) {
  CommandBuffer set_watchdog;
  set_watchdog.write_register(packets::kRegWatchdogNs, 2000);  // 2 us
  ASSERT_OK(stream_->wait(take(stream_->submit(set_watchdog, {.privileged = true}))));
  CommandBuffer stuck;
  stuck.fence(3, 1);
  const uint64_t seq = take(stream_->submit(stuck));
  EXPECT_EQ(fault_of(seq).cause, FaultCause::kFenceTimeout);
  const auto info = take(stream_->info(seq));
  EXPECT_LT(info.end_ps - info.start_ps, 10'000'000u);  // well under the 1 ms default
}

}  // namespace
}  // namespace kiln::driver
