// Untrusted input on the vector cores never takes the process down: an
// argument block is decoded and checked before anything uses it, a kernel
// that throws faults its own launch, kernels run on full-size thread stacks,
// and after each the device takes the next submission.
#include <algorithm>
#include <cstring>
#include <random>

#include "kiln/kernels/kernel_arg_block.h"
#include "kiln/kernels/kernel_args.h"
#include "kiln/kernels/kernel_registry.h"
#include "test_util.h"

namespace kiln::driver {
namespace {

using kernels::DType;
using kernels::KernelArgs;
using kernels::TensorDesc;
using testing::take;

class TpcFaults : public ::testing::Test {
 protected:
  void SetUp() override { open("tiny"); }

  void open(const std::string& config) {
    DeviceOptions options;
    options.kernel_paths = {KILN_TEST_PLUGIN};
    dev_ = take(Device::open(config, options));
    stream_ = take(dev_->create_stream());
    buf_ = take(dev_->allocate(3 * 4096));
  }

  // Runs `kernel` with the argument block at `block_address` and returns the
  // submission's fault, if any.
  std::optional<FaultRecord> launch_at(const std::string& kernel, uint64_t block_address) {
    CommandBuffer cb;
    cb.nop().launch_tpc(kernels::kernel_id(kernel), block_address);
    const uint64_t seq = take(stream_->submit(cb));
    (void)stream_->wait(seq);
    return take(stream_->info(seq)).fault;
  }

  // Raw bytes as the argument block, in pinned host memory.
  std::optional<FaultRecord> launch_raw(const std::string& kernel, const std::vector<uint8_t>& block) {
    HostBuffer host = take(dev_->allocate_host(std::max<std::size_t>(block.size(), 8)));
    std::memcpy(host.data, block.data(), block.size());
    auto fault = launch_at(kernel, host.address);
    EXPECT_TRUE(dev_->free_host(host).ok());
    return fault;
  }

  std::optional<FaultRecord> launch(const std::string& kernel, const KernelArgs& args) {
    return launch_raw(kernel, take(kernels::encode_kernel_args(args)));
  }

  // `add` over three 1024-float tensors in buf_.
  KernelArgs add_args() const {
    KernelArgs args;
    for (int i = 0; i < 3; ++i) {
      args.add_tensor(TensorDesc::contiguous(buf_.address + 4096 * static_cast<uint64_t>(i), DType::kF32, {1024}));
    }
    return args;
  }

  void expect_usable() {
    const auto fault = launch("add", add_args());
    EXPECT_FALSE(fault) << fault->describe();
  }

  std::unique_ptr<Device> dev_;
  Stream* stream_ = nullptr;
  DeviceBuffer buf_;
};

std::size_t tensor_at(int i) {
  return sizeof(kernels::KernelArgBlockHeader) + static_cast<std::size_t>(i) * sizeof(kernels::KernelArgTensor);
}

TEST_F(TpcFaults, ArgumentBlockWithANegativeDimNamesTheField) {
  std::vector<uint8_t> block = take(kernels::encode_kernel_args(add_args()));
  block[tensor_at(2) + 9] = 4;  // rank 4 ...
  const int64_t minus_five = -5;
  std::memcpy(block.data() + tensor_at(2) + 16 + 3 * 8, &minus_five, 8);  // ... and dims[3] = -5
  const auto f = launch_raw("add", block);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->cause, FaultCause::kInvalidDescriptor);
  EXPECT_EQ(f->engine, "CP" + std::to_string(stream_->queue()));
  EXPECT_EQ(f->packet_offset, 8u);
  EXPECT_EQ(f->detail, "kernel argument block: tensor 2 dims[3] is -5");
  expect_usable();
}

TEST_F(TpcFaults, GarbageArgumentBlocksAreFaultsNeverCrashes) {
  std::mt19937 rng(3);
  const std::vector<uint8_t> valid = take(kernels::encode_kernel_args(add_args()));
  for (int i = 0; i < 40; ++i) {
    std::vector<uint8_t> block = valid;
    if (i % 2 == 0) {
      for (auto& b : block) b = static_cast<uint8_t>(rng());
    } else {
      block[16 + rng() % (block.size() - 16)] ^= static_cast<uint8_t>(1 + rng() % 255);  // one field of a tensor
    }
    const auto f = launch_raw("add", block);
    if (f) {
      EXPECT_TRUE(f->cause == FaultCause::kInvalidDescriptor || f->cause == FaultCause::kPageFault) << f->describe();
    }
  }
  expect_usable();
}

// The device reads the fixed header first and bounds the size it claims
// before reading the rest: a header at the very end of a mapping that claims
// 4 GiB faults as a bad block, not as a read past the mapping.
TEST_F(TpcFaults, ClaimedSizeIsBoundedBeforeTheRestIsRead) {
  // The last 16 bytes of a one-page allocation, the last thing allocated:
  // nothing is mapped after it.
  const uint64_t page = uint64_t{dev_->config().mmu().page_size_kib()} << 10;
  const DeviceBuffer mem = take(dev_->allocate(page));
  ASSERT_EQ(mem.address % page, 0u);
  const uint64_t tail = mem.address + page - sizeof(kernels::KernelArgBlockHeader);
  std::vector<uint8_t> block = take(kernels::encode_kernel_args(add_args()));
  const uint32_t huge = 0xffffffffu;
  std::memcpy(block.data() + 8, &huge, 4);
  ASSERT_OK(dev_->copy_to_device(tail, block.data(), 16));
  auto f = launch_at("add", tail);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->cause, FaultCause::kInvalidDescriptor);
  EXPECT_NE(f->detail.find("total_bytes is 4294967295"), std::string::npos) << f->detail;

  // A consistent header there makes the device read on, past the mapping.
  block = take(kernels::encode_kernel_args(add_args()));
  ASSERT_OK(dev_->copy_to_device(tail, block.data(), 16));
  f = launch_at("add", tail);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->cause, FaultCause::kPageFault);
  EXPECT_EQ(f->address, mem.address + page);
  expect_usable();
}

TEST_F(TpcFaults, AKernelThatThrowsFaultsItsLaunchOnly) {
  const std::string told = "test_plugin_throw was told to throw";
  const char* const whats[] = {told.c_str(), "std::bad_alloc", "an exception that is not a std::exception"};
  for (int where = 0; where < 3; ++where) {
    for (int what = 0; what < 3; ++what) {
      KernelArgs args;
      args.add_int(where).add_int(what);
      const auto f = launch("test_plugin_throw", args);
      ASSERT_TRUE(f) << where << " " << what;
      EXPECT_EQ(f->cause, FaultCause::kEngineError) << f->describe();
      // run: on a vector core; validate and index_space: when the command
      // processor validates the launch.
      EXPECT_EQ(f->engine.rfind(where == 0 ? "TPC" : "CP", 0), 0u) << f->describe();
      EXPECT_EQ(f->detail, std::string("kernel 'test_plugin_throw' threw: ") + whats[what]) << f->describe();
      expect_usable();
    }
  }
}

// Kernel slices run on full-size thread stacks, never on the 256 KiB stack
// of a SystemC coroutine: test_plugin_stack faults unless it has 1 MiB of
// its thread's own stack to use. Every core of a large device runs one.
TEST_F(TpcFaults, KernelsRunOnFullSizeThreadStacks) {
  open("gaudi2");
  const auto f = launch("test_plugin_stack", KernelArgs{});
  EXPECT_FALSE(f) << f->describe();
  EXPECT_EQ(testing::device_events(*dev_, "TPC", static_cast<int>(stream_->queue())).size(),
            dev_->config().tpc().count());
}

}  // namespace
}  // namespace kiln::driver
