// One way to count memory traffic: every engine charges the bytes it reads to
// the memory they come from and the bytes it writes to the memory they go to.
// Expected times come from the config alone: bytes / bandwidth + latency per
// memory.
#include <algorithm>

#include "kiln/kernels/kernel_registry.h"
#include "test_util.h"

namespace kiln::driver {
namespace {

using testing::duration_ns;
using testing::take;

TEST(Traffic, ACopyFromHbmToSramIsLimitedByTheSlowerMemory) {
  auto dev = testing::open_device("gaudi2", /*functional=*/false);
  const auto& c = dev->config();
  const uint64_t n = 16 << 20;
  auto h = take(dev->allocate(n)), s = take(dev->allocate(n, MemoryKind::kSram));
  Stream& st = dev->default_stream();
  const uint64_t to_sram = take(st.copy(s.address, h.address, n));
  const uint64_t in_sram = take(st.copy(s.address, s.address, n / 2));
  ASSERT_OK(st.synchronize());
  // HBM gives n bytes, SRAM takes n: one flow, as fast as the slower allows.
  const double expected = c.dma().setup_latency_ns() + std::max(c.hbm().latency_ns(), c.sram().latency_ns()) +
                          static_cast<double>(n) / std::min(c.hbm().bandwidth_gb_per_s(), c.sram().bandwidth_gb_per_s());
  EXPECT_NEAR(duration_ns(testing::dma_job(*dev, st, to_sram)), expected, expected * 0.01);
  // Within SRAM: read and written there, 2 x n/2 bytes through it.
  const double within = c.dma().setup_latency_ns() + c.sram().latency_ns() +
                        static_cast<double>(n) / c.sram().bandwidth_gb_per_s();
  EXPECT_NEAR(duration_ns(testing::dma_job(*dev, st, in_sram)), within, within * 0.01);
}

// An elementwise add over w x h floats, out = a + b, with `out` in `out_kind`.
double add_ns(Device& dev, MemoryKind out_kind, int64_t w, int64_t h) {
  const uint64_t bytes = static_cast<uint64_t>(w * h) * 4;
  kernels::KernelArgs args;
  args.add_tensor(kernels::TensorDesc::contiguous(take(dev.allocate(bytes)).address, DType::kF32, {w, h}));
  args.add_tensor(kernels::TensorDesc::contiguous(take(dev.allocate(bytes)).address, DType::kF32, {w, h}));
  args.add_tensor(
      kernels::TensorDesc::contiguous(take(dev.allocate(bytes, out_kind)).address, DType::kF32, {w, h}));
  CommandBuffer cb;
  cb.launch_tpc(kernels::kernel_id("add"), args);
  Stream& s = dev.default_stream();
  const uint64_t seq = take(s.submit(cb));
  EXPECT_TRUE(s.wait(seq).ok());
  uint64_t start = UINT64_MAX, end = 0;
  for (const auto& e : testing::device_events(dev, "TPC", static_cast<int>(s.queue()), seq)) {
    start = std::min(start, e.start_ps);
    end = std::max(end, e.end_ps);
  }
  return static_cast<double>(end - start) / 1000.0;
}

TEST(Traffic, AKernelChargesEachTensorsBytesToItsOwnMemory) {
  auto dev = testing::open_device("gaudi2", /*functional=*/false);
  const auto& c = dev->config();
  const int64_t w = 4096, h = 2048;  // 32 MiB per tensor: memory-bound on 24 cores
  const double n_bytes = static_cast<double>(w * h) * 4;
  // All in HBM: a and b read, out written, all through HBM.
  const double all_hbm = add_ns(*dev, MemoryKind::kHbm, w, h);
  const double hbm_expected = c.hbm().latency_ns() + 3 * n_bytes / c.hbm().bandwidth_gb_per_s();
  EXPECT_NEAR(all_hbm, hbm_expected, hbm_expected * 0.02);
  // The output in SRAM (faster): HBM carries only the two inputs.
  const double out_in_sram = add_ns(*dev, MemoryKind::kSram, w, h / 4);  // SRAM is 48 MiB
  const double quarter = n_bytes / 4;
  const double sram_expected = std::max(c.hbm().latency_ns(), c.sram().latency_ns()) +
                               std::max(2 * quarter / c.hbm().bandwidth_gb_per_s(),
                                        quarter / c.sram().bandwidth_gb_per_s());
  EXPECT_NEAR(out_in_sram, sram_expected, sram_expected * 0.02);
}

}  // namespace
}  // namespace kiln::driver
