// Saved and restored command buffers (kiln/driver/command_buffer_io.h): a
// relocatable buffer round-trips and runs the same; a forged one fails to
// restore, fails validation at submission, or cannot reach outside what a
// submission binds.
#include <cstring>

#include "kiln/common/format.h"
#include "kiln/driver/command_buffer_io.h"
#include "kiln/kernels/kernel_registry.h"
#include "kiln/proto/command_buffer.pb.h"
#include "test_util.h"

namespace kiln::driver {
namespace {

using packets::Opcode;
using testing::pattern_bytes;
using testing::take;

template <typename P>
void put(std::vector<uint8_t>& out, const P& p) {
  const auto* b = reinterpret_cast<const uint8_t*>(&p);
  out.insert(out.end(), b, b + sizeof p);
}

packets::LinDmaPacket dma(uint64_t dst, uint64_t src, uint64_t size) {
  auto p = packets::make_packet<packets::LinDmaPacket>(Opcode::LIN_DMA, kOrdered);
  p.dst_addr = dst;
  p.src_addr = src;
  p.size_bytes = size;
  return p;
}

struct Forged {
  std::vector<uint8_t> packets, arena;
  std::vector<BindingUse> uses;
  uint32_t version = kSavedCommandBufferVersion;
  std::string blob() const {
    proto::SavedCommandBuffer m;
    m.set_version(version);
    m.set_packets(packets.data(), packets.size());
    m.set_arena(arena.data(), arena.size());
    for (const BindingUse& u : uses) {
      auto* s = m.add_uses();
      s->set_slot(u.slot);
      s->set_sync(u.kind == packets::Binding::Kind::kSync);
      s->set_extent(u.extent);
      s->set_signalled(u.signalled);
    }
    return m.SerializeAsString();
  }
};

std::string restore_error(const std::string& blob) {
  auto r = restore_command_buffer(blob);
  EXPECT_FALSE(r.ok());
  return r.ok() ? std::string() : r.status().message();
}

void expect_same_uses(std::span<const BindingUse> a, std::span<const BindingUse> b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].slot, b[i].slot);
    EXPECT_EQ(a[i].kind, b[i].kind);
    EXPECT_EQ(a[i].extent, b[i].extent);
    EXPECT_EQ(a[i].signalled, b[i].signalled);
  }
}

TEST(SavedCommandBuffers, ARelocatableBufferRoundTripsAndRunsTheSame) {
  auto dev = testing::open_device();
  const int64_t w = 64, h = 5;
  const uint64_t bytes = static_cast<uint64_t>(w * h) * 4;
  kernels::KernelArgs args;
  for (uint32_t slot = 0; slot < 3; ++slot) args.add_tensor(kernels::TensorDesc::contiguous(bound(slot), DType::kF32, {w, h}));
  const uint32_t m = 4, k = 8, n = 6;
  auto desc = mme::gemm_descriptor(m, k, n, DType::kF32, DType::kF32, DType::kF32);
  desc.a_addr = bound(4);
  desc.b_addr = bound(5);
  desc.c_addr = bound(6);
  CommandBuffer cb;  // c = a + b on the vector cores, then d = c copied; a GEMM after a timeline wait
  cb.launch_tpc(kernels::kernel_id("add"), args).signal_when_done(bound_sync(7));
  cb.wait_sync(bound_sync(7), 1).copy(bound(3), bound(2), bytes);
  cb.launch_mme(desc).signal_when_done(bound_sync(7));
  ASSERT_TRUE(cb.recording_error().empty()) << cb.recording_error();

  const std::string blob = take(save_command_buffer(cb));
  CommandBuffer again = take(restore_command_buffer(blob));
  EXPECT_TRUE(std::equal(again.bytes().begin(), again.bytes().end(), cb.bytes().begin(), cb.bytes().end()));
  EXPECT_TRUE(std::equal(again.arena().begin(), again.arena().end(), cb.arena().begin(), cb.arena().end()));
  EXPECT_EQ(again.packet_count(), cb.packet_count());
  expect_same_uses(again.binding_uses(), cb.binding_uses());

  std::vector<float> a(w * h), b(w * h), want(w * h), ga(m * k), gb(k * n), gc(m * n, 0.0f);
  for (std::size_t i = 0; i < a.size(); ++i) {
    a[i] = static_cast<float>(i % 13);
    b[i] = static_cast<float>(i % 5) * 0.5f;
    want[i] = a[i] + b[i];
  }
  for (std::size_t i = 0; i < ga.size(); ++i) ga[i] = static_cast<float>(i % 3);
  for (std::size_t i = 0; i < gb.size(); ++i) gb[i] = static_cast<float>(i % 4) - 1.0f;
  for (uint32_t i = 0; i < m; ++i)
    for (uint32_t j = 0; j < n; ++j)
      for (uint32_t p = 0; p < k; ++p) gc[i * n + j] += ga[i * k + p] * gb[p * n + j];
  for (const CommandBuffer* which : {&cb, &again}) {
    std::vector<DeviceBuffer> t_bufs;
    for (uint64_t size : {bytes, bytes, bytes, bytes, uint64_t{m * k * 4}, uint64_t{k * n * 4}, uint64_t{m * n * 4}}) {
      t_bufs.push_back(take(dev->allocate(size)));
    }
    ASSERT_OK(dev->copy_to_device(t_bufs[0].address, a.data(), bytes));
    ASSERT_OK(dev->copy_to_device(t_bufs[1].address, b.data(), bytes));
    ASSERT_OK(dev->copy_to_device(t_bufs[4].address, ga.data(), ga.size() * 4));
    ASSERT_OK(dev->copy_to_device(t_bufs[5].address, gb.data(), gb.size() * 4));
    const uint32_t timeline = take(dev->allocate_sync_object());
    BindingTable t;
    for (uint32_t slot = 0; slot < t_bufs.size(); ++slot) t.bind(slot, t_bufs[slot]);
    t.bind_sync(7, timeline, 0);
    Stream& s = dev->default_stream();
    ASSERT_OK(s.wait(take(s.submit(*which, t))));
    std::vector<float> d(w * h), c(m * n);
    ASSERT_OK(dev->copy_to_host(d.data(), t_bufs[3].address, bytes));
    ASSERT_OK(dev->copy_to_host(c.data(), t_bufs[6].address, c.size() * 4));
    EXPECT_EQ(d, want) << (which == &cb ? "recorded" : "restored");
    EXPECT_EQ(c, gc) << (which == &cb ? "recorded" : "restored");
  }
}

// A restore recomputes every operand's use from the descriptor, as recording
// does: the residual too, and a transposed operand's stored extent.
TEST(SavedCommandBuffers, AResidualOrTransposedOperandRestoresWithTheUsesRecordingMade) {
  auto desc = mme::gemm_descriptor(2, 64, 4, DType::kF32, DType::kF32, DType::kF32);
  desc.flags = mme::kTransposeA | mme::kTransposeB | mme::kHasResidual | mme::kHasBias;
  desc.lda = 64;  // A^T: 64 rows of 2, 64 apart
  desc.ldb = 64;  // B^T: 4 rows of 64
  desc.r_dtype = static_cast<uint8_t>(DType::kF32);
  desc.a_addr = bound(0), desc.b_addr = bound(1), desc.c_addr = bound(2), desc.bias_addr = bound(3);
  desc.r_addr = bound(4);
  CommandBuffer cb;
  cb.launch_mme(desc);
  ASSERT_TRUE(cb.recording_error().empty()) << cb.recording_error();
  CommandBuffer again = take(restore_command_buffer(take(save_command_buffer(cb))));
  expect_same_uses(again.binding_uses(), cb.binding_uses());
  uint64_t extent[5] = {};
  for (const BindingUse& u : again.binding_uses()) {
    if (u.slot < 5) extent[u.slot] = u.extent;
  }
  EXPECT_EQ(extent[0], (63 * 64 + 2) * 4u);
  EXPECT_EQ(extent[1], (3 * 64 + 64) * 4u);
  EXPECT_EQ(extent[4], 2 * 4 * 4u);

  // An absolute residual address is refused like any other operand's.
  desc.r_addr = 0x20000;
  auto launch = packets::make_packet<packets::LaunchMmePacket>(Opcode::LAUNCH_MME, kOrdered);
  launch.descriptor_addr = packets::bound_address(packets::kArenaSlot, 0);
  Forged absolute_r;
  put(absolute_r.arena, desc);
  put(absolute_r.packets, launch);
  EXPECT_NE(restore_error(absolute_r.blob()).find("(LAUNCH_MME): MME operand R"), std::string::npos)
      << restore_error(absolute_r.blob());
}

TEST(SavedCommandBuffers, SavingRefusesWhatARestoreWouldRefuse) {
  const auto error = [](const CommandBuffer& cb) {
    auto r = save_command_buffer(cb);
    EXPECT_FALSE(r.ok());
    return r.ok() ? std::string() : r.status().message();
  };
  CommandBuffer absolute;
  absolute.copy(0x10000, bound(0), 64);
  EXPECT_NE(error(absolute).find("packet at offset 0x0 (LIN_DMA): destination 0x10000 is not a binding"),
            std::string::npos)
      << error(absolute);
  CommandBuffer monitor;
  monitor.arm_monitor(0, 20, 1, 0, 0);
  EXPECT_NE(error(monitor).find("may not arm monitors"), std::string::npos) << error(monitor);
  CommandBuffer privileged;
  privileged.write_register(packets::kRegScratchBase, 1);
  EXPECT_NE(error(privileged).find("(WREG32)"), std::string::npos) << error(privileged);
  CommandBuffer absolute_sync;
  absolute_sync.signal(20, packets::SyncOp::ADD, 1);
  EXPECT_NE(error(absolute_sync).find("sync object is sync object 20, not a binding"), std::string::npos)
      << error(absolute_sync);
  CommandBuffer outside_arena;  // an argument block the caller writes: its contents are not the buffer's
  outside_arena.launch_tpc(kernels::kernel_id("add"), bound(0, 64));
  EXPECT_NE(error(outside_arena).find("argument block"), std::string::npos) << error(outside_arena);
  auto desc = mme::gemm_descriptor(2, 2, 2, DType::kF32, DType::kF32, DType::kF32);
  desc.a_addr = 0x20000;
  desc.b_addr = bound(1);
  desc.c_addr = bound(2);
  CommandBuffer absolute_operand;
  absolute_operand.launch_mme(desc);
  EXPECT_NE(error(absolute_operand).find("MME operand A 0x20000 is not a binding"), std::string::npos)
      << error(absolute_operand);
  CommandBuffer misused;
  misused.nop().signal_when_done(bound_sync(1));
  EXPECT_NE(error(misused).find("it recorded an error: signal_when_done after NOP"), std::string::npos)
      << error(misused);
}

TEST(SavedCommandBuffers, AMalformedBlobOrPacketIsNotRestored) {
  EXPECT_NE(restore_error(std::string("\xff\xff\xff garbage", 12)).find("are not a saved command buffer"),
            std::string::npos);
  Forged newer;
  newer.version = 2;
  EXPECT_NE(restore_error(newer.blob()).find("format version 2, this driver reads 1"), std::string::npos);
  Forged unknown;  // opcode 0x7f
  put(unknown.packets, dma(bound(1), bound(0), 64));
  unknown.packets[0] = 0x7f;
  EXPECT_NE(restore_error(unknown.blob()).find("restoring a command buffer: packet at offset 0x0"), std::string::npos)
      << restore_error(unknown.blob());
  Forged truncated;
  put(truncated.packets, dma(bound(1), bound(0), 64));
  truncated.packets.resize(truncated.packets.size() - 8);
  EXPECT_NE(restore_error(truncated.blob()).find("packet at offset 0x0 (LIN_DMA)"), std::string::npos)
      << restore_error(truncated.blob());
  Forged reserved;
  auto p = dma(bound(1), bound(0), 64);
  p.dma_flags = 0x80;
  put(reserved.packets, p);
  EXPECT_NE(restore_error(reserved.blob()).find("unknown DMA flags"), std::string::npos) << restore_error(reserved.blob());
}

TEST(SavedCommandBuffers, ARestoredBufferIsValidatedAtItsFirstSubmissionLikeAnyOther) {
  auto dev = testing::open_device();
  Forged forged;  // structurally whole, but the device has no such fence counter
  auto fence = packets::make_packet<packets::FencePacket>(Opcode::FENCE, kOrdered);
  fence.fence_id = 100000;
  fence.target = 1;
  put(forged.packets, fence);
  CommandBuffer cb = take(restore_command_buffer(forged.blob()));
  Stream& s = dev->default_stream();
  for (int attempt = 0; attempt < 2; ++attempt) {  // the verdict is kept for the buffer
    auto r = s.submit(cb);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("command buffer rejected: packet at offset 0x0 (FENCE): fence counter 100000 "
                                        "is out of range"),
              std::string::npos)
        << r.status().message();
  }
}

TEST(SavedCommandBuffers, AForgedExtentCannotReachOutsideTheBoundRange) {
  auto dev = testing::open_device();
  Forged forged;  // copies 4096 bytes but declares it touches 16 of each slot
  put(forged.packets, dma(bound(1), bound(0), 4096));
  forged.uses = {{0, packets::Binding::Kind::kMemory, 16, false}, {1, packets::Binding::Kind::kMemory, 16, false}};
  CommandBuffer cb = take(restore_command_buffer(forged.blob()));
  ASSERT_EQ(cb.binding_uses().size(), 2u);  // recomputed from the packet
  EXPECT_EQ(cb.binding_uses()[0].extent, 4096u);
  EXPECT_EQ(cb.binding_uses()[1].extent, 4096u);
  EXPECT_EQ(cb.packet_count(), 1u);

  auto big = take(dev->allocate(3 * 4096));
  const auto before = pattern_bytes(3 * 4096, 7);
  ASSERT_OK(dev->copy_to_device(big.address, before.data(), before.size()));
  Stream& s = dev->default_stream();
  BindingTable small;  // what the forged uses would have let through
  small.bind_range(0, big.address, 64).bind_range(1, big.address + 4096, 64);
  auto r = s.submit(cb, small);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("binding slot 0: the command buffer touches 4096 bytes of it, but the bound "
                                      "range has 64"),
            std::string::npos)
      << r.status().message();
  // Bound as large as it really touches, it writes only its destination range.
  BindingTable exact;
  exact.bind_range(0, big.address, 4096).bind_range(1, big.address + 4096, 4096);
  ASSERT_OK(s.wait(take(s.submit(cb, exact))));
  std::vector<uint8_t> after(before.size());
  ASSERT_OK(dev->copy_to_host(after.data(), big.address, after.size()));
  std::vector<uint8_t> want(before);
  std::memcpy(want.data() + 4096, before.data(), 4096);
  EXPECT_EQ(after, want);

  // Forged addresses the recomputation cannot bound are refused outright.
  Forged into_arena;  // a DMA over the arena would rewrite descriptors after they were checked
  into_arena.arena.resize(64);
  put(into_arena.packets, dma(packets::bound_address(packets::kArenaSlot, 0), bound(0), 64));
  EXPECT_NE(restore_error(into_arena.blob()).find("destination names the arena slot"), std::string::npos)
      << restore_error(into_arena.blob());
  auto desc = mme::gemm_descriptor(4, 4, 4, DType::kF32, DType::kF32, DType::kF32);
  desc.a_addr = bound(0);
  desc.b_addr = bound(1);
  desc.c_addr = big.address;  // absolute: anything the context maps
  auto launch = packets::make_packet<packets::LaunchMmePacket>(Opcode::LAUNCH_MME, kOrdered);
  launch.descriptor_addr = packets::bound_address(packets::kArenaSlot, 0);
  Forged mme_absolute;
  put(mme_absolute.arena, desc);
  put(mme_absolute.packets, launch);
  EXPECT_NE(restore_error(mme_absolute.blob()).find("(LAUNCH_MME): MME operand C"), std::string::npos)
      << restore_error(mme_absolute.blob());
  Forged mme_past_arena;  // the descriptor would be read past the arena's end
  put(mme_past_arena.arena, desc);
  launch.descriptor_addr = packets::bound_address(packets::kArenaSlot, 8);
  put(mme_past_arena.packets, launch);
  EXPECT_NE(restore_error(mme_past_arena.blob()).find("run past the arena's " + std::to_string(sizeof(mme::Descriptor)) + " bytes"), std::string::npos)
      << restore_error(mme_past_arena.blob());
  kernels::KernelArgs args;
  args.add_tensor(kernels::TensorDesc::contiguous(bound(0), DType::kF32, {16}));
  args.add_tensor(kernels::TensorDesc::contiguous(big.address, DType::kF32, {16}));
  const auto block = take(kernels::encode_kernel_args(args));
  auto tpc = packets::make_packet<packets::LaunchTpcPacket>(Opcode::LAUNCH_TPC, kOrdered);
  tpc.kernel_id = kernels::kernel_id("relu");
  tpc.args_addr = packets::bound_address(packets::kArenaSlot, 0);
  Forged tpc_absolute;
  tpc_absolute.arena = block;
  put(tpc_absolute.packets, tpc);
  EXPECT_NE(restore_error(tpc_absolute.blob()).find("kernel tensor 1 " + hex(big.address) + " is not a binding"),
            std::string::npos)
      << restore_error(tpc_absolute.blob());
  Forged conflicting;  // a declared use may add, never contradict
  put(conflicting.packets, dma(bound(1), bound(0), 64));
  conflicting.uses = {{0, packets::Binding::Kind::kSync, 0, true}};
  EXPECT_NE(restore_error(conflicting.blob()).find("binding slot 0 is used both as memory and as a sync object"),
            std::string::npos)
      << restore_error(conflicting.blob());
}

}  // namespace
}  // namespace kiln::driver
