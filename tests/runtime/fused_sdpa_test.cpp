// Fused attention (fused_sdpa, runtime/src/sdpa_lowering.h) and the pass that
// makes it from the composed pattern (runtime/src/fusion_sdpa.h).
//
// Values: functional runs on tiny (2 vector cores, so batch x heads = 6 is
// more than the cores) with lengths that are not multiples of the 128-row
// tile, against the composed form on the device and a host reference in
// double. Tolerances, |got - want| <= atol + rtol |want| (outputs are
// averages of v's entries, |v| < 1):
//   f32  atol 2e-5, rtol 1e-4  (fp32 softmax and accumulation, in another order)
//   bf16 atol 2e-2, rtol 2e-2  (the composed form rounds scores, scaled
//        scores and probabilities to bf16; the fused one only P before P V)
//   f16  atol 4e-3, rtol 4e-3  (the same with f16's 3 more mantissa bits)
// Timing: timing-only gaudi2 at S = 2048, d = 128, 16 heads: HBM bytes of the
// fused op's jobs double from S = 1024 (they do not quadruple), and the fused
// op takes at most half the composed form's time in bf16 (fp16 and fp32 are
// reported, and faster).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <string>

#include "host_reference.h"
#include "kiln/proto/trace.pb.h"

namespace kiln::runtime::testing {
namespace {

struct Tol {
  double atol, rtol;
};
Tol tol(DType d) {
  if (d == DType::kBF16) return {2e-2, 2e-2};
  if (d == DType::kF16) return {4e-3, 4e-3};
  return {2e-5, 1e-4};
}

// Two query tiles (256 + 44 rows) and two key blocks (256 + 24).
constexpr int64_t kB = 2, kH = 3, kL = 300, kS = 280, kE = 40, kEv = 24;

// softmax(q k^T * scale + mask) v in double; mask [L, S] or empty; causal hides j > i.
HostTensor host_attention(const HostTensor& q, const HostTensor& k, const HostTensor& v, const HostTensor* mask,
                          bool causal, double scale) {
  HostTensor out = host_zeros({kB, kH, kL, kEv});
  for (int64_t bh = 0; bh < kB * kH; ++bh) {
    for (int64_t i = 0; i < kL; ++i) {
      std::vector<double> s(static_cast<std::size_t>(kS));
      double m = -INFINITY;
      for (int64_t j = 0; j < kS; ++j) {
        double acc = 0;
        for (int64_t e = 0; e < kE; ++e) acc += q[(bh * kL + i) * kE + e] * k[(bh * kS + j) * kE + e];
        acc *= scale;
        if (mask) acc += (*mask)[i * kS + j];
        if (causal && j > i) acc = -INFINITY;
        s[static_cast<std::size_t>(j)] = acc;
        m = std::max(m, acc);
      }
      double sum = 0;
      for (double& x : s) sum += (x = std::exp(x - m));
      for (int64_t c = 0; c < kEv; ++c) {
        double acc = 0;
        for (int64_t j = 0; j < kS; ++j) acc += s[static_cast<std::size_t>(j)] / sum * v[(bh * kS + j) * kEv + c];
        out[(bh * kL + i) * kEv + c] = acc;
      }
    }
  }
  return out;
}

RuntimeOptions lazy(bool functional = true, std::vector<std::string> disabled = {}) {
  RuntimeOptions o;
  o.mode = Mode::kLazy;
  o.device.functional = functional;
  o.disabled_passes = std::move(disabled);
  return o;
}

struct Inputs {
  HostTensor q, k, v, mask;
};
Inputs inputs() {
  Inputs in{host_random({kB, kH, kL, kE}, 1), host_random({kB, kH, kS, kE}, 2), host_random({kB, kH, kS, kEv}, 3),
            host_random({kL, kS}, 4, -2, 0)};
  return in;
}

// What the user builds by hand: matmul, scale, mask (additive, or causal
// through where with -inf), softmax, matmul.
Tensor composed(Runtime& rt, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* mask, bool causal,
                double scale) {
  Tensor s = take(mul(take(matmul(q, take(k.transpose(-1, -2)))), scale));
  if (mask) s = take(add(s, *mask));
  if (causal) {
    const Tensor rows = take(rt.arange(kL, DType::kF32)).reshape({kL, 1}).value();
    const Tensor cols = take(rt.arange(kS, DType::kF32));
    const Tensor keep = take(ge(rows, cols));
    s = take(where(keep, s, take(rt.full({}, -INFINITY, q.dtype()))));
  }
  return take(matmul(take(softmax(s, -1)), v));
}

class FusedSdpaValues : public ::testing::TestWithParam<std::tuple<DType, bool, bool>> {};

TEST_P(FusedSdpaValues, MatchesComposedAndReference) {
  const auto [dtype, causal, with_mask] = GetParam();
  const Inputs in = inputs();
  const double scale = 1 / std::sqrt(static_cast<double>(kE));
  const HostTensor want = host_attention(rounded(dtype, in.q), rounded(dtype, in.k), rounded(dtype, in.v),
                                         with_mask ? &in.mask : nullptr, causal, scale);
  HostTensor fused, reference;
  {
    auto rt = take(Runtime::open("tiny", lazy()));
    const Tensor q = upload(*rt, in.q, dtype), k = upload(*rt, in.k, dtype), v = upload(*rt, in.v, dtype);
    SdpaOptions o;
    if (with_mask) o.mask = upload(*rt, in.mask, dtype);
    o.causal = causal;
    fused = download(take(fused_sdpa(q, k, v, o)));
  }
  {
    // The composed form, the pass off.
    auto rt = take(Runtime::open("tiny", lazy(true, {"fuse_sdpa"})));
    const Tensor q = upload(*rt, in.q, dtype), k = upload(*rt, in.k, dtype), v = upload(*rt, in.v, dtype);
    const Tensor mask = upload(*rt, in.mask, dtype);
    reference = download(composed(*rt, q, k, v, with_mask ? &mask : nullptr, causal, scale));
    EXPECT_EQ(rt->stats().last_compile_log.find("fuse_sdpa"), std::string::npos);
  }
  const Tol t = tol(dtype);
  expect_close(fused, want, t.atol, t.rtol, "fused vs host");
  expect_close(fused, reference, 2 * t.atol, 2 * t.rtol, "fused vs composed");
}

INSTANTIATE_TEST_SUITE_P(All, FusedSdpaValues,
                         ::testing::Combine(::testing::Values(DType::kF32, DType::kBF16, DType::kF16),
                                            ::testing::Bool(), ::testing::Bool()),
                         [](const auto& p) {
                           return std::string(dtype_name(std::get<0>(p.param))) +
                                  (std::get<1>(p.param) ? "_causal" : "_full") + (std::get<2>(p.param) ? "_mask" : "");
                         });

// Eager runs the same node: the same bits as lazy.
TEST(FusedSdpa, EagerEqualsLazy) {
  const Inputs in = inputs();
  HostTensor got[2];
  for (int eager = 0; eager < 2; ++eager) {
    auto rt = take(Runtime::open("tiny", lazy()));
    ModeScope mode(*rt, eager ? Mode::kEager : Mode::kLazy);
    const Tensor q = upload(*rt, in.q, DType::kBF16), k = upload(*rt, in.k, DType::kBF16),
                 v = upload(*rt, in.v, DType::kBF16);
    SdpaOptions o;
    o.causal = true;
    got[eager] = download(take(fused_sdpa(q, k, v, o)));
  }
  EXPECT_EQ(got[0].v, got[1].v);
}

TEST(FusedSdpa, RefusesMismatchedShapes) {
  auto rt = take(Runtime::open("tiny", lazy()));
  const Tensor q = take(rt->zeros({2, 8, 16}, DType::kF32)), k = take(rt->zeros({2, 9, 12}, DType::kF32));
  const Result<Tensor> r = fused_sdpa(q, k, k);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("fused_sdpa: needs q"), std::string::npos) << r.status().message();
}

// The pass: the composite op, an additive mask and a causal where become
// fused_sdpa, say so in the log, and compute what the composed form does.
TEST(FusedSdpaPass, RewritesComposedPatterns) {
  const Inputs in = inputs();
  const double scale = 1 / std::sqrt(static_cast<double>(kE));
  for (int pattern = 0; pattern < 3; ++pattern) {
    SCOPED_TRACE(pattern);
    const bool with_mask = pattern == 1, causal = pattern == 2;
    const HostTensor want = host_attention(in.q, in.k, in.v, with_mask ? &in.mask : nullptr, causal, scale);
    auto rt = take(Runtime::open("tiny", lazy()));
    const Tensor q = upload(*rt, in.q), k = upload(*rt, in.k), v = upload(*rt, in.v);
    const Tensor mask = upload(*rt, in.mask);
    const Tensor y = pattern == 0 ? take(scaled_dot_product_attention(q, k, v))
                                  : composed(*rt, q, k, v, with_mask ? &mask : nullptr, causal, scale);
    const HostTensor got = download(y);
    const std::string log = rt->stats().last_compile_log;
    const std::string expect = pattern == 0   ? "fuse_sdpa: matmul+mul+softmax+matmul -> fused_sdpa f32"
                               : pattern == 1 ? "fuse_sdpa: matmul+mul+add+softmax+matmul -> fused_sdpa f32"
                                              : "fuse_sdpa: matmul+mul+where+softmax+matmul -> fused_sdpa f32";
    EXPECT_NE(log.find(expect), std::string::npos) << log;
    expect_close(got, want, 2e-5, 1e-4, "pass");
  }
}

TEST(FusedSdpaPass, LeavesWhatItCannotTake) {
  auto rt = take(Runtime::open("tiny", lazy()));
  const Inputs in = inputs();
  const Tensor q = upload(*rt, in.q), k = upload(*rt, in.k), v = upload(*rt, in.v);
  // The scores are kept: not fused.
  const Tensor s = take(mul(take(matmul(q, take(k.transpose(-1, -2)))), 0.5));
  const Tensor y = take(matmul(take(softmax(s, -1)), v));
  ASSERT_TRUE(rt->synchronize().ok());
  EXPECT_EQ(rt->stats().last_compile_log.find("fuse_sdpa"), std::string::npos);
  (void)y;
}

// ---- timing-only, gaudi2: S = 2048 (and 1024), d = 128, 16 heads ----

struct Timed {
  double device_ns = 0;        // first job start to last job end of the step
  uint64_t fused_hbm_bytes = 0;  // HBM bytes of the fused op's jobs
  // Time each kind of engine was busy (the union of its engines' jobs).
  double tpc_ns = 0, mme_ns = 0, dma_ns = 0;
  std::string log;
};

// The length of the union of [start, end) intervals.
double busy_ns(std::vector<std::pair<uint64_t, uint64_t>> spans) {
  std::sort(spans.begin(), spans.end());
  uint64_t total = 0, reach = 0;
  for (const auto& [start, end] : spans) {
    const uint64_t from = std::max(start, reach);
    if (end > from) total += end - from;
    reach = std::max(reach, end);
  }
  return static_cast<double>(total) / 1e3;
}

Timed timed(int64_t seq, bool fused, DType dtype = DType::kBF16) {
  auto rt = take(Runtime::open("gaudi2", lazy(false, fused ? std::vector<std::string>{} : std::vector<std::string>{"fuse_sdpa"})));
  const Tensor q = take(rt->zeros({1, 16, seq, 128}, dtype)), k = take(rt->zeros({1, 16, seq, 128}, dtype)),
               v = take(rt->zeros({1, 16, seq, 128}, dtype));
  EXPECT_TRUE(rt->synchronize().ok());
  Timed t;
  const int before = rt->device().trace_proto().events_size();
  const Tensor y = fused ? take(fused_sdpa(q, k, v)) : take(scaled_dot_product_attention(q, k, v));
  EXPECT_TRUE(rt->synchronize().ok());
  const proto::Trace trace = rt->device().trace_proto();
  uint64_t start = UINT64_MAX, end = 0;
  std::map<std::string, std::vector<std::pair<uint64_t, uint64_t>>> spans;
  for (int i = before; i < trace.events_size(); ++i) {
    const auto& e = trace.events(i);
    if (e.clock() != proto::DEVICE_SIMULATED || e.job() == 0) continue;
    start = std::min<uint64_t>(start, e.start_ps());
    end = std::max<uint64_t>(end, e.end_ps());
    spans[e.track().substr(0, 3)].emplace_back(e.start_ps(), e.end_ps());
    for (const std::string& op : e.ops()) {
      if (op == "fused_sdpa") t.fused_hbm_bytes += e.hbm_bytes();
    }
  }
  t.device_ns = static_cast<double>(end - start) / 1e3;
  t.tpc_ns = busy_ns(spans["TPC"]);
  t.mme_ns = busy_ns(spans["MME"]);
  t.dma_ns = busy_ns(spans["DMA"]);
  t.log = rt->stats().last_compile_log;
  (void)y;
  return t;
}

TEST(FusedSdpaTiming, BeatsComposedAndMovesLinearBytes) {
  const Timed fused = timed(2048, true), composed_form = timed(2048, false), half = timed(1024, true);
  std::printf("S=2048 d=128 16 heads bf16: fused %.1f us, composed %.1f us (%.2fx); fused HBM bytes %llu at S=1024, "
              "%llu at S=2048 (%.2fx)\n",
              fused.device_ns / 1e3, composed_form.device_ns / 1e3, composed_form.device_ns / fused.device_ns,
              static_cast<unsigned long long>(half.fused_hbm_bytes),
              static_cast<unsigned long long>(fused.fused_hbm_bytes),
              static_cast<double>(fused.fused_hbm_bytes) / static_cast<double>(half.fused_hbm_bytes));
  for (const Timed* t : {&fused, &composed_form}) {
    std::printf("  %s: TPC busy %.1f us, MME %.1f us, DMA %.1f us\n", t == &fused ? "fused" : "composed",
                t->tpc_ns / 1e3, t->mme_ns / 1e3, t->dma_ns / 1e3);
  }
  // Issue 10 asks for 2x at this shape (bf16 here; fp16 and fp32 below).
  EXPECT_GE(composed_form.device_ns, 2 * fused.device_ns);
  ASSERT_GT(half.fused_hbm_bytes, 0u);
  const double growth = static_cast<double>(fused.fused_hbm_bytes) / static_cast<double>(half.fused_hbm_bytes);
  EXPECT_GT(growth, 1.8);
  EXPECT_LT(growth, 2.3);
  // q, k, v read once and the output written once: 4 S d bytes per head, bf16
  // (and the kernels' argument blocks).
  const double linear = 16.0 * 4 * 2048 * 128 * 2;
  EXPECT_NEAR(static_cast<double>(fused.fused_hbm_bytes), linear, 0.01 * linear);
}

// The other dtypes at the same shape, reported; fp16 runs the MME at bf16's
// rate, fp32 at a quarter of it (configs/gaudi2.textproto).
TEST(FusedSdpaTiming, OtherDtypes) {
  for (DType dtype : {DType::kF16, DType::kF32}) {
    const Timed fused = timed(2048, true, dtype), composed_form = timed(2048, false, dtype);
    std::printf("S=2048 d=128 16 heads %s: fused %.1f us (TPC %.1f, MME %.1f, DMA %.1f), composed %.1f us (%.2fx)\n",
                std::string(dtype_name(dtype)).c_str(), fused.device_ns / 1e3, fused.tpc_ns / 1e3, fused.mme_ns / 1e3, fused.dma_ns / 1e3,
                composed_form.device_ns / 1e3, composed_form.device_ns / fused.device_ns);
    EXPECT_GT(composed_form.device_ns, fused.device_ns) << dtype_name(dtype);
  }
}

}  // namespace
}  // namespace kiln::runtime::testing
