// resize's argument checks (each bad argument refused before any slice runs,
// naming it) and its cost: the loads are the taps it reads, one store per
// output vector (values: the kernel table, kernel_table_resize_cases.cpp).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "kiln/kernels/kernel_api.h"
#include "kiln/kernels/library.h"
#include "builtin_registry.h"

namespace kiln::kernels {
namespace {

Status validate(std::vector<int64_t> in, std::vector<int64_t> out, std::vector<int64_t> ints,
                std::vector<float> floats = {}, DType dt = DType::kF32) {
  KernelArgs args;
  args.add_tensor(TensorDesc::contiguous(0x1000, dt, std::span<const int64_t>(in.data(), in.size())));
  args.add_tensor(TensorDesc::contiguous(0x1000000, dt, std::span<const int64_t>(out.data(), out.size())));
  for (int64_t i : ints) args.add_int(i);
  for (float f : floats) args.add_float(f);
  return validate_kernel_launch(*testing::builtin_registry().find("resize"), args);
}

void expect_refused(const Status& s, const std::string& needle) {
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument) << s.to_string();
  EXPECT_NE(s.message().find(needle), std::string::npos) << s.to_string();
}

TEST(ResizeKernel, RefusesBadArgumentsNamingThem) {
  EXPECT_TRUE(validate({8, 4, 3, 2}, {8, 9, 5, 2}, {1, 3, 0}).ok());
  EXPECT_TRUE(validate({8, 4, 3, 2}, {8, 9, 5, 2}, {}).ok());
  expect_refused(validate({8, 4, 3, 2}, {8, 9, 5, 2}, {2}), "mode ints[0] = 2");
  expect_refused(validate({8, 4, 3, 2}, {8, 9, 5, 2}, {0, 4}), "coordinate transformation ints[1] = 4");
  expect_refused(validate({8, 4, 3, 2}, {8, 9, 5, 2}, {0, 0, -1}), "nearest mode ints[2] = -1");
  expect_refused(validate({8, 4, 3, 2}, {8, 9, 5, 2}, {0, 0, 0, 0}), "at most 3 ints");
  expect_refused(validate({8, 4, 3}, {8, 9, 5}, {0}), "rank 4");
  expect_refused(validate({8, 4, 3, 2}, {8, 0, 5, 2}, {0}), "out has W = 0");
  expect_refused(validate({8, 0, 3, 2}, {8, 9, 5, 2}, {0}), "in has W = 0");
  expect_refused(validate({8, 4, 3, 2}, {8, 9, int64_t{1} << 25, 2}, {0}), "out has H = 33554432");
  expect_refused(validate({8, 4, 3, 2}, {7, 9, 5, 2}, {0}), "out");  // C must match
  expect_refused(validate({8, 4, 3, 2}, {8, 9, 5, 2}, {0}, {2.0f}), "no floats or {scale_w, scale_h}");
  expect_refused(validate({8, 4, 3, 2}, {8, 9, 5, 2}, {0}, {2.0f, -1.0f}), "scale_h floats[1]");
  expect_refused(validate({8, 4, 3, 2}, {8, 9, 5, 2}, {0}, {NAN, 1.0f}), "scale_w floats[0]");
  expect_refused(validate({8, 4, 3, 2}, {8, 9, 5, 2}, {0}, {}, DType::kI32), "expected f32, bf16 or f16");
}

// Runs an f32 {64, W, H, 1} -> {64, W', H', 1} resize (one vector per output
// pixel) and returns the summed counters.
SliceCounters run(int64_t w, int64_t h, int64_t ow, int64_t oh, std::vector<int64_t> ints) {
  std::vector<float> in(static_cast<size_t>(64 * w * h), 1.0f), out(static_cast<size_t>(64 * ow * oh), 0.0f);
  HostMemoryPort port;
  port.add_region(in.data(), in.size() * 4, false);
  port.add_region(out.data(), out.size() * 4, true);
  KernelArgs args;
  const int64_t id[4] = {64, w, h, 1}, od[4] = {64, ow, oh, 1};
  args.add_tensor(TensorDesc::contiguous(reinterpret_cast<uint64_t>(in.data()), DType::kF32, id));
  args.add_tensor(TensorDesc::contiguous(reinterpret_cast<uint64_t>(out.data()), DType::kF32, od));
  for (int64_t i : ints) args.add_int(i);
  auto r = run_kernel_on_host(testing::builtin_registry(), "resize", args, port, 2);
  EXPECT_TRUE(r.ok() && r.value().status().ok());
  for (float v : out) EXPECT_EQ(v, 1.0f);
  return r.value().total;
}

TEST(ResizeKernel, CostIsTheTapsReadAndTheVectorsWritten) {
  // Nearest: one load and one store per output vector, no vector arithmetic.
  const SliceCounters nearest = run(5, 3, 11, 7, {0});
  EXPECT_EQ(nearest.count(OpClass::kVectorLoad), 77u);
  EXPECT_EQ(nearest.count(OpClass::kVectorStore), 77u);
  EXPECT_EQ(nearest.bytes_loaded, 77u * 256);
  EXPECT_EQ(nearest.instructions(Slot::kVector), 0u);
  // Linear, asymmetric x2: even coordinates sit on input pixels (a weight-0
  // tap is not read) and the last ones clamp to the edge. W 2 -> 4: x = 0,
  // 0.5, 1, 1.5 -> 1, 2, 1, 1 taps; H 3 -> 6: y = 0, 0.5, ..., 2.5 -> 1, 2, 1,
  // 2, 1, 1 taps; an output vector loads (column taps) x (row taps).
  const SliceCounters linear = run(2, 3, 4, 6, {1, 2});
  const uint64_t cols[4] = {1, 2, 1, 1}, rows[6] = {1, 2, 1, 2, 1, 1};
  uint64_t taps = 0;
  for (uint64_t r : rows)
    for (uint64_t c : cols) taps += r * c;
  EXPECT_EQ(linear.count(OpClass::kVectorLoad), taps);
  EXPECT_EQ(linear.count(OpClass::kVectorStore), 24u);
  // Half pixel 2 -> 4 and 3 -> 6 reads two taps per axis inside the image.
  const SliceCounters half = run(2, 3, 4, 6, {1, 0});
  EXPECT_GT(half.count(OpClass::kVectorLoad), taps);
  EXPECT_LE(half.count(OpClass::kVectorLoad), 4u * 24);
  EXPECT_GT(half.instructions(Slot::kVector), 0u);
}

}  // namespace
}  // namespace kiln::kernels
