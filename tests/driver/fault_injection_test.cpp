// Fault injection: the chosen engine job fails with a record naming it, and
// only it; a fatal fault leaves the device refusing work until it is reopened.
#include <cstring>

#include "faults_fixture.h"
#include "kiln/kernels/kernel_args.h"
#include "kiln/kernels/kernel_registry.h"

namespace kiln::driver {
namespace {

using testing::Faults;
using testing::take;

class FaultInjectionTest : public Faults {
 protected:
  uint64_t submit_copy() { return take(stream_->copy(dst_.address, src_.address, kBytes)); }

  // A command buffer launching the library's `add` over three fresh
  // 300 x 7 fp32 tensors; the argument block stays pinned until TearDown.
  CommandBuffer tpc_add() {
    kernels::KernelArgs args;
    for (int i = 0; i < 3; ++i) {
      args.add_tensor(
          kernels::TensorDesc::contiguous(take(dev_->allocate(300 * 7 * 4)).address, DType::kF32, {300, 7}));
    }
    blocks_.push_back(testing::kernel_arg_block(*dev_, args));
    CommandBuffer cb;
    cb.launch_tpc(kernels::kernel_id("add"), blocks_.back().address);
    return cb;
  }

  CommandBuffer gemm() {
    auto d = mme::gemm_descriptor(64, 64, 64, DType::kF32, DType::kF32, DType::kF32);
    d.a_addr = take(dev_->allocate(64 * 64 * 4)).address;
    d.b_addr = take(dev_->allocate(64 * 64 * 4)).address;
    d.c_addr = take(dev_->allocate(64 * 64 * 4)).address;
    blocks_.push_back(take(dev_->allocate_host(sizeof d)));
    std::memcpy(blocks_.back().data, &d, sizeof d);
    CommandBuffer cb;
    cb.launch_mme(blocks_.back().address);
    return cb;
  }

  void TearDown() override {
    if (!dev_) return;
    for (const HostBuffer& b : blocks_) EXPECT_TRUE(dev_->free_host(b).ok());
  }

  std::vector<HostBuffer> blocks_;
};

TEST_F(FaultInjectionTest, FailsTheChosenDmaJobAndOnlyIt) {
  ASSERT_OK(dev_->inject_fault({.engine = "DMA", .after_jobs = 1}));
  ASSERT_OK(stream_->wait(submit_copy()));  // the first job runs

  const uint64_t seq = submit_copy();
  const FaultRecord f = fault_of(seq);
  EXPECT_EQ(f.cause, FaultCause::kInjected);
  EXPECT_EQ(f.engine.rfind("DMA", 0), 0u) << f.engine;
  EXPECT_EQ(f.queue, stream_->queue());
  EXPECT_EQ(f.sequence, seq);
  EXPECT_EQ(f.packet_offset, 0u);
  EXPECT_NE(f.describe().find("injected fault on DMA"), std::string::npos) << f.describe();
  // The job left a mark on its engine's track.
  const auto marks = testing::device_events(*dev_, "DMA", static_cast<int>(stream_->queue()), seq);
  ASSERT_EQ(marks.size(), 1u);
  EXPECT_EQ(marks[0].name, "injected fault");

  EXPECT_FALSE(dev_->fatal_fault().has_value());
  expect_next_submission_succeeds();
}

TEST_F(FaultInjectionTest, CountFailsSeveralJobsInARow) {
  ASSERT_OK(dev_->inject_fault({.engine = "DMA", .count = 2}));
  EXPECT_EQ(fault_of(submit_copy()).cause, FaultCause::kInjected);
  EXPECT_EQ(fault_of(submit_copy()).cause, FaultCause::kInjected);
  expect_next_submission_succeeds();
}

TEST_F(FaultInjectionTest, MatrixAndVectorEnginesFailTheirNextJob) {
  ASSERT_OK(dev_->inject_fault({.engine = "MME"}));
  ASSERT_OK(dev_->inject_fault({.engine = "TPC", .after_jobs = 1}));

  const FaultRecord mme = fault_of(take(stream_->submit(gemm())));
  EXPECT_EQ(mme.cause, FaultCause::kInjected);
  EXPECT_EQ(mme.engine, "MME");
  ASSERT_OK(stream_->wait(take(stream_->submit(gemm()))));  // the next one runs

  ASSERT_OK(stream_->wait(take(stream_->submit(tpc_add()))));  // after_jobs = 1
  const FaultRecord tpc = fault_of(take(stream_->submit(tpc_add())));
  EXPECT_EQ(tpc.cause, FaultCause::kInjected);
  EXPECT_EQ(tpc.engine, "TPC");
  ASSERT_OK(stream_->wait(take(stream_->submit(tpc_add()))));
  expect_next_submission_succeeds();
}

TEST_F(FaultInjectionTest, AFatalFaultLeavesTheDeviceNeedingAReset) {
  Stream* other = take(dev_->create_stream());
  ASSERT_OK(dev_->inject_fault({.engine = "TPC", .fatal = true}));

  // Another queue is mid-way through 64 copies when the vector cores fault:
  // it stops at its next packet. (It is submitted first, so it is running
  // when the launch reaches the device a submission's host cost later.)
  CommandBuffer many;
  for (int i = 0; i < 64; ++i) many.copy(dst_.address, src_.address, 4096);
  const CommandBuffer launch = tpc_add();
  const uint64_t other_seq = take(other->submit(many));
  const uint64_t fatal_seq = take(stream_->submit(launch));

  const FaultRecord f = fault_of(fatal_seq);
  EXPECT_EQ(f.cause, FaultCause::kUncorrectableMemoryError);
  EXPECT_EQ(f.engine, "TPC");
  EXPECT_TRUE(is_fatal(f.cause));
  ASSERT_TRUE(dev_->fatal_fault().has_value());
  EXPECT_EQ(dev_->fatal_fault()->describe(), f.describe());

  EXPECT_EQ(other->wait(other_seq).code(), ErrorCode::kDeviceFault);
  const auto other_info = take(other->info(other_seq));
  ASSERT_TRUE(other_info.fault.has_value());
  EXPECT_EQ(other_info.fault->cause, FaultCause::kDeviceNeedsReset);
  EXPECT_GT(other_info.fault->packet_offset, 0u);  // some copies ran before
  EXPECT_NE(other_info.fault->detail.find("uncorrectable memory error on TPC"), std::string::npos)
      << other_info.fault->describe();

  // Every further submission is refused, naming the fault and the remedy.
  for (Stream* s : {stream_, other}) {
    const auto refused = s->copy(dst_.address, src_.address, 4096);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.status().code(), ErrorCode::kFailedPrecondition);
    EXPECT_NE(refused.status().message().find("needs a reset (close and reopen it)"), std::string::npos)
        << refused.status().message();
    EXPECT_NE(refused.status().message().find("uncorrectable memory error on TPC"), std::string::npos)
        << refused.status().message();
  }
  std::vector<uint8_t> back(16);
  EXPECT_EQ(dev_->copy_to_host(back.data(), src_.address, back.size()).code(), ErrorCode::kFailedPrecondition);

  // The reset: close and reopen; the new device works.
  for (const HostBuffer& b : blocks_) ASSERT_OK(dev_->free_host(b));
  blocks_.clear();
  dev_.reset();
  SetUp();
  EXPECT_FALSE(dev_->fatal_fault().has_value());
  expect_next_submission_succeeds();
}

TEST_F(FaultInjectionTest, UnknownEnginesAndZeroCountsAreRejected) {
  for (const char* engine : {"XYZ", "DMA2", "DMA01", "dma", "TPC0", "MME1", ""}) {
    const Status s = dev_->inject_fault({.engine = engine});
    EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument) << engine;
    EXPECT_NE(s.message().find("engine '" + std::string(engine) + "' is not one of DMA, DMA0..DMA1, MME, TPC on tiny"),
              std::string::npos)
        << s.message();
  }
  ASSERT_OK(dev_->inject_fault({.engine = "DMA1", .after_jobs = 1000}));
  const Status zero = dev_->inject_fault({.engine = "DMA", .count = 0});
  EXPECT_EQ(zero.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(zero.message().find("count must be >= 1"), std::string::npos) << zero.message();
  expect_next_submission_succeeds();
}

}  // namespace
}  // namespace kiln::driver
