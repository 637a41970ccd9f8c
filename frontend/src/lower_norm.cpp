// InstanceNormalization, MeanVarianceNormalization and LRN composed from
// the runtime's layer_norm, reductions and elementwise ops.
#include <numeric>

#include "lowering.h"

namespace kiln::frontend::detail {
namespace rt = kiln::runtime;

namespace {

// A per-channel [C] parameter shaped to broadcast over [N, C, ...] of `rank`.
Result<Tensor> per_channel(const Tensor& p, int rank) {
  rt::Shape s(static_cast<std::size_t>(rank - 1), 1);
  s[0] = p.numel();
  return p.reshape(s);
}

Status instance_norm(LowerContext& c) {
  KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
  KILN_ASSIGN_OR_RETURN(Tensor scale, c.in(1));
  KILN_ASSIGN_OR_RETURN(Tensor bias, c.in(2));
  if (x.rank() < 3) return invalid_argument("input " + x.describe() + " must be [N, C, D1, ...]");
  if (scale.numel() != x.dim(1) || bias.numel() != x.dim(1)) return invalid_argument("scale and B must have C elements");
  // Each (n, c) over its spatial elements: a layer norm of the flattened rest.
  KILN_ASSIGN_OR_RETURN(Tensor flat, x.reshape({x.dim(0), x.dim(1), x.numel() / (x.dim(0) * x.dim(1))}));
  KILN_ASSIGN_OR_RETURN(Tensor y, rt::layer_norm(flat, 1, std::nullopt, std::nullopt, attr_float(c.node, "epsilon", 1e-5f)));
  KILN_ASSIGN_OR_RETURN(y, y.reshape(x.shape()));
  KILN_ASSIGN_OR_RETURN(scale, per_channel(scale, x.rank()));
  KILN_ASSIGN_OR_RETURN(bias, per_channel(bias, x.rank()));
  KILN_ASSIGN_OR_RETURN(y, rt::mul(y, scale));
  return put(c, rt::add(y, bias));
}

// ONNX's function body: (X - E[X]) / (sqrt(E[X^2] - E[X]^2) + 1e-9) over axes.
Status mean_variance_norm(LowerContext& c) {
  KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
  std::vector<int> dims;
  for (int64_t a : attr_ints(c.node, "axes").value_or(std::vector<int64_t>{0, 2, 3})) {
    KILN_ASSIGN_OR_RETURN(int d, axis_of(a, x.rank(), "axis"));
    dims.push_back(d);
  }
  KILN_ASSIGN_OR_RETURN(Tensor mean, rt::mean(x, dims, true));
  KILN_ASSIGN_OR_RETURN(Tensor sq, rt::mul(x, x));
  KILN_ASSIGN_OR_RETURN(Tensor mean_sq, rt::mean(sq, dims, true));
  KILN_ASSIGN_OR_RETURN(Tensor sq_mean, rt::mul(mean, mean));
  KILN_ASSIGN_OR_RETURN(Tensor var, rt::sub(mean_sq, sq_mean));
  KILN_ASSIGN_OR_RETURN(Tensor std, rt::sqrt(var));
  KILN_ASSIGN_OR_RETURN(std, rt::add(std, 1e-9));
  KILN_ASSIGN_OR_RETURN(Tensor centred, rt::sub(x, mean));
  return put(c, rt::div(centred, std));
}

// LRN across channels: x / (bias + alpha / size * sum of x^2 over the
// window [c - floor((size-1)/2), c + ceil((size-1)/2)])^beta.
Status lrn(LowerContext& c) {
  KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
  const int64_t size = attr_int(c.node, "size", 1);
  const double alpha = attr_float(c.node, "alpha", 1e-4f), beta = attr_float(c.node, "beta", 0.75f),
               bias = attr_float(c.node, "bias", 1.0f);
  if (size < 1) return invalid_argument("size must be >= 1");
  if (x.rank() < 3) return invalid_argument("input " + x.describe() + " must be [N, C, D1, ...]");
  KILN_ASSIGN_OR_RETURN(Tensor sq, rt::mul(x, x));
  const int64_t before = (size - 1) / 2, after = size - 1 - before;
  std::vector<Tensor> parts;
  rt::Shape s = x.shape();
  if (before > 0) {
    s[1] = before;
    KILN_ASSIGN_OR_RETURN(Tensor z, c.rt.full(s, 0, x.dtype()));
    parts.push_back(z);
  }
  parts.push_back(sq);
  if (after > 0) {
    s[1] = after;
    KILN_ASSIGN_OR_RETURN(Tensor z, c.rt.full(s, 0, x.dtype()));
    parts.push_back(z);
  }
  KILN_ASSIGN_OR_RETURN(Tensor padded, parts.size() == 1 ? Result<Tensor>(sq) : rt::concat(parts, 1));
  std::optional<Tensor> window;
  for (int64_t k = 0; k < size; ++k) {
    KILN_ASSIGN_OR_RETURN(Tensor shifted, padded.slice(1, k, k + x.dim(1)));
    if (window) { KILN_ASSIGN_OR_RETURN(shifted, rt::add(*window, shifted)); }
    window = shifted;
  }
  KILN_ASSIGN_OR_RETURN(Tensor denom, rt::mul(*window, alpha / static_cast<double>(size)));
  KILN_ASSIGN_OR_RETURN(denom, rt::add(denom, bias));
  KILN_ASSIGN_OR_RETURN(Tensor b, c.rt.full({}, beta, x.dtype()));
  KILN_ASSIGN_OR_RETURN(denom, rt::pow(denom, b));
  return put(c, rt::div(x, denom));
}

std::string channels_first(const CheckContext& c) {
  return first_of({require_float(c, 0), c.rank(0) >= 0 && c.rank(0) < 3 ? "input must be [N, C, D1, ...]" : ""});
}

}  // namespace

void add_norm_ops(OpTable& t) {
  t["InstanceNormalization"] = {[](const CheckContext& c) { return first_of({channels_first(c), require_float(c, 1), require_float(c, 2)}); },
                                instance_norm};
  t["MeanVarianceNormalization"] = {[](const CheckContext& c) { return first_of({require_float(c, 0), c.rank(0) < 0 ? "rank unknown" : ""}); },
                                    mean_variance_norm};
  t["LRN"] = {channels_first, lrn};
}

}  // namespace kiln::frontend::detail
