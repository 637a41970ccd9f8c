// The lowering table's shared machinery: attributes, values, common checks.
#include "lowering.h"

#include <algorithm>

#include "shape_math.h"

namespace kiln::frontend::detail {

namespace {
const onnx::AttributeProto* find_attr(const onnx::NodeProto& n, const std::string& name) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}
}  // namespace

int64_t attr_int(const onnx::NodeProto& n, const std::string& name, int64_t dflt) {
  const auto* a = find_attr(n, name);
  return a ? a->i() : dflt;
}
float attr_float(const onnx::NodeProto& n, const std::string& name, float dflt) {
  const auto* a = find_attr(n, name);
  return a ? a->f() : dflt;
}
std::string attr_string(const onnx::NodeProto& n, const std::string& name, const std::string& dflt) {
  const auto* a = find_attr(n, name);
  return a ? a->s() : dflt;
}
std::optional<std::vector<int64_t>> attr_ints(const onnx::NodeProto& n, const std::string& name) {
  const auto* a = find_attr(n, name);
  if (!a) return std::nullopt;
  return std::vector<int64_t>(a->ints().begin(), a->ints().end());
}
bool has_attr(const onnx::NodeProto& n, const std::string& name) { return find_attr(n, name) != nullptr; }
std::string input_name(const onnx::NodeProto& n, int i) { return i < n.input_size() ? n.input(i) : std::string(); }

const ValueInfo* CheckContext::info(int i) const {
  auto it = infos.find(input_name(node, i));
  return it == infos.end() ? nullptr : &it->second;
}
const ValueInfo* CheckContext::out_info(int i) const {
  if (i >= node.output_size()) return nullptr;
  auto it = infos.find(node.output(i));
  return it == infos.end() ? nullptr : &it->second;
}
int CheckContext::rank(int i) const {
  const ValueInfo* v = info(i);
  return v && v->shape ? static_cast<int>(v->shape->size()) : -1;
}

Result<Tensor> device_value(runtime::Runtime& rt, Value& v) {
  if (!v.device) {
    const HostTensor& h = *v.host;
    runtime::Shape shape;
    for (int64_t d : h.shape) shape.push_back(d);
    KILN_ASSIGN_OR_RETURN(v.device, v.shape_only ? rt.empty(shape, h.dtype)
                                                 : rt.from_host(h.data.data(), h.data.size(), shape, h.dtype));
  }
  return *v.device;
}

Result<Tensor> LowerContext::in(int i) {
  const std::string name = input_name(node, i);
  auto it = values_.find(name);
  if (name.empty() || it == values_.end()) return internal_error("input " + std::to_string(i) + " ('" + name + "') has no value");
  Value& v = it->second;
  if (Result<Tensor> t = device_value(rt, v); !t.ok()) {
    return t.status().with_context("input " + std::to_string(i) + " ('" + name + "')");
  }
  if (autocast && v.device->dtype() == DType::kF32) {
    autocast_applied_ = true;
    return runtime::cast(*v.device, *autocast);
  }
  return *v.device;
}

Result<std::shared_ptr<const HostTensor>> LowerContext::host(int i) {
  const std::string name = input_name(node, i);
  auto it = values_.find(name);
  if (name.empty() || it == values_.end() || !it->second.host || it->second.shape_only)
    return failed_precondition("input " + std::to_string(i) + " ('" + name + "') has no host value");
  return it->second.host;
}

Result<std::vector<int64_t>> LowerContext::host_ints(int i) {
  KILN_ASSIGN_OR_RETURN(auto h, host(i));
  return int_values(*h);
}

Result<std::vector<int64_t>> LowerContext::shape_of(int i) {
  const std::string name = input_name(node, i);
  auto it = values_.find(name);
  if (name.empty() || it == values_.end()) return internal_error("input " + std::to_string(i) + " ('" + name + "') has no value");
  if (it->second.device) return dims_of(*it->second.device);
  return it->second.host->shape;
}

Result<double> LowerContext::host_scalar(int i) {
  KILN_ASSIGN_OR_RETURN(auto h, host(i));
  if (h->numel() != 1) return invalid_argument("input " + std::to_string(i) + " must hold one value");
  return h->at(0);
}

void LowerContext::out(int i, Tensor t) {
  if (autocast_applied_ && t.dtype() == *autocast) {
    auto back = runtime::cast(t, DType::kF32);
    if (back.ok()) t = *back;  // cast to f32 cannot fail for a float tensor; keep t otherwise
  }
  values_[node.output(i)] = Value{t, nullptr};
}
void LowerContext::out_host(int i, HostTensor t) {
  values_[node.output(i)] = Value{std::nullopt, std::make_shared<const HostTensor>(std::move(t))};
}

std::string require_dtypes(const CheckContext& c, int input, std::initializer_list<DType> ok) {
  const ValueInfo* v = c.info(input);
  if (!v || !v->dtype) return "input " + std::to_string(input) + ": dtype unknown";
  for (DType d : ok)
    if (*v->dtype == d) return "";
  return "input " + std::to_string(input) + ": dtype " + std::string(dtype_name(*v->dtype)) + " is not supported";
}
std::string require_data_dtype(const CheckContext& c, int input) {
  return require_dtypes(c, input, {DType::kF32, DType::kF16, DType::kBF16, DType::kI32, DType::kI64, DType::kBool});
}
std::vector<int64_t> dims_of(const Tensor& t) { return std::vector<int64_t>(t.shape().begin(), t.shape().end()); }
std::string require_float(const CheckContext& c, int input) {
  return require_dtypes(c, input, {DType::kF32, DType::kF16, DType::kBF16});
}
std::string require_host(const CheckContext& c, int input, const char* what) {
  if (!c.has_input(input) || c.host(input)) return "";
  return std::string(what) + " must be an initializer, a Constant or a graph input (computed values are not supported)";
}
std::string first_of(std::initializer_list<std::string> reasons) {
  for (const auto& r : reasons)
    if (!r.empty()) return r;
  return "";
}
Result<Tensor> device_full(runtime::Runtime& rt, runtime::Shape shape, double value, DType dtype) {
  if (is_float(dtype) || dtype == DType::kI32) return rt.full(std::move(shape), value, dtype);
  KILN_ASSIGN_OR_RETURN(Tensor t, rt.full(std::move(shape), value, DType::kI32));
  return runtime::cast(t, dtype);
}
Result<Tensor> device_arange(runtime::Runtime& rt, int64_t n, DType dtype) {
  if (is_float(dtype) || dtype == DType::kI32) return rt.arange(n, dtype);
  KILN_ASSIGN_OR_RETURN(Tensor t, rt.arange(n, DType::kI32));
  return runtime::cast(t, dtype);
}
Result<Tensor> concat_any(std::vector<Tensor> parts, int dim) {
  if (parts.empty()) return invalid_argument("nothing to concatenate");
  while (parts.size() > 1) {
    std::vector<Tensor> next;
    for (std::size_t i = 0; i < parts.size(); i += 7) {
      std::vector<Tensor> group(parts.begin() + static_cast<std::ptrdiff_t>(i),
                                parts.begin() + static_cast<std::ptrdiff_t>(std::min(parts.size(), i + 7)));
      if (group.size() == 1) { next.push_back(group[0]); continue; }
      KILN_ASSIGN_OR_RETURN(Tensor joined, runtime::concat(group, dim));
      next.push_back(joined);
    }
    parts = std::move(next);
  }
  return parts[0];
}
Result<int> axis_of(int64_t axis, int rank, const char* what) {
  if (axis < -rank || axis >= std::max(rank, 1)) return invalid_argument(std::string(what) + " " + std::to_string(axis) + " out of range for rank " + std::to_string(rank));
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

const OpTable& op_table() {
  static const OpTable table = [] {
    OpTable t;
    add_elementwise_ops(t);
    add_nn_ops(t);
    add_shape_ops(t);
    add_math_ops(t);
    add_reduce_ops(t);
    add_layer_norm_statistics(t);
    add_gather_ops(t);
    add_loss_ops(t);
    add_movement_ops(t);
    add_make_ops(t);
    add_resize_ops(t);
    add_conv_ops(t);
    add_norm_ops(t);
    add_topk_ops(t);
    add_grid_sample_ops(t);
    add_rnn_ops(t);
    add_einsum_ops(t);
    return t;
  }();
  return table;
}

}  // namespace kiln::frontend::detail
