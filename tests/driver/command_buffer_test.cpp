// Submit-time validation: malformed user command buffers are rejected with
// the packet offset before the device sees them.
#include <cstddef>

#include "test_util.h"

namespace kiln::driver {
namespace {

ValidationLimits limits() { return {64, 16, 4, 4}; }

std::string reject(const CommandBuffer& cb, bool privileged = false) {
  const Status s = validate_command_buffer(cb.bytes(), limits(), privileged);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  return s.message();
}

TEST(CommandBufferValidation, AcceptsEveryUserPacket) {
  CommandBuffer cb;
  cb.nop().copy(0x1000, 0x2000, 64).signal_when_done(7).memset(0x1000, 7, 64).signal(5, packets::SyncOp::ADD, 1)
      .write_memory(0x1000, 5, 8).arm_monitor(1, 3, 1, 2, 1).arm_monitor_memory(2, 3, 1, 0x1000, 9)
      .fence(1, 1).wait_sync(2, 17).wait_sync(packets::kSyncBindingBit | 3, 1).stop();
  EXPECT_EQ(cb.packet_count(), 11u);
  const Status s = validate_command_buffer(cb.bytes(), limits(), false);
  EXPECT_TRUE(s.ok()) << s.to_string();
}

TEST(CommandBufferValidation, OnlyTheCommandProcessorWritesARetirementCounter) {
  // Sync objects 0 .. queues-1 count the queues' retired submissions.
  CommandBuffer msg;
  msg.signal(3, packets::SyncOp::ADD, 1);
  EXPECT_NE(reject(msg).find("queue 3's retirement counter"), std::string::npos) << reject(msg);
  CommandBuffer done;
  done.copy(0x1000, 0x2000, 64).signal_when_done(0);
  EXPECT_NE(reject(done).find("completion signal: sync object 0 is queue 0's retirement counter"), std::string::npos)
      << reject(done);
  // Waiting on one is what they are for.
  CommandBuffer wait;
  wait.wait_sync(3, 9);
  EXPECT_TRUE(validate_command_buffer(wait.bytes(), limits(), false).ok());
}

TEST(CommandBufferValidation, CompletionSignalsBelongToEngineJobs) {
  CommandBuffer cb;
  cb.nop().signal_when_done(5);
  EXPECT_NE(cb.recording_error().find("signal_when_done after NOP"), std::string::npos) << cb.recording_error();
  // Set by hand on a packet that starts no job, the flag is malformed.
  auto p = packets::make_packet<packets::FencePacket>(packets::Opcode::FENCE, packets::kSignalOnCompletion);
  p.header.completion_signal = 5;
  CommandBuffer raw;
  raw.append_raw({reinterpret_cast<const uint8_t*>(&p), sizeof p});
  EXPECT_NE(reject(raw).find("reserved bits are set"), std::string::npos) << reject(raw);
  // And without the flag the field must be zero.
  auto q = packets::make_packet<packets::NopPacket>(packets::Opcode::NOP, 0);
  q.header.completion_signal = 5;
  CommandBuffer raw2;
  raw2.append_raw({reinterpret_cast<const uint8_t*>(&q), sizeof q});
  EXPECT_NE(reject(raw2).find("reserved bits are set"), std::string::npos);
}

TEST(CommandBufferValidation, UnknownOpcodeNamesItsOffset) {
  CommandBuffer cb;
  cb.nop().nop();
  const uint8_t bad[8] = {200, 0, 8, 0, 0, 0, 0, 0};
  cb.append_raw(bad);
  const std::string m = reject(cb);
  EXPECT_NE(m.find("offset 0x10"), std::string::npos) << m;
  EXPECT_NE(m.find("unknown opcode 200"), std::string::npos) << m;
}

TEST(CommandBufferValidation, InvalidZeroOpcodeIsRejected) {
  CommandBuffer cb;
  const uint8_t zeros[16] = {};
  cb.append_raw(zeros);
  EXPECT_NE(reject(cb).find("offset 0x0"), std::string::npos);
}

TEST(CommandBufferValidation, TruncatedPacketIsRejected) {
  CommandBuffer full;
  full.copy(0x1000, 0x2000, 64);
  CommandBuffer cut;
  cut.nop();
  cut.append_raw(full.bytes().first(24));  // a LIN_DMA header promising 40 bytes
  const std::string m = reject(cut);
  EXPECT_NE(m.find("offset 0x8"), std::string::npos) << m;
  EXPECT_NE(m.find("truncated"), std::string::npos) << m;
  CommandBuffer short_header;
  short_header.nop();
  const uint8_t four[4] = {1, 0, 8, 0};
  short_header.append_raw(four);
  EXPECT_NE(reject(short_header).find("truncated"), std::string::npos);
}

TEST(CommandBufferValidation, MisalignedOrWrongSizeIsRejected) {
  CommandBuffer cb;
  const uint8_t odd[8] = {1, 0, 12, 0, 0, 0, 0, 0};  // NOP claiming 12 bytes
  cb.append_raw(odd);
  EXPECT_NE(reject(cb).find("not a multiple of 8"), std::string::npos);
  CommandBuffer wrong;
  const uint8_t sixteen[16] = {1, 0, 16, 0, 0, 0, 0, 0};  // NOP claiming 16 bytes
  wrong.append_raw(sixteen);
  EXPECT_NE(reject(wrong).find("needs 8"), std::string::npos);
}

TEST(CommandBufferValidation, PrivilegedAndReservedAndRanges) {
  CommandBuffer wreg;
  wreg.write_register(0x100, 1);
  EXPECT_NE(reject(wreg).find("privileged"), std::string::npos);
  EXPECT_TRUE(validate_command_buffer(wreg.bytes(), limits(), true).ok());

  CommandBuffer flags;
  flags.nop(0x80);
  EXPECT_NE(reject(flags).find("reserved"), std::string::npos);

  CommandBuffer sob;
  sob.signal(64, packets::SyncOp::SET, 1);
  EXPECT_NE(reject(sob).find("sync object 64 is out of range (device has 64)"), std::string::npos);

  CommandBuffer fence;
  fence.fence(4, 1);
  EXPECT_NE(reject(fence).find("fence counter 4"), std::string::npos);

  CommandBuffer monitor;
  monitor.arm_monitor(1, 1, 1, /*target_queue=*/9, 0);
  EXPECT_NE(reject(monitor).find("target queue 9"), std::string::npos);

  CommandBuffer short_launch;  // LAUNCH_TPC needs 32 bytes
  const uint8_t launch[8] = {static_cast<uint8_t>(packets::Opcode::LAUNCH_TPC), 0, 8, 0, 0, 0, 0, 0};
  short_launch.append_raw(launch);
  EXPECT_NE(reject(short_launch).find("needs 32"), std::string::npos);
}

TEST(CommandBufferValidation, ReservedBodyFieldsAndOversizedQueueAreRejected) {
  CommandBuffer msg;
  msg.signal(1, packets::SyncOp::SET, 1);
  std::vector<uint8_t> bytes(msg.bytes().begin(), msg.bytes().end());
  bytes[offsetof(packets::MsgShortPacket, reserved2)] = 1;
  CommandBuffer dirty;
  dirty.append_raw(bytes);
  EXPECT_NE(reject(dirty).find("reserved bits"), std::string::npos);

  CommandBuffer far_queue;
  far_queue.arm_monitor(1, 1, 1, /*target_queue=*/65538, 0);  // must not wrap to queue 2
  EXPECT_NE(reject(far_queue).find("target queue 65535"), std::string::npos);

  CommandBuffer unaligned;
  unaligned.arm_monitor_memory(1, 1, 1, 0x1002, 5);
  EXPECT_NE(reject(unaligned).find("4-byte aligned"), std::string::npos);
}

TEST(CommandBufferValidation, StopEndsTheBuffer) {
  CommandBuffer cb;
  cb.nop().stop();
  const uint8_t garbage[3] = {1, 2, 3};
  cb.append_raw(garbage);  // after STOP: ignored, as the device ignores it
  EXPECT_TRUE(validate_command_buffer(cb.bytes(), limits(), false).ok());
}

TEST(CommandBufferValidation, RecordingAfterSubmitDoesNotChangeTheSubmittedImage) {
  CommandBuffer cb;
  cb.nop();
  auto image = cb.image();
  cb.nop();
  EXPECT_EQ(image->size(), 8u);
  EXPECT_EQ(cb.size_bytes(), 16u);
}

TEST(CommandBufferValidation, SubmittedBufferRunsManyTimes) {
  auto dev = testing::open_device();
  auto a = testing::take(dev->allocate(4096)), b = testing::take(dev->allocate(4096));
  Stream* s = testing::take(dev->create_stream());
  const uint32_t sob = testing::take(dev->allocate_sync_object());
  CommandBuffer cb;
  cb.copy(b.address, a.address, 4096).signal(sob, packets::SyncOp::ADD, 1);
  for (int i = 0; i < 10; ++i) (void)testing::take(s->submit(cb));
  ASSERT_OK(s->synchronize());
  EXPECT_EQ(dev->sync_object_value(sob), 10);
}

}  // namespace
}  // namespace kiln::driver
