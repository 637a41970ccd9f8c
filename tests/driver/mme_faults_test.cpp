// Hostile MME descriptors on the device: spans that overflow 64 bits, huge
// strides, convolution geometry out of range, an output only partly mapped,
// a job too large to compute on the host. Each faults its submission naming
// the field or operand, and the device runs the next GEMM correctly.
#include <cstring>
#include <vector>

#include "kiln/common/mme_descriptor.h"
#include "test_util.h"

namespace kiln::driver {
namespace {

using kiln::DType;
using mme::gemm_descriptor;
using testing::take;

class MmeHostileDescriptors : public ::testing::Test {
 protected:
  void SetUp() override { open("tiny", true); }

  void open(const std::string& config, bool functional) {
    dev_ = testing::open_device(config, functional);
    stream_ = take(dev_->create_stream());
    a_ = take(dev_->allocate(64 * 64 * 4));
    b_ = take(dev_->allocate(64 * 64 * 4));
    c_ = take(dev_->allocate(64 * 64 * 4));
  }

  // Runs one descriptor; returns the submission's fault, if any.
  std::optional<FaultRecord> launch(const mme::Descriptor& d) {
    HostBuffer desc = take(dev_->allocate_host(sizeof d));
    std::memcpy(desc.data, &d, sizeof d);
    CommandBuffer cb;
    cb.nop().launch_mme(desc.address);
    const uint64_t seq = take(stream_->submit(cb));
    (void)stream_->wait(seq);
    EXPECT_TRUE(dev_->free_host(desc).ok());
    return take(stream_->info(seq)).fault;
  }

  mme::Descriptor gemm64() const {
    auto d = gemm_descriptor(64, 64, 64, DType::kF32, DType::kF32, DType::kF32);
    d.a_addr = a_.address, d.b_addr = b_.address, d.c_addr = c_.address;
    return d;
  }

  // The fault is an invalid descriptor on the command processor naming `field`.
  void expect_rejected(const mme::Descriptor& d, const std::string& field) {
    const auto f = launch(d);
    ASSERT_TRUE(f) << field;
    EXPECT_EQ(f->cause, FaultCause::kInvalidDescriptor) << f->describe();
    EXPECT_EQ(f->engine, "CP" + std::to_string(stream_->queue()));
    EXPECT_NE(f->detail.find("field '" + field + "'"), std::string::npos) << f->detail;
  }

  // A GEMM of ones times twos: every output is 2 * 64.
  void expect_usable() {
    std::vector<float> ones(64 * 64, 1.0f), twos(64 * 64, 2.0f), out(64 * 64, 0.0f);
    ASSERT_OK(dev_->copy_to_device(a_.address, ones.data(), ones.size() * 4));
    ASSERT_OK(dev_->copy_to_device(b_.address, twos.data(), twos.size() * 4));
    const auto f = launch(gemm64());
    ASSERT_FALSE(f) << f->describe();
    ASSERT_OK(dev_->copy_to_host(out.data(), c_.address, out.size() * 4));
    EXPECT_EQ(out.front(), 128.0f);
    EXPECT_EQ(out.back(), 128.0f);
  }

  std::unique_ptr<Device> dev_;
  Stream* stream_ = nullptr;
  DeviceBuffer a_, b_, c_;
};

TEST_F(MmeHostileDescriptors, SpansThatOverflowAreRejectedNamingTheField) {
  auto huge_stride = gemm64();
  huge_stride.lda = uint64_t{1} << 62;  // (m - 1) * lda overflows 64 bits
  expect_rejected(huge_stride, "lda");

  auto m_times_k = gemm64();
  m_times_k.m = m_times_k.k = 0xffffffffu;  // m * k elements of 4 bytes: more than 2^64 bytes
  m_times_k.lda = m_times_k.k;
  expect_rejected(m_times_k, "lda");

  auto batch_times_stride = gemm64();
  batch_times_stride.batch = 0xffffffffu;
  batch_times_stride.batch_stride_c = uint64_t{1} << 40;
  expect_rejected(batch_times_stride, "batch_stride_c");

  auto beyond_any_mapping = gemm64();
  beyond_any_mapping.ldb = uint64_t{1} << 44;  // fits 64 bits, but spans 2^52 bytes
  expect_rejected(beyond_any_mapping, "ldb");
  expect_usable();
}

TEST_F(MmeHostileDescriptors, ConvolutionGeometryOutOfRangeIsRejected) {
  const uint32_t big = 0xffffffffu;
  mme::Descriptor d = mme::conv2d_descriptor(big, big, big, big, big, 1, 1, DType::kF32, DType::kF32, DType::kF32);
  d.a_addr = a_.address, d.b_addr = b_.address, d.c_addr = c_.address;
  expect_rejected(d, "conv_c");  // the input, 4 * N * C * H * W bytes, overflows at C

  d.conv_n = d.conv_c = d.conv_k = 1, d.conv_h = d.conv_w = 1;
  d.conv_r = 0xffffffffu, d.dilation_h = 0xffffffffu;  // the filter spans ~2^64 rows
  expect_rejected(d, "conv geometry");

  d.conv_r = 1, d.dilation_h = 1, d.pad_top = d.pad_bottom = 0xffffffffu;  // output height ~2^33
  expect_rejected(d, "pad_top/pad_bottom");

  d.pad_top = d.pad_bottom = 0;
  d.conv_c = 6, d.conv_k = 4, d.conv_groups = 3;  // 3 does not divide K
  expect_rejected(d, "conv_groups");
  expect_usable();
}

TEST_F(MmeHostileDescriptors, PartlyMappedOutputIsAPageFaultNamingTheOperand) {
  const DeviceBuffer c = take(dev_->allocate(64 * 64 * 4));  // the last allocation: nothing mapped after it
  auto d = gemm64();
  d.c_addr = c.address;
  d.ldc = 1024;  // rows far apart: C runs past its allocation (and its page)
  const auto f = launch(d);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->cause, FaultCause::kPageFault);
  EXPECT_EQ(f->engine, "MME");
  EXPECT_NE(f->detail.find("operand C"), std::string::npos) << f->detail;
  EXPECT_GE(f->address, c.address + 64 * 64 * 4);
  EXPECT_LT(f->address, c.address + (63 * 1024 + 64) * 4);
  expect_usable();
}

// An operand of several MB is read in pieces on the host's threads
// (sim/src/mme_engine.cpp): the fault is still the first unmapped byte, and
// names the operand.
TEST_F(MmeHostileDescriptors, PartlyMappedLargeOperandFaultsAtItsFirstUnmappedByte) {
  const uint64_t m = 2048, k = 1024;  // A: 8 MiB of f32
  const uint64_t mapped = 5ull << 20;
  const DeviceBuffer b = take(dev_->allocate(k * 64 * 4)), c = take(dev_->allocate(m * 64 * 4));
  const DeviceBuffer a = take(dev_->allocate(mapped));  // the last allocation: nothing mapped after it
  auto d = gemm_descriptor(m, k, 64, DType::kF32, DType::kF32, DType::kF32);
  d.a_addr = a.address, d.b_addr = b.address, d.c_addr = c.address;
  const auto f = launch(d);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->cause, FaultCause::kPageFault) << f->describe();
  EXPECT_EQ(f->engine, "MME");
  EXPECT_NE(f->detail.find("operand A"), std::string::npos) << f->detail;
  EXPECT_GE(f->address, a.address + mapped);
  EXPECT_LT(f->address, a.address + m * k * 4);
  expect_usable();
}

// Computing values needs host memory in proportion to the job; timing-only
// mode needs none, so the same large GEMM runs there.
TEST_F(MmeHostileDescriptors, HostMemoryCeilingAppliesOnlyWhenValuesAreComputed) {
  for (const bool functional : {false, true}) {
    open("gaudi2", functional);
    const uint64_t n = 32768;  // bf16: 2 GiB per operand; ~18 GiB to compute in fp32 on the host
    auto d = gemm_descriptor(n, n, n, DType::kBF16, DType::kBF16, DType::kBF16);
    d.a_addr = take(dev_->allocate(n * n * 2)).address;
    d.b_addr = take(dev_->allocate(n * n * 2)).address;
    d.c_addr = take(dev_->allocate(n * n * 2)).address;
    const auto f = launch(d);
    if (functional) {
      ASSERT_TRUE(f);
      EXPECT_EQ(f->cause, FaultCause::kInvalidDescriptor);
      EXPECT_NE(f->detail.find("8 GiB of host memory"), std::string::npos) << f->detail;
    } else {
      EXPECT_FALSE(f) << f->describe();
    }
  }
  expect_usable();
}

}  // namespace
}  // namespace kiln::driver
