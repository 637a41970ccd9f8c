// Lowerings of ONNX's shape and data-movement ops, and Constant.
#include <algorithm>
#include <cstring>

#include "lowering.h"
#include "proto_io.h"

namespace kiln::frontend::detail {
namespace rt = kiln::runtime;

namespace {

// Squeeze/Unsqueeze axes: an attribute before opset 13, an input after.
Result<std::vector<int64_t>> axes_param(LowerContext& c, bool* given) {
  *given = false;
  if (c.opset >= 13) {
    if (!c.has(1)) return std::vector<int64_t>{};
    *given = true;
    return c.host_ints(1);
  }
  auto a = attr_ints(c.node, "axes");
  *given = a.has_value();
  return a.value_or(std::vector<int64_t>{});
}

}  // namespace

Result<HostTensor> constant_value(const onnx::NodeProto& node) {
  if (node.attribute_size() != 1) return invalid_argument("a Constant needs exactly one value attribute");
  const auto& a = node.attribute(0);
  HostTensor h;
  auto put_scalars = [&](DType d, const auto& values, bool scalar) {
    h.dtype = d;
    if (!scalar) h.shape = {static_cast<int64_t>(values.size())};
    h.data.resize(values.size() * dtype_size(d));
    std::size_t i = 0;
    for (auto v : values) {
      if (d == DType::kF32) { float f = static_cast<float>(v); std::memcpy(h.data.data() + 4 * i, &f, 4); }
      else { int64_t k = static_cast<int64_t>(v); std::memcpy(h.data.data() + 8 * i, &k, 8); }
      ++i;
    }
  };
  if (a.name() == "value") {
    KILN_ASSIGN_OR_RETURN(h, from_tensor_proto(a.t(), "Constant value"));
  } else if (a.name() == "value_float") {
    put_scalars(DType::kF32, std::vector<float>{a.f()}, true);
  } else if (a.name() == "value_floats") {
    put_scalars(DType::kF32, std::vector<float>(a.floats().begin(), a.floats().end()), false);
  } else if (a.name() == "value_int") {
    put_scalars(DType::kI64, std::vector<int64_t>{a.i()}, true);
  } else {
    put_scalars(DType::kI64, std::vector<int64_t>(a.ints().begin(), a.ints().end()), false);
  }
  return h;
}

void add_shape_ops(OpTable& t) {
  // Reshape: 0 copies the input's dim (unless allowzero), -1 is inferred.
  t["Reshape"] = {[](const CheckContext& c) {
                    return first_of({require_data_dtype(c, 0), require_host(c, 1, "shape")});
                  },
                  [](LowerContext& c) -> Status {
                    KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
                    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> s, c.host_ints(1));
                    const bool allowzero = attr_int(c.node, "allowzero", 0) != 0;
                    rt::Shape shape;
                    int infer = -1;
                    int64_t known = 1;
                    for (std::size_t i = 0; i < s.size(); ++i) {
                      int64_t d = s[i];
                      // 0 copies the input's dim, unless allowzero makes it a literal 0.
                      if (d == 0 && !allowzero) d = static_cast<int>(i) < x.rank() ? x.dim(static_cast<int>(i)) : 0;
                      if (d == -1) {
                        infer = static_cast<int>(i);
                        d = 1;
                      } else if (d >= 0 && __builtin_mul_overflow(known, d, &known)) {
                        return invalid_argument("the shape " + rt::to_string(rt::Shape(s)) +
                                                " has more than 2^48 elements, the most a tensor can have");
                      }
                      shape.push_back(d);
                    }
                    if (infer >= 0) shape[static_cast<std::size_t>(infer)] = known == 0 ? 0 : x.numel() / known;
                    return put(c, x.reshape(shape));
                  }};

  t["Flatten"] = {[](const CheckContext& c) { return first_of({require_data_dtype(c, 0), c.rank(0) < 0 ? "rank unknown" : ""}); },
                  [](LowerContext& c) -> Status {
                    KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
                    int64_t axis = attr_int(c.node, "axis", 1);
                    if (axis < 0) axis += x.rank();
                    int64_t outer = 1, inner = 1;
                    for (int i = 0; i < x.rank(); ++i) (i < axis ? outer : inner) *= x.dim(i);
                    return put(c, x.reshape({outer, inner}));
                  }};

  t["Transpose"] = {[](const CheckContext& c) { return first_of({require_data_dtype(c, 0), c.rank(0) < 0 ? "rank unknown" : ""}); },
                    [](LowerContext& c) -> Status {
                      KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
                      std::vector<int> perm;
                      if (auto p = attr_ints(c.node, "perm")) {
                        for (int64_t d : *p) perm.push_back(static_cast<int>(d));
                      } else {
                        for (int i = x.rank() - 1; i >= 0; --i) perm.push_back(i);
                      }
                      return put(c, x.permute(perm));
                    }};

  t["Squeeze"] = {[](const CheckContext& c) {
                    return first_of({require_data_dtype(c, 0), c.opset >= 13 ? require_host(c, 1, "axes") : "", c.rank(0) < 0 ? "rank unknown" : ""});
                  },
                  [](LowerContext& c) -> Status {
                    KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
                    bool given = false;
                    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> axes, axes_param(c, &given));
                    std::vector<int> dims;
                    if (axes.empty()) {
                      for (int i = 0; i < x.rank(); ++i) if (x.dim(i) == 1) dims.push_back(i);
                    } else {
                      for (int64_t a : axes) { KILN_ASSIGN_OR_RETURN(int d, axis_of(a, x.rank(), "axis")); dims.push_back(d); }
                    }
                    std::sort(dims.rbegin(), dims.rend());  // highest first keeps the others' indices
                    for (int d : dims) { KILN_ASSIGN_OR_RETURN(x, x.squeeze(d)); }
                    c.out(0, x);
                    return {};
                  }};

  t["Unsqueeze"] = {[](const CheckContext& c) {
                      return first_of({require_data_dtype(c, 0), c.opset >= 13 ? require_host(c, 1, "axes") : "", c.rank(0) < 0 ? "rank unknown" : ""});
                    },
                    [](LowerContext& c) -> Status {
                      KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
                      bool given = false;
                      KILN_ASSIGN_OR_RETURN(std::vector<int64_t> axes, axes_param(c, &given));
                      const int out_rank = x.rank() + static_cast<int>(axes.size());
                      std::vector<int> dims;
                      for (int64_t a : axes) { KILN_ASSIGN_OR_RETURN(int d, axis_of(a, out_rank, "axis")); dims.push_back(d); }
                      std::sort(dims.begin(), dims.end());  // lowest first: each index is of the final shape
                      for (int d : dims) { KILN_ASSIGN_OR_RETURN(x, x.unsqueeze(d)); }
                      c.out(0, x);
                      return {};
                    }};

  t["Concat"] = {[](const CheckContext& c) { return first_of({require_data_dtype(c, 0), c.rank(0) < 1 ? "rank unknown or 0" : ""}); },
                 [](LowerContext& c) -> Status {
                   std::vector<Tensor> xs;
                   for (int i = 0; i < c.inputs(); ++i) {
                     KILN_ASSIGN_OR_RETURN(Tensor x, c.in(i));
                     xs.push_back(x);
                   }
                   KILN_ASSIGN_OR_RETURN(int axis, axis_of(attr_int(c.node, "axis", 0), xs[0].rank(), "axis"));
                   return put(c, rt::concat(xs, axis));
                 }};

  // Split: sizes from the attribute (< 13) or input (>= 13), else equal parts.
  t["Split"] = {[](const CheckContext& c) {
                  return first_of({require_data_dtype(c, 0), c.opset >= 13 ? require_host(c, 1, "split") : "", c.rank(0) < 1 ? "rank unknown or 0" : ""});
                },
                [](LowerContext& c) -> Status {
                  KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
                  KILN_ASSIGN_OR_RETURN(int axis, axis_of(attr_int(c.node, "axis", 0), x.rank(), "axis"));
                  std::vector<int64_t> sizes;
                  if (c.opset >= 13 && c.has(1)) {
                    KILN_ASSIGN_OR_RETURN(sizes, c.host_ints(1));
                  } else if (auto s = attr_ints(c.node, "split")) {
                    sizes = *s;
                  }
                  const int n = c.node.output_size();
                  if (sizes.empty()) {
                    if (x.dim(axis) % n != 0) return invalid_argument("dim " + std::to_string(x.dim(axis)) + " does not split into " + std::to_string(n) + " equal parts");
                    sizes.assign(static_cast<std::size_t>(n), x.dim(axis) / n);
                  }
                  KILN_ASSIGN_OR_RETURN(std::vector<Tensor> parts, rt::split(x, sizes, axis));
                  for (int i = 0; i < n && i < static_cast<int>(parts.size()); ++i) c.out(i, parts[static_cast<std::size_t>(i)]);
                  return {};
                }};

  // Gather: ONNX indices are int32/int64 and may be negative; the runtime's
  // index_select takes non-negative int32, so negatives are wrapped on the
  // device (where(i < 0, i + dim, i)) after the cast.
  t["Gather"] = {[](const CheckContext& c) {
                   return first_of({require_data_dtype(c, 0), require_dtypes(c, 1, {DType::kI32, DType::kI64}), c.rank(0) < 1 ? "rank unknown or 0" : ""});
                 },
                 [](LowerContext& c) -> Status {
                   KILN_ASSIGN_OR_RETURN(Tensor x, c.in(0));
                   KILN_ASSIGN_OR_RETURN(Tensor idx, c.in(1));
                   KILN_ASSIGN_OR_RETURN(int axis, axis_of(attr_int(c.node, "axis", 0), x.rank(), "axis"));
                   KILN_ASSIGN_OR_RETURN(idx, rt::cast(idx, DType::kI32));
                   KILN_ASSIGN_OR_RETURN(Tensor zero, c.rt.full({}, 0, DType::kI32));
                   KILN_ASSIGN_OR_RETURN(Tensor neg, rt::lt(idx, zero));
                   KILN_ASSIGN_OR_RETURN(Tensor wrapped, rt::add(idx, static_cast<double>(x.dim(axis))));
                   KILN_ASSIGN_OR_RETURN(idx, rt::where(neg, wrapped, idx));
                   return put(c, rt::index_select(x, axis, idx));
                 }};

  // Constant: its value is host data (so it can be a shape or axes too) and
  // is uploaded only if an op reads it on the device.
  t["Constant"] = {[](const CheckContext& c) {
                     for (const auto& a : c.node.attribute()) {
                       if (a.name() == "value") {
                         if (!to_kiln_dtype(a.t().data_type())) return "value of dtype " + onnx_dtype_name(a.t().data_type()) + " is not supported";
                         if (a.t().data_location() == onnx::TensorProto::EXTERNAL) return std::string("external data is not supported yet");
                       } else if (a.name() != "value_float" && a.name() != "value_floats" && a.name() != "value_int" && a.name() != "value_ints") {
                         return "attribute " + a.name() + " is not supported";
                       }
                     }
                     return std::string();
                   },
                   [](LowerContext& c) -> Status {
                     KILN_ASSIGN_OR_RETURN(HostTensor h, constant_value(c.node));
                     c.out_host(0, std::move(h));
                     return {};
                   }};
}

}  // namespace kiln::frontend::detail
