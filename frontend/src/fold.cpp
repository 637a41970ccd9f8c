// Host folding of shape computations (fold.h).
#include "fold.h"

#include <algorithm>
#include <functional>
#include <limits>
#include <numeric>

#include "proto_io.h"
#include "shape_math.h"

namespace kiln::frontend::detail {

namespace {

// A small integer tensor while folding.
struct Ints {
  DType dtype = DType::kI64;
  std::vector<int64_t> shape;
  std::vector<int64_t> v;
};

using Inputs = std::vector<std::optional<Ints>>;

// What a folder sees: the node, and its inputs' values (or, for Shape and
// Size, the input's static shape).
struct FoldArgs {
  const onnx::NodeProto& node;
  int64_t opset;
  std::vector<int64_t> input_shape;
};
using FoldFn = std::function<Result<Ints>(const FoldArgs&, const Inputs&)>;

// A result above the fold bound: not an error, the node goes to the device.
Status too_large() { return unimplemented("above the fold bound"); }

// The element count of a shape given by values, or too_large() past the bound.
Status check_size(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return invalid_argument("negative dim " + std::to_string(d));
    if (d != 0 && n > kMaxFoldElements / d) return too_large();
    n *= d;
  }
  return {};
}

std::vector<int64_t> unravel(int64_t flat, const std::vector<int64_t>& shape) {
  std::vector<int64_t> coord(shape.size());
  for (std::size_t i = shape.size(); i-- > 0;) {
    const int64_t d = std::max<int64_t>(shape[i], 1);
    coord[i] = flat % d;
    flat /= d;
  }
  return coord;
}

// Flat index into `shape` of an output coordinate, broadcasting `shape`'s
// size-1 and missing leading dims.
int64_t broadcast_index(const std::vector<int64_t>& coord, const std::vector<int64_t>& shape) {
  int64_t flat = 0;
  const std::size_t off = coord.size() - shape.size();
  for (std::size_t i = 0; i < shape.size(); ++i) flat = flat * shape[i] + (shape[i] == 1 ? 0 : coord[off + i]);
  return flat;
}

const Ints& need(const Inputs& in, std::size_t i) { return *in[i]; }

int64_t scalar_of(const Ints& t) { return t.v.empty() ? 0 : t.v[0]; }

Result<Ints> elementwise(const std::vector<const Ints*>& ins, DType out_dtype,
                         const std::function<Result<int64_t>(const std::vector<int64_t>&)>& f) {
  std::vector<std::vector<int64_t>> shapes;
  for (const Ints* t : ins) shapes.push_back(t->shape);
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> shape, broadcast_shapes(shapes));
  Ints out{out_dtype, shape, {}};
  const int64_t n = numel_of(shape);
  std::vector<int64_t> args(ins.size());
  for (int64_t o = 0; o < n; ++o) {
    const auto coord = unravel(o, shape);
    for (std::size_t k = 0; k < ins.size(); ++k) args[k] = ins[k]->v[static_cast<std::size_t>(broadcast_index(coord, ins[k]->shape))];
    KILN_ASSIGN_OR_RETURN(int64_t r, f(args));
    out.v.push_back(r);
  }
  return out;
}

FoldFn binary(bool to_bool, std::function<Result<int64_t>(int64_t, int64_t)> f) {
  return [to_bool, f](const FoldArgs&, const Inputs& in) -> Result<Ints> {
    const Ints &a = need(in, 0), &b = need(in, 1);
    return elementwise({&a, &b}, to_bool ? DType::kBool : a.dtype,
                       [&](const std::vector<int64_t>& x) { return f(x[0], x[1]); });
  };
}

// Variadic Max/Min.
FoldFn variadic(bool is_max) {
  return [is_max](const FoldArgs&, const Inputs& in) -> Result<Ints> {
    std::vector<const Ints*> ins;
    for (const auto& t : in) if (t) ins.push_back(&*t);
    return elementwise(ins, ins[0]->dtype, [&](const std::vector<int64_t>& x) -> Result<int64_t> {
      return is_max ? *std::max_element(x.begin(), x.end()) : *std::min_element(x.begin(), x.end());
    });
  };
}

FoldFn unary(std::function<int64_t(int64_t)> f) {
  return [f](const FoldArgs&, const Inputs& in) -> Result<Ints> {
    Ints out = need(in, 0);
    for (auto& x : out.v) x = f(x);
    return out;
  };
}

Ints reshaped(Ints t, std::vector<int64_t> shape) {
  t.shape = std::move(shape);
  return t;
}

// Axes of Squeeze/Unsqueeze: an attribute before opset 13, an input after.
std::vector<int64_t> axes_of(const FoldArgs& c, const Inputs& in) {
  if (c.opset >= 13) return in.size() > 1 && in[1] ? in[1]->v : std::vector<int64_t>{};
  return attr_ints(c.node, "axes").value_or(std::vector<int64_t>{});
}

Result<Ints> fold_shape(const FoldArgs& c, const Inputs&) {
  const std::vector<int64_t>& shape = c.input_shape;
  const auto rank = static_cast<int64_t>(shape.size());
  auto clamp_end = [rank](int64_t e) { return std::clamp<int64_t>(e < 0 ? e + rank : e, 0, rank); };
  const int64_t start = clamp_end(attr_int(c.node, "start", 0));
  const int64_t end = clamp_end(attr_int(c.node, "end", rank));
  std::vector<int64_t> v;
  for (int64_t i = start; i < end; ++i) v.push_back(shape[static_cast<std::size_t>(i)]);
  return Ints{DType::kI64, {static_cast<int64_t>(v.size())}, v};
}

Result<Ints> fold_size(const FoldArgs& c, const Inputs&) {
  return Ints{DType::kI64, {}, {numel_of(c.input_shape)}};
}

Result<Ints> fold_gather(const FoldArgs& c, const Inputs& in) {
  const Ints &data = need(in, 0), &idx = need(in, 1);
  KILN_ASSIGN_OR_RETURN(int axis, axis_of(attr_int(c.node, "axis", 0), static_cast<int>(data.shape.size()), "axis"));
  const auto a = static_cast<std::size_t>(axis);
  const int64_t dim = data.shape[a];
  std::vector<int64_t> shape(data.shape.begin(), data.shape.begin() + axis);
  shape.insert(shape.end(), idx.shape.begin(), idx.shape.end());
  shape.insert(shape.end(), data.shape.begin() + axis + 1, data.shape.end());
  Ints out{data.dtype, shape, {}};
  const auto strides = strides_of(data.shape);
  for (int64_t o = 0; o < numel_of(shape); ++o) {
    const auto coord = unravel(o, shape);
    int64_t flat = 0;
    for (std::size_t d = 0; d < a; ++d) flat += coord[d] * strides[d];
    std::vector<int64_t> icoord(coord.begin() + axis, coord.begin() + axis + static_cast<std::ptrdiff_t>(idx.shape.size()));
    int64_t i = idx.v[static_cast<std::size_t>(broadcast_index(icoord, idx.shape))];
    if (i < -dim || i >= dim) return invalid_argument("index " + std::to_string(i) + " out of range for dim " + std::to_string(dim));
    if (i < 0) i += dim;
    flat += i * strides[a];
    for (std::size_t d = a + 1; d < data.shape.size(); ++d) flat += coord[d - 1 + idx.shape.size()] * strides[d];
    out.v.push_back(data.v[static_cast<std::size_t>(flat)]);
  }
  return out;
}

Result<Ints> fold_concat(const FoldArgs& c, const Inputs& in) {
  const Ints& first = need(in, 0);
  KILN_ASSIGN_OR_RETURN(int axis, axis_of(attr_int(c.node, "axis", 0), static_cast<int>(first.shape.size()), "axis"));
  const auto a = static_cast<std::size_t>(axis);
  std::vector<int64_t> shape = first.shape;
  shape[a] = 0;
  for (const auto& t : in) {
    if (!t) continue;
    if (t->shape.size() != first.shape.size()) return invalid_argument("inputs differ in rank");
    shape[a] += t->shape[a];
  }
  Ints out{first.dtype, shape, {}};
  for (int64_t o = 0; o < numel_of(shape); ++o) {
    auto coord = unravel(o, shape);
    for (const auto& t : in) {
      if (!t) continue;
      if (coord[a] < t->shape[a]) {
        out.v.push_back(t->v[static_cast<std::size_t>(broadcast_index(coord, t->shape))]);
        break;
      }
      coord[a] -= t->shape[a];
    }
  }
  return out;
}

Result<Ints> fold_slice(const FoldArgs& c, const Inputs& in) {
  const Ints& data = need(in, 0);
  std::vector<int64_t> starts, ends, axes, steps;
  if (c.opset >= 10) {
    starts = need(in, 1).v;
    ends = need(in, 2).v;
    if (in.size() > 3 && in[3]) axes = in[3]->v;
    if (in.size() > 4 && in[4]) steps = in[4]->v;
  } else {
    starts = attr_ints(c.node, "starts").value_or(std::vector<int64_t>{});
    ends = attr_ints(c.node, "ends").value_or(std::vector<int64_t>{});
    axes = attr_ints(c.node, "axes").value_or(std::vector<int64_t>{});
  }
  KILN_ASSIGN_OR_RETURN(auto dims, slice_dims(data.shape, starts, ends, axes, steps));
  std::vector<int64_t> shape = data.shape, start(shape.size(), 0), step(shape.size(), 1);
  for (const auto& d : dims) {
    shape[static_cast<std::size_t>(d.axis)] = d.count;
    start[static_cast<std::size_t>(d.axis)] = d.start;
    step[static_cast<std::size_t>(d.axis)] = d.step;
  }
  Ints out{data.dtype, shape, {}};
  for (int64_t o = 0; o < numel_of(shape); ++o) {
    auto coord = unravel(o, shape);
    for (std::size_t d = 0; d < coord.size(); ++d) coord[d] = start[d] + coord[d] * step[d];
    out.v.push_back(data.v[static_cast<std::size_t>(broadcast_index(coord, data.shape))]);
  }
  return out;
}

Result<Ints> fold_squeeze(const FoldArgs& c, const Inputs& in) {
  const Ints& x = need(in, 0);
  const int rank = static_cast<int>(x.shape.size());
  std::vector<int64_t> axes = axes_of(c, in);
  std::vector<bool> drop(x.shape.size(), false);
  if (axes.empty()) {
    for (std::size_t i = 0; i < x.shape.size(); ++i) drop[i] = x.shape[i] == 1;
  }
  for (int64_t a : axes) {
    KILN_ASSIGN_OR_RETURN(int d, axis_of(a, rank, "axis"));
    if (x.shape[static_cast<std::size_t>(d)] != 1) return invalid_argument("axis " + std::to_string(a) + " is not of size 1");
    drop[static_cast<std::size_t>(d)] = true;
  }
  std::vector<int64_t> shape;
  for (std::size_t i = 0; i < x.shape.size(); ++i) if (!drop[i]) shape.push_back(x.shape[i]);
  return reshaped(x, shape);
}

Result<Ints> fold_unsqueeze(const FoldArgs& c, const Inputs& in) {
  const Ints& x = need(in, 0);
  std::vector<int64_t> axes = axes_of(c, in);
  const int out_rank = static_cast<int>(x.shape.size() + axes.size());
  std::vector<bool> added(static_cast<std::size_t>(out_rank), false);
  for (int64_t a : axes) {
    KILN_ASSIGN_OR_RETURN(int d, axis_of(a, out_rank, "axis"));
    added[static_cast<std::size_t>(d)] = true;
  }
  std::vector<int64_t> shape;
  std::size_t k = 0;
  for (std::size_t i = 0; i < added.size(); ++i) shape.push_back(added[i] ? 1 : x.shape[k++]);
  return reshaped(x, shape);
}

Result<Ints> fold_reshape(const FoldArgs& c, const Inputs& in) {
  const Ints& x = need(in, 0);
  const std::vector<int64_t>& s = need(in, 1).v;
  const bool allowzero = attr_int(c.node, "allowzero", 0) != 0;
  std::vector<int64_t> shape;
  int infer = -1;
  int64_t known = 1;
  for (std::size_t i = 0; i < s.size(); ++i) {
    int64_t d = s[i];
    if (d == 0 && !allowzero) d = i < x.shape.size() ? x.shape[i] : 0;
    if (d == -1) { infer = static_cast<int>(i); d = 1; } else known *= d;
    shape.push_back(d);
  }
  if (infer >= 0) shape[static_cast<std::size_t>(infer)] = known == 0 ? 0 : numel_of(x.shape) / known;
  if (numel_of(shape) != numel_of(x.shape)) return invalid_argument("shape does not keep the element count");
  return reshaped(x, shape);
}

Result<Ints> fold_flatten(const FoldArgs& c, const Inputs& in) {
  const Ints& x = need(in, 0);
  KILN_ASSIGN_OR_RETURN(int axis, axis_of(attr_int(c.node, "axis", 1), static_cast<int>(x.shape.size()) + 1, "axis"));
  int64_t outer = 1;
  for (int i = 0; i < axis; ++i) outer *= x.shape[static_cast<std::size_t>(i)];
  return reshaped(x, {outer, outer == 0 ? 0 : numel_of(x.shape) / outer});
}

Result<Ints> fold_expand(const FoldArgs&, const Inputs& in) {
  const Ints& x = need(in, 0);
  KILN_RETURN_IF_ERROR(check_size(need(in, 1).v));
  Ints target{x.dtype, need(in, 1).v, {}};
  target.v.assign(static_cast<std::size_t>(std::max<int64_t>(numel_of(target.shape), 0)), 0);
  return elementwise({&x, &target}, x.dtype, [](const std::vector<int64_t>& a) -> Result<int64_t> { return a[0]; });
}

Result<Ints> fold_tile(const FoldArgs&, const Inputs& in) {
  const Ints& x = need(in, 0);
  const std::vector<int64_t>& reps = need(in, 1).v;
  if (reps.size() != x.shape.size()) return invalid_argument("repeats must have one value per dim");
  std::vector<int64_t> shape = x.shape;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (reps[i] < 0) return invalid_argument("negative repeats");
    if (reps[i] > kMaxFoldElements) return too_large();
    shape[i] *= reps[i];
  }
  KILN_RETURN_IF_ERROR(check_size(shape));
  Ints out{x.dtype, shape, {}};
  for (int64_t o = 0; o < numel_of(shape); ++o) {
    auto coord = unravel(o, shape);
    for (std::size_t d = 0; d < coord.size(); ++d) coord[d] %= x.shape[d];
    out.v.push_back(x.v[static_cast<std::size_t>(broadcast_index(coord, x.shape))]);
  }
  return out;
}

Result<Ints> fold_transpose(const FoldArgs& c, const Inputs& in) {
  const Ints& x = need(in, 0);
  std::vector<int64_t> perm = attr_ints(c.node, "perm").value_or(std::vector<int64_t>{});
  if (perm.empty()) for (std::size_t i = x.shape.size(); i-- > 0;) perm.push_back(static_cast<int64_t>(i));
  if (perm.size() != x.shape.size()) return invalid_argument("perm must have one value per dim");
  std::vector<int64_t> shape;
  for (int64_t p : perm) shape.push_back(x.shape[static_cast<std::size_t>(p)]);
  const auto strides = strides_of(x.shape);
  Ints out{x.dtype, shape, {}};
  for (int64_t o = 0; o < numel_of(shape); ++o) {
    const auto coord = unravel(o, shape);
    int64_t flat = 0;
    for (std::size_t d = 0; d < coord.size(); ++d) flat += coord[d] * strides[static_cast<std::size_t>(perm[d])];
    out.v.push_back(x.v[static_cast<std::size_t>(flat)]);
  }
  return out;
}

Result<Ints> fold_range(const FoldArgs&, const Inputs& in) {
  const int64_t start = scalar_of(need(in, 0)), limit = scalar_of(need(in, 1)), delta = scalar_of(need(in, 2));
  if (delta == 0) return invalid_argument("delta is 0");
  int64_t span = 0;
  if (__builtin_sub_overflow(limit, start, &span)) return too_large();
  // ceil(span / delta) without overflow: the count of steps that fit.
  const int64_t n = (span > 0) == (delta > 0) && span != 0 ? 1 + (span - (delta > 0 ? 1 : -1)) / delta : 0;
  if (n > kMaxFoldElements) return too_large();
  Ints out{need(in, 0).dtype, {n}, {}};
  for (int64_t i = 0; i < n; ++i) out.v.push_back(start + i * delta);
  return out;
}

Result<Ints> fold_constant_of_shape(const FoldArgs& c, const Inputs& in) {
  const std::vector<int64_t>& shape = need(in, 0).v;
  KILN_RETURN_IF_ERROR(check_size(shape));
  Ints out{DType::kF32, shape, {}};
  int64_t value = 0;
  for (const auto& a : c.node.attribute()) {
    if (a.name() != "value") continue;
    KILN_ASSIGN_OR_RETURN(HostTensor h, from_tensor_proto(a.t(), "ConstantOfShape value"));
    out.dtype = h.dtype;
    if (h.numel() != 1) return invalid_argument("value must hold one element");
    value = int_values(h)[0];
  }
  out.v.assign(static_cast<std::size_t>(numel_of(shape)), value);
  return out;
}

Result<Ints> fold_cast(const FoldArgs& c, const Inputs& in) {
  Ints out = need(in, 0);
  const auto to = to_kiln_dtype(static_cast<int32_t>(attr_int(c.node, "to", 0)));
  if (!to || !is_int_dtype(*to)) return invalid_argument("cast target is not an integer type");
  out.dtype = *to;
  for (auto& x : out.v) x = *to == DType::kBool ? (x != 0) : *to == DType::kI32 ? static_cast<int32_t>(x) : x;
  return out;
}

Result<Ints> fold_where(const FoldArgs&, const Inputs& in) {
  const Ints &cond = need(in, 0), &a = need(in, 1), &b = need(in, 2);
  return elementwise({&cond, &a, &b}, a.dtype, [](const std::vector<int64_t>& x) -> Result<int64_t> { return x[0] ? x[1] : x[2]; });
}

Result<int64_t> checked_div(int64_t a, int64_t b) {
  if (b == 0) return invalid_argument("integer division by zero");
  if (b == -1 && a == std::numeric_limits<int64_t>::min()) return invalid_argument("integer overflow");
  return a / b;
}

const std::map<std::string, FoldFn>& folders() {
  static const std::map<std::string, FoldFn> table = [] {
    std::map<std::string, FoldFn> t;
    t["Shape"] = fold_shape;
    t["Size"] = fold_size;
    t["Identity"] = [](const FoldArgs&, const Inputs& in) -> Result<Ints> { return need(in, 0); };
    t["Cast"] = fold_cast;
    // Wrapping negation (as the int64 two's complement does): no UB at INT64_MIN.
    t["Neg"] = unary([](int64_t x) { return static_cast<int64_t>(0 - static_cast<uint64_t>(x)); });
    t["Abs"] = unary([](int64_t x) { return x < 0 ? static_cast<int64_t>(0 - static_cast<uint64_t>(x)) : x; });
    t["Sign"] = unary([](int64_t x) -> int64_t { return (x > 0) - (x < 0); });
    t["Not"] = unary([](int64_t x) -> int64_t { return !x; });
    t["Add"] = binary(false, [](int64_t a, int64_t b) -> Result<int64_t> {
      int64_t r = 0;
      if (__builtin_add_overflow(a, b, &r)) return invalid_argument("integer overflow");
      return r;
    });
    t["Sub"] = binary(false, [](int64_t a, int64_t b) -> Result<int64_t> {
      int64_t r = 0;
      if (__builtin_sub_overflow(a, b, &r)) return invalid_argument("integer overflow");
      return r;
    });
    t["Mul"] = binary(false, [](int64_t a, int64_t b) -> Result<int64_t> {
      int64_t r = 0;
      if (__builtin_mul_overflow(a, b, &r)) return invalid_argument("integer overflow");
      return r;
    });
    t["Div"] = binary(false, checked_div);
    // fmod 0 (the only integer form folded): the remainder takes the divisor's sign.
    t["Mod"] = binary(false, [](int64_t a, int64_t b) -> Result<int64_t> {
      if (b == 0) return invalid_argument("integer modulo by zero");
      if (b == -1) return int64_t{0};
      const int64_t r = a % b;
      return r != 0 && ((r < 0) != (b < 0)) ? r + b : r;
    });
    t["Equal"] = binary(true, [](int64_t a, int64_t b) -> Result<int64_t> { return a == b; });
    t["Less"] = binary(true, [](int64_t a, int64_t b) -> Result<int64_t> { return a < b; });
    t["LessOrEqual"] = binary(true, [](int64_t a, int64_t b) -> Result<int64_t> { return a <= b; });
    t["Greater"] = binary(true, [](int64_t a, int64_t b) -> Result<int64_t> { return a > b; });
    t["GreaterOrEqual"] = binary(true, [](int64_t a, int64_t b) -> Result<int64_t> { return a >= b; });
    t["And"] = binary(true, [](int64_t a, int64_t b) -> Result<int64_t> { return a && b; });
    t["Or"] = binary(true, [](int64_t a, int64_t b) -> Result<int64_t> { return a || b; });
    t["Xor"] = binary(true, [](int64_t a, int64_t b) -> Result<int64_t> { return (a != 0) != (b != 0); });
    t["Max"] = variadic(true);
    t["Min"] = variadic(false);
    t["Where"] = fold_where;
    t["Gather"] = fold_gather;
    t["Concat"] = fold_concat;
    t["Slice"] = fold_slice;
    t["Squeeze"] = fold_squeeze;
    t["Unsqueeze"] = fold_unsqueeze;
    t["Reshape"] = fold_reshape;
    t["Flatten"] = fold_flatten;
    t["Expand"] = fold_expand;
    t["Tile"] = fold_tile;
    t["Transpose"] = fold_transpose;
    t["Range"] = fold_range;
    t["ConstantOfShape"] = fold_constant_of_shape;
    return t;
  }();
  return table;
}

bool small_int(const HostTensor& t) { return is_int_dtype(t.dtype) && t.numel() <= kMaxFoldElements; }

}  // namespace

Result<std::optional<HostTensor>> try_fold(const onnx::NodeProto& node, int64_t opset, const std::map<std::string, ValueInfo>& infos,
                                           const std::map<std::string, std::shared_ptr<const HostTensor>>& constants) {
  const std::optional<HostTensor> no;
  if (!node.domain().empty() && node.domain() != "ai.onnx") return no;
  auto fn = folders().find(node.op_type());
  if (fn == folders().end() || node.input_size() < 1 || node.output_size() != 1) return no;
  const std::string& op = node.op_type();
  FoldArgs args{node, opset, {}};
  Inputs in;
  if (op == "Shape" || op == "Size") {
    auto it = infos.find(node.input(0));
    if (it == infos.end() || !it->second.shape) return no;
    for (int64_t d : *it->second.shape)
      if (d < 0) return no;
    args.input_shape = *it->second.shape;
  } else {
    if (op == "Mod" && attr_int(node, "fmod", 0) != 0) return no;
    if (op == "Cast") {
      const auto to = to_kiln_dtype(static_cast<int32_t>(attr_int(node, "to", 0)));
      if (!to || !is_int_dtype(*to)) return no;
    }
    for (const auto& name : node.input()) {
      if (name.empty()) { in.emplace_back(); continue; }
      auto it = constants.find(name);
      if (it == constants.end() || !small_int(*it->second)) return no;
      const HostTensor& h = *it->second;
      in.push_back(Ints{h.dtype, h.shape, int_values(h)});
    }
  }
  // Folded outputs stay small: a ConstantOfShape or Range of real size is device work.
  if (auto o = infos.find(node.output(0)); o != infos.end()) {
    const ValueInfo& v = o->second;
    if (v.dtype && !is_int_dtype(*v.dtype)) return no;
    if (v.shape && std::all_of(v.shape->begin(), v.shape->end(), [](int64_t d) { return d >= 0; }) &&
        numel_of(*v.shape) > kMaxFoldElements)
      return no;
  }
  auto folded = fn->second(args, in);
  if (!folded.ok() && folded.status().code() == ErrorCode::kUnimplemented) return no;
  KILN_ASSIGN_OR_RETURN(Ints out, std::move(folded));
  if (!is_int_dtype(out.dtype) || numel_of(out.shape) > kMaxFoldElements) return no;
  return std::optional<HostTensor>(int_tensor(out.dtype, out.shape, out.v));
}

}  // namespace kiln::frontend::detail
