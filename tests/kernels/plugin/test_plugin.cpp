// A kernel plugin as an outside developer would write it: one kernel
// registered from a static initializer, and the plugin entry point.
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

}  // namespace

KILN_REGISTER_KERNEL("test_plugin_throw", throw_run, throw_space, throw_validate,
                     "test_plugin_throw(ints: where, what): throws; for tests");

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
