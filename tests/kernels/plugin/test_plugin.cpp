// A kernel plugin as an outside developer would write it: one kernel
// registered from a static initializer, and the plugin entry point.
#include <pthread.h>

#include <cstdint>
#include <new>
#include <stdexcept>
#include <string>

#include "kiln/kernels/kernel_api.h"

namespace {

using namespace kiln::kernels;

// out = 2 * in, fp32, one index point per vector.
void scale_run(KernelContext& ctx) {
  const TensorDesc& in = ctx.tensor(0);
  const TensorDesc& out = ctx.tensor(1);
  for (int64_t v = ctx.slice().begin[0]; v < ctx.slice().end[0]; ++v) {
    const Coord c{v * kF32Lanes, 0, 0, 0, 0};
    ctx.store(out, c, mul(ctx, ctx.load_f32(in, c), 2.0f));
  }
}

IndexSpace scale_space(const KernelArgs& args) {
  IndexSpace s;
  s.size[0] = (args.tensors[1].dims[0] + kF32Lanes - 1) / kF32Lanes;
  return s;
}

kiln::Status scale_validate(const KernelArgs& args) {
  if (args.num_tensors != 2) return kiln::invalid_argument("expects (in, out)");
  return kiln::Status::ok_status();
}

}  // namespace

KILN_REGISTER_KERNEL("test_plugin_scale", scale_run, scale_space, scale_validate, "test_plugin_scale(in: f32[n], out: f32[n])");

// ---- misbehaving kernels, for the simulator's fault handling ----

namespace {

// test_plugin_throw(ints: where, what): throws from `where` (0 = run, on
// every slice; 1 = validate; 2 = index_space) a std::runtime_error (what =
// 0), std::bad_alloc (1) or an int (2). Its index space has 4 points.
[[noreturn]] void throw_what(int64_t what) {
  if (what == 1) throw std::bad_alloc();
  if (what == 2) throw 42;
  throw std::runtime_error("test_plugin_throw was told to throw");
}

void throw_run(KernelContext& ctx) {
  if (ctx.args().int_or(0, 0) == 0) throw_what(ctx.args().int_or(1, 0));
}

IndexSpace throw_space(const KernelArgs& args) {
  if (args.int_or(0, 0) == 2) throw_what(args.int_or(1, 0));
  IndexSpace s;
  s.size[0] = 4;
  return s;
}

kiln::Status throw_validate(const KernelArgs& args) {
  if (args.int_or(0, 0) == 1) throw_what(args.int_or(1, 0));
  return kiln::Status::ok_status();
}

// test_plugin_stack(): faults unless it runs on a thread stack with at least
// 1 MiB left below it, then uses that much. A SystemC coroutine's stack is
// neither the thread's own (so the stack pointer lies outside the range
// pthread reports) nor that large: the check fails there, whatever the
// coroutine package. One point per core on the largest device (64).
constexpr std::size_t kStackNeeded = 1u << 20;

std::size_t stack_left() {
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) != 0) return 0;
  void* low = nullptr;
  std::size_t size = 0;
  pthread_attr_getstack(&attr, &low, &size);
  pthread_attr_destroy(&attr);
  const auto sp = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
  const auto base = reinterpret_cast<std::uintptr_t>(low);
  return sp > base && sp < base + size ? sp - base : 0;
}

[[gnu::noinline]] int use_stack() {
  volatile char buffer[kStackNeeded - 4096];
  for (std::size_t i = 0; i < sizeof buffer; i += 4096) buffer[i] = 1;
  return buffer[0];
}

void stack_run(KernelContext& ctx) {
  const std::size_t left = stack_left();
  if (left < kStackNeeded + 64 * 1024) {
    ctx.raise_fault(KernelFaultCause::kOutOfBounds, 0,
                    "runs on a stack with " + std::to_string(left) + " bytes left (0: not a thread's own stack)");
    return;
  }
  ctx.count(OpClass::kScalarAlu, static_cast<uint64_t>(use_stack()));
}

IndexSpace stack_space(const KernelArgs&) {
  IndexSpace s;
  s.size[0] = 64;
  return s;
}

}  // namespace

KILN_REGISTER_KERNEL("test_plugin_throw", throw_run, throw_space, throw_validate,
                     "test_plugin_throw(ints: where, what): throws; for tests");
KILN_REGISTER_KERNEL("test_plugin_stack", stack_run, stack_space, nullptr,
                     "test_plugin_stack(): needs 1 MiB of thread stack; for tests");

namespace {

kiln::Status scale_case(std::span<const int64_t> shape, KernelTestCase& c) {
  if (shape.size() != 1) return kiln::invalid_argument("test_plugin_scale takes a 1-D shape");
  c.add_input(DType::kF32, {shape[0]});
  c.add_output(DType::kF32, {shape[0]});
  return kiln::Status::ok_status();
}

void scale_reference(KernelTestCase& c) {
  for (std::size_t i = 0; i < c.tensors[0].values.size(); ++i) c.tensors[1].values[i] = 2.0f * c.tensors[0].values[i];
}

}  // namespace

KILN_REGISTER_KERNEL_TEST("test_plugin_scale", scale_case, scale_reference, 0.0, 0.0);
KILN_KERNEL_PLUGIN()

// ---- a kernel whose cost depends on its data ----

namespace {

// test_plugin_nonzero(in, out): out[i] = 2 * in[i] where in[i] != 0, one
// element at a time: zeros cost a load, others a load, a multiply and a store.
void nonzero_run(KernelContext& ctx) {
  const TensorDesc& in = ctx.tensor(0);
  const TensorDesc& out = ctx.tensor(1);
  for (int64_t i = ctx.slice().begin[0]; i < ctx.slice().end[0]; ++i) {
    const Coord c{i, 0, 0, 0, 0};
    const float x = ctx.load_scalar(in, c);
    if (x != 0.0f) {
      ctx.count(OpClass::kScalarAlu);
      ctx.store_scalar(out, c, 2.0f * x);
    }
  }
}

IndexSpace nonzero_space(const KernelArgs& args) {
  IndexSpace s;
  s.size[0] = args.tensors[1].dims[0];
  return s;
}

kiln::Status nonzero_validate(const KernelArgs& args) {
  if (args.num_tensors != 2) return kiln::invalid_argument("expects (in, out)");
  return kiln::Status::ok_status();
}

[[maybe_unused]] const bool nonzero_registered = kiln::kernels::register_kernel_at_startup(KernelDef{
    .name = "test_plugin_nonzero",
    .run = nonzero_run,
    .index_space = nonzero_space,
    .validate = nonzero_validate,
    .signature = "test_plugin_nonzero(in: f32[n], out: f32[n])",
    .cost_depends_on_data = true});

}  // namespace
