// Vector-core kernels through the driver: LAUNCH_TPC runs a library kernel on
// the simulated cores; values match an exact reference and do not depend on
// the host thread count,
// timing respects the HBM bound, faults are records.
#include <cstring>

#include "kiln/kernels/host_runner.h"
#include "kiln/kernels/kernel_args.h"
#include "tbb/global_control.h"
#include "test_util.h"

namespace kiln::driver {
namespace {

using kernels::KernelArgs;
using kernels::TensorDesc;
using testing::take;

// Launches `name` with `args` (placed in pinned host memory) and waits.
uint64_t launch(Device& dev, Stream& s, const std::string& name, const KernelArgs& args, Status* result = nullptr) {
  auto block = testing::kernel_arg_block(dev, args);
  CommandBuffer cb;
  cb.nop().launch_tpc(kernels::kernel_id(name), block.address);
  const uint64_t seq = take(s.submit(cb));
  const Status st = s.wait(seq);
  if (result) {
    *result = st;
  } else {
    EXPECT_TRUE(st.ok()) << st.to_string();
  }
  EXPECT_TRUE(dev.free_host(block).ok());
  return seq;
}

std::vector<float> iota_floats(std::size_t n, float scale) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<float>(static_cast<int>(i % 1000) - 500) * scale;
  return v;
}

TEST(Tpc, BroadcastAddMatchesTheExactSum) {
  auto dev = testing::open_device("gaudi2");
  Stream* s = take(dev->create_stream());
  const int64_t w = 300, h = 77;  // rows not a multiple of the 64-lane vector
  const std::size_t n = w * h;
  auto a_host = iota_floats(n, 0.25f), b_host = iota_floats(w, 0.5f);  // b broadcasts along rows
  auto a = take(dev->allocate(n * 4)), b = take(dev->allocate(w * 4)), out = take(dev->allocate(n * 4));
  ASSERT_OK(dev->copy_to_device(a.address, a_host.data(), n * 4));
  ASSERT_OK(dev->copy_to_device(b.address, b_host.data(), w * 4));
  KernelArgs args;
  args.add_tensor(TensorDesc::contiguous(a.address, DType::kF32, {w, h}))
      .add_tensor(TensorDesc::contiguous(b.address, DType::kF32, {w, 1}))
      .add_tensor(TensorDesc::contiguous(out.address, DType::kF32, {w, h}));
  const uint64_t seq = launch(*dev, *s, "add", args);
  std::vector<float> got(n);
  ASSERT_OK(dev->copy_to_host(got.data(), out.address, n * 4));
  for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(got[i], a_host[i] + b_host[i % w]) << i;  // exact in fp32

  // Every core that had rows recorded a job with its bytes; they add up to
  // what the kernel moved (a once, b per row, out once).
  const auto jobs = testing::device_events(*dev, "TPC", static_cast<int>(s->queue()), seq);
  ASSERT_GT(jobs.size(), 1u);
  uint64_t bytes = 0, lane_ops = 0;
  for (const auto& j : jobs) bytes += j.bytes, lane_ops += j.flops;
  EXPECT_GE(bytes, 2 * n * 4);
  EXPECT_GE(lane_ops, n);  // at least one add per element
}

TEST(Tpc, LargeElementwiseKernelIsBoundedByHbmAndIssue) {
  auto dev = testing::open_device("gaudi2", /*functional=*/false);
  Stream* s = take(dev->create_stream());
  const int64_t w = 4096, h = 1024;
  const uint64_t n = static_cast<uint64_t>(w * h);
  auto a = take(dev->allocate(n * 4)), b = take(dev->allocate(n * 4)), out = take(dev->allocate(n * 4));
  KernelArgs args;
  args.add_tensor(TensorDesc::contiguous(a.address, DType::kF32, {w, h}))
      .add_tensor(TensorDesc::contiguous(b.address, DType::kF32, {w, h}))
      .add_tensor(TensorDesc::contiguous(out.address, DType::kF32, {w, h}));
  const uint64_t seq = launch(*dev, *s, "add", args);
  const auto jobs = testing::device_events(*dev, "TPC", static_cast<int>(s->queue()), seq);
  ASSERT_EQ(jobs.size(), dev->config().tpc().count());
  uint64_t start = UINT64_MAX, end = 0;
  for (const auto& j : jobs) start = std::min(start, j.start_ps), end = std::max(end, j.end_ps);
  const double ns = (end - start) / 1000.0;
  const double hbm_ns = 3.0 * n * 4 / dev->config().hbm().bandwidth_gb_per_s();
  // All 24 cores stream through HBM at once: HBM is the bound, and the job
  // takes it plus at most the latency and launch overhead.
  EXPECT_GE(ns, hbm_ns);
  EXPECT_LE(ns, hbm_ns + dev->config().hbm().latency_ns() + dev->config().tpc().launch_overhead_ns() + 1);
}

TEST(Tpc, ValuesAndTimesDoNotDependOnTheHostThreadCount) {
  auto run = [](int threads) {
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism, threads);
    auto dev = testing::open_device("gaudi2");
    Stream* s = take(dev->create_stream());
    const int64_t w = 257, h = 130;
    const std::size_t n = w * h;
    auto x = iota_floats(n, 0.01f);
    auto in = take(dev->allocate(n * 4)), out = take(dev->allocate(n * 4));
    EXPECT_TRUE(dev->copy_to_device(in.address, x.data(), n * 4).ok());
    KernelArgs args;
    args.add_tensor(TensorDesc::contiguous(in.address, DType::kF32, {w, h}))
        .add_tensor(TensorDesc::contiguous(out.address, DType::kF32, {w, h}));
    const uint64_t seq = launch(*dev, *s, "softmax", args);
    std::vector<float> got(n);
    EXPECT_TRUE(dev->copy_to_host(got.data(), out.address, n * 4).ok());
    std::vector<uint64_t> times;
    for (const auto& j : testing::device_events(*dev, "TPC", static_cast<int>(s->queue()), seq)) {
      times.push_back(j.end_ps - j.start_ps);
    }
    return std::make_pair(got, times);
  };
  const auto one = run(1), two = run(2);
  EXPECT_EQ(std::memcmp(one.first.data(), two.first.data(), one.first.size() * 4), 0);
  EXPECT_EQ(one.second, two.second);
}

TEST(Tpc, UnknownKernelAndUnmappedTensorAreFaults) {
  auto dev = testing::open_device();
  Stream* s = take(dev->create_stream());
  auto buf = take(dev->allocate(4096));
  KernelArgs args;
  args.add_tensor(TensorDesc::contiguous(buf.address, DType::kF32, {64}))
      .add_tensor(TensorDesc::contiguous(buf.address, DType::kF32, {64}));
  Status st;
  uint64_t seq = launch(*dev, *s, "no_such_kernel", args, &st);
  EXPECT_EQ(st.code(), ErrorCode::kDeviceFault);
  EXPECT_EQ(take(s->info(seq)).fault->cause, FaultCause::kInvalidDescriptor);

  const uint64_t unmapped = buf.address + (1ull << 36);
  args.tensors[1] = TensorDesc::contiguous(unmapped, DType::kF32, {64});
  seq = launch(*dev, *s, "relu", args, &st);
  EXPECT_EQ(st.code(), ErrorCode::kDeviceFault);
  const auto f = take(s->info(seq)).fault;
  ASSERT_TRUE(f);
  EXPECT_EQ(f->cause, FaultCause::kPageFault);
  EXPECT_EQ(f->engine.rfind("TPC", 0), 0u);
  EXPECT_EQ(f->address, unmapped);

  args.tensors[1] = TensorDesc::contiguous(buf.address, DType::kF32, {64});
  launch(*dev, *s, "relu", args);  // the device is usable again
}

// A vector load whose lanes lie far apart (a transposed or NCHW-as-NHWC
// view) is one gather from device memory once a window of resident frames
// covers its lanes (tpc_engine.cpp); lanes across several backing-store
// frames keep their values, and a lane past the mapping still faults the
// launch. Each core's first row finds the window; its next rows gather through it.
TEST(Tpc, AStridedLoadAcrossFramesReadsEveryLaneAndFaultsPastTheMapping) {
  auto dev = testing::open_device();
  Stream* s = take(dev->create_stream());
  constexpr int64_t kLanes = 64, kRows = 96, kStride = 20000;  // lanes 80 KB apart: 5 MB, three frames
  const uint64_t span = static_cast<uint64_t>((kLanes - 1) * kStride + kRows) * 4;
  auto out = take(dev->allocate(kLanes * kRows * 4));
  auto in = take(dev->allocate(span));  // the last allocation: nothing is mapped after it
  std::vector<float> values(span / 4);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i % 977) - 488.0f;
  ASSERT_TRUE(dev->copy_to_device(in.address, values.data(), span).ok());
  // Element (lane i, row r) at i * kStride + r.
  TensorDesc strided = TensorDesc::contiguous(in.address, DType::kF32, {kLanes, kRows});
  strided.strides[0] = kStride;
  strided.strides[1] = 1;
  KernelArgs args;
  args.add_tensor(strided).add_tensor(TensorDesc::contiguous(out.address, DType::kF32, {kLanes, kRows}));
  launch(*dev, *s, "relu", args);
  std::vector<float> got(kLanes * kRows);
  ASSERT_TRUE(dev->copy_to_host(got.data(), out.address, got.size() * 4).ok());
  for (int64_t r = 0; r < kRows; ++r) {
    for (int64_t i = 0; i < kLanes; ++i) {
      EXPECT_EQ(got[static_cast<std::size_t>(r * kLanes + i)], std::max(0.0f, values[static_cast<std::size_t>(i * kStride + r)]))
          << "lane " << i << " row " << r;
    }
  }

  // Starting a lane further on, the last lane reaches past the allocation.
  TensorDesc past = strided;
  past.address = in.address + 4 * kStride;
  args.tensors[0] = past;
  Status st;
  const uint64_t seq = launch(*dev, *s, "relu", args, &st);
  EXPECT_EQ(st.code(), ErrorCode::kDeviceFault);
  const auto f = take(s->info(seq)).fault;
  ASSERT_TRUE(f);
  EXPECT_EQ(f->cause, FaultCause::kPageFault) << f->describe();
  args.tensors[0] = strided;
  launch(*dev, *s, "relu", args);  // the device is usable again
}

}  // namespace
}  // namespace kiln::driver
