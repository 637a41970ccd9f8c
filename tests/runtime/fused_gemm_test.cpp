// fuse_shared_input_gemms: GEMMs sharing an input become one GEMM over packed
// (stacked) weights, built once by DMA and reused while the weights live.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "blocks.h"

namespace kiln::runtime::testing {
namespace {

struct Qkv {
  HostTensor x, wq, bq, wk, bk, wv, bv;
};

Qkv qkv_params(int64_t rows, int64_t d, int64_t dq, int64_t dv) {
  return {host_random({2, rows, d}, 1), host_random({dq, d}, 2), host_random({dq}, 3), host_random({dq, d}, 4),
          host_random({dq}, 5),        host_random({dv, d}, 6), host_random({dv}, 7)};
}

// q*k summed over the last dim (a strided read of two packed columns) plus
// v's first column broadcast; each reads its own columns of the stacked GEMM.
HostTensor qkv_host(const Qkv& p) {
  const HostTensor q = h_linear(p.x, p.wq, p.bq), k = h_linear(p.x, p.wk, p.bk), v = h_linear(p.x, p.wv, p.bv);
  const int64_t rows = q.size() / q.shape.back(), dq = q.shape.back(), dv = v.shape.back();
  HostTensor out = host_zeros({q.shape[0], q.shape[1], dv});
  for (int64_t r = 0; r < rows; ++r) {
    double dot = 0;
    for (int64_t e = 0; e < dq; ++e) dot += q[r * dq + e] * k[r * dq + e];
    for (int64_t e = 0; e < dv; ++e) out[r * dv + e] = dot + v[r * dv + e];
  }
  return out;
}

Tensor qkv_device(const Tensor& x, const Tensor& wq, const Tensor& bq, const Tensor& wk, const Tensor& bk,
                  const Tensor& wv, const Tensor& bv) {
  const Tensor q = take(linear(x, wq, bq)), k = take(linear(x, wk, bk)), v = take(linear(x, wv, bv));
  const Tensor dot = take(sum(take(mul(q, k)), {-1}, /*keepdim=*/true));
  return take(add(dot, v));
}

struct QkvRun {
  HostTensor values;
  RuntimeStats stats;
};

QkvRun run_qkv(const Qkv& p, DType dtype, int steps, std::vector<std::string> disabled = {}) {
  RuntimeOptions o;
  o.mode = Mode::kLazy;
  o.disabled_passes = std::move(disabled);
  auto rt = take(Runtime::open("tiny", o));
  Tensor x = upload(*rt, p.x, dtype), wq = upload(*rt, p.wq, dtype), bq = upload(*rt, p.bq, dtype),
         wk = upload(*rt, p.wk, dtype), bk = upload(*rt, p.bk, dtype), wv = upload(*rt, p.wv, dtype),
         bv = upload(*rt, p.bv, dtype);
  EXPECT_TRUE(rt->mark_step().ok());
  Tensor y;
  for (int s = 0; s < steps; ++s) {
    y = qkv_device(x, wq, bq, wk, bk, wv, bv);
    EXPECT_TRUE(rt->mark_step().ok());
  }
  EXPECT_TRUE(rt->synchronize().ok());
  const RuntimeStats stats = rt->stats();
  return {download(y), stats};
}

TEST(FusedGemms, ThreeProjectionsOfOneInputRunAsOneGemmOverPackedWeights) {
  const Qkv p = qkv_params(5, 16, 8, 12);
  const QkvRun fused = run_qkv(p, DType::kF32, 3);
  const QkvRun plain = run_qkv(p, DType::kF32, 3, {"fuse_shared_input_gemms"});
  EXPECT_NE(fused.stats.last_compile_log.find("fuse_shared_input_gemms: 3 GEMMs reading one input -> one of [16 x 28]"),
            std::string::npos)
      << fused.stats.last_compile_log;
  EXPECT_EQ(plain.stats.last_compile_log.find("fuse_shared_input_gemms"), std::string::npos);
  EXPECT_EQ(fused.stats.last_step_jobs + 2, plain.stats.last_step_jobs);
  // Packed once (weights and biases), reused by the later steps.
  EXPECT_EQ(fused.stats.packed_inputs_built, 2u);
  EXPECT_EQ(plain.stats.packed_inputs_built, 0u);
  // Each output element is the same dot product over k, but the matrix
  // engine's functional model (OpenBLAS) may take another kernel path for a
  // column of a 28-wide product than of an 8-wide one: within a few fp32 ulp.
  expect_close(fused.values, plain.values, 1e-6, 1e-6, "fused vs plain");
  expect_close(fused.values, qkv_host(p), 1e-4, 1e-4, "fused qkv vs host");
}

TEST(FusedGemms, Bf16WithBiasesCastOnceForTheEpilogue) {
  const Qkv p = qkv_params(4, 8, 8, 8);
  const QkvRun fused = run_qkv(p, DType::kBF16, 2);
  const QkvRun plain = run_qkv(p, DType::kBF16, 2, {"fuse_shared_input_gemms"});
  EXPECT_NE(fused.stats.last_compile_log.find("fuse_shared_input_gemms: 3 GEMMs"), std::string::npos)
      << fused.stats.last_compile_log;
  EXPECT_LT(fused.stats.last_step_jobs, plain.stats.last_step_jobs);
  EXPECT_EQ(fused.values.v, plain.values.v);
  Qkv r = p;
  for (HostTensor* t : {&r.x, &r.wq, &r.bq, &r.wk, &r.bk, &r.wv, &r.bv}) *t = rounded(DType::kBF16, *t);
  expect_close(fused.values, qkv_host(r), 0.1, 0.05, "bf16 fused qkv vs host");
}

TEST(FusedGemms, ANewWeightTensorIsPackedAgainAndUsed) {
  const Qkv p = qkv_params(3, 8, 4, 4);
  RuntimeOptions o;
  o.mode = Mode::kLazy;
  auto rt = take(Runtime::open("tiny", o));
  Tensor x = upload(*rt, p.x), wq = upload(*rt, p.wq), bq = upload(*rt, p.bq), wk = upload(*rt, p.wk),
         bk = upload(*rt, p.bk), wv = upload(*rt, p.wv), bv = upload(*rt, p.bv);
  expect_close(download(qkv_device(x, wq, bq, wk, bk, wv, bv)), qkv_host(p), 1e-4, 1e-4, "first weights");
  EXPECT_EQ(rt->stats().packed_inputs_built, 2u);
  // An updated weight is a new tensor (an optimizer step makes one): the
  // same recipe runs, with the weights packed again from the new memory.
  Qkv q = p;
  q.wk = host_random({4, 8}, 99);
  wk = upload(*rt, q.wk);
  const uint64_t compilations = rt->stats().compilations;
  expect_close(download(qkv_device(x, wq, bq, wk, bk, wv, bv)), qkv_host(q), 1e-4, 1e-4, "new wk");
  EXPECT_EQ(rt->stats().packed_inputs_built, 3u);  // the weights; the biases' pack is reused
  EXPECT_EQ(rt->stats().compilations, compilations);  // same graph, same recipe
}

// A recipe with packed inputs survives the on-disk cache: a second runtime
// loads it (checked against its graph, packed parts included) and computes
// the same values without compiling.
TEST(FusedGemms, ARecipeWithPackedInputsLoadsFromTheDiskCache) {
  std::string dir = (std::filesystem::temp_directory_path() / "kiln-fused-gemm-XXXXXX").string();
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  const Qkv p = qkv_params(3, 8, 4, 4);
  std::vector<double> first;
  for (int run = 0; run < 2; ++run) {
    RuntimeOptions o;
    o.mode = Mode::kLazy;
    o.recipe_cache_dir = dir;
    auto rt = take(Runtime::open("tiny", o));
    Tensor x = upload(*rt, p.x), wq = upload(*rt, p.wq), bq = upload(*rt, p.bq), wk = upload(*rt, p.wk),
           bk = upload(*rt, p.bk), wv = upload(*rt, p.wv), bv = upload(*rt, p.bv);
    ASSERT_TRUE(rt->mark_step().ok());
    const uint64_t compiled = rt->stats().compilations;
    const HostTensor y = download(qkv_device(x, wq, bq, wk, bk, wv, bv));
    if (run == 0) {
      first = y.v;
      EXPECT_NE(rt->stats().last_compile_log.find("fuse_shared_input_gemms"), std::string::npos);
    } else {
      EXPECT_EQ(rt->stats().compilations, compiled);
      EXPECT_GE(rt->stats().disk_hits, 1u);
      EXPECT_EQ(rt->stats().packed_inputs_built, 2u);
      EXPECT_EQ(y.v, first);
    }
  }
  std::filesystem::remove_all(dir);
}

TEST(FusedGemms, TheTransformerBlockPacksItsQkvAndMatchesTheHost) {
  const BlockParams p = block_params(32, 4, 64, 11);
  const HostTensor x = host_random({2, 6, 32}, 12);
  for (const bool fuse : {true, false}) {
    RuntimeOptions o;
    o.mode = Mode::kLazy;
    if (!fuse) o.disabled_passes = {"fuse_shared_input_gemms"};
    auto rt = take(Runtime::open("tiny", o));
    const DeviceBlock dp = block_upload(*rt, p, DType::kF32);
    const Tensor y = block_device(dp, upload(*rt, x));
    ASSERT_TRUE(rt->mark_step().ok());
    const RuntimeStats s = rt->stats();
    EXPECT_EQ(s.last_compile_log.find("fuse_shared_input_gemms: 3 GEMMs") != std::string::npos, fuse)
        << s.last_compile_log;
    expect_close(download(y), block_host(p, x), 1e-4, 1e-4, fuse ? "fused" : "unfused");
  }
}

}  // namespace
}  // namespace kiln::runtime::testing
