// Constant folding: the values of a lazy step that depend on no input (a
// causal mask from arange, gt and where; a scale computed from a constant)
// are computed on the device once per recipe, by its constant section, and
// read by every launch; what is cheaper left alone is not folded; the
// constants' memory goes with the recipe.
#include <gtest/gtest.h>

#include <set>

#include "constant_fold.h"
#include "host_reference.h"
#include "kiln/proto/trace.pb.h"
#include "runtime_impl.h"

namespace kiln::runtime::testing {
namespace {

constexpr int64_t kRows = 16, kCols = 8;

// softmax(q k^T / sqrt(E) + mask) v over q, k, v [L, E]: the mask (-1e9 above
// the diagonal) and the scale come from no input.
Tensor causal_attention(Runtime& rt, const Tensor& q, const Tensor& k, const Tensor& v) {
  const Tensor pos = take(rt.arange(kRows, DType::kF32));
  const Tensor future = take(gt(take(pos.reshape({1, kRows})), take(pos.reshape({kRows, 1}))));
  const Tensor mask =
      take(where(future, take(rt.full({}, -1e9, DType::kF32)), take(rt.full({}, 0.0, DType::kF32))));
  const Tensor scale = take(rsqrt(take(rt.full({}, static_cast<double>(kCols), DType::kF32))));
  const Tensor scores = take(add(take(mul(take(matmul(q, take(k.transpose(0, 1)))), scale)), mask));
  return take(matmul(take(softmax(scores, -1)), v));
}

HostTensor host_causal_attention(const HostTensor& q, const HostTensor& k, const HostTensor& v) {
  HostTensor out = host_zeros({kRows, kCols});
  for (int64_t i = 0; i < kRows; ++i) {
    std::vector<double> p(static_cast<std::size_t>(kRows), 0.0);
    double top = -1e300, total = 0;
    for (int64_t j = 0; j <= i; ++j) {
      double s = 0;
      for (int64_t e = 0; e < kCols; ++e) s += q[i * kCols + e] * k[j * kCols + e];
      p[static_cast<std::size_t>(j)] = s / std::sqrt(static_cast<double>(kCols));
      top = std::max(top, p[static_cast<std::size_t>(j)]);
    }
    for (int64_t j = 0; j <= i; ++j) total += p[static_cast<std::size_t>(j)] = std::exp(p[static_cast<std::size_t>(j)] - top);
    for (int64_t j = 0; j <= i; ++j)
      for (int64_t e = 0; e < kCols; ++e) out[i * kCols + e] += p[static_cast<std::size_t>(j)] / total * v[j * kCols + e];
  }
  return out;
}

// The engine jobs of the trace from event `first` on.
struct Work {
  std::set<uint64_t> jobs;
  std::multiset<std::string> ops;  // the graph ops the jobs name
  uint64_t span_ps = 0;            // first start to last end
};

Work work_since(const proto::Trace& trace, int first) {
  Work w;
  uint64_t start = UINT64_MAX, end = 0;
  for (int i = first; i < trace.events_size(); ++i) {
    const auto& e = trace.events(i);
    if (e.clock() != proto::DEVICE_SIMULATED || e.job() == 0) continue;
    if (e.track().rfind("TPC", 0) != 0 && e.track().rfind("MME", 0) != 0 && e.track().rfind("DMA", 0) != 0) continue;
    if (w.jobs.insert(e.job()).second) {
      for (const auto& op : e.ops()) w.ops.insert(op);
    }
    start = std::min<uint64_t>(start, e.start_ps());
    end = std::max<uint64_t>(end, e.end_ps());
  }
  w.span_ps = end > start ? end - start : 0;
  return w;
}

struct StepResult {
  HostTensor values;
  RuntimeStats stats;
  Work work;
};

// Two identical steps of causal_attention on one runtime.
std::vector<StepResult> two_steps(std::vector<std::string> disabled = {}, bool functional = true,
                                  Mode mode = Mode::kLazy) {
  RuntimeOptions o;
  o.mode = mode;
  o.disabled_passes = std::move(disabled);
  o.device.functional = functional;
  auto rt = take(Runtime::open("tiny", o));
  const Tensor q = upload(*rt, host_random({kRows, kCols}, 1)), k = upload(*rt, host_random({kRows, kCols}, 2)),
               v = upload(*rt, host_random({kRows, kCols}, 3));
  EXPECT_TRUE(rt->synchronize().ok());
  std::vector<StepResult> steps;
  for (int step = 0; step < 2; ++step) {
    const int before = rt->device().trace_proto().events_size();
    const Tensor y = causal_attention(*rt, q, k, v);
    EXPECT_TRUE(rt->synchronize().ok());
    StepResult r;
    r.stats = rt->stats();
    r.work = work_since(rt->device().trace_proto(), before);
    if (functional) r.values = download(y);
    steps.push_back(std::move(r));
  }
  return steps;
}

TEST(ConstantFold, TheMaskAndTheScaleAreComputedOnTheDeviceOncePerRecipe) {
  const auto folded = two_steps();
  const auto plain = two_steps({"constant_fold"});
  const std::string& log = folded[0].stats.last_compile_log;
  // The mask's nodes and the scale's, by name; each folded value once.
  EXPECT_NE(log.find("constant_fold: 7 nodes (arange, gt, full x3, where, rsqrt) \u2192 2 constants, 1280 bytes"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("constant section: "), std::string::npos) << log;
  EXPECT_EQ(plain[0].stats.last_compile_log.find("constant_fold"), std::string::npos);

  // The same values as computing them at every launch, and as the host.
  const HostTensor want =
      host_causal_attention(host_random({kRows, kCols}, 1), host_random({kRows, kCols}, 2), host_random({kRows, kCols}, 3));
  expect_close(folded[0].values, plain[0].values, 0, 0, "folded against unfolded");
  expect_close(folded[1].values, plain[0].values, 0, 0, "second launch against unfolded");
  expect_close(folded[0].values, want, 1e-5, 1e-5, "against the host");

  // The first launch ran the section; the second, a cache hit, did not.
  EXPECT_EQ(folded[0].stats.constant_sections_run, 1u);
  EXPECT_EQ(folded[1].stats.constant_sections_run, 1u);
  EXPECT_EQ(folded[1].stats.cache_hits, 1u);
  EXPECT_EQ(folded[1].stats.constant_bytes_folded, 1280u);  // the mask's 1024, the scale's 4 aligned to 256
  EXPECT_EQ(folded[1].stats.constant_bytes, 1280u);
  EXPECT_EQ(plain[1].stats.constant_sections_run, 0u);
  EXPECT_NE(folded[1].stats.report().find("1 constant sections run (1280 bytes folded)"), std::string::npos)
      << folded[1].stats.report();
  EXPECT_EQ(folded[0].work.ops.count("arange"), 1u);
  EXPECT_EQ(folded[1].work.ops.count("arange"), 0u);
  EXPECT_EQ(plain[1].work.ops.count("arange"), 1u);  // unfolded, every launch makes it again
  EXPECT_GT(folded[0].work.jobs.size(), folded[1].work.jobs.size());
  EXPECT_LT(folded[1].work.jobs.size(), plain[1].work.jobs.size());
  EXPECT_EQ(folded[1].stats.last_step_jobs + 3, plain[1].stats.last_step_jobs);  // arange, the scale's fill and rsqrt
  EXPECT_LT(folded[1].work.span_ps, folded[0].work.span_ps);
  EXPECT_LT(folded[1].work.span_ps, plain[1].work.span_ps);
}

TEST(ConstantFold, EagerModeRunsEachOpAtOnceAndHasNothingToFold) {
  const auto eager = two_steps({}, true, Mode::kEager);
  const HostTensor want =
      host_causal_attention(host_random({kRows, kCols}, 1), host_random({kRows, kCols}, 2), host_random({kRows, kCols}, 3));
  expect_close(eager[0].values, want, 1e-5, 1e-5, "eager");
  expect_close(eager[1].values, eager[0].values, 0, 0, "eager, again");
  EXPECT_EQ(eager[1].stats.constant_sections_run, 0u);
  EXPECT_GT(eager[1].stats.ops_eager, 0u);
  EXPECT_EQ(eager[1].stats.last_compile_log.find("constant_fold"), std::string::npos);
}

TEST(ConstantFold, ATimingOnlyDeviceRunsTheSectionOnceForItsTime) {
  const auto timed = two_steps({}, false);
  const auto functional = two_steps();
  EXPECT_EQ(timed[1].stats.constant_sections_run, 1u);
  EXPECT_EQ(timed[0].work.jobs.size(), functional[0].work.jobs.size());
  EXPECT_EQ(timed[1].work.jobs.size(), functional[1].work.jobs.size());
  EXPECT_GT(timed[0].work.span_ps, timed[1].work.span_ps);
  // The same simulated times with values or without.
  EXPECT_EQ(timed[0].work.span_ps, functional[0].work.span_ps);
  EXPECT_EQ(timed[1].work.span_ps, functional[1].work.span_ps);
}

// ---------------------------------------------------------------- what is not folded

struct Folding {
  std::string log;
  RuntimeStats stats;
  HostTensor values, unfolded;
};

// `build` on x [rows, cols] (values from seed 9), lazily, folded and not.
template <typename Build>
Folding fold(Build&& build, int64_t rows = kRows, int64_t cols = kCols) {
  const HostTensor hx = host_random({rows, cols}, 9);
  Folding f;
  for (int pass = 0; pass < 2; ++pass) {
    RuntimeOptions o;
    o.mode = Mode::kLazy;
    if (pass == 1) o.disabled_passes = {"constant_fold"};
    auto rt = take(Runtime::open("tiny", o));
    const Tensor x = upload(*rt, hx);
    EXPECT_TRUE(rt->synchronize().ok());
    const Tensor y = build(*rt, x);
    EXPECT_TRUE(rt->synchronize().ok());
    if (pass == 0) {
      f.stats = rt->stats();
      f.log = f.stats.last_compile_log;
      f.values = download(y);
    } else {
      f.unfolded = download(y);
    }
  }
  return f;
}

TEST(ConstantFold, FillsAndBroadcastsWithNothingComputedOnThemStayInTheStep) {
  // A scalar: the elementwise fuser makes it a constant of the kernel.
  Folding f = fold([](Runtime&, const Tensor& x) { return take(mul(x, 0.5)); });
  EXPECT_EQ(f.log.find("constant_fold"), std::string::npos) << f.log;
  EXPECT_NE(f.log.find("fuse_elementwise: 1 ops and 1 constants"), std::string::npos) << f.log;
  // A full tensor, and a broadcast copy of a cast of a scalar: writing them
  // costs what reading them back would.
  f = fold([](Runtime& rt, const Tensor& x) {
    const Tensor ones = take(contiguous(take(take(cast(take(rt.full({}, 1, DType::kI32)), DType::kF32)).expand({kRows, kCols}))));
    return take(add(take(add(x, take(rt.full({kRows, kCols}, 2.0, DType::kF32)))), ones));
  });
  EXPECT_EQ(f.log.find("constant_fold"), std::string::npos) << f.log;
  EXPECT_EQ(f.stats.constant_sections_run, 0u);
  expect_close(f.values, f.unfolded, 0, 0, "fills");
}

TEST(ConstantFold, AValueATensorStillRefersToIsWrittenByTheStepFromFoldedInputs) {
  RuntimeOptions o;
  o.mode = Mode::kLazy;
  auto rt = take(Runtime::open("tiny", o));
  Tensor mask;
  {
    const Tensor pos = take(rt->arange(kRows, DType::kF32));
    // Kept: each launch writes its outputs to fresh memory, so the step makes
    // it, from the comparison folded under it.
    mask = take(where(take(gt(take(pos.reshape({1, kRows})), take(pos.reshape({kRows, 1})))),
                      take(rt->full({}, -1.0, DType::kF32)), take(rt->full({}, 1.0, DType::kF32))));
  }
  ASSERT_TRUE(rt->mark_step().ok());
  const std::string log = rt->stats().last_compile_log;
  EXPECT_NE(log.find("constant_fold: 2 nodes (arange, gt) \u2192 1 constant, 256 bytes"), std::string::npos) << log;
  EXPECT_EQ(rt->stats().last_step_jobs, 1u) << log;  // the where, with its fills
  const HostTensor got = download(mask);
  for (int64_t i = 0; i < kRows * kRows; ++i) ASSERT_EQ(got[i], i % kRows > i / kRows ? -1.0 : 1.0) << i;
}

TEST(ConstantFold, AValueOverTheSizeLimitIsComputedByEveryLaunchFromFoldedInputs) {
  // An f32 mask of 1040 x 1040 is over 4 MiB; the bool comparison under it
  // (a quarter of that) folds, and the where runs at every launch.
  constexpr int64_t n = 1040;
  static_assert(n * n * 4 > kMaxFoldedValueBytes && n * n <= kMaxFoldedValueBytes);
  const Folding f = fold(
      [](Runtime& rt, const Tensor& x) {
        const Tensor pos = take(rt.arange(n, DType::kF32));
        const Tensor future = take(gt(take(pos.reshape({1, n})), take(pos.reshape({n, 1}))));
        const Tensor mask = take(where(future, take(rt.full({}, -5.0, DType::kF32)), take(rt.full({}, 1.0, DType::kF32))));
        return take(add(x, mask));
      },
      n, n);
  EXPECT_NE(f.log.find("constant_fold: computed by every launch, f32[1040, 1040] of 'where' (4326400 bytes): over "
                       "the limit of a folded value, 4194304"),
            std::string::npos)
      << f.log;
  EXPECT_NE(f.log.find("constant_fold: 2 nodes (arange, gt) \u2192 1 constant, 1081600 bytes"), std::string::npos)
      << f.log;
  expect_close(f.values, f.unfolded, 0, 0, "large mask");
  const HostTensor hx = host_random({n, n}, 9);
  for (int64_t i : {int64_t{0}, n + 1, 5 * n + 3, n * n - 2}) {
    EXPECT_EQ(f.values[i], static_cast<float>(hx[i] + (i % n > i / n ? -5.0 : 1.0))) << i;
  }
}

TEST(ConstantFold, SeededRandomValuesFoldAndComputeOnlyFromDeviceGeneratedValues) {
  const Folding f = fold([](Runtime& rt, const Tensor& x) {
    const Tensor noise = take(rt.rand_uniform({kRows, kCols}, DType::kF32, /*seed=*/7, -1, 1));
    return take(add(x, take(mul(noise, 0.25))));
  });
  EXPECT_NE(f.log.find("constant_fold: 3 nodes (rand_uniform, full, mul)"), std::string::npos) << f.log;
  EXPECT_EQ(f.stats.constant_sections_run, 1u);
  expect_close(f.values, f.unfolded, 0, 0, "noise");
}


// ---------------------------------------------------------------- the constants' memory

// x + mask, the mask [n, n] f32 (-3 above the diagonal, else 0.5) folded.
Tensor masked(Runtime& rt, const Tensor& x, int64_t n) {
  const Tensor pos = take(rt.arange(n, DType::kF32));
  const Tensor future = take(gt(take(pos.reshape({1, n})), take(pos.reshape({n, 1}))));
  return take(add(x, take(where(future, take(rt.full({}, -3.0, DType::kF32)), take(rt.full({}, 0.5, DType::kF32))))));
}

HostTensor host_masked(const HostTensor& x, int64_t n) {
  HostTensor y = x;
  for (int64_t i = 0; i < n * n; ++i) y[i] = static_cast<float>(x[i] + (i % n > i / n ? -3.0 : 0.5));
  return y;
}

TEST(ConstantFold, EvictingTheRecipeGivesItsConstantsBackAndALaterStepRunsItsSectionAgain) {
  // A 512 x 512 f32 mask: 1 MiB, 16 pages, a size no other value of these steps has.
  constexpr int64_t n = 512;
  RuntimeOptions o;
  o.mode = Mode::kLazy;
  o.recipe_cache_entries = 1;
  auto rt = take(Runtime::open("tiny", o));
  Runtime::Impl& impl = rt->impl();
  const HostTensor hx = host_random({n, n}, 4);
  const Tensor x = upload(*rt, hx), small = upload(*rt, host_random({4}, 5));
  ASSERT_TRUE(rt->synchronize().ok());

  expect_close(download(masked(*rt, x, n)), host_masked(hx, n), 0, 0, "first");
  RuntimeStats s = rt->stats();
  EXPECT_EQ(s.constant_sections_run, 1u);
  EXPECT_EQ(s.constant_bytes, uint64_t{n * n * 4});
  std::weak_ptr<Storage> buffer;
  {
    std::lock_guard lock(impl.mutex);
    ASSERT_EQ(impl.constants.size(), 1u);
    buffer = impl.constants.begin()->second.storage;
  }
  const uint64_t pooled = impl.pool->cached_bytes();

  // Another graph takes the cache's one place: the recipe and its constants go.
  EXPECT_EQ(download(take(relu(small))).shape, Shape{4});
  s = rt->stats();
  EXPECT_EQ(s.cached_recipes, 1u);
  EXPECT_EQ(s.constant_bytes, 0u);
  EXPECT_TRUE(buffer.expired());
  // Back in the pool, for the next tensor of its size.
  EXPECT_GE(impl.pool->cached_bytes(), pooled + n * n * 4);

  // The graph again: compiled again, its section run again, the same values.
  expect_close(download(masked(*rt, x, n)), host_masked(hx, n), 0, 0, "after eviction");
  s = rt->stats();
  EXPECT_EQ(s.compilations, 3u);
  EXPECT_EQ(s.constant_sections_run, 2u);
  EXPECT_EQ(s.constant_bytes_folded, uint64_t{2 * n * n * 4});
}

TEST(ConstantFold, TensorsOutliveTheRuntimeAndItsConstants) {
  constexpr int64_t n = 16;
  Tensor done, pending;
  {
    RuntimeOptions o;
    o.mode = Mode::kLazy;
    auto rt = take(Runtime::open("tiny", o));
    const HostTensor hx = host_random({n, n}, 6);
    const Tensor x = upload(*rt, hx);
    done = masked(*rt, x, n);
    ASSERT_TRUE(rt->mark_step().ok());  // launched, with its constant section, not waited for
    pending = masked(*rt, done, n);     // recorded, never launched
    EXPECT_EQ(rt->stats().constant_sections_run, 1u);
  }
  EXPECT_EQ(to_string(done.shape()), "[16, 16]");
  const auto read = done.to_host<float>();
  ASSERT_FALSE(read.ok());
  EXPECT_NE(read.status().message().find("the runtime this tensor belongs to is closed"), std::string::npos)
      << read.status().to_string();
  EXPECT_FALSE(add(pending, done).ok());
  done = Tensor();
  pending = Tensor();
}

TEST(ConstantFold, AFaultInTheSectionIsNamedAndTheNextLaunchRunsItAgain) {
  constexpr int64_t n = 16;
  RuntimeOptions o;
  o.mode = Mode::kLazy;
  auto rt = take(Runtime::open("tiny", o));
  const HostTensor hx = host_random({n, n}, 7);
  const Tensor x = upload(*rt, hx);
  ASSERT_TRUE(rt->synchronize().ok());
  // The section is submitted before the step: its arange is the first vector-core job.
  ASSERT_TRUE(rt->device().inject_fault({.engine = "TPC"}).ok());
  const Tensor bad = masked(*rt, x, n);
  const Status s = rt->synchronize();
  ASSERT_EQ(s.code(), ErrorCode::kDeviceFault) << s.to_string();
  EXPECT_NE(s.message().find("op 'arange' of the constant section of step"), std::string::npos) << s.message();
  EXPECT_FALSE(bad.to_host<float>().ok());
  // Its values were never written: the next launch of the recipe writes them.
  expect_close(download(masked(*rt, x, n)), host_masked(hx, n), 0, 0, "after the fault");
  EXPECT_EQ(rt->stats().constant_sections_run, 2u);
  EXPECT_EQ(rt->stats().compilations, 1u);
}

}  // namespace
}  // namespace kiln::runtime::testing
