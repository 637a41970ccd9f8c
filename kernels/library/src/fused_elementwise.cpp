// fused_elementwise (in_0, ..., in_{k-1}, out): a program of elementwise ops
// (kiln/kernels/fused_program.h: encoding, ops, validation) run in one pass.
// A step is 64 output lanes when out is f32, else 128 (bf16, f16, bool): per
// step each input is loaded once (one load per 256 bytes; bf16/f16 inputs of
// an f32 output load a whole vector and use its first 64 lanes), every
// instruction issues its lane math (elementwise_ops.cpp, the code the single
// kernels run) plus one conversion when it rounds to bf16/f16/bool, and the
// output is stored once. Constants are broadcast once per slice. A bool input
// costs a mask move and a select per 64 lanes to become 0.0/1.0 lanes; a bool
// output a compare and a mask move.
#include <array>

#include "elementwise_ops.h"
#include "kernel_util.h"
#include "kernels.h"

namespace kiln::kernels::lib {
namespace {

constexpr int kMaxValues = kFusedMaxInputs + kFusedMaxConstants + kFusedMaxOps;

int fused_halves(const TensorDesc& out) { return out.dtype == DType::kF32 ? 1 : 2; }

const TensorDesc& fused_out(const KernelArgs& args) { return args.tensors[static_cast<size_t>(args.num_tensors - 1)]; }

Status validate_fused(const KernelArgs& args) {
  KILN_ASSIGN_OR_RETURN(const FusedProgram p, decode_fused_program(args));
  const TensorDesc& out = fused_out(args);
  for (int i = 0; i < p.num_inputs; ++i) {
    const std::string name = "in_" + std::to_string(i);
    KILN_RETURN_IF_ERROR(expect_broadcastable(args.tensors[static_cast<size_t>(i)], out, name.c_str()));
  }
  return Status::ok_status();
}

IndexSpace fused_space(const KernelArgs& args) {
  const TensorDesc& out = fused_out(args);
  return vector_row_space(out, kF32Lanes * fused_halves(out));
}

WideF32 load_value(KernelContext& ctx, const TensorDesc& t, const Coord& c, int halves) {
  if (t.dtype != DType::kBool) return load_wide(ctx, t, c, 1.0f, halves);
  const VecBool v = ctx.load_bool(t, c, kF32Lanes * halves);
  WideF32 w;
  w.halves = halves;
  const VecF32 one = VecF32::splat(1.0f);  // a constant register
  for_each_half(ctx, halves, [&](int h) { w.half[h] = select(ctx, bool_to_mask(ctx, v, h), one, 0.0f); });
  return w;
}

void store_value(KernelContext& ctx, const TensorDesc& t, const Coord& c, const WideF32& w) {
  if (t.dtype != DType::kBool) return store_wide(ctx, t, c, w);
  VecBool v{};
  for_each_half(ctx, w.halves, [&](int h) { mask_to_bool(ctx, compare(ctx, Cmp::kNe, w.half[h], 0.0f), h, v); });
  ctx.store(t, c, v, kF32Lanes * w.halves);
}

void fused_run(KernelContext& ctx) {
  const Result<FusedProgram> decoded = decode_fused_program(ctx.args());
  if (!decoded.ok()) {  // validation refuses such a launch before it runs
    ctx.raise_fault(KernelFaultCause::kOutOfBounds, 0, "fused_elementwise: " + decoded.status().message());
    return;
  }
  const FusedProgram& p = decoded.value();
  const TensorDesc& out = fused_out(ctx.args());
  const int halves = fused_halves(out);
  std::array<TensorDesc, kFusedMaxInputs> in{};
  for (int i = 0; i < p.num_inputs; ++i) in[static_cast<size_t>(i)] = ctx.tensor(i).broadcast_view(out.dims, out.rank);
  std::array<WideF32, kMaxValues> v{};
  for (int i = 0; i < p.num_constants; ++i) {
    v[static_cast<size_t>(p.num_inputs + i)] = broadcast_wide(ctx, ctx.args().floats[static_cast<size_t>(i)], halves);
  }
  const int first_result = p.num_inputs + p.num_constants;
  const size_t n = p.ops.size();
  for_each_vector(ctx, out, kF32Lanes * halves, [&](const Coord& c) {
    for (int i = 0; i < p.num_inputs; ++i) {
      v[static_cast<size_t>(i)] = load_value(ctx, in[static_cast<size_t>(i)], c, halves);
    }
    for (size_t j = 0; j < n; ++j) {
      const FusedInstruction& ins = p.ops[j];
      const WideF32 &a = v[static_cast<size_t>(ins.a)], &b = v[static_cast<size_t>(ins.b)],
                    &cc = v[static_cast<size_t>(ins.c)];
      WideF32 r;
      r.halves = halves;
      for_each_half(ctx, halves, [&](int h) { r.half[h] = apply_float_op(ctx, ins.op, a.half[h], b.half[h], cc.half[h]); });
      // The last result is rounded by the store itself.
      v[static_cast<size_t>(first_result) + j] = j + 1 < n ? round_wide(ctx, r, ins.result) : r;
    }
    store_value(ctx, out, c, v[static_cast<size_t>(first_result) + n - 1]);
  });
}

}  // namespace

void append_fused_kernels(std::vector<KernelDef>& out) {
  out.push_back(KernelDef{"fused_elementwise", fused_run, fused_space, validate_fused,
                          "fused_elementwise(in_0, ..., in_{k-1}, out), k in 1..7, inputs f32|bf16|f16|bool "
                          "broadcast to out (f32|bf16|f16|bool); floats = constants, ints = {n, instruction words} "
                          "(kiln/kernels/fused_program.h)",
                          0});
}

}  // namespace kiln::kernels::lib
