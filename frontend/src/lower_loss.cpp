// NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss, composed on the
// device: the picked log-probabilities come from gather_elements along the
// class axis, per-element weights from index_select of the class weights,
// ignore_index through where, the reductions from sum.
#include "lower_gather.h"

namespace kiln::frontend::detail {
namespace rt = kiln::runtime;

namespace {

std::string loss_check(const CheckContext& c) {
  std::string r = first_of({require_float(c, 0), require_dtypes(c, 1, {DType::kI32, DType::kI64}),
                            c.has_input(2) ? require_float(c, 2) : ""});
  if (!r.empty()) return r;
  // Unknown ranks (a Reshape to a folded shape) are checked when lowering.
  if (c.rank(0) >= 0 && c.rank(0) < 2) return std::string("input must have rank >= 2 ([N, C, ...])");
  if (c.rank(0) >= 0 && c.rank(1) >= 0 && c.rank(1) != c.rank(0) - 1) return std::string("target must have the input's rank minus 1 ([N, ...])");
  const std::string reduction = attr_string(c.node, "reduction", "mean");
  if (reduction != "none" && reduction != "sum" && reduction != "mean") return "reduction '" + reduction + "' is not one of none, sum, mean";
  return "";
}

// The loss of log-probabilities `logp` [N, C, ...] at `target` [N, ...].
Result<Tensor> nll_loss(LowerContext& c, const Tensor& logp, const Tensor& target, const std::optional<Tensor>& weight) {
  if (logp.rank() < 2 || target.rank() != logp.rank() - 1)
    return invalid_argument("input " + logp.describe() + " and target " + target.describe() + " are not [N, C, ...] and [N, ...]");
  for (int d = 0; d < target.rank(); ++d)
    if (target.dim(d) != logp.dim(d == 0 ? 0 : d + 1))
      return invalid_argument("target " + target.describe() + " does not match input " + logp.describe());
  const DType dt = logp.dtype();
  KILN_ASSIGN_OR_RETURN(Tensor t, rt::cast(target, DType::kI32));
  std::optional<Tensor> ignored;  // bool, target's shape
  if (has_attr(c.node, "ignore_index")) {
    KILN_ASSIGN_OR_RETURN(Tensor ignore, c.rt.full({}, static_cast<double>(attr_int(c.node, "ignore_index", 0)), DType::kI32));
    KILN_ASSIGN_OR_RETURN(ignored, rt::eq(t, ignore));
    KILN_ASSIGN_OR_RETURN(Tensor zero, c.rt.full({}, 0, DType::kI32));
    KILN_ASSIGN_OR_RETURN(t, rt::where(*ignored, zero, t));  // any in-range class: its value is masked
  }
  KILN_ASSIGN_OR_RETURN(t, wrap_indices(c.rt, t, logp.dim(1)));
  KILN_ASSIGN_OR_RETURN(Tensor index, t.unsqueeze(1));
  KILN_ASSIGN_OR_RETURN(Tensor picked, gather_elements(c.rt, logp, index, 1));
  KILN_ASSIGN_OR_RETURN(picked, picked.squeeze(1));
  KILN_ASSIGN_OR_RETURN(Tensor loss, rt::neg(picked));
  std::optional<Tensor> w;  // per element, target's shape
  if (weight) { KILN_ASSIGN_OR_RETURN(w, rt::index_select(*weight, 0, t)); }
  if (ignored) {
    KILN_ASSIGN_OR_RETURN(Tensor zero, c.rt.full({}, 0, dt));
    if (!w) { KILN_ASSIGN_OR_RETURN(w, c.rt.full(t.shape(), 1, dt)); }
    KILN_ASSIGN_OR_RETURN(w, rt::where(*ignored, zero, *w));
  }
  if (w) { KILN_ASSIGN_OR_RETURN(loss, rt::mul(loss, *w)); }
  const std::string reduction = attr_string(c.node, "reduction", "mean");
  if (reduction == "none") return loss;
  std::vector<int> all(static_cast<std::size_t>(loss.rank()));
  for (int i = 0; i < loss.rank(); ++i) all[static_cast<std::size_t>(i)] = i;
  if (reduction == "sum") return rt::sum(loss, all);
  if (!w) return rt::mean(loss, all);
  // A weighted mean: by the total weight of the elements that count.
  KILN_ASSIGN_OR_RETURN(Tensor total, rt::sum(loss, all));
  KILN_ASSIGN_OR_RETURN(Tensor weights, rt::sum(*w, all));
  return rt::div(total, weights);
}

std::optional<Tensor> none() { return std::nullopt; }

}  // namespace

void add_loss_ops(OpTable& t) {
  t["NegativeLogLikelihoodLoss"] = {loss_check, [](LowerContext& c) -> Status {
                                      KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
                                      KILN_ASSIGN_OR_RETURN(Tensor target, c.in(1));
                                      std::optional<Tensor> w = none();
                                      if (c.has(2)) { KILN_ASSIGN_OR_RETURN(w, c.in(2)); }
                                      return put(c, nll_loss(c, x, target, w));
                                    }};
  // The loss of log_softmax over the class axis; output 1 is that log_softmax.
  t["SoftmaxCrossEntropyLoss"] = {loss_check, [](LowerContext& c) -> Status {
                                    KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
                                    KILN_ASSIGN_OR_RETURN(Tensor target, c.in(1));
                                    std::optional<Tensor> w = none();
                                    if (c.has(2)) { KILN_ASSIGN_OR_RETURN(w, c.in(2)); }
                                    KILN_ASSIGN_OR_RETURN(Tensor logp, rt::log_softmax(x, 1));
                                    KILN_ASSIGN_OR_RETURN(Tensor loss, nll_loss(c, logp, target, w));
                                    c.out(0, loss);
                                    if (c.node.output_size() > 1 && !c.node.output(1).empty()) c.out(1, logp);
                                    return {};
                                  }};
}

}  // namespace kiln::frontend::detail
