// GatherElements and GatherND as index_select over the flattened data.
#include "lower_gather.h"

#include <limits>

#include "shape_math.h"

namespace kiln::frontend::detail {
namespace rt = kiln::runtime;

Result<Tensor> wrap_indices(runtime::Runtime& rt, const Tensor& indices, int64_t dim) {
  KILN_ASSIGN_OR_RETURN(Tensor idx, rt::cast(indices, DType::kI32));
  KILN_ASSIGN_OR_RETURN(Tensor zero, rt.full({}, 0, DType::kI32));
  KILN_ASSIGN_OR_RETURN(Tensor neg, rt::lt(idx, zero));
  KILN_ASSIGN_OR_RETURN(Tensor wrapped, rt::add(idx, static_cast<double>(dim)));
  return rt::where(neg, wrapped, idx);
}

namespace {

// sum over dims d of coordinate_d * strides[d], broadcast to `shape`, for
// the dims where `use[d]` holds: arange along each such dim.
Result<std::optional<Tensor>> coordinate_offsets(runtime::Runtime& rt, const std::vector<int64_t>& shape,
                                                 const std::vector<int64_t>& strides, const std::vector<bool>& use) {
  std::optional<Tensor> sum;
  for (std::size_t d = 0; d < shape.size(); ++d) {
    if (!use[d] || shape[d] == 1) continue;
    KILN_ASSIGN_OR_RETURN(Tensor a, rt.arange(shape[d], DType::kI32));
    if (strides[d] != 1) { KILN_ASSIGN_OR_RETURN(a, rt::mul(a, static_cast<double>(strides[d]))); }
    rt::Shape view(shape.size(), 1);
    view[d] = shape[d];
    KILN_ASSIGN_OR_RETURN(a, a.reshape(view));
    if (sum) { KILN_ASSIGN_OR_RETURN(a, rt::add(*sum, a)); }
    sum = a;
  }
  return sum;
}

std::vector<int64_t> dims_of(const Tensor& t) { return std::vector<int64_t>(t.shape().begin(), t.shape().end()); }

Result<Tensor> flattened(const Tensor& x) { return x.reshape({x.numel()}); }

}  // namespace

Result<Tensor> gather_elements(runtime::Runtime& rt, const Tensor& x, const Tensor& indices, int axis) {
  if (x.rank() != indices.rank()) return invalid_argument("data and indices differ in rank: " + x.describe() + ", " + indices.describe());
  for (int d = 0; d < x.rank(); ++d)
    if (d != axis && indices.dim(d) > x.dim(d))
      return invalid_argument("indices " + indices.describe() + " exceed data " + x.describe() + " on dim " + std::to_string(d));
  if (x.numel() > std::numeric_limits<int32_t>::max()) return invalid_argument("data has more than 2^31 elements");
  const auto strides = strides_of(dims_of(x));
  std::vector<bool> others(static_cast<std::size_t>(x.rank()), true);
  others[static_cast<std::size_t>(axis)] = false;
  KILN_ASSIGN_OR_RETURN(auto base, coordinate_offsets(rt, dims_of(indices), strides, others));
  Tensor flat = indices;
  if (strides[static_cast<std::size_t>(axis)] != 1) {
    KILN_ASSIGN_OR_RETURN(flat, rt::mul(flat, static_cast<double>(strides[static_cast<std::size_t>(axis)])));
  }
  if (base) { KILN_ASSIGN_OR_RETURN(flat, rt::add(flat, *base)); }
  KILN_ASSIGN_OR_RETURN(Tensor data, flattened(x));
  return rt::index_select(data, 0, flat);
}

void add_gather_ops(OpTable& t) {
  t["GatherElements"] = {[](const CheckContext& c) {
                           std::string r = require_dtypes(c, 1, {DType::kI32, DType::kI64});
                           if (!r.empty()) return r;
                           if (c.rank(0) < 1 || c.rank(0) != c.rank(1)) return std::string("data and indices must have one known rank >= 1");
                           return std::string();
                         },
                         [](LowerContext& c) -> Status {
                           KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
                           KILN_ASSIGN_OR_RETURN(Tensor idx, c.in(1));
                           KILN_ASSIGN_OR_RETURN(int axis, axis_of(attr_int(c.node, "axis", 0), x.rank(), "axis"));
                           KILN_ASSIGN_OR_RETURN(idx, wrap_indices(c.rt, idx, x.dim(axis)));
                           return put(c, gather_elements(c.rt, x, idx, axis));
                         }};

  // GatherND: indices [..., k] address the first k dims after batch_dims;
  // the data is seen as [batch * those k dims, rest] and rows are picked.
  t["GatherND"] = {[](const CheckContext& c) {
                     std::string r = require_dtypes(c, 1, {DType::kI64});
                     if (!r.empty()) return r;
                     const ValueInfo* idx = c.info(1);
                     if (c.rank(0) < 1 || !idx || !idx->shape || idx->shape->empty() || idx->shape->back() < 0)
                       return std::string("data and indices need known shapes");
                     return std::string();
                   },
                   [](LowerContext& c) -> Status {
                     KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
                     KILN_ASSIGN_OR_RETURN(Tensor idx, c.in(1));
                     const int b = static_cast<int>(attr_int(c.node, "batch_dims", 0));
                     const int q = idx.rank();
                     const int64_t k = idx.dim(-1);
                     if (b < 0 || b >= q || b + k > x.rank())
                       return invalid_argument("batch_dims " + std::to_string(b) + " and index depth " + std::to_string(k) + " do not fit data " +
                                               x.describe() + " and indices " + idx.describe());
                     for (int d = 0; d < b; ++d)
                       if (x.dim(d) != idx.dim(d)) return invalid_argument("batch dims of data and indices differ");
                     if (x.numel() > std::numeric_limits<int32_t>::max()) return invalid_argument("data has more than 2^31 elements");
                     // Row of data viewed as [prod(x[:b + k]), prod(x[b + k:])].
                     std::optional<Tensor> row;
                     int64_t stride = 1;
                     for (int64_t j = k - 1; j >= 0; --j) {
                       KILN_ASSIGN_OR_RETURN(Tensor ij, idx.slice(-1, j, j + 1));
                       KILN_ASSIGN_OR_RETURN(ij, ij.squeeze(-1));
                       KILN_ASSIGN_OR_RETURN(ij, wrap_indices(c.rt, ij, x.dim(static_cast<int>(b + j))));
                       if (stride != 1) { KILN_ASSIGN_OR_RETURN(ij, rt::mul(ij, static_cast<double>(stride))); }
                       if (row) { KILN_ASSIGN_OR_RETURN(ij, rt::add(*row, ij)); }
                       row = ij;
                       stride *= x.dim(static_cast<int>(b + j));
                     }
                     std::vector<int64_t> out_lead = dims_of(idx);
                     out_lead.pop_back();
                     if (!row) {
                       KILN_ASSIGN_OR_RETURN(Tensor zero, c.rt.full({}, 0, DType::kI32));
                       rt::Shape s(out_lead.begin(), out_lead.end());
                       KILN_ASSIGN_OR_RETURN(row, zero.expand(s));
                     }
                     // Batch offsets: batch coordinate * stride (the k dims' size).
                     std::vector<int64_t> batch_strides = strides_of(std::vector<int64_t>(out_lead.begin(), out_lead.begin() + b));
                     for (auto& s : batch_strides) s *= stride;
                     batch_strides.resize(out_lead.size(), 0);
                     std::vector<bool> use(out_lead.size(), false);
                     for (int d = 0; d < b; ++d) use[static_cast<std::size_t>(d)] = true;
                     KILN_ASSIGN_OR_RETURN(auto base, coordinate_offsets(c.rt, out_lead, batch_strides, use));
                     if (base) { KILN_ASSIGN_OR_RETURN(row, rt::add(*row, *base)); }
                     int64_t rows = 1, rest = 1;
                     for (int d = 0; d < x.rank(); ++d) (d < b + k ? rows : rest) *= x.dim(d);
                     KILN_ASSIGN_OR_RETURN(Tensor data, x.reshape({rows, rest}));
                     KILN_ASSIGN_OR_RETURN(Tensor picked, rt::index_select(data, 0, *row));
                     rt::Shape out(out_lead.begin(), out_lead.end());
                     for (int d = static_cast<int>(b + k); d < x.rank(); ++d) out.push_back(x.dim(d));
                     return put(c, picked.reshape(out));
                   }};
}

}  // namespace kiln::frontend::detail
