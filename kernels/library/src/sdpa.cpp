// The vector-core half of fused scaled-dot-product attention (flash style):
// the matrix engine computes a tile of scores S = Q K^T, these kernels do the
// online softmax over it, the matrix engine accumulates P V.
//
//   sdpa_softmax_step  one key block of a query tile. Per query row:
//       x    = s * scale (+ mask) (-inf where causal hides the key)
//       m'   = max(m, max(x))                running max
//       p    = exp(x - m')                   written in p's dtype (the PV GEMM's A)
//       l'   = exp(m - m') l + sum(p)        running sum (of the unrounded p)
//       o'   = exp(m - m') o                 the accumulator, rescaled
//     A row that has seen nothing but -inf keeps m' = -inf and contributes
//     p = 0 (not NaN), so a later block still starts it cleanly.
//     Two passes over the row (max, then exp and sum): as softmax does, the
//     row is not kept in local memory. Each vector of p is written after its
//     scores are read, and m, l and o are read and written by row, so the
//     runtime passes the same memory as input and output (p over s too).
//     Costs per vector of 128 (bf16, f16) or 64 (f32) keys: the max pass one
//     instruction without a mask (the raw scores' max, scaled after), two
//     with one; the exp pass an fma, the exp and the sum's add (and the
//     mask's add). Only vectors across a causal diagonal or the row's end pay
//     the compare and select; vectors past it are skipped (p = 0). The fixed
//     cost per row (two cross-lane reductions, the state, the rescale) is
//     spread over the block: the runtime makes blocks as long as SRAM allows.
//   sdpa_finalize  out = o / l, rounded once to out's dtype.
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernel_util.h"
#include "kernels.h"

namespace kiln::kernels::lib {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Tensor positions of sdpa_softmax_step.
struct StepLayout {
  bool first = false, has_mask = false;
  int s = 0, mask = -1, ml_in = -1, o_in = -1, p = 0, ml_out = 0, o_out = -1;
};

StepLayout step_layout(const KernelArgs& args) {
  StepLayout l;
  l.first = args.int_or(0, 0) != 0;
  l.has_mask = args.int_or(1, 0) != 0;
  int at = 1;
  if (l.has_mask) l.mask = at++;
  if (!l.first) {
    l.ml_in = at++;
    l.o_in = at++;
  }
  l.p = at++;
  l.ml_out = at++;
  if (!l.first) l.o_out = at++;
  return l;
}

int step_tensor_count(const KernelArgs& args) {
  const StepLayout l = step_layout(args);
  return l.first ? l.ml_out + 1 : l.o_out + 1;
}

// `t` has s's dims except dim 0, which is `d0` (0: any).
Status expect_rows_of(const TensorDesc& t, const TensorDesc& s, int64_t d0, const char* what) {
  Dims want = s.dims;
  want[0] = d0 > 0 ? d0 : t.dims[0];
  return expect_dims(t, want, what);
}

Status validate_step(const KernelArgs& args) {
  const int n = step_tensor_count(args);
  KILN_RETURN_IF_ERROR(expect_tensor_count(
      args, n, n, "(s, [mask,] [ml_in, o_in,] p, ml_out[, o_out]) as ints[0] = first and ints[1] = has_mask say"));
  const StepLayout l = step_layout(args);
  const TensorDesc& s = args.tensors[l.s];
  KILN_RETURN_IF_ERROR(expect_float(s, "s"));
  KILN_RETURN_IF_ERROR(expect_float(args.tensors[l.p], "p"));
  KILN_RETURN_IF_ERROR(expect_same_dims(args.tensors[l.p], s, "p", "s"));
  if (l.has_mask) {
    const TensorDesc& m = args.tensors[l.mask];
    KILN_RETURN_IF_ERROR(expect_float(m, "mask"));
    KILN_RETURN_IF_ERROR(expect_broadcastable(m, s, "mask"));
    if (m.dims[0] != s.dims[0]) return invalid_argument("mask must not broadcast along dim 0 (the keys)");
  }
  KILN_RETURN_IF_ERROR(expect_dtype(args.tensors[l.ml_out], DType::kF32, "ml_out"));
  KILN_RETURN_IF_ERROR(expect_rows_of(args.tensors[l.ml_out], s, 2, "ml_out"));
  if (!l.first) {
    KILN_RETURN_IF_ERROR(expect_dtype(args.tensors[l.ml_in], DType::kF32, "ml_in"));
    KILN_RETURN_IF_ERROR(expect_rows_of(args.tensors[l.ml_in], s, 2, "ml_in"));
    const TensorDesc& o = args.tensors[l.o_in];
    KILN_RETURN_IF_ERROR(expect_dtype(o, DType::kF32, "o_in"));
    KILN_RETURN_IF_ERROR(expect_rows_of(o, s, 0, "o_in"));
    KILN_RETURN_IF_ERROR(expect_dtype(args.tensors[l.o_out], DType::kF32, "o_out"));
    KILN_RETURN_IF_ERROR(expect_same_dims(args.tensors[l.o_out], o, "o_out", "o_in"));
  }
  return Status::ok_status();
}

IndexSpace step_space(const KernelArgs& args) { return row_space(args.tensors[0]); }

void step_run(KernelContext& ctx) {
  const KernelArgs& args = ctx.args();
  const StepLayout l = step_layout(args);
  const TensorDesc& s = ctx.tensor(l.s);
  const TensorDesc& p = ctx.tensor(l.p);
  const TensorDesc& ml_out = ctx.tensor(l.ml_out);
  const bool causal = args.int_or(2, 0) != 0;
  const int64_t row0 = args.int_or(3, 0), col0 = args.int_or(4, 0);
  const float scale = args.float_or(0, 1.0f);
  const int64_t n = s.dims[0];
  // Scores come in the inputs' dtype (the MME rounds them once, as the
  // composed form does); every step after is fp32, 128 lanes per
  // instruction for bf16 and f16.
  const int lanes = lanes_per_vector(s.dtype);
  const int halves = natural_halves(s.dtype);
  // Without a mask the largest scaled score is the scale times the largest
  // (smallest, for a negative scale) raw one -- rounding is monotonic -- so
  // the first pass costs one instruction a vector.
  const bool raw_max = !l.has_mask;
  const bool flip = scale < 0.0f;
  const float raw_pad = flip ? std::numeric_limits<float>::infinity() : kNegInf;  // what max/min ignores
  const WideF32 zeros = broadcast_wide(ctx, 0.0f, halves);
  for_each_row(ctx, s, [&](Coord c) {
    if (n == 0) return;
    Coord mc = c;
    if (l.has_mask) {
      const TensorDesc& mask = ctx.tensor(l.mask);
      for (int d = 1; d < kMaxDims; ++d) {
        if (mask.dims[static_cast<std::size_t>(d)] == 1) mc[static_cast<std::size_t>(d)] = 0;
      }
    }
    // Keys from `end` on are hidden: past the row, or after the query's
    // position when causal (rows of the tile are dim 1). A vector wholly
    // before it needs no test, one wholly past it is skipped (its P is zero),
    // one across it selects lane by lane.
    const int64_t end = causal ? std::clamp<int64_t>(row0 + c[1] + 1 - col0, 0, n) : n;
    enum class Span { kVisible, kAcross, kHidden };
    const auto span_of = [&](int64_t at) {
      if (causal) ctx.count(OpClass::kScalarAlu);
      return at >= end ? Span::kHidden : at + lanes <= end ? Span::kVisible : Span::kAcross;
    };
    const auto hide = [&](const WideF32& x, int64_t at, float hidden) {
      return wide_map(ctx, x, [&](const VecF32& v) {
        const float first = static_cast<float>(at) + (ctx.second_half() ? 64.0f : 0.0f);
        const Mask past = compare(ctx, Cmp::kGe, iota(ctx, first), static_cast<float>(end));
        return select(ctx, past, VecF32::splat(hidden), v);
      });
    };
    // The scaled, masked scores of the vector at `at` (hidden lanes not yet
    // hidden); their max is that of the scaled scores when the mask is zero.
    const auto masked = [&](const Coord& at) {
      const WideF32 x = load_wide(ctx, s, at, 0.0f, halves);
      Coord m = mc;
      m[0] = at[0];
      const WideF32 mv = load_wide(ctx, ctx.tensor(l.mask), m, 0.0f, halves);
      return wide_map(ctx, x, mv, [&](const VecF32& a, const VecF32& b) { return fma(ctx, a, scale, b); });
    };
    WideF32 acc = broadcast_wide(ctx, raw_max ? raw_pad : kNegInf, halves);
    for (c[0] = 0; c[0] < n; c[0] += lanes) {
      const Span span = span_of(c[0]);
      if (span == Span::kHidden) break;
      WideF32 x = raw_max ? load_wide(ctx, s, c, 0.0f, halves) : masked(c);
      if (span == Span::kAcross) x = hide(x, c[0], raw_max ? raw_pad : kNegInf);
      acc = wide_map(ctx, acc, x, [&](const VecF32& a, const VecF32& b) {
        return flip && raw_max ? min(ctx, a, b) : max(ctx, a, b);
      });
    }
    float tile_max = flip && raw_max ? wide_reduce_min(ctx, acc) : wide_reduce_max(ctx, acc);
    if (raw_max) {
      ctx.count(OpClass::kScalarAlu);
      // Nothing visible: the extreme stays infinite, and so -inf.
      tile_max = std::isinf(tile_max) ? kNegInf : tile_max * scale;
    }
    Coord sc = c;
    sc[0] = 0;
    const float m_old = l.first ? kNegInf : ctx.load_scalar(ctx.tensor(l.ml_in), sc);
    Coord lc = sc;
    lc[0] = 1;
    const float l_old = l.first ? 0.0f : ctx.load_scalar(ctx.tensor(l.ml_in), lc);
    const float m_new = std::max(m_old, tile_max);
    // Nothing but -inf so far: exp(x - 0) gives the zeros it should.
    const float m_use = m_new == kNegInf ? 0.0f : m_new;
    const float alpha = l.first ? 0.0f : exp(ctx, broadcast(ctx, m_old - m_use))[0];
    const VecF32 neg_m = broadcast(ctx, -m_use);
    WideF32 sum = broadcast_wide(ctx, 0.0f, halves);
    for (c[0] = 0; c[0] < n; c[0] += lanes) {
      const Span span = span_of(c[0]);
      if (span == Span::kHidden) {
        store_wide(ctx, p, c, zeros);
        continue;
      }
      // exp(s * scale - m (+ mask)): the mask added last, so a zero mask gives
      // the bits of no mask (sequence bucketing pads with one).
      WideF32 x = wide_map(ctx, load_wide(ctx, s, c, 0.0f, halves),
                           [&](const VecF32& v) { return fma(ctx, v, scale, neg_m); });
      if (l.has_mask) {
        Coord m = mc;
        m[0] = c[0];
        const WideF32 mv = load_wide(ctx, ctx.tensor(l.mask), m, 0.0f, halves);
        x = wide_map(ctx, x, mv, [&](const VecF32& a, const VecF32& b) { return add(ctx, a, b); });
      }
      if (span == Span::kAcross) x = hide(x, c[0], kNegInf);
      const WideF32 e = wide_map(ctx, x, [&](const VecF32& v) { return exp(ctx, v); });
      sum = wide_map(ctx, sum, e, [&](const VecF32& a, const VecF32& b) { return add(ctx, a, b); });
      store_wide(ctx, p, c, e);
    }
    const float l_new = alpha * l_old + wide_reduce_sum(ctx, sum);
    ctx.store_scalar(ml_out, sc, m_new);
    ctx.store_scalar(ml_out, lc, l_new);
    if (!l.first) {
      const TensorDesc& o_in = ctx.tensor(l.o_in);
      const TensorDesc& o_out = ctx.tensor(l.o_out);
      for (Coord oc = sc; oc[0] < o_in.dims[0]; oc[0] += kF32Lanes) {
        const VecF32 o = load_wide(ctx, o_in, oc, 0.0f, 1).half[0];
        WideF32 w;
        w.half[0] = mul(ctx, o, alpha);
        w.halves = 1;
        store_wide(ctx, o_out, oc, w);
      }
    }
  });
}

Status validate_finalize(const KernelArgs& args) {
  KILN_RETURN_IF_ERROR(expect_tensor_count(args, 3, 3, "(o, ml, out)"));
  const TensorDesc& o = args.tensors[0];
  KILN_RETURN_IF_ERROR(expect_dtype(o, DType::kF32, "o"));
  KILN_RETURN_IF_ERROR(expect_dtype(args.tensors[1], DType::kF32, "ml"));
  KILN_RETURN_IF_ERROR(expect_rows_of(args.tensors[1], o, 2, "ml"));
  KILN_RETURN_IF_ERROR(expect_float(args.tensors[2], "out"));
  return expect_same_dims(args.tensors[2], o, "out", "o");
}

IndexSpace finalize_space(const KernelArgs& args) { return row_space(args.tensors[0]); }

void finalize_run(KernelContext& ctx) {
  const TensorDesc& o = ctx.tensor(0);
  const TensorDesc& ml = ctx.tensor(1);
  const TensorDesc& out = ctx.tensor(2);
  const int lanes = lanes_per_vector(out.dtype);
  for_each_row(ctx, o, [&](Coord c) {
    Coord lc = c;
    lc[0] = 1;
    const float inv = reciprocal(ctx, broadcast(ctx, ctx.load_scalar(ml, lc)))[0];
    for (c[0] = 0; c[0] < o.dims[0]; c[0] += lanes) {
      // out's vector may be two of o's (bf16, f16): load as many halves.
      const WideF32 v = load_wide(ctx, o, c, 0.0f, natural_halves(out.dtype));
      store_wide(ctx, out, c, wide_map(ctx, v, [&](const VecF32& x) { return mul(ctx, x, inv); }));
    }
  });
}

}  // namespace

void append_sdpa_kernels(std::vector<KernelDef>& out) {
  out.push_back(KernelDef{"sdpa_softmax_step", step_run, step_space, validate_step,
                          "sdpa_softmax_step(s: F, [mask: F,] [ml_in: f32, o_in: f32,] p: F, ml_out: f32[, o_out: "
                          "f32]); ints = {first, has_mask, causal, row0, col0}; floats[0] = scale",
                          0});
  out.push_back(KernelDef{"sdpa_finalize", finalize_run, finalize_space, validate_finalize,
                          "sdpa_finalize(o: f32, ml: f32, out: F): out = o / l", 0});
}

}  // namespace kiln::kernels::lib
