// The trace analyses on traces the simulated device really wrote: the
// roofline verdict, computed from the trace alone, agrees with the bounds the
// cost models promise; engines driven from two streams show up overlapping.
#include <cstring>
#include <string>

#include "kiln/kernels/kernel_args.h"
#include "kiln/kernels/kernel_registry.h"
#include "kiln/traces/analysis.h"
#include "kiln/traces/trace_io.h"
#include "test_util.h"

namespace kiln::driver {
namespace {

using mme::gemm_descriptor;
using testing::take;

// A block of pinned host memory holding `value`, for the device to read.
template <typename T>
HostBuffer host_block(Device& dev, const T& value) {
  HostBuffer block = take(dev.allocate_host(sizeof value));
  std::memcpy(block.data, &value, sizeof value);
  return block;
}

// Submits one GEMM (operands in fresh device memory) without waiting.
uint64_t submit_gemm(Device& dev, Stream& s, uint64_t m, uint64_t k, uint64_t n, std::vector<HostBuffer>& blocks) {
  auto d = gemm_descriptor(m, k, n, DType::kBF16, DType::kBF16, DType::kBF16);
  d.a_addr = take(dev.allocate(m * k * 2)).address;
  d.b_addr = take(dev.allocate(k * n * 2)).address;
  d.c_addr = take(dev.allocate(m * n * 2)).address;
  blocks.push_back(host_block(dev, d));
  CommandBuffer cb;
  cb.launch_mme(blocks.back().address);
  return take(s.submit(cb));
}

traces::TraceAnalysis analyse(const Device& dev) {
  const proto::Trace trace = dev.trace_proto();
  return traces::analyze_trace(trace, *traces::recorded_peaks(trace));
}

const traces::OpSummary& op_named(const traces::TraceAnalysis& a, const std::string& name) {
  for (const traces::OpSummary& op : a.ops) {
    if (op.name == name) return op;
  }
  ADD_FAILURE() << "no op named '" << name << "' in the trace";
  static const traces::OpSummary none;
  return none;
}

TEST(TraceAnalysisOnDevice, GemmIsComputeBoundAndGemvMemoryBoundNearTheirCeilings) {
  auto dev = testing::open_device("gaudi2", /*functional=*/false);
  Stream* s = take(dev->create_stream());
  std::vector<HostBuffer> blocks;
  submit_gemm(*dev, *s, 8192, 8192, 8192, blocks);
  ASSERT_OK(s->wait(submit_gemm(*dev, *s, 1, 8192, 8192, blocks)));
  const traces::TraceAnalysis a = analyse(*dev);

  // The cost model keeps a large GEMM within 5% of the MAC bound, and never
  // beyond it: the analysis, from FLOPs, bytes and wall time alone, agrees.
  const traces::OpSummary& gemm = op_named(a, "gemm 8192x8192x8192");
  ASSERT_TRUE(gemm.roofline.has_value());
  EXPECT_EQ(gemm.engines, 2u);
  EXPECT_TRUE(gemm.roofline->compute_bound) << "intensity " << gemm.roofline->intensity;
  EXPECT_GE(gemm.roofline->efficiency, 0.95);
  EXPECT_LE(gemm.roofline->efficiency, 1.0 + 1e-9);

  // A GEMV streams its weights once: memory-bound, at HBM speed within 5%.
  const traces::OpSummary& gemv = op_named(a, "gemm 1x8192x8192");
  ASSERT_TRUE(gemv.roofline.has_value());
  EXPECT_FALSE(gemv.roofline->compute_bound) << "intensity " << gemv.roofline->intensity;
  EXPECT_GE(gemv.roofline->efficiency, 0.95);
  EXPECT_LE(gemv.roofline->efficiency, 1.0 + 1e-9);

  for (const HostBuffer& b : blocks) ASSERT_OK(dev->free_host(b));
}

TEST(TraceAnalysisOnDevice, MatrixAndVectorWorkOnTwoStreamsOverlap) {
  auto dev = testing::open_device("gaudi2", /*functional=*/false);
  Stream* mme_stream = take(dev->create_stream());
  Stream* tpc_stream = take(dev->create_stream());
  std::vector<HostBuffer> blocks;
  const uint64_t gemm = submit_gemm(*dev, *mme_stream, 4096, 4096, 4096, blocks);

  // An elementwise add of 4 M floats: 1 FLOP per 12 bytes, memory-bound.
  const int64_t w = 4096, h = 1024;
  kernels::KernelArgs args;
  for (int i = 0; i < 3; ++i) {
    args.add_tensor(kernels::TensorDesc::contiguous(take(dev->allocate(w * h * 4)).address, DType::kF32,
                                                    {w, h}));
  }
  blocks.push_back(testing::kernel_arg_block(*dev, args));
  CommandBuffer cb;
  cb.launch_tpc(kernels::kernel_id("add"), blocks.back().address);
  const uint64_t add = take(tpc_stream->submit(cb));
  ASSERT_OK(tpc_stream->wait(add));
  ASSERT_OK(mme_stream->wait(gemm));

  const traces::TraceAnalysis a = analyse(*dev);
  const traces::OverlapSummary& o = a.overlap;
  ASSERT_EQ(o.classes.size(), 2u);
  EXPECT_EQ(o.classes[0].engine_class, "MME");
  EXPECT_EQ(o.classes[1].engine_class, "TPC");
  EXPECT_EQ(o.classes[1].engines, dev->config().tpc().count());
  ASSERT_EQ(o.pairs.size(), 1u);
  // Both start at once and the add is far shorter: it runs wholly under the GEMM.
  EXPECT_GT(o.pairs[0].both_busy_ps, 0u);
  EXPECT_EQ(o.pairs[0].both_busy_ps, o.classes[1].busy_ps);
  EXPECT_EQ(o.any_busy_ps, o.classes[0].busy_ps);

  const traces::OpSummary& add_op = op_named(a, "add");
  ASSERT_TRUE(add_op.roofline.has_value());
  EXPECT_FALSE(add_op.roofline->compute_bound);
  EXPECT_LE(add_op.roofline->efficiency, 1.0 + 1e-9);
  EXPECT_EQ(a.ops.front().name, "gemm 4096x4096x4096");  // most engine time

  for (const HostBuffer& b : blocks) ASSERT_OK(dev->free_host(b));
}

}  // namespace
}  // namespace kiln::driver
