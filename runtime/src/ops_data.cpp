// Data movement and tensors made on the device.
#include "ops_util.h"

namespace kiln::runtime {

namespace {
// Inputs one concat job takes: its kernel's tensor slots, less the output.
constexpr std::size_t kConcatInputs = 7;
}  // namespace

Result<Tensor> concat(const std::vector<Tensor>& tensors, int dim) {
  if (tensors.empty()) return op_error("concat", "needs at least one tensor");
  if (tensors.size() > kConcatInputs) {
    // A tree of concats, each at most kConcatInputs wide: every element moves
    // log_7(n) times, where chaining onto one growing result would move the
    // early ones n/6 times.
    std::vector<Tensor> level;
    for (std::size_t i = 0; i < tensors.size(); i += kConcatInputs) {
      const auto end = tensors.begin() + static_cast<std::ptrdiff_t>(std::min(tensors.size(), i + kConcatInputs));
      KILN_ASSIGN_OR_RETURN(Tensor part, concat(std::vector<Tensor>(tensors.begin() + static_cast<std::ptrdiff_t>(i), end), dim));
      level.push_back(part);
    }
    return concat(level, dim);
  }
  const Tensor& first = tensors[0];
  for (const Tensor& t : tensors) KILN_RETURN_IF_ERROR(check_defined("concat", {&t}));
  const auto d = normalize_dim(dim, first.rank());
  if (!d) return op_error("concat", "dim " + std::to_string(dim) + " is out of range for " + first.describe());
  Shape out = first.shape();
  out[static_cast<std::size_t>(*d)] = 0;
  for (const Tensor& t : tensors) {
    KILN_RETURN_IF_ERROR(same_dtype("concat", first, t));
    Shape a = t.shape(), b = first.shape();
    if (a.size() != b.size()) return op_error("concat", "ranks differ: " + first.describe() + ", " + t.describe());
    a[static_cast<std::size_t>(*d)] = b[static_cast<std::size_t>(*d)] = 0;
    if (a != b) return op_error("concat", "shapes differ outside dim " + std::to_string(*d) + ": " + first.describe() + ", " + t.describe());
    out[static_cast<std::size_t>(*d)] += t.dim(*d);
  }
  Attrs attrs;
  attrs.ints = {*d};
  return rt_of(first).record1(OpKind::kConcat, std::move(attrs), tensors, out, first.dtype(), "concat");
}

Result<std::vector<Tensor>> split(const Tensor& x, const std::vector<int64_t>& sizes, int dim) {
  KILN_RETURN_IF_ERROR(check_defined("split", {&x}));
  const auto d = normalize_dim(dim, x.rank());
  if (!d) return op_error("split", "dim " + std::to_string(dim) + " is out of range for " + x.describe());
  int64_t total = 0;
  for (int64_t s : sizes) total += s;
  if (total != x.dim(*d)) {
    return op_error("split", "sizes add up to " + std::to_string(total) + ", dim " + std::to_string(*d) + " of " +
                                 x.describe() + " is " + std::to_string(x.dim(*d)));
  }
  std::vector<Tensor> out;
  int64_t at = 0;
  for (int64_t s : sizes) {
    KILN_ASSIGN_OR_RETURN(Tensor piece, x.slice(*d, at, at + s));
    out.push_back(std::move(piece));
    at += s;
  }
  return out;
}

Result<Tensor> index_select(const Tensor& x, int dim, const Tensor& indices) {
  KILN_RETURN_IF_ERROR(check_defined("index_select", {&x, &indices}));
  if (indices.dtype() != DType::kI32) return op_error("index_select", "indices must be int32, got " + indices.describe());
  const auto d = normalize_dim(dim, x.rank());
  if (!d) return op_error("index_select", "dim " + std::to_string(dim) + " is out of range for " + x.describe());
  Shape out(x.shape().begin(), x.shape().begin() + *d);
  out.insert(out.end(), indices.shape().begin(), indices.shape().end());
  out.insert(out.end(), x.shape().begin() + *d + 1, x.shape().end());
  if (static_cast<int>(out.size()) > kMaxRank) return op_error("index_select", "the result would have more than 5 dims");
  Attrs attrs;
  attrs.ints = {*d};
  return rt_of(x).record1(OpKind::kGather, std::move(attrs), {x, indices}, out, x.dtype(), "index_select");
}

Result<Tensor> embedding(const Tensor& weight, const Tensor& ids) {
  KILN_RETURN_IF_ERROR(check_defined("embedding", {&weight, &ids}));
  if (weight.rank() != 2) return op_error("embedding", "weight must be [V, D], got " + weight.describe());
  return index_select(weight, 0, ids);
}

}  // namespace kiln::runtime
