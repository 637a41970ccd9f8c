// The slice pass: a large GEMM and the row-wise vector-core work after it
// run as a pipeline of row slices (runtime/src/slicing.h) where the
// estimates say it pays, with the unsliced values bit for bit.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <tuple>

#include "blocks.h"
#include "kiln/proto/trace.pb.h"

namespace kiln::runtime::testing {
namespace {

// The engine jobs of the trace from event `first` on: when each ran.
struct Job {
  bool mme = false;
  uint64_t start_ps = UINT64_MAX, end_ps = 0;
};

struct EngineWork {
  std::map<uint64_t, Job> jobs;  // by job id
  uint64_t span_ps = 0;          // first start to last end
  int mme_jobs() const {
    return static_cast<int>(std::count_if(jobs.begin(), jobs.end(), [](const auto& j) { return j.second.mme; }));
  }
};

EngineWork engine_work_since(const proto::Trace& trace, int first) {
  EngineWork w;
  uint64_t start = UINT64_MAX, end = 0;
  for (int i = first; i < trace.events_size(); ++i) {
    const auto& e = trace.events(i);
    if (e.clock() != proto::DEVICE_SIMULATED || e.job() == 0) continue;
    const bool mme = e.track().rfind("MME", 0) == 0;
    if (!mme && e.track().rfind("TPC", 0) != 0) continue;
    Job& j = w.jobs[e.job()];
    j.mme = mme;
    j.start_ps = std::min<uint64_t>(j.start_ps, e.start_ps());
    j.end_ps = std::max<uint64_t>(j.end_ps, e.end_ps());
    start = std::min<uint64_t>(start, e.start_ps());
    end = std::max<uint64_t>(end, e.end_ps());
  }
  w.span_ps = end > start ? end - start : 0;
  return w;
}

struct Step {
  EngineWork work;
  double step_ns = 0;  // simulated, host costs included
  RuntimeStats stats;
  HostTensor values;   // functional runs only
};

RuntimeOptions options(bool functional, std::vector<std::string> disabled = {}, int64_t slice_rows = 0) {
  RuntimeOptions o;
  o.mode = Mode::kLazy;
  o.device.functional = functional;
  o.disabled_passes = std::move(disabled);
  o.slice_rows = slice_rows;
  return o;
}

// Two identical steps of `body` on one runtime (the first compiles); the
// second's trace, time and stats.
Step second_step(const char* config, const RuntimeOptions& o,
                 const std::function<std::vector<Tensor>(Runtime&)>& setup,
                 const std::function<Tensor(Runtime&, const std::vector<Tensor>&)>& body) {
  auto rt = take(Runtime::open(config, o));
  const std::vector<Tensor> weights = setup(*rt);
  EXPECT_TRUE(rt->synchronize().ok());
  Step s;
  for (int step = 0; step < 2; ++step) {
    const int before = rt->device().trace_proto().events_size();
    const double t0 = rt->device().now_ns();
    const Tensor y = body(*rt, weights);
    EXPECT_TRUE(rt->synchronize().ok());
    s.step_ns = rt->device().now_ns() - t0;
    s.work = engine_work_since(rt->device().trace_proto(), before);
    s.stats = rt->stats();
    if (o.device.functional) s.values = download(y);
  }
  return s;
}

// A linear layer of 2048 rows, 1024 in and 4096 out, then layer norm or
// softmax over its last dim; timing-only on gaudi2.
Step big_linear(DType dtype, bool softmax_after, std::vector<std::string> disabled = {}) {
  auto setup = [&](Runtime& rt) {
    return std::vector<Tensor>{take(rt.rand_normal({2048, 1024}, dtype, 2)),
                               take(rt.rand_normal({4096, 1024}, dtype, 1))};
  };
  auto body = [&](Runtime&, const std::vector<Tensor>& t) {
    const Tensor h = take(linear(t[0], t[1]));
    return softmax_after ? take(softmax(h, -1)) : take(layer_norm(h, 1, std::nullopt, std::nullopt, 1e-5));
  };
  return second_step("gaudi2", options(false, std::move(disabled)), setup, body);
}

// Whether a vector-core job starts before the last matrix-engine job ends.
bool tpc_overlaps_the_gemm(const EngineWork& w) {
  uint64_t last_mme_end = 0, first_tpc_start = UINT64_MAX;
  for (const auto& [id, j] : w.jobs) {
    if (j.mme) last_mme_end = std::max(last_mme_end, j.end_ps);
  }
  for (const auto& [id, j] : w.jobs) {
    if (!j.mme) first_tpc_start = std::min(first_tpc_start, j.start_ps);
  }
  return first_tpc_start < last_mme_end;
}

// f32 on gaudi2: the GEMM is compute-bound and the norm takes a third of
// its time, so the vector cores' work hides under the next slices'.
TEST(Slicing, ALargeLinearThenANormRunsAsAPipelineAndTakesLessTime) {
  for (const bool softmax_after : {false, true}) {
    const Step sliced = big_linear(DType::kF32, softmax_after);
    const Step whole = big_linear(DType::kF32, softmax_after, {"slice"});
    const char* what = softmax_after ? "softmax" : "layer_norm";
    std::printf("linear f32 [2048, 1024] x [1024, 4096] then %s, gaudi2: device %.1f us sliced, %.1f us whole; "
                "step %.1f us, %.1f us\n",
                what, static_cast<double>(sliced.work.span_ps) / 1e6, static_cast<double>(whole.work.span_ps) / 1e6,
                sliced.step_ns / 1e3, whole.step_ns / 1e3);
    EXPECT_LT(sliced.step_ns, whole.step_ns * 0.9) << what;
    EXPECT_LT(sliced.work.span_ps, whole.work.span_ps) << what;
    // The GEMM ran as several jobs, and the vector cores started on a slice
    // before the matrix engine finished the last; unsliced, they waited.
    EXPECT_GE(sliced.work.mme_jobs(), 2) << what;
    EXPECT_TRUE(tpc_overlaps_the_gemm(sliced.work)) << what;
    EXPECT_EQ(whole.work.mme_jobs(), 1) << what;
    EXPECT_FALSE(tpc_overlaps_the_gemm(whole.work)) << what;
  }
}

TEST(Slicing, TheCompileLogNamesTheSlicedOpAndTheSliceCount) {
  const Step sliced = big_linear(DType::kF32, false);
  const std::string& log = sliced.stats.last_compile_log;
  const std::string head = "slice: matmul (linear) f32[2048, 4096] \u2192 " + std::to_string(sliced.work.mme_jobs()) +
                           " slices of ";
  EXPECT_NE(log.find(head), std::string::npos) << log;
  EXPECT_NE(log.find(" rows with layer_norm; estimate "), std::string::npos) << log;
}

TEST(Slicing, SmallGemmsAndOnesWhereItDoesNotPayAreLeftWhole) {
  // A small linear: nothing to slice (fewer than two 64-row blocks), or too
  // little work to pay each job's fixed costs.
  for (const int64_t rows : {64, 512}) {
    auto setup = [&](Runtime& rt) {
      return std::vector<Tensor>{take(rt.rand_normal({rows, 256}, DType::kBF16, 2)),
                                 take(rt.rand_normal({256, 256}, DType::kBF16, 1))};
    };
    auto body = [&](Runtime&, const std::vector<Tensor>& t) {
      return take(layer_norm(take(linear(t[0], t[1])), 1, std::nullopt, std::nullopt, 1e-5));
    };
    for (const char* config : {"gaudi2", "tiny"}) {
      const Step s = second_step(config, options(false), setup, body);
      EXPECT_EQ(s.work.mme_jobs(), 1) << config << ", " << rows << " rows";
      EXPECT_EQ(s.stats.last_compile_log.find("slices of"), std::string::npos) << s.stats.last_compile_log;
    }
  }
  // bf16 on gaudi2: the GEMM already reads its operands at nearly the
  // memory's bandwidth, and every slice reads the weights again; the
  // estimate says so and the log says why.
  const Step bf16 = big_linear(DType::kBF16, false);
  EXPECT_EQ(bf16.work.mme_jobs(), 1);
  EXPECT_NE(bf16.stats.last_compile_log.find("slice: matmul (linear) bf16[2048, 4096] left whole: "),
            std::string::npos)
      << bf16.stats.last_compile_log;
}

// A functional step on tiny: linear with a bias (an epilogue), a residual
// add and layer norm (one add_layer_norm), a scale and softmax (a fused
// kernel and a softmax); the GEMM's result is kept and also read by a sum
// over the rows, which must wait for every slice.
struct Pipeline {
  HostTensor y, h, column_sums;
  RuntimeStats stats;
  int mme_jobs = 0;
};

Pipeline functional_pipeline(DType dtype, const RuntimeOptions& o, int64_t rows) {
  auto rt = take(Runtime::open("tiny", o));
  const Tensor w = upload(*rt, host_random({128, 96}, 1), dtype), b = upload(*rt, host_random({128}, 2), dtype),
               gamma = upload(*rt, host_random({128}, 3), dtype), beta = upload(*rt, host_random({128}, 4), dtype);
  const Tensor x = upload(*rt, host_random({rows, 96}, 5), dtype), r = upload(*rt, host_random({rows, 128}, 6), dtype);
  EXPECT_TRUE(rt->synchronize().ok());
  const int before = rt->device().trace_proto().events_size();
  const Tensor h = take(linear(x, w, b));
  const Tensor n = take(layer_norm(take(add(h, r)), 1, gamma, beta, 1e-5));
  const Tensor y = take(softmax(take(mul(n, 0.5)), -1));
  const Tensor s = take(sum(h, {0}));
  EXPECT_TRUE(rt->synchronize().ok());
  Pipeline p;
  p.mme_jobs = engine_work_since(rt->device().trace_proto(), before).mme_jobs();
  p.stats = rt->stats();
  p.y = download(y);
  p.h = download(h);
  p.column_sums = download(s);
  return p;
}

TEST(Slicing, SlicedValuesAreBitIdenticalToUnslicedOnes) {
  for (const DType dtype : {DType::kF32, DType::kBF16}) {
    // 320 rows: five slices of 64, or 128 + 128 + 64; 300: the last slice short.
    for (const auto& [rows, slice_rows, slices] : {std::tuple{320, 64, 5}, std::tuple{320, 128, 3},
                                                   std::tuple{300, 128, 3}}) {
      const std::string what = std::string(dtype_name(dtype)) + ", " + std::to_string(rows) + " rows in slices of " +
                               std::to_string(slice_rows);
      const Pipeline sliced = functional_pipeline(dtype, options(true, {}, slice_rows), rows);
      const Pipeline whole = functional_pipeline(dtype, options(true, {"slice"}), rows);
      EXPECT_EQ(sliced.mme_jobs, slices) << what << "\n" << sliced.stats.last_compile_log;
      EXPECT_EQ(whole.mme_jobs, 1) << what;
      EXPECT_NE(sliced.stats.last_compile_log.find("\u2192 " + std::to_string(slices) + " slices of " +
                                                   std::to_string(slice_rows) + " rows with "),
                std::string::npos)
          << sliced.stats.last_compile_log;
      EXPECT_EQ(sliced.y.v, whole.y.v) << what;
      EXPECT_EQ(sliced.h.v, whole.h.v) << what;
      EXPECT_EQ(sliced.column_sums.v, whole.column_sums.v) << what;
    }
  }
}

TEST(Slicing, ASecondIdenticalStepCompilesNothing) {
  const RuntimeOptions o = options(true, {}, 64);
  auto rt = take(Runtime::open("tiny", o));
  const Tensor w = upload(*rt, host_random({128, 96}, 1));
  const Tensor x = upload(*rt, host_random({256, 96}, 2));
  ASSERT_TRUE(rt->synchronize().ok());
  std::vector<HostTensor> out;
  uint64_t compilations = 0;
  for (int step = 0; step < 2; ++step) {
    const Tensor y = take(softmax(take(linear(x, w)), -1));
    ASSERT_TRUE(rt->mark_step().ok());
    if (step == 0) compilations = rt->stats().compilations;
    out.push_back(download(y));
  }
  const RuntimeStats s = rt->stats();
  EXPECT_NE(s.last_compile_log.find("4 slices of 64 rows"), std::string::npos) << s.last_compile_log;
  EXPECT_EQ(s.compilations, compilations) << s.report();
  EXPECT_GE(s.cache_hits, 1u);
  EXPECT_EQ(out[0].v, out[1].v);
}

// A sliced recipe stored on disk is found and run by a second runtime (the
// on-disk cache checks a recipe against the graph it is for).
TEST(Slicing, ASlicedRecipeIsFoundOnDisk) {
  std::string dir = (std::filesystem::temp_directory_path() / "kiln-slicing-XXXXXX").string();
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  RuntimeOptions o = options(true, {}, 64);
  o.recipe_cache_dir = dir;
  std::vector<HostTensor> out;
  std::vector<RuntimeStats> stats;
  for (int run = 0; run < 2; ++run) {
    auto rt = take(Runtime::open("tiny", o));
    const Tensor w = upload(*rt, host_random({128, 96}, 1));
    const Tensor x = upload(*rt, host_random({256, 96}, 2));
    ASSERT_TRUE(rt->synchronize().ok());
    const Tensor y = take(softmax(take(linear(x, w)), -1));
    out.push_back(download(y));
    stats.push_back(rt->stats());
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  EXPECT_NE(stats[0].last_compile_log.find("4 slices of 64 rows"), std::string::npos) << stats[0].last_compile_log;
  EXPECT_EQ(stats[1].disk_hits, stats[0].compilations) << stats[1].report();
  EXPECT_EQ(stats[1].compilations, 0u) << stats[1].report();
  EXPECT_EQ(out[0].v, out[1].v);
}

// Bucketing pads the batch before compiling, so the recipe slices the
// padded rows; the real rows keep the bits of an unpadded, unsliced run.
TEST(Slicing, ComposesWithBatchBucketing) {
  RuntimeOptions o = options(true, {}, 128);
  o.batch_buckets = {320};
  auto rt = take(Runtime::open("tiny", o));
  const HostTensor w = host_random({128, 96}, 1), g = host_random({128}, 3);
  const Tensor dw = upload(*rt, w), dg = upload(*rt, g);
  ASSERT_TRUE(rt->synchronize().ok());
  const uint64_t before = rt->stats().compilations;
  for (const int64_t batch : {300, 257, 320}) {
    const HostTensor x = host_random({batch, 96}, static_cast<uint32_t>(batch));
    Tensor tx = upload(*rt, x);
    ASSERT_TRUE(tx.mark_dynamic_batch().ok());
    const Tensor y = take(rms_norm(take(linear(tx, dw)), 1, dg, 1e-6));
    ASSERT_TRUE(rt->mark_step().ok());
    EXPECT_EQ(y.shape(), (std::vector<int64_t>{batch, 128}));
    auto reference = take(Runtime::open("tiny", options(true, {"slice"})));
    const Tensor rx = upload(*reference, x);
    const Tensor want = take(rms_norm(take(linear(rx, upload(*reference, w))), 1, upload(*reference, g), 1e-6));
    EXPECT_EQ(download(y).v, download(want).v) << "batch " << batch;
  }
  const RuntimeStats s = rt->stats();
  EXPECT_EQ(s.compilations - before, 1u) << s.report();
  EXPECT_EQ(s.bucketed_steps, 2u);
  EXPECT_NE(s.last_compile_log.find("slice: matmul (linear) f32[320, 128] \u2192 3 slices of 128 rows with rms_norm"),
            std::string::npos)
      << s.last_compile_log;
}

}  // namespace
}  // namespace kiln::runtime::testing
