// A plugin as an outside developer writes one: a TPC kernel (kernel API
// only) and the custom op that runs it (schema + inference), both found by
// the runtime on the kernel search path. custom_op_test.cpp loads it.
//
//   test.scaled_silu(x: T[...]; beta: float = 1.0) -> T[...], T in {f32, bf16}
//   out = x * sigmoid(beta * x)
#include <cstdint>
#include <string>

#include "kiln/kernels/kernel_api.h"
#include "kiln/runtime/custom_op.h"

namespace {

using namespace kiln::kernels;

// (x, out; floats[0] = beta). Index space: {vectors along dim 0, rows}.
void scaled_silu_run(KernelContext& ctx) {
  const TensorDesc& x = ctx.tensor(0);
  const TensorDesc& out = ctx.tensor(1);
  const float beta = ctx.args().float_or(0, 1.0f);
  const int64_t lanes = lanes_per_vector(out.dtype);
  const IndexSlice& s = ctx.slice();
  if (s.empty()) return;
  for (int64_t row = s.begin[1]; row < s.end[1] && !ctx.faulted(); ++row) {
    for (int64_t v = s.begin[0]; v < s.end[0]; ++v) {
      Coord c = row_coord(out.dims, row);
      c[0] = v * lanes;
      const WideF32 xv = load_wide(ctx, x, c);
      store_wide(ctx, out, c, wide_map(ctx, xv, [&](const VecF32& h) { return mul(ctx, h, sigmoid(ctx, mul(ctx, h, beta))); }));
    }
  }
}

IndexSpace scaled_silu_space(const KernelArgs& args) {
  const TensorDesc& out = args.tensors[1];
  const int64_t lanes = lanes_per_vector(out.dtype);
  IndexSpace s;
  s.rank = 2;
  s.size[0] = (out.dims[0] + lanes - 1) / lanes;
  s.size[1] = out.rows();
  return s;
}

kiln::Status scaled_silu_validate(const KernelArgs& args) {
  if (args.num_tensors != 2) return kiln::invalid_argument("test_scaled_silu expects (x, out)");
  const TensorDesc& x = args.tensors[0];
  const TensorDesc& out = args.tensors[1];
  if (!is_float(x.dtype) || x.dtype != out.dtype || x.rank != out.rank || x.dims != out.dims) {
    return kiln::invalid_argument("test_scaled_silu: x and out must be float tensors of one shape and dtype");
  }
  return kiln::Status::ok_status();
}

kiln::Status same_as_input(const std::vector<kiln::runtime::TensorMeta>& in, const kiln::runtime::AttrMap&,
                           std::vector<kiln::runtime::TensorMeta>& out) {
  out = {in[0]};
  return kiln::Status::ok_status();
}

void register_ops(kiln::runtime::CustomOpRegistrar& r) {
  using namespace kiln::runtime;
  CustomOpDef def;
  def.schema.name = "test.scaled_silu";
  def.schema.inputs = {{"x", {kiln::DType::kF32, kiln::DType::kBF16}}};
  def.schema.attrs = {{"beta", AttrType::kFloat, AttrValue{1.0}}};
  def.infer = same_as_input;
  def.kernel.kernel = "test_scaled_silu";
  (void)r.add(std::move(def));
}

}  // namespace

KILN_REGISTER_KERNEL("test_scaled_silu", scaled_silu_run, scaled_silu_space, scaled_silu_validate,
                     "test_scaled_silu(x: T, out: T; floats: beta), T in {f32, bf16}; out = x sigmoid(beta x)");
KILN_KERNEL_PLUGIN()
KILN_CUSTOM_OP_PLUGIN(register_ops)
