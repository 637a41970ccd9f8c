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

// Where `indices` (wrapped) fall outside [0, dim), `positions` become -(limit
// + 1), which the gather kernel refuses with an out-of-bounds fault naming
// the op: an out-of-range ONNX index fails instead of reading a neighbour
// row of the flattened data.
Result<Tensor> poison_out_of_range(runtime::Runtime& rt, const Tensor& indices, int64_t dim, const Tensor& positions, int64_t limit) {
  KILN_ASSIGN_OR_RETURN(Tensor zero, rt.full({}, 0, DType::kI32));
  KILN_ASSIGN_OR_RETURN(Tensor size, rt.full({}, static_cast<double>(dim), DType::kI32));
  KILN_ASSIGN_OR_RETURN(Tensor below, rt::lt(indices, zero));
  KILN_ASSIGN_OR_RETURN(Tensor above, rt::ge(indices, size));
  KILN_ASSIGN_OR_RETURN(Tensor bad, rt::where(below, below, above));
  KILN_ASSIGN_OR_RETURN(Tensor sentinel, rt.full({}, -static_cast<double>(limit) - 1, DType::kI32));
  return rt::where(bad, sentinel, positions);
}

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

Result<Tensor> flattened(const Tensor& x) { return x.reshape({x.numel()}); }

// The row of data viewed as [prod(x[:b + k]), prod(x[b + k:])] that each
// index tuple idx[..., :] (after b batch dims) addresses: idx's shape minus
// its last dim, int32.
Result<Tensor> nd_rows(runtime::Runtime& rt, const Tensor& x, const Tensor& idx, int b) {
  const int64_t k = idx.dim(-1);
  int64_t rows_total = 1;
  for (int d = 0; d < b + k; ++d) rows_total *= x.dim(d);
  // An out-of-range component poisons its row: a term of -(2 rows + 1)
  // stays below -rows once the other terms (all in [0, rows)) are added,
  // as long as k such terms fit in int32.
  const bool poison = (2 * rows_total + 1) * (k + 1) < std::numeric_limits<int32_t>::max();
  std::optional<Tensor> row;
  int64_t stride = 1;
  for (int64_t j = k - 1; j >= 0; --j) {
    KILN_ASSIGN_OR_RETURN(Tensor ij, idx.slice(-1, j, j + 1));
    KILN_ASSIGN_OR_RETURN(ij, ij.squeeze(-1));
    KILN_ASSIGN_OR_RETURN(ij, wrap_indices(rt, ij, x.dim(static_cast<int>(b + j))));
    KILN_ASSIGN_OR_RETURN(Tensor scaled, rt::mul(ij, static_cast<double>(stride)));
    if (poison) { KILN_ASSIGN_OR_RETURN(scaled, poison_out_of_range(rt, ij, x.dim(static_cast<int>(b + j)), scaled, 2 * rows_total)); }
    ij = scaled;
    if (row) { KILN_ASSIGN_OR_RETURN(ij, rt::add(*row, ij)); }
    row = ij;
    stride *= x.dim(static_cast<int>(b + j));
  }
  std::vector<int64_t> out_lead = dims_of(idx);
  out_lead.pop_back();
  if (!row) {
    KILN_ASSIGN_OR_RETURN(Tensor zero, rt.full({}, 0, DType::kI32));
    KILN_ASSIGN_OR_RETURN(row, zero.expand(rt::Shape(out_lead.begin(), out_lead.end())));
  }
  // Batch offsets: batch coordinate * stride (the k dims' size).
  std::vector<int64_t> batch_strides = strides_of(std::vector<int64_t>(out_lead.begin(), out_lead.begin() + b));
  for (auto& s : batch_strides) s *= stride;
  batch_strides.resize(out_lead.size(), 0);
  std::vector<bool> use(out_lead.size(), false);
  for (int d = 0; d < b; ++d) use[static_cast<std::size_t>(d)] = true;
  KILN_ASSIGN_OR_RETURN(auto base, coordinate_offsets(rt, out_lead, batch_strides, use));
  if (base) { KILN_ASSIGN_OR_RETURN(row, rt::add(*row, *base)); }
  return *row;
}

// Rows `rows` (int32 [U]) of data [P, R] replaced by (or, for "add", added
// to) updates [U, R]: a one-hot [P, U] matrix (row p, update u: rows[u] ==
// p) times the updates on the matrix engine picks each row's update, and
// its row sums say which rows were hit. Duplicate rows sum, which is
// reduction "add" exactly (under "none" ONNX leaves duplicates undefined).
Result<Tensor> scatter_rows(runtime::Runtime& rt, const Tensor& data, const Tensor& rows, const Tensor& updates, bool add) {
  const int64_t p = data.dim(0), u = rows.numel();
  KILN_ASSIGN_OR_RETURN(Tensor positions, rt.arange(p, DType::kI32));
  KILN_ASSIGN_OR_RETURN(positions, positions.reshape({p, 1}));
  KILN_ASSIGN_OR_RETURN(Tensor targets, rows.reshape({1, u}));
  KILN_ASSIGN_OR_RETURN(Tensor one_hot, rt::eq(positions, targets));
  KILN_ASSIGN_OR_RETURN(one_hot, rt::cast(one_hot, data.dtype()));
  KILN_ASSIGN_OR_RETURN(Tensor scattered, rt::matmul(one_hot, updates));
  if (add) return rt::add(data, scattered);
  KILN_ASSIGN_OR_RETURN(Tensor hits, rt::sum(one_hot, {1}, true));
  KILN_ASSIGN_OR_RETURN(Tensor zero, rt.full({}, 0, data.dtype()));
  KILN_ASSIGN_OR_RETURN(Tensor hit, rt::gt(hits, zero));
  return rt::where(hit, scattered, data);
}

// The one-hot product places no update whose row is outside [0, rows): such
// a row (made negative by poison_out_of_range) fails the step instead,
// through index_select's bounds check on zeros of the data's rows, as
// Gather's own indices do. The zeros it picks are added to the rows, so the
// check is part of the result and never dropped as unused.
Result<Tensor> checked_rows(runtime::Runtime& rt, const Tensor& rows, int64_t count) {
  KILN_ASSIGN_OR_RETURN(Tensor zero, rt.full({}, 0, DType::kI32));
  KILN_ASSIGN_OR_RETURN(Tensor zeros, zero.expand({count}));
  KILN_ASSIGN_OR_RETURN(Tensor picked, rt::index_select(zeros, 0, rows));
  return rt::add(rows, picked);
}

// Scatter's one-hot matrix is [data rows, updates]: bounded.
constexpr int64_t kMaxScatterPairs = int64_t{1} << 24;

std::string scatter_check(const CheckContext& c, bool nd) {
  std::string r = first_of({require_float(c, 0), require_dtypes(c, 1, {DType::kI32, DType::kI64}), require_float(c, 2)});
  if (!r.empty()) return r;
  const std::string reduction = attr_string(c.node, "reduction", "none");
  if (reduction != "none" && reduction != "add") return "reduction '" + reduction + "' is not supported";
  const ValueInfo *d = c.info(0), *i = c.info(1);
  if (!d || !d->shape || !i || !i->shape || i->shape->empty()) return std::string("data and indices need known shapes");
  for (int64_t v : *d->shape) if (v < 0) return std::string("data needs a known shape");
  for (int64_t v : *i->shape) if (v < 0) return std::string("indices need a known shape");
  int64_t rows = 1, updates = 1;
  const std::size_t k = nd ? static_cast<std::size_t>(i->shape->back()) : d->shape->size();
  for (std::size_t j = 0; j < k && j < d->shape->size(); ++j) rows *= (*d->shape)[j];
  for (std::size_t j = 0; j + (nd ? 1 : 0) < i->shape->size(); ++j) updates *= (*i->shape)[j];
  if (rows * updates > kMaxScatterPairs) return "scatter of " + std::to_string(updates) + " updates into " + std::to_string(rows) + " rows is above the one-hot bound 2^24";
  return "";
}

}  // namespace

namespace {

// Flat positions in x of x[c with c[axis] replaced by indices[c]], for each
// c of the (non-negative int32) indices' shape.
Result<Tensor> element_positions(runtime::Runtime& rt, const Tensor& x, const Tensor& indices, int axis) {
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
  return flat;
}

Status scatter_elements(LowerContext& c) {
  KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
  KILN_ASSIGN_OR_RETURN(Tensor idx, c.in(1));
  KILN_ASSIGN_OR_RETURN(Tensor updates, c.in(2));
  KILN_ASSIGN_OR_RETURN(int axis, axis_of(attr_int(c.node, "axis", 0), x.rank(), "axis"));
  if (updates.shape() != idx.shape()) return invalid_argument("updates " + updates.describe() + " and indices " + idx.describe() + " differ in shape");
  KILN_ASSIGN_OR_RETURN(idx, wrap_indices(c.rt, idx, x.dim(axis)));
  KILN_ASSIGN_OR_RETURN(Tensor pos, element_positions(c.rt, x, idx, axis));
  KILN_ASSIGN_OR_RETURN(pos, poison_out_of_range(c.rt, idx, x.dim(axis), pos, x.numel()));
  KILN_ASSIGN_OR_RETURN(Tensor rows, flattened(pos));
  KILN_ASSIGN_OR_RETURN(rows, checked_rows(c.rt, rows, x.numel()));
  KILN_ASSIGN_OR_RETURN(Tensor data, x.reshape({x.numel(), 1}));
  KILN_ASSIGN_OR_RETURN(Tensor u, updates.reshape({updates.numel(), 1}));
  KILN_ASSIGN_OR_RETURN(Tensor y, scatter_rows(c.rt, data, rows, u, attr_string(c.node, "reduction", "none") == "add"));
  return put(c, y.reshape(x.shape()));
}

Status scatter_nd(LowerContext& c) {
  KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
  KILN_ASSIGN_OR_RETURN(Tensor idx, c.in(1));
  KILN_ASSIGN_OR_RETURN(Tensor updates, c.in(2));
  const int64_t k = idx.dim(-1);
  if (k < 1 || k > x.rank()) return invalid_argument("index depth " + std::to_string(k) + " does not fit data " + x.describe());
  KILN_ASSIGN_OR_RETURN(Tensor row, nd_rows(c.rt, x, idx, 0));
  int64_t rows = 1, rest = 1;
  for (int d = 0; d < x.rank(); ++d) (d < k ? rows : rest) *= x.dim(d);
  if (updates.numel() != row.numel() * rest) return invalid_argument("updates " + updates.describe() + " do not match indices and data");
  KILN_ASSIGN_OR_RETURN(Tensor data, x.reshape({rows, rest}));
  KILN_ASSIGN_OR_RETURN(Tensor r, flattened(row));
  KILN_ASSIGN_OR_RETURN(r, checked_rows(c.rt, r, rows));
  KILN_ASSIGN_OR_RETURN(Tensor u, updates.reshape({row.numel(), rest}));
  KILN_ASSIGN_OR_RETURN(Tensor y, scatter_rows(c.rt, data, r, u, attr_string(c.node, "reduction", "none") == "add"));
  return put(c, y.reshape(x.shape()));
}

// MaxUnpool: X's values at their flat output positions I, zeros elsewhere.
Status max_unpool(LowerContext& c) {
  KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
  KILN_ASSIGN_OR_RETURN(Tensor idx, c.in(1));
  if (idx.shape() != x.shape()) return invalid_argument("I " + idx.describe() + " must have X's shape " + x.describe());
  // Indices address the shape the attributes give; output_shape, if
  // larger, extends it with zeros at the end of each dim (as ONNX's
  // reference and PyTorch's max_unpool do).
  const auto k = *attr_ints(c.node, "kernel_shape");
  const std::size_t n = k.size();
  const auto st = attr_ints(c.node, "strides").value_or(std::vector<int64_t>(n, 1));
  const auto p = attr_ints(c.node, "pads").value_or(std::vector<int64_t>(2 * n, 0));
  if (st.size() != n || p.size() != 2 * n || static_cast<int>(n) + 2 != x.rank()) return invalid_argument("kernel_shape, strides and pads do not fit X " + x.describe());
  rt::Shape out = {x.dim(0), x.dim(1)};
  for (std::size_t i = 0; i < n; ++i) out.push_back((x.dim(static_cast<int>(i) + 2) - 1) * st[i] - p[i] - p[i + n] + k[i]);
  rt::Shape wanted = out;
  if (c.has(2)) {
    KILN_ASSIGN_OR_RETURN(auto s, c.host_ints(2));
    wanted.assign(s.begin(), s.end());
  }
  if (wanted.size() != out.size()) return invalid_argument("output_shape must have X's rank");
  for (std::size_t i = 0; i < out.size(); ++i)
    if (wanted[i] < out[i] || (i < 2 && wanted[i] != out[i])) return invalid_argument("output_shape is smaller than the unpooled shape or changes N, C");
  if (out.size() != static_cast<std::size_t>(x.rank()) || out[0] != x.dim(0) || out[1] != x.dim(1))
    return invalid_argument("output shape does not keep X's N and C");
  int64_t total = 1;
  for (int64_t d : out) total *= d;
  if (total * x.numel() > kMaxScatterPairs) return invalid_argument("unpooling is above the one-hot bound 2^24");
  KILN_ASSIGN_OR_RETURN(Tensor zeros, c.rt.full({total, 1}, 0, x.dtype()));
  KILN_ASSIGN_OR_RETURN(Tensor rows, flattened(idx));
  KILN_ASSIGN_OR_RETURN(rows, wrap_indices(c.rt, rows, total));
  KILN_ASSIGN_OR_RETURN(Tensor u, x.reshape({x.numel(), 1}));
  KILN_ASSIGN_OR_RETURN(Tensor y, scatter_rows(c.rt, zeros, rows, u, false));
  KILN_ASSIGN_OR_RETURN(y, y.reshape(out));
  for (std::size_t i = 2; i < out.size(); ++i) {
    if (wanted[i] == out[i]) continue;
    rt::Shape zs = y.shape();
    zs[i] = wanted[i] - out[i];
    KILN_ASSIGN_OR_RETURN(Tensor z, c.rt.full(zs, 0, x.dtype()));
    KILN_ASSIGN_OR_RETURN(y, rt::concat({y, z}, static_cast<int>(i)));
  }
  return put(c, y);
}

// ReverseSequence: along time_axis, the first sequence_lens[b] elements of
// batch b reversed, the rest kept: a GatherElements with index
// t < len ? len - 1 - t : t, made on the device.
Status reverse_sequence(LowerContext& c) {
  KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
  KILN_ASSIGN_OR_RETURN(Tensor lens, c.in(1));
  const int time = static_cast<int>(attr_int(c.node, "time_axis", 0)), batch = static_cast<int>(attr_int(c.node, "batch_axis", 1));
  if (x.rank() < 2 || time == batch || time < 0 || time > 1 || batch < 0 || batch > 1 || lens.numel() != x.dim(batch))
    return invalid_argument("input " + x.describe() + ", sequence_lens " + lens.describe() + " and axes time " + std::to_string(time) +
                            ", batch " + std::to_string(batch) + " do not fit");
  rt::Shape along_time(static_cast<std::size_t>(x.rank()), 1), along_batch(static_cast<std::size_t>(x.rank()), 1);
  along_time[static_cast<std::size_t>(time)] = x.dim(time);
  along_batch[static_cast<std::size_t>(batch)] = x.dim(batch);
  KILN_ASSIGN_OR_RETURN(Tensor t, c.rt.arange(x.dim(time), DType::kI32));
  KILN_ASSIGN_OR_RETURN(t, t.reshape(along_time));
  KILN_ASSIGN_OR_RETURN(Tensor len, rt::cast(lens, DType::kI32));
  KILN_ASSIGN_OR_RETURN(len, len.reshape(along_batch));
  KILN_ASSIGN_OR_RETURN(Tensor reversed, rt::sub(len, t));
  KILN_ASSIGN_OR_RETURN(reversed, rt::add(reversed, -1.0));
  KILN_ASSIGN_OR_RETURN(Tensor in_sequence, rt::lt(t, len));
  KILN_ASSIGN_OR_RETURN(Tensor idx, rt::where(in_sequence, reversed, t));
  KILN_ASSIGN_OR_RETURN(idx, idx.expand(x.shape()));
  KILN_ASSIGN_OR_RETURN(idx, rt::contiguous(idx));
  return put(c, gather_elements(c.rt, x, idx, time));
}

}  // namespace

Result<Tensor> gather_elements(runtime::Runtime& rt, const Tensor& x, const Tensor& indices, int axis) {
  KILN_ASSIGN_OR_RETURN(Tensor flat, element_positions(rt, x, indices, axis));
  KILN_ASSIGN_OR_RETURN(flat, poison_out_of_range(rt, indices, x.dim(axis), flat, x.numel()));
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
                     KILN_ASSIGN_OR_RETURN(Tensor row, nd_rows(c.rt, x, idx, b));
                     std::vector<int64_t> out_lead = dims_of(idx);
                     out_lead.pop_back();
                     int64_t rows = 1, rest = 1;
                     for (int d = 0; d < x.rank(); ++d) (d < b + k ? rows : rest) *= x.dim(d);
                     KILN_ASSIGN_OR_RETURN(Tensor data, x.reshape({rows, rest}));
                     KILN_ASSIGN_OR_RETURN(Tensor picked, rt::index_select(data, 0, row));
                     rt::Shape out(out_lead.begin(), out_lead.end());
                     for (int d = static_cast<int>(b + k); d < x.rank(); ++d) out.push_back(x.dim(d));
                     return put(c, picked.reshape(out));
                   }};

  // Scatters: a one-hot matrix product (scatter_rows); Scatter is the
  // deprecated name of ScatterElements.
  for (const char* op : {"ScatterElements", "Scatter"})
    t[op] = {[](const CheckContext& c) { return scatter_check(c, false); }, scatter_elements};
  t["ScatterND"] = {[](const CheckContext& c) { return scatter_check(c, true); }, scatter_nd};
  t["ReverseSequence"] = {[](const CheckContext& c) {
                            return first_of({require_dtypes(c, 0, {DType::kF32, DType::kF16, DType::kBF16, DType::kI32, DType::kI64, DType::kBool}),
                                             require_dtypes(c, 1, {DType::kI64}), c.rank(0) >= 0 && c.rank(0) < 2 ? "input rank below 2" : ""});
                          },
                          reverse_sequence};
  t["MaxUnpool"] = {[](const CheckContext& c) {
                      return first_of({require_float(c, 0), require_dtypes(c, 1, {DType::kI64}), c.rank(0) < 3 ? "X must be [N, C, D1, ...]" : "",
                                       attr_ints(c.node, "kernel_shape") ? "" : "kernel_shape is required", require_host(c, 2, "output_shape")});
                    },
                    max_unpool, {2}};
}

}  // namespace kiln::frontend::detail
