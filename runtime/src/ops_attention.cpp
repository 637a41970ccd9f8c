// fused_sdpa: records one kFusedSdpa node (sdpa_lowering.h lowers it).
#include <cmath>

#include "ops_util.h"

namespace kiln::runtime {

Result<Tensor> fused_sdpa(const Tensor& q, const Tensor& k, const Tensor& v, const SdpaOptions& o) {
  static constexpr const char* kOp = "fused_sdpa";
  KILN_RETURN_IF_ERROR(check_defined(kOp, {&q, &k, &v}));
  if (o.mask) KILN_RETURN_IF_ERROR(check_defined(kOp, {&*o.mask}));
  KILN_RETURN_IF_ERROR(float_dtype(kOp, q));
  KILN_RETURN_IF_ERROR(same_dtype(kOp, q, k));
  KILN_RETURN_IF_ERROR(same_dtype(kOp, q, v));
  const int r = q.rank();
  const auto shapes = [&] { return q.describe() + ", " + k.describe() + ", " + v.describe(); };
  if (r < 2 || r > 4 || k.rank() != r || v.rank() != r || q.dim(-1) != k.dim(-1) || k.dim(-2) != v.dim(-2)) {
    return op_error(kOp, "needs q [..., L, E], k [..., S, E], v [..., S, Ev] of rank 2 to 4: " + shapes());
  }
  for (int d = 0; d < r - 2; ++d) {
    if (q.dim(d) != k.dim(d) || q.dim(d) != v.dim(d)) return op_error(kOp, "batch dims differ: " + shapes());
  }
  Shape scores(q.shape().begin(), q.shape().end() - 1);
  scores.push_back(k.dim(-2));
  std::vector<Tensor> inputs{q, k, v};
  if (o.mask) {
    KILN_RETURN_IF_ERROR(same_dtype(kOp, q, *o.mask));
    Result<Tensor> expanded = o.mask->rank() <= r ? o.mask->expand(scores) : Result<Tensor>(invalid_argument(""));
    if (!expanded.ok()) {
      return op_error(kOp, "the mask " + o.mask->describe() + " does not broadcast to the scores " + to_string(scores));
    }
    inputs.push_back(*expanded);
  }
  Attrs attrs;
  attrs.ints = {o.causal ? 1 : 0, o.mask ? 1 : 0};
  attrs.floats = {o.scale ? *o.scale : 1.0 / std::sqrt(static_cast<double>(q.dim(-1)))};
  Shape out(q.shape().begin(), q.shape().end() - 1);
  out.push_back(v.dim(-1));
  return rt_of(q).record1(OpKind::kFusedSdpa, std::move(attrs), inputs, out, q.dtype(), std::string(kOp));
}

}  // namespace kiln::runtime
