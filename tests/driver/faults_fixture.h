// The fixture of the fault tests: a device, a stream, and a buffer of known
// bytes to prove the device is still usable after a fault.
#pragma once

#include "test_util.h"

namespace kiln::driver::testing {

class Faults : public ::testing::Test {
 protected:
  void SetUp() override {
    dev_ = open_device();
    stream_ = take(dev_->create_stream());
    src_ = take(dev_->allocate(kBytes));
    dst_ = take(dev_->allocate(kBytes));
    data_ = pattern_bytes(kBytes, 3);
    ASSERT_OK(dev_->copy_to_device(src_.address, data_.data(), kBytes));
  }

  FaultRecord fault_of(uint64_t seq) {
    const Status st = stream_->wait(seq);
    EXPECT_EQ(st.code(), ErrorCode::kDeviceFault) << st.to_string();
    auto info = take(stream_->info(seq));
    EXPECT_TRUE(info.fault.has_value());
    return info.fault.value_or(FaultRecord{});
  }

  // The device is usable afterwards: a valid copy moves the right bytes.
  void expect_next_submission_succeeds() {
    CommandBuffer cb;
    cb.memset(dst_.address, 0, kBytes).copy(dst_.address, src_.address, kBytes);
    const uint64_t seq = take(stream_->submit(cb));
    ASSERT_OK(stream_->wait(seq));
    std::vector<uint8_t> back(kBytes);
    ASSERT_OK(dev_->copy_to_host(back.data(), dst_.address, kBytes));
    EXPECT_EQ(back, data_);
  }

  static constexpr uint64_t kBytes = 256 << 10;
  std::unique_ptr<Device> dev_;
  Stream* stream_ = nullptr;
  DeviceBuffer src_, dst_;
  std::vector<uint8_t> data_;
};

}  // namespace kiln::driver::testing
