// TopK as k rounds of argmax on the device: each round takes the largest
// remaining element along the axis (the first of equals, as ONNX orders
// ties by index), gathers its value and masks it out with -inf. Sorted
// output always (sorted 0 leaves the order to the implementation).
#include <limits>

#include "lower_gather.h"

namespace kiln::frontend::detail {
namespace rt = kiln::runtime;

namespace {

Status topk(LowerContext& c) {
  KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
  int64_t k = attr_int(c.node, "k", 0);
  if (c.opset >= 10) {
    KILN_ASSIGN_OR_RETURN(auto ks, c.host_ints(1));
    if (ks.size() != 1) return invalid_argument("K must hold one value");
    k = ks[0];
  }
  KILN_ASSIGN_OR_RETURN(int axis, axis_of(attr_int(c.node, "axis", -1), x.rank(), "axis"));
  if (k < 1 || k > x.dim(axis)) return invalid_argument("K " + std::to_string(k) + " is outside 1.." + std::to_string(x.dim(axis)));
  const bool largest = attr_int(c.node, "largest", 1) != 0;
  Tensor work = x;
  if (!largest) { KILN_ASSIGN_OR_RETURN(work, rt::neg(x)); }
  KILN_ASSIGN_OR_RETURN(Tensor positions, c.rt.arange(x.dim(axis), DType::kI32));
  rt::Shape along(static_cast<std::size_t>(x.rank()), 1);
  along[static_cast<std::size_t>(axis)] = x.dim(axis);
  KILN_ASSIGN_OR_RETURN(positions, positions.reshape(along));
  KILN_ASSIGN_OR_RETURN(Tensor taken, c.rt.full({}, -std::numeric_limits<double>::infinity(), x.dtype()));
  std::vector<Tensor> values, indices;
  for (int64_t i = 0; i < k; ++i) {
    KILN_ASSIGN_OR_RETURN(Tensor at, rt::argmax(work, axis, true));
    KILN_ASSIGN_OR_RETURN(Tensor v, gather_elements(c.rt, x, at, axis));
    values.push_back(v);
    indices.push_back(at);
    if (i + 1 == k) break;
    KILN_ASSIGN_OR_RETURN(Tensor hit, rt::eq(positions, at));
    KILN_ASSIGN_OR_RETURN(work, rt::where(hit, taken, work));
  }
  KILN_ASSIGN_OR_RETURN(Tensor v, concat_any(values, axis));
  KILN_ASSIGN_OR_RETURN(Tensor idx, concat_any(indices, axis));
  c.out(0, v);
  if (c.node.output_size() > 1 && !c.node.output(1).empty()) {
    KILN_ASSIGN_OR_RETURN(idx, rt::cast(idx, DType::kI64));
    c.out(1, idx);
  }
  return {};
}

}  // namespace

void add_topk_ops(OpTable& t) {
  t["TopK"] = {[](const CheckContext& c) {
                 return first_of({require_float(c, 0), c.rank(0) < 1 ? "rank unknown or 0" : "",
                                  c.opset >= 10 ? require_host(c, 1, "K") : ""});
               },
               topk, {1}};
}

}  // namespace kiln::frontend::detail
