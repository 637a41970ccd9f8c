// The kernel API: exact slot counting, cost = busiest slot + stalls, the index
// space split, tails/pads/views in loads and stores, faults as data, and the
// semantics of the intrinsics that are easy to get wrong.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "kiln/common/device_config.h"
#include "kiln/kernels/kernel_api.h"
#include "kiln/proto/device_config.pb.h"

namespace kiln::kernels {
namespace {

TensorDesc f32_tensor(std::vector<float>& v, std::initializer_list<int64_t> dims) {
  return TensorDesc::contiguous(reinterpret_cast<uint64_t>(v.data()), DType::kF32, dims);
}

// The tiny hand-written kernel whose counts the tests know exactly: per vector
// of a 1-D fp32 tensor, y = exp(x) + x, accumulate sum(y), store y; at the end
// store the sum as a scalar.
void tiny_run(KernelContext& ctx) {
  const TensorDesc& in = ctx.tensor(0);
  const TensorDesc& out = ctx.tensor(1);
  const TensorDesc& total = ctx.tensor(2);
  float sum = 0.0f;
  for (int64_t v = ctx.slice().begin[0]; v < ctx.slice().end[0]; ++v) {
    const Coord c{v * kF32Lanes, 0, 0, 0, 0};
    const VecF32 x = ctx.load_f32(in, c);
    const VecF32 y = add(ctx, exp(ctx, x), x);
    sum += reduce_sum(ctx, y);
    ctx.count(OpClass::kScalarAlu);
    ctx.store(out, c, y);
  }
  ctx.store_scalar(total, Coord{ctx.slice().begin[0], 0, 0, 0, 0}, sum);
}

IndexSpace tiny_space(const KernelArgs& args) {
  IndexSpace s;
  s.size[0] = (args.tensors[0].dims[0] + kF32Lanes - 1) / kF32Lanes;
  return s;
}

TEST(SlotCounting, TinyKernelCountsExactly) {
  std::vector<float> in(130), out(130), total(3);
  for (size_t i = 0; i < in.size(); ++i) in[i] = 0.01f * static_cast<float>(i);
  HostMemoryPort port;
  port.add_region(std::span<float>(in));
  port.add_region(std::span<float>(out));
  port.add_region(std::span<float>(total));
  KernelArgs args;
  args.add_tensor(f32_tensor(in, {130})).add_tensor(f32_tensor(out, {130})).add_tensor(f32_tensor(total, {3}));

  const IndexSpace space = tiny_space(args);  // 3 vectors: 64 + 64 + 2 elements
  KernelContext ctx(port, args, full_slice(space));
  tiny_run(ctx);
  ASSERT_FALSE(ctx.faulted());
  const SliceCounters& n = ctx.counters();
  EXPECT_EQ(n.count(OpClass::kVectorLoad), 3u);
  EXPECT_EQ(n.count(OpClass::kVectorTranscendental), 3u);
  EXPECT_EQ(n.count(OpClass::kVectorAlu), 3u);
  EXPECT_EQ(n.count(OpClass::kVectorReduce), 3u);
  EXPECT_EQ(n.count(OpClass::kScalarAlu), 3u);
  EXPECT_EQ(n.count(OpClass::kVectorStore), 3u);
  EXPECT_EQ(n.count(OpClass::kScalarStore), 1u);
  EXPECT_EQ(n.count(OpClass::kScalarLoad), 0u);
  EXPECT_EQ(n.count(OpClass::kVectorDivSqrt), 0u);
  EXPECT_EQ(n.instructions(Slot::kLoad), 3u);
  EXPECT_EQ(n.instructions(Slot::kVector), 9u);
  EXPECT_EQ(n.instructions(Slot::kScalar), 3u);
  EXPECT_EQ(n.instructions(Slot::kStore), 4u);
  EXPECT_EQ(n.bytes_loaded, 130u * 4);      // the 2-element tail moves 8 bytes, not 256
  EXPECT_EQ(n.bytes_stored, 130u * 4 + 4);

  // Default model: vector slot = 3 ALU * 1 + 3 exp * 8 + 3 reduce * 6 = 45;
  // stalls = 3 reductions * 4 = 12.
  const SliceCost cost = n.cost(TpcCostModel());
  EXPECT_EQ(cost.slot_cycles[static_cast<int>(Slot::kVector)], 45u);
  EXPECT_EQ(cost.slot_cycles[static_cast<int>(Slot::kLoad)], 3u);
  EXPECT_EQ(cost.slot_cycles[static_cast<int>(Slot::kStore)], 4u);
  EXPECT_EQ(cost.slot_cycles[static_cast<int>(Slot::kScalar)], 3u);
  EXPECT_EQ(cost.busiest_slot, Slot::kVector);
  EXPECT_EQ(cost.issue_cycles, 45u);
  EXPECT_EQ(cost.stall_cycles, 12u);
  EXPECT_EQ(cost.cycles, 57u);
  EXPECT_EQ(cost.bytes_loaded, 520u);

  for (size_t i = 0; i < 130; ++i) EXPECT_FLOAT_EQ(out[i], std::exp(in[i]) + in[i]);

  // Through the launcher on 2 cores the totals are the same instructions
  // (one more scalar store: each slice stores its partial sum).
  auto run = run_kernel_on_host(KernelDef{"tiny", tiny_run, tiny_space, nullptr, "", 0}, args, port, 2);
  ASSERT_TRUE(run.ok()) << run.status().to_string();
  EXPECT_EQ(run->total.count(OpClass::kVectorTranscendental), 3u);
  EXPECT_EQ(run->total.count(OpClass::kScalarStore), 2u);
  EXPECT_EQ(run->slices[0].counters.count(OpClass::kVectorLoad), 2u);
  EXPECT_EQ(run->slices[1].counters.count(OpClass::kVectorLoad), 1u);
  EXPECT_EQ(run->max_slice_cycles, run->slices[0].cost.cycles);
}

TEST(SlotCounting, A128LaneBf16VectorIsOneInstruction) {
  // 200 bf16 elements = 2 vectors of 128 lanes; each: 2 loads, 1 fma-free
  // add+mul chain of 2 instructions, 1 store -- the same counts an fp32
  // kernel issues per 64 elements.
  std::vector<bf16> a(200, bf16::from_float(1.5f)), out(200);
  HostMemoryPort port;
  port.add_region(std::span<bf16>(a));
  port.add_region(std::span<bf16>(out));
  const TensorDesc ta = TensorDesc::contiguous(reinterpret_cast<uint64_t>(a.data()), DType::kBF16, {200});
  const TensorDesc to = TensorDesc::contiguous(reinterpret_cast<uint64_t>(out.data()), DType::kBF16, {200});
  KernelArgs args;
  KernelContext ctx(port, args, IndexSlice{});
  for (int64_t x = 0; x < 200; x += kBF16Lanes) {
    const Coord c{x, 0, 0, 0, 0};
    const WideF32 v = load_wide(ctx, ta, c);
    ASSERT_EQ(v.halves, 2);
    store_wide(ctx, to, c, wide_map(ctx, v, [&](const VecF32& h) { return mul(ctx, add(ctx, h, h), 0.5f); }));
  }
  EXPECT_EQ(ctx.counters().count(OpClass::kVectorLoad), 2u);
  EXPECT_EQ(ctx.counters().count(OpClass::kVectorAlu), 4u);
  EXPECT_EQ(ctx.counters().count(OpClass::kVectorStore), 2u);
  EXPECT_EQ(ctx.counters().bytes_loaded, 400u);
  EXPECT_EQ(wide_reduce_sum(ctx, load_wide(ctx, ta, Coord{})), 192.0f);  // 128 lanes of 1.5
  EXPECT_EQ(ctx.counters().count(OpClass::kVectorReduce), 1u);
  EXPECT_EQ(ctx.counters().count(OpClass::kVectorAlu), 4u);
  EXPECT_FALSE(ctx.second_half());
  EXPECT_EQ(out[199].to_float(), 1.5f);
}

TEST(SliceCost, CyclesAreTheBusiestSlotPlusStalls) {
  SliceCounters n;
  n.ops[static_cast<int>(OpClass::kVectorLoad)] = 10;
  n.ops[static_cast<int>(OpClass::kScalarLoad)] = 2;  // load slot 12, stalls 2 * 4
  n.ops[static_cast<int>(OpClass::kVectorAlu)] = 3;
  n.ops[static_cast<int>(OpClass::kVectorTranscendental)] = 1;  // vector slot 3 + 8 = 11
  n.ops[static_cast<int>(OpClass::kVectorStore)] = 5;
  n.extra_stall_cycles = 7;
  TpcCostModel model;
  SliceCost c = n.cost(model);
  EXPECT_EQ(c.busiest_slot, Slot::kLoad);
  EXPECT_EQ(c.issue_cycles, 12u);
  EXPECT_EQ(c.stall_cycles, 8u + 7u);
  EXPECT_EQ(c.cycles, 27u);
  EXPECT_DOUBLE_EQ(c.utilisation(Slot::kVector), 11.0 / 27.0);

  // A slower special-function unit moves the bound to the vector slot.
  model.issue_cycles[static_cast<int>(OpClass::kVectorTranscendental)] = 20;
  c = n.cost(model);
  EXPECT_EQ(c.busiest_slot, Slot::kVector);
  EXPECT_EQ(c.issue_cycles, 23u);
  EXPECT_EQ(c.cycles, 23u + 15u);
  EXPECT_EQ(SliceCounters().cost(model).cycles, 0u);
}

TEST(CostModel, TakesClockAndLaunchOverheadFromTheConfig) {
  proto::TpcConfig config;
  config.set_count(24);
  config.set_vector_width_bytes(256);
  config.set_clock_mhz(1650);
  config.set_launch_overhead_ns(400);
  const TpcCostModel m(config);
  EXPECT_DOUBLE_EQ(m.clock_mhz, 1650.0);
  EXPECT_DOUBLE_EQ(m.launch_overhead_ns, 400.0);
  EXPECT_EQ(m.issue(OpClass::kVectorAlu), TpcCostModel().issue(OpClass::kVectorAlu));  // no costs: defaults
  EXPECT_DOUBLE_EQ(m.cycles_to_ns(1650), 1000.0);
  EXPECT_TRUE(check_tpc_config_for_kernels(config).ok());
  config.set_vector_width_bytes(128);
  const Status s = check_tpc_config_for_kernels(config);
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.message().find("tpc.vector_width_bytes"), std::string::npos);
}

TEST(CostModel, TakesInstructionCostsFromTheConfig) {
  proto::TpcConfig config;
  auto* costs = config.mutable_instruction_costs();
  costs->mutable_vector_transcendental()->set_issue_cycles(20);
  costs->mutable_vector_transcendental()->set_stall_cycles(3);
  costs->mutable_scalar_load()->set_issue_cycles(2);
  const TpcCostModel m(config);
  EXPECT_EQ(m.issue(OpClass::kVectorTranscendental), 20u);
  EXPECT_EQ(m.stall(OpClass::kVectorTranscendental), 3u);
  EXPECT_EQ(m.issue(OpClass::kScalarLoad), 2u);
  EXPECT_EQ(m.stall(OpClass::kScalarLoad), 0u);  // present: its stall is the config's 0
  EXPECT_EQ(m.issue(OpClass::kVectorDivSqrt), TpcCostModel().issue(OpClass::kVectorDivSqrt));  // absent

  // The priced cycles follow: 2 exps and a scalar load.
  SliceCounters n;
  n.ops[static_cast<int>(OpClass::kVectorTranscendental)] = 2;
  n.ops[static_cast<int>(OpClass::kScalarLoad)] = 1;
  EXPECT_EQ(n.cost(m).cycles, 40u + 6u);
  EXPECT_EQ(n.cost(TpcCostModel()).cycles, 16u + 4u);
}

// The defaults serve host runs without a config; they must be what the shipped
// configs say, or `kiln kernel run` and a host test would disagree.
TEST(CostModel, DefaultsAreTheShippedConfigsFigures) {
  for (const char* name : {"tiny", "gaudi2", "gaudi3", "validation/ws128_serial"}) {
    SCOPED_TRACE(name);
    const Result<proto::DeviceConfig> config =
        load_device_config(std::string(KILN_TEST_CONFIG_DIR) + "/" + name + ".textproto");
    ASSERT_TRUE(config.ok()) << config.status().message();
    const TpcCostModel shipped(config->tpc());
    EXPECT_EQ(shipped.issue_cycles, TpcCostModel().issue_cycles);
    EXPECT_EQ(shipped.stall_cycles, TpcCostModel().stall_cycles);
  }
}

TEST(IndexSpaceSplit, ContiguousRangesOfTheOutermostNonTrivialDim) {
  IndexSpace s;
  s.size[0] = 10;
  auto slices = split_index_space(s, 3);
  ASSERT_EQ(slices.size(), 3u);
  EXPECT_EQ(slices[0].begin[0], 0);
  EXPECT_EQ(slices[0].end[0], 4);
  EXPECT_EQ(slices[1].begin[0], 4);
  EXPECT_EQ(slices[1].end[0], 7);
  EXPECT_EQ(slices[2].begin[0], 7);
  EXPECT_EQ(slices[2].end[0], 10);

  IndexSpace t;
  t.rank = 3;
  t.size = {5, 7, 1, 1, 1};  // dim 2 is trivial: dim 1 is split, dim 0 kept whole
  slices = split_index_space(t, 2);
  EXPECT_EQ(slices[0].begin, (Dims{0, 0, 0, 0, 0}));
  EXPECT_EQ(slices[0].end, (Dims{5, 4, 1, 1, 1}));
  EXPECT_EQ(slices[1].begin, (Dims{0, 4, 0, 0, 0}));
  EXPECT_EQ(slices[1].end, (Dims{5, 7, 1, 1, 1}));
  EXPECT_EQ(slices, split_index_space(t, 2));  // deterministic

  // More cores than points: the last slices are empty; every point is covered once.
  IndexSpace u;
  u.size[0] = 2;
  slices = split_index_space(u, 4);
  ASSERT_EQ(slices.size(), 4u);
  EXPECT_EQ(slices[0].points() + slices[1].points(), 2);
  EXPECT_TRUE(slices[2].empty());
  EXPECT_TRUE(slices[3].empty());
  int64_t total = 0;
  for (const auto& sl : split_index_space(IndexSpace{3, {4, 9, 13, 1, 1}}, 5)) total += sl.points();
  EXPECT_EQ(total, 4 * 9 * 13);
  EXPECT_EQ(split_index_space(u, 0).size(), 1u);  // cores < 1 counts as 1
  EXPECT_FALSE(validate_index_space(IndexSpace{0, {1, 1, 1, 1, 1}}).ok());
  EXPECT_FALSE(validate_index_space(IndexSpace{1, {4, 2, 1, 1, 1}}).ok());
}

// Counts how many slices cover each point; every point must be covered once.
std::vector<int> coverage(const IndexSpace& space, const std::vector<IndexSlice>& slices) {
  std::vector<int> hits(static_cast<size_t>(space.points()), 0);
  for (const IndexSlice& sl : slices) {
    if (sl.empty()) continue;
    for (int d = 0; d < kMaxDims; ++d) {
      EXPECT_LE(0, sl.begin[d]);
      EXPECT_LE(sl.end[d], space.size[d]);
    }
    for (int64_t e = sl.begin[4]; e < sl.end[4]; ++e)
      for (int64_t d = sl.begin[3]; d < sl.end[3]; ++d)
        for (int64_t c = sl.begin[2]; c < sl.end[2]; ++c)
          for (int64_t b = sl.begin[1]; b < sl.end[1]; ++b)
            for (int64_t a = sl.begin[0]; a < sl.end[0]; ++a) {
              const Dims& n = space.size;
              ++hits[static_cast<size_t>((((e * n[3] + d) * n[2] + c) * n[1] + b) * n[0] + a)];
            }
  }
  return hits;
}

TEST(IndexSpaceSplit, AShortOuterDimIsSplitFurtherInsideSoNoCoreIdles) {
  // 3 rows of 64 vectors on 24 cores: each row gets 8 cores, 8 vectors each.
  const IndexSpace rows{2, {64, 3, 1, 1, 1}};
  const auto slices = split_index_space(rows, 24);
  ASSERT_EQ(slices.size(), 24u);
  for (int i = 0; i < 24; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(slices[static_cast<size_t>(i)].begin, (Dims{8 * (i % 8), i / 8, 0, 0, 0}));
    EXPECT_EQ(slices[static_cast<size_t>(i)].end, (Dims{8 * (i % 8) + 8, i / 8 + 1, 1, 1, 1}));
  }

  // 5 rows on 24 cores: the rows get 5, 5, 5, 5 and 4 cores.
  const IndexSpace five{2, {64, 5, 1, 1, 1}};
  int64_t largest = 0;
  for (const IndexSlice& sl : split_index_space(five, 24)) largest = std::max(largest, sl.points());
  EXPECT_EQ(largest, 16);  // in the 4-core row (the 5-core rows: at most 13)
}

TEST(IndexSpaceSplit, EveryPointOnceEmptySlicesLastAndDeterministic) {
  const std::vector<IndexSpace> spaces = {
      {1, {10, 1, 1, 1, 1}},  {2, {1, 7, 1, 1, 1}},  {2, {130, 3, 1, 1, 1}}, {3, {4, 9, 13, 1, 1}},
      {3, {5, 1, 2, 1, 1}},   {4, {3, 2, 2, 2, 1}},  {5, {2, 3, 1, 2, 3}},   {2, {0, 5, 1, 1, 1}},
      {2, {1, 1, 1, 1, 1}},   {5, {1, 1, 1, 1, 40}},
  };
  for (const IndexSpace& space : spaces) {
    for (int cores : {1, 2, 3, 5, 8, 24, 64}) {
      SCOPED_TRACE(testing::Message() << "rank " << space.rank << " cores " << cores << " size "
                                      << space.size[0] << "x" << space.size[1] << "x" << space.size[2]
                                      << "x" << space.size[3] << "x" << space.size[4]);
      const auto slices = split_index_space(space, cores);
      ASSERT_EQ(slices.size(), static_cast<size_t>(cores));
      for (int hits : coverage(space, slices)) ASSERT_EQ(hits, 1);
      bool seen_empty = false;
      for (const IndexSlice& sl : slices) {
        if (sl.empty()) seen_empty = true;
        else EXPECT_FALSE(seen_empty) << "a slice with work follows an empty one";
      }
      // As many cores busy as there are points, up to the core count.
      int64_t busy = 0;
      for (const IndexSlice& sl : slices) busy += sl.empty() ? 0 : 1;
      EXPECT_EQ(busy, std::min<int64_t>(cores, space.points()));
      EXPECT_EQ(slices, split_index_space(space, cores));
    }
  }
}

TEST(KernelContextMemory, TailsPadsAndMaskedStores) {
  std::vector<float> in(130), out(130, -1.0f);
  std::iota(in.begin(), in.end(), 0.0f);
  HostMemoryPort port;
  port.add_region(in.data(), in.size() * 4, /*writable=*/false);
  port.add_region(std::span<float>(out));
  KernelArgs args;
  const TensorDesc a = f32_tensor(in, {130}), o = f32_tensor(out, {130});
  KernelContext ctx(port, args, IndexSlice{});

  const VecF32 tail = ctx.load_f32(a, Coord{128, 0, 0, 0, 0}, 7.0f);
  EXPECT_EQ(tail[0], 128.0f);
  EXPECT_EQ(tail[1], 129.0f);
  EXPECT_EQ(tail[2], 7.0f);  // past the end: pad
  const VecF32 before = ctx.load_f32(a, Coord{-3, 0, 0, 0, 0}, -1.0f);
  EXPECT_EQ(before[2], -1.0f);
  EXPECT_EQ(before[3], 0.0f);
  EXPECT_EQ(ctx.load_f32(a, Coord{0, 1, 0, 0, 0}, 5.0f)[0], 5.0f);  // row out of range: all pad

  ctx.store(o, Coord{128, 0, 0, 0, 0}, VecF32::splat(3.0f));  // only 2 lanes land
  EXPECT_EQ(out[127], -1.0f);
  EXPECT_EQ(out[128], 3.0f);
  EXPECT_EQ(out[129], 3.0f);
  ctx.store(o, Coord{0, 0, 0, 0, 0}, VecF32::splat(4.0f), Mask{0b1010});
  EXPECT_EQ(out[0], -1.0f);
  EXPECT_EQ(out[1], 4.0f);
  EXPECT_EQ(out[2], -1.0f);
  EXPECT_EQ(out[3], 4.0f);
  EXPECT_FALSE(ctx.faulted());
  EXPECT_EQ(ctx.counters().bytes_stored, 2u * 4 + 2u * 4);
}

TEST(KernelContextMemory, BroadcastPermutedAndSlicedViews) {
  std::vector<float> m(6 * 4);  // dims {6, 4}
  std::iota(m.begin(), m.end(), 0.0f);
  HostMemoryPort port;
  port.add_region(std::span<float>(m));
  KernelArgs args;
  KernelContext ctx(port, args, IndexSlice{});
  const TensorDesc t = f32_tensor(m, {6, 4});

  // Column 0 broadcast along dim 0: one element read, replicated.
  TensorDesc col = t.sliced_view(0, 2, 1);
  col = col.broadcast_view(Dims{64, 4, 1, 1, 1}, 2);
  EXPECT_EQ(col.strides[0], 0);
  const VecF32 b = ctx.load_f32(col, Coord{0, 3, 0, 0, 0});
  EXPECT_EQ(b[0], 20.0f);
  EXPECT_EQ(b[63], 20.0f);
  EXPECT_EQ(ctx.counters().bytes_loaded, 4u);

  // Transposed view: dim 0 walks the old dim 1 with stride 6.
  const int perm[] = {1, 0};
  const TensorDesc tr = t.permuted_view(perm);
  const VecF32 r = ctx.load_f32(tr, Coord{0, 5, 0, 0, 0}, -1.0f);
  EXPECT_EQ(r[0], 5.0f);
  EXPECT_EQ(r[3], 23.0f);
  EXPECT_EQ(r[4], -1.0f);
  EXPECT_EQ(ctx.counters().bytes_loaded, 4u + 16u);

  // Every second element of row 1, starting at 1.
  const TensorDesc sl = t.sliced_view(0, 1, 3, 2).sliced_view(1, 1, 1);
  const VecF32 s = ctx.load_f32(sl, Coord{0, 0, 0, 0, 0});
  EXPECT_EQ(s[0], 7.0f);
  EXPECT_EQ(s[1], 9.0f);
  EXPECT_EQ(s[2], 11.0f);
  EXPECT_FALSE(ctx.faulted());
}

TEST(Faults, AMemoryPortRefusalIsRecordedNotACrash) {
  std::vector<float> in(64, 1.0f), out(64);
  HostMemoryPort port;
  port.add_region(std::span<float>(in));  // `out` is not mapped
  KernelArgs args;
  KernelContext ctx(port, args, IndexSlice{});
  const VecF32 x = ctx.load_f32(f32_tensor(in, {64}), Coord{});
  ctx.store(f32_tensor(out, {64}), Coord{}, x);
  ASSERT_TRUE(ctx.faulted());
  EXPECT_EQ(ctx.fault()->cause, KernelFaultCause::kMemoryFault);
  EXPECT_EQ(ctx.fault()->address, reinterpret_cast<uint64_t>(out.data()));
  EXPECT_NE(ctx.fault()->describe().find("vector store"), std::string::npos);
  // After the fault the core has stopped: loads give the pad, nothing counts.
  const SliceCounters before = ctx.counters();
  EXPECT_EQ(ctx.load_f32(f32_tensor(in, {64}), Coord{}, 9.0f)[0], 9.0f);
  EXPECT_EQ(add(ctx, x, x)[0], 2.0f);
  EXPECT_EQ(ctx.counters(), before);

  // A wild address (never mapped) faults the same way.
  KernelContext wild(port, args, IndexSlice{});
  TensorDesc bad = TensorDesc::contiguous(0x10, DType::kF32, {64});
  wild.load_f32(bad, Coord{});
  ASSERT_TRUE(wild.faulted());
  EXPECT_EQ(wild.fault()->address, 0x10u);
}

TEST(Faults, DtypeMismatchAndScalarOutOfBounds) {
  std::vector<float> in(64, 1.0f);
  HostMemoryPort port;
  port.add_region(std::span<float>(in));
  KernelArgs args;
  KernelContext ctx(port, args, IndexSlice{});
  TensorDesc as_bf16 = TensorDesc::contiguous(reinterpret_cast<uint64_t>(in.data()), DType::kBF16, {128});
  ctx.load_f32(as_bf16, Coord{});
  ASSERT_TRUE(ctx.faulted());
  EXPECT_EQ(ctx.fault()->cause, KernelFaultCause::kDTypeMismatch);

  KernelContext oob(port, args, IndexSlice{});
  EXPECT_EQ(oob.load_scalar(f32_tensor(in, {64}), Coord{64, 0, 0, 0, 0}), 0.0f);
  ASSERT_TRUE(oob.faulted());
  EXPECT_EQ(oob.fault()->cause, KernelFaultCause::kOutOfBounds);
}

TEST(TensorValidation, TakesEveryDtypeAndRejectsUnknownOnes) {
  for (DType t : {DType::kF32, DType::kBF16, DType::kI32, DType::kF16, DType::kI64, DType::kBool}) {
    EXPECT_TRUE(validate_tensor(TensorDesc::contiguous(0x1000, t, {64, 2}), "x").ok()) << dtype_name(t);
  }
  const Status unknown = validate_tensor(TensorDesc::contiguous(0x1000, static_cast<DType>(9), {64}), "x");
  EXPECT_EQ(unknown.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(unknown.message().find("x: unknown dtype 9"), std::string::npos) << unknown.message();
  // The byte past the last dtype is already unknown.
  const Status next = validate_tensor(TensorDesc::contiguous(0x1000, static_cast<DType>(kDTypeCount), {64}), "y");
  EXPECT_EQ(next.code(), ErrorCode::kInvalidArgument);
}

TEST(Intrinsics, SemanticsThatAreEasyToGetWrong) {
  HostMemoryPort port;
  KernelArgs args;
  KernelContext ctx(port, args, IndexSlice{});
  const float nan = std::numeric_limits<float>::quiet_NaN();
  VecF32 a = VecF32::splat(1.0f), b = VecF32::splat(2.0f);
  a[1] = nan;
  EXPECT_TRUE(std::isnan(max(ctx, a, b)[1]));  // NaN propagates
  EXPECT_EQ(max(ctx, a, b)[0], 2.0f);
  EXPECT_EQ(compare(ctx, Cmp::kNe, a, b).count(), 64);
  EXPECT_EQ(compare(ctx, Cmp::kEq, a, a).count(), 63);  // NaN != NaN
  const Mask m = compare(ctx, Cmp::kLt, iota(ctx), 10.0f);
  EXPECT_EQ(m, Mask::first(10));
  EXPECT_EQ(select(ctx, m, b, 5.0f)[9], 2.0f);
  EXPECT_EQ(select(ctx, m, b, 5.0f)[10], 5.0f);
  EXPECT_EQ(reduce_sum(ctx, iota(ctx)), 2016.0f);
  EXPECT_EQ(reduce_max(ctx, iota(ctx, -100.0f)), -37.0f);
  EXPECT_EQ(reduce_min_bcast(ctx, iota(ctx, 3.0f))[17], 3.0f);
  EXPECT_EQ(fma(ctx, b, b, 1.0f)[0], 5.0f);

  VecF32 h = iota(ctx, 0.5f);  // 0.5, 1.5, 2.5, ...
  const VecI32 r = f32_to_i32(ctx, h);
  EXPECT_EQ(r[0], 0);  // ties to even
  EXPECT_EQ(r[1], 2);
  EXPECT_EQ(r[2], 2);
  EXPECT_EQ(i32_to_f32(ctx, r)[1], 2.0f);

  const VecBF16 packed = f32_to_bf16(ctx, VecF32::splat(1.00390625f), VecF32::splat(-3.0f));  // 1 + 2^-8: a tie
  EXPECT_EQ(packed[0].bits, 0x3f80);
  EXPECT_EQ(bf16_to_f32(ctx, packed, 1)[0], -3.0f);
  EXPECT_FLOAT_EQ(pow(ctx, b, VecF32::splat(10.0f))[0], 1024.0f);
  EXPECT_FLOAT_EQ(rsqrt(ctx, VecF32::splat(4.0f))[0], 0.5f);
  EXPECT_FLOAT_EQ(sigmoid(ctx, VecF32::splat(0.0f))[0], 0.5f);
  EXPECT_FALSE(ctx.faulted());
}

}  // namespace
}  // namespace kiln::kernels
