// run_kernel_on_host: values and counters independent of the host thread
// count, faults as data, launch validation errors, launch by id.
#include <gtest/gtest.h>
#include <tbb/global_control.h>

#include <cstring>
#include <new>
#include <random>
#include <stdexcept>
#include <vector>

#include "kiln/kernels/kernel_api.h"
#include "kiln/kernels/library.h"
#include "builtin_registry.h"

namespace kiln::kernels {
namespace {

struct Launch {
  std::vector<std::vector<uint8_t>> buffers;
  KernelArgs args;
  HostMemoryPort port;
};

// Adds a dense tensor filled with deterministic pseudo-random data.
void add_tensor(Launch& l, DType dtype, std::initializer_list<int64_t> dims, uint32_t seed) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  l.buffers.emplace_back(static_cast<size_t>(n) * dtype_size(dtype));
  std::vector<uint8_t>& b = l.buffers.back();
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-3.0f, 3.0f);
  for (int64_t i = 0; i < n; ++i) {
    const float f = dist(rng);
    if (dtype == DType::kBF16) {
      const bf16 h = bf16::from_float(f);
      std::memcpy(b.data() + 2 * i, &h, 2);
    } else {
      std::memcpy(b.data() + 4 * i, &f, 4);
    }
  }
  l.port.add_region(b.data(), b.size());
  l.args.add_tensor(TensorDesc::contiguous(reinterpret_cast<uint64_t>(b.data()), dtype, dims));
}

struct Outcome {
  std::vector<uint8_t> output;
  KernelRunResult result;
};

Outcome run_with_threads(int threads, const std::string& kernel, Launch& l, int cores) {
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, static_cast<size_t>(threads));
  std::memset(l.buffers.back().data(), 0, l.buffers.back().size());
  auto r = run_kernel_on_host(testing::builtin_registry(), kernel, l.args, l.port, cores);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return Outcome{l.buffers.back(), std::move(r).value()};
}

void expect_thread_count_independent(const std::string& kernel, Launch& l, int cores) {
  const Outcome one = run_with_threads(1, kernel, l, cores);
  const Outcome four = run_with_threads(4, kernel, l, cores);
  EXPECT_EQ(one.output, four.output) << kernel;
  ASSERT_EQ(one.result.slices.size(), four.result.slices.size());
  for (size_t i = 0; i < one.result.slices.size(); ++i) {
    EXPECT_EQ(one.result.slices[i].slice, four.result.slices[i].slice);
    EXPECT_EQ(one.result.slices[i].counters, four.result.slices[i].counters) << kernel << " slice " << i;
    EXPECT_EQ(one.result.slices[i].cost.cycles, four.result.slices[i].cost.cycles);
  }
  EXPECT_EQ(one.result.total, four.result.total);
  EXPECT_EQ(one.result.max_slice_cycles, four.result.max_slice_cycles);
  EXPECT_GT(one.result.total.total_instructions(), 0u);
}

TEST(HostRunner, ValuesAndCountersDoNotDependOnTheThreadCount) {
  {
    Launch l;
    add_tensor(l, DType::kBF16, {300, 37}, 1);
    add_tensor(l, DType::kBF16, {300, 37}, 2);
    expect_thread_count_independent("softmax", l, 8);
  }
  {
    Launch l;
    add_tensor(l, DType::kF32, {67, 1, 9}, 3);
    add_tensor(l, DType::kF32, {1, 13, 1}, 4);
    add_tensor(l, DType::kF32, {67, 13, 9}, 5);
    expect_thread_count_independent("add", l, 5);
  }
  {
    Launch l;
    add_tensor(l, DType::kF32, {200, 31}, 6);
    add_tensor(l, DType::kF32, {200}, 7);
    add_tensor(l, DType::kF32, {200}, 8);
    add_tensor(l, DType::kF32, {200, 31}, 9);
    l.args.add_float(1e-5f);
    expect_thread_count_independent("layer_norm", l, 24);
  }
  {
    Launch l;
    add_tensor(l, DType::kBF16, {130, 40, 3}, 10);
    add_tensor(l, DType::kBF16, {130, 1, 3}, 11);
    l.args.add_int(1);
    expect_thread_count_independent("reduce_sum", l, 7);
  }
}

TEST(HostRunner, CountsBytesAndSplitsWork) {
  Launch l;
  add_tensor(l, DType::kF32, {1000}, 1);
  add_tensor(l, DType::kF32, {1000}, 2);
  add_tensor(l, DType::kF32, {1000}, 3);
  auto r = run_kernel_on_host(testing::builtin_registry(), "mul", l.args, l.port, 4);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->total.bytes_loaded, 2u * 1000 * 4);
  EXPECT_EQ(r->total.bytes_stored, 1000u * 4);
  EXPECT_EQ(r->total.count(OpClass::kVectorLoad), 2u * 16);  // 16 vectors of 64 (the last holds 40)
  EXPECT_EQ(r->total.count(OpClass::kVectorAlu), 16u);
  ASSERT_EQ(r->slices.size(), 4u);
  EXPECT_EQ(r->slices[0].counters.count(OpClass::kVectorStore), 4u);  // 16 vectors over 4 cores
  EXPECT_EQ(r->space.size[0], 16);
  const TpcCostModel model;
  EXPECT_EQ(r->slices[0].cost.cycles, r->slices[0].counters.cost(model).cycles);
  EXPECT_EQ(r->slices[0].cost.busiest_slot, Slot::kLoad);  // 2 loads per vector, 1 multiply
}

TEST(HostRunner, AFaultIsDataAndOtherSlicesFinish) {
  // gather with one index out of range: the slice that meets it faults with
  // kOutOfBounds; the launch itself succeeds and reports the fault.
  std::vector<float> data(64 * 10, 1.0f), out(64 * 6, 0.0f);
  std::vector<int32_t> idx = {0, 1, 2, 3, 4, 99};
  HostMemoryPort port;
  port.add_region(std::span<float>(data));
  port.add_region(std::span<int32_t>(idx));
  port.add_region(std::span<float>(out));
  KernelArgs args;
  args.add_tensor(TensorDesc::contiguous(reinterpret_cast<uint64_t>(data.data()), DType::kF32, {64, 10}));
  args.add_tensor(TensorDesc::contiguous(reinterpret_cast<uint64_t>(idx.data()), DType::kI32, {6}));
  args.add_tensor(TensorDesc::contiguous(reinterpret_cast<uint64_t>(out.data()), DType::kF32, {64, 6}));
  args.add_int(1);
  auto r = run_kernel_on_host(testing::builtin_registry(), "gather", args, port, 3);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_TRUE(r->fault.has_value());
  EXPECT_EQ(r->fault->cause, KernelFaultCause::kOutOfBounds);
  EXPECT_FALSE(r->slices[0].fault.has_value());
  EXPECT_TRUE(r->slices[2].fault.has_value());
  EXPECT_EQ(r->status().code(), ErrorCode::kDeviceFault);
  EXPECT_NE(r->status().message().find("slice 2"), std::string::npos);
  EXPECT_EQ(out[0], 1.0f);        // rows of the healthy slices were written
  EXPECT_EQ(out[64 * 4], 1.0f);   // the faulting slice's rows before the bad index too
  EXPECT_EQ(out[64 * 5], 0.0f);   // nothing after the fault

  // An unmapped output is a memory fault, reported the same way.
  HostMemoryPort partial;
  partial.add_region(std::span<float>(data));
  partial.add_region(std::span<int32_t>(idx));
  idx[5] = 5;
  auto m = run_kernel_on_host(testing::builtin_registry(), "gather", args, partial, 2);
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE(m->fault.has_value());
  EXPECT_EQ(m->fault->cause, KernelFaultCause::kMemoryFault);
  EXPECT_EQ(m->fault->address, reinterpret_cast<uint64_t>(out.data()));
}

TEST(HostRunner, LaunchErrorsAreStatuses) {
  Launch l;
  add_tensor(l, DType::kF32, {10}, 1);
  add_tensor(l, DType::kBF16, {10}, 2);
  add_tensor(l, DType::kF32, {10}, 3);
  auto unknown = run_kernel_on_host(testing::builtin_registry(), "no_such_kernel", l.args, l.port, 1);
  EXPECT_EQ(unknown.status().code(), ErrorCode::kNotFound);
  auto mixed = run_kernel_on_host(testing::builtin_registry(), "add", l.args, l.port, 1);
  EXPECT_EQ(mixed.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(mixed.status().message().find("kernel \"add\""), std::string::npos) << mixed.status().to_string();
  EXPECT_NE(mixed.status().message().find("b has dtype bf16"), std::string::npos) << mixed.status().to_string();
  auto zero = run_kernel_on_host(testing::builtin_registry(), "neg", l.args, l.port, 0);
  EXPECT_EQ(zero.status().code(), ErrorCode::kInvalidArgument);

  KernelArgs half = l.args;  // f16 is a dtype the kernels take, but not mixed with f32
  half.tensors[1].dtype = DType::kF16;
  auto f16 = run_kernel_on_host(testing::builtin_registry(), "add", half, l.port, 1);
  EXPECT_EQ(f16.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(f16.status().message().find("b has dtype f16 but out has f32"), std::string::npos)
      << f16.status().to_string();

  KernelArgs bad_rank;
  TensorDesc t = l.args.tensors[0];
  t.rank = 7;
  bad_rank.add_tensor(t).add_tensor(t);
  EXPECT_EQ(run_kernel_on_host(testing::builtin_registry(), "neg", bad_rank, l.port, 1).status().code(), ErrorCode::kInvalidArgument);
  KernelArgs overflow;
  for (int i = 0; i < kMaxTensorArgs + 1; ++i) overflow.add_tensor(l.args.tensors[0]);
  EXPECT_TRUE(overflow.overflowed);
  EXPECT_EQ(run_kernel_on_host(testing::builtin_registry(), "concat", overflow, l.port, 1).status().code(), ErrorCode::kInvalidArgument);
}

TEST(HostRunner, EmptyTensorsRunNothing) {
  Launch l;
  add_tensor(l, DType::kF32, {0, 3}, 1);
  add_tensor(l, DType::kF32, {0, 3}, 2);
  for (const char* k : {"exp", "softmax", "cast"}) {
    auto r = run_kernel_on_host(testing::builtin_registry(), k, l.args, l.port, 4);
    ASSERT_TRUE(r.ok()) << k << ": " << r.status().to_string();
    EXPECT_FALSE(r->fault.has_value());
    EXPECT_EQ(r->total.total_instructions(), 0u) << k;
  }
}

TEST(HostRunner, LaunchById) {
  Launch l;
  add_tensor(l, DType::kF32, {100}, 1);
  add_tensor(l, DType::kF32, {100}, 2);
  auto r = run_kernel_on_host(testing::builtin_registry(), kernel_id("relu"), l.args, l.port, 2);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->kernel, "relu");
  EXPECT_EQ(r->kernel_id, kernel_id("relu"));
  float first;
  std::memcpy(&first, l.buffers[1].data(), 4);
  float in0;
  std::memcpy(&in0, l.buffers[0].data(), 4);
  EXPECT_EQ(first, in0 > 0 ? in0 : 0.0f);
}

// Kernels are user code: what they throw comes back as data.
void throwing_run(KernelContext& ctx) {
  if (ctx.slice().begin[0] == 1) throw std::runtime_error("slice 1 gave up");
  ctx.count(OpClass::kScalarAlu);
}
IndexSpace three_points(const KernelArgs&) {
  IndexSpace s;
  s.size[0] = 3;
  return s;
}
IndexSpace throwing_space(const KernelArgs&) { throw 42; }
Status throwing_validate(const KernelArgs&) { throw std::bad_alloc(); }

TEST(HostRunner, WhatAKernelThrowsIsAFaultOrAStatus) {
  HostMemoryPort port;
  const KernelDef in_run{"throws_in_run", throwing_run, three_points, nullptr, "", 0};
  auto r = run_kernel_on_host(in_run, KernelArgs{}, port, 3);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_TRUE(r->fault.has_value());
  EXPECT_EQ(r->fault->cause, KernelFaultCause::kException);
  EXPECT_EQ(r->fault->detail, "threw: slice 1 gave up");
  EXPECT_FALSE(r->slices[0].fault.has_value());  // the other slices ran
  EXPECT_EQ(r->slices[2].counters.ops[static_cast<int>(OpClass::kScalarAlu)], 1u);
  EXPECT_EQ(r->status().code(), ErrorCode::kDeviceFault);

  const KernelDef in_space{"throws_in_space", throwing_run, throwing_space, nullptr, "", 0};
  const Status space = run_kernel_on_host(in_space, KernelArgs{}, port, 1).status();
  EXPECT_EQ(space.code(), ErrorCode::kInternal);
  EXPECT_EQ(space.message(), "kernel 'throws_in_space' threw: an exception that is not a std::exception");
  const KernelDef in_validate{"throws_in_validate", throwing_run, three_points, throwing_validate, "", 0};
  const Status validate = run_kernel_on_host(in_validate, KernelArgs{}, port, 1).status();
  EXPECT_EQ(validate.code(), ErrorCode::kInternal);
  EXPECT_EQ(validate.message(), "kernel 'throws_in_validate' threw: std::bad_alloc");
}

}  // namespace
}  // namespace kiln::kernels
