// Elementwise vector-core launches see their operands with mergeable dims
// merged (runtime/src/lowering.cpp, coalesce_elementwise): a kernel's vectors
// run along the innermost dim, so a residual add of [1, 256, 7, 7] without
// it filled 7 of a vector's 64 lanes per step. Values match the host for
// dense, broadcast, transposed and sliced operands; the simulated time and
// bytes of a 4-d elementwise launch are those of the same elements as one
// flat dim.
#include <gtest/gtest.h>

#include <algorithm>

#include "blocks.h"
#include "kiln/proto/trace.pb.h"

namespace kiln::runtime::testing {
namespace {

struct TpcLaunches {
  std::vector<std::string> kernels;  // core 0's events, in order
  uint64_t bytes = 0;                // every core's loads and stores
  uint64_t span_ps = 0;              // first start to last end on any core
};

TpcLaunches tpc_since(const proto::Trace& trace, int first_event) {
  TpcLaunches w;
  uint64_t lo = UINT64_MAX, hi = 0;
  for (int i = first_event; i < trace.events_size(); ++i) {
    const auto& e = trace.events(i);
    if (e.track().rfind("TPC", 0) != 0) continue;
    w.bytes += e.bytes();
    lo = std::min<uint64_t>(lo, e.start_ps());
    hi = std::max<uint64_t>(hi, e.end_ps());
    if (e.track() == "TPC0") w.kernels.push_back(e.name());
  }
  w.span_ps = hi > lo ? hi - lo : 0;
  return w;
}

struct AddReluRun {
  HostTensor values;
  TpcLaunches tpc;
};

// relu(x + r) in one lazy step: one fused_elementwise launch.
AddReluRun add_relu(const HostTensor& x, const HostTensor& r) {
  RuntimeOptions o;
  o.mode = Mode::kLazy;
  auto rt = take(Runtime::open("tiny", o));
  Tensor tx = upload(*rt, x), tr = upload(*rt, r);
  EXPECT_TRUE(rt->synchronize().ok());
  const int before = rt->device().trace_proto().events_size();
  Tensor y = take(relu(take(add(tx, tr))));
  EXPECT_TRUE(rt->synchronize().ok());
  AddReluRun run{{}, tpc_since(rt->device().trace_proto(), before)};
  run.values = download(y);
  return run;
}

TEST(Coalesce, AResidualAddOfShortRowsCostsWhatTheSameElementsFlatDo) {
  // Inputs as f32 holds them: a sum of two is then exact in double, and rounds as the device's does.
  const HostTensor x = rounded(DType::kF32, host_random({1, 256, 7, 7}, 1)),
                   r = rounded(DType::kF32, host_random({1, 256, 7, 7}, 2));
  HostTensor flat_x = x, flat_r = r;
  flat_x.shape = flat_r.shape = {256 * 7 * 7};
  const AddReluRun nchw = add_relu(x, r), flat = add_relu(flat_x, flat_r);
  ASSERT_EQ(nchw.tpc.kernels, std::vector<std::string>{"fused_elementwise"});
  ASSERT_EQ(flat.tpc.kernels, std::vector<std::string>{"fused_elementwise"});
  // Row by row, each 64-lane step held 7 elements: ~9x the steps of the flat launch.
  EXPECT_EQ(nchw.tpc.span_ps, flat.tpc.span_ps);
  EXPECT_EQ(nchw.tpc.bytes, flat.tpc.bytes);
  EXPECT_EQ(nchw.tpc.bytes, 3u * 256 * 7 * 7 * 4);  // two inputs read, one output written, once
  expect_close(nchw.values, rounded(DType::kF32, host_map({&x, &r}, x.shape, [](const std::vector<double>& v) { return h_relu(v[0] + v[1]); })), 0, 0,
               "relu(x + r)");
}

TEST(Coalesce, BroadcastTransposedAndSlicedOperandsKeepTheirValues) {
  RuntimeOptions o;
  o.mode = Mode::kLazy;
  auto rt = take(Runtime::open("tiny", o));
  const HostTensor x = rounded(DType::kF32, host_random({2, 6, 5, 4}, 3)),
                   bias = rounded(DType::kF32, host_random({1, 6, 1, 1}, 4)),
                   row = rounded(DType::kF32, host_random({4}, 5)), t = rounded(DType::kF32, host_random({2, 6, 4, 5}, 6));
  Tensor tx = upload(*rt, x), tb = upload(*rt, bias), trow = upload(*rt, row), tt = upload(*rt, t);
  // A per-channel bias: the channel dim cannot merge with its neighbours.
  Tensor biased = take(add(tx, tb));
  // A row along the last dim only.
  Tensor by_row = take(mul(tx, trow));
  // t's last two dims swapped: no dim of the view merges with the next.
  Tensor swapped = take(sub(tx, take(tt.transpose(2, 3))));
  // Every second channel: the batch and channel dims do not merge; H and W do.
  Tensor sliced = take(contiguous(take(tx.slice(1, 0, 6, 2))));
  const Tensor outs[] = {biased, by_row, swapped, sliced};
  ASSERT_TRUE(rt->synchronize().ok());

  const HostTensor want_biased = host_map({&x, &bias}, x.shape, [](const std::vector<double>& v) { return v[0] + v[1]; });
  const HostTensor want_by_row = host_map({&x, &row}, x.shape, [](const std::vector<double>& v) { return v[0] * v[1]; });
  HostTensor want_swapped = x, want_sliced = host_zeros({2, 3, 5, 4});
  for (int64_t n = 0; n < 2; ++n) {
    for (int64_t c = 0; c < 6; ++c) {
      for (int64_t h = 0; h < 5; ++h) {
        for (int64_t w = 0; w < 4; ++w) {
          const auto xi = static_cast<std::size_t>(((n * 6 + c) * 5 + h) * 4 + w);
          const auto ti = static_cast<std::size_t>(((n * 6 + c) * 4 + w) * 5 + h);
          want_swapped.v[xi] = x.v[xi] - t.v[ti];
          if (c % 2 == 0) want_sliced.v[static_cast<std::size_t>(((n * 3 + c / 2) * 5 + h) * 4 + w)] = x.v[xi];
        }
      }
    }
  }
  // Exact in double, then rounded once: what f32 arithmetic gives.
  expect_close(download(outs[0]), rounded(DType::kF32, want_biased), 0, 0, "x + bias");
  expect_close(download(outs[1]), rounded(DType::kF32, want_by_row), 0, 0, "x * row");
  expect_close(download(outs[2]), rounded(DType::kF32, want_swapped), 0, 0, "x - t^T");
  expect_close(download(outs[3]), want_sliced, 0, 0, "x[:, ::2]");
}

}  // namespace
}  // namespace kiln::runtime::testing
