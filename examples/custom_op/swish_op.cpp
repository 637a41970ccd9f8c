// swish_op: a custom operator for Kiln, written outside Kiln against its
// installed package: a TPC kernel (kiln/kernels/kernel_api.h) and the op that
// runs it (kiln/runtime/custom_op.h: schema, shape and dtype inference, the
// kernel's arguments), in one plugin, libswish_op.so.
//
//   example.swish(x: T[...]; beta: float = 1.0) -> T[...], T in {f32, bf16}
//   out = x * sigmoid(beta * x)            (SiLU at beta = 1)
//
// The runtime finds both halves on the kernel search path
// (DeviceOptions::kernel_paths or $KILN_KERNEL_PATH): the simulated device
// loads the kernel, Runtime::open the op.
#include <string>
#include <vector>

#include "kiln/kernels/kernel_api.h"
#include "kiln/runtime/custom_op.h"

namespace {

using namespace kiln::kernels;

// ---- the kernel: (x, out; floats[0] = beta) ----

// Index space: {vectors along dim 0 (the innermost dim), rows (the other
// dims flattened)}; the launcher splits the rows among the cores. bf16 is
// widened to fp32 on load and rounded once, on store.
void swish_run(KernelContext& ctx) {
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
      const WideF32 xv = load_wide(ctx, x, c);  // lanes past the row read 0 and are not stored
      store_wide(ctx, out, c, wide_map(ctx, xv, [&](const VecF32& h) { return mul(ctx, h, sigmoid(ctx, mul(ctx, h, beta))); }));
    }
  }
}

IndexSpace swish_space(const KernelArgs& args) {
  const TensorDesc& out = args.tensors[1];
  const int64_t lanes = lanes_per_vector(out.dtype);
  IndexSpace s;
  s.rank = 2;
  s.size[0] = (out.dims[0] + lanes - 1) / lanes;
  s.size[1] = out.rows();
  return s;
}

// Once per launch, on the device: what reaches a kernel is checked there too,
// whatever the runtime's inference said.
kiln::Status swish_validate(const KernelArgs& args) {
  if (args.num_tensors != 2 || args.num_floats > 1) {
    return kiln::invalid_argument("swish expects tensors (x, out) and at most one float (beta)");
  }
  const TensorDesc& x = args.tensors[0];
  const TensorDesc& out = args.tensors[1];
  if (!is_float(x.dtype) || x.dtype != out.dtype || x.rank != out.rank || x.dims != out.dims) {
    return kiln::invalid_argument("swish: x and out must be float tensors of one shape and dtype");
  }
  return kiln::Status::ok_status();
}

// ---- the op ----

kiln::Status swish_infer(const std::vector<kiln::runtime::TensorMeta>& in, const kiln::runtime::AttrMap& attrs,
                         std::vector<kiln::runtime::TensorMeta>& out) {
  (void)attrs;
  out = {in[0]};  // elementwise: x's shape and dtype
  return kiln::Status::ok_status();
}

void register_ops(kiln::runtime::CustomOpRegistrar& registrar) {
  using namespace kiln::runtime;
  CustomOpDef def;
  def.schema.name = "example.swish";
  def.schema.inputs = {{"x", {kiln::DType::kF32, kiln::DType::kBF16}}};
  def.schema.attrs = {{"beta", AttrType::kFloat, AttrValue{1.0}}};
  def.infer = swish_infer;
  def.kernel.kernel = "swish";  // its scalars: the attributes in order, so floats[0] = beta
  (void)registrar.add(std::move(def));  // a refusal also reaches the host, which reports it
}

}  // namespace

KILN_REGISTER_KERNEL("swish", swish_run, swish_space, swish_validate,
                     "swish(x: T, out: T; floats: beta), T in {f32, bf16}; out = x sigmoid(beta x)");
KILN_KERNEL_PLUGIN()
KILN_CUSTOM_OP_PLUGIN(register_ops)
