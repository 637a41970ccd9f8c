// The custom-op registry and call_custom_op: schema checks, inference, and
// the op recorded as a kCustom node (a kernel) or as the ops its composition
// records. Plugins: custom_op_plugin.cpp.
#include "kiln/runtime/custom_op.h"

#include <algorithm>
#include <bit>
#include <memory>
#include <shared_mutex>

#include "custom_op_registry.h"
#include "kiln/kernels/kernel_args.h"
#include "kiln/kernels/kernel_registry.h"
#include "ops_util.h"

namespace kiln::runtime {

namespace {

struct Registry {
  std::shared_mutex mu;
  std::map<std::string, std::shared_ptr<const CustomOpDef>, std::less<>> ops;
};

Registry& registry() {
  static Registry* r = new Registry();  // never destroyed: plugins' callbacks may outlive static teardown
  return *r;
}

Status schema_error(std::string_view op, const std::string& why) {
  return invalid_argument("custom op '" + std::string(op) + "': " + why);
}

bool well_formed(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
  });
}

const char* type_name(AttrType t) { return t == AttrType::kInt ? "an int" : "a float"; }
AttrType type_of(const AttrValue& v) { return std::holds_alternative<int64_t>(v) ? AttrType::kInt : AttrType::kFloat; }

std::string dtype_list(const std::vector<DType>& dtypes) {
  std::string s;
  for (std::size_t i = 0; i < dtypes.size(); ++i) {
    if (i > 0) s += i + 1 == dtypes.size() ? " or " : ", ";
    s += dtype_name(dtypes[i]);
  }
  return s;
}

std::string describe(const TensorMeta& m) { return std::string(dtype_name(m.dtype)) + to_string(m.shape); }

// The call's attributes, complete: defaults filled in, types checked.
Result<AttrMap> complete_attrs(const CustomOpSchema& s, const AttrMap& given) {
  // Not a structured binding: clang 14 cannot capture one in a lambda.
  for (const auto& entry : given) {
    const std::string& name = entry.first;
    const bool known = std::any_of(s.attrs.begin(), s.attrs.end(), [&](const CustomOpAttr& a) { return a.name == name; });
    if (!known) {
      std::string names;
      for (const CustomOpAttr& a : s.attrs) names += (names.empty() ? "" : ", ") + a.name;
      return schema_error(s.name, "unknown attribute '" + name + "' (" +
                                      (names.empty() ? std::string("it has none") : "it has: " + names) + ")");
    }
  }
  AttrMap out;
  for (const CustomOpAttr& a : s.attrs) {
    const auto it = given.find(a.name);
    if (it == given.end()) {
      if (!a.default_value) return schema_error(s.name, "attribute '" + a.name + "' is required and was not given");
      out.emplace(a.name, *a.default_value);
      continue;
    }
    if (type_of(it->second) != a.type) {
      return schema_error(s.name, "attribute '" + a.name + "' must be " + type_name(a.type) + ", got " +
                                      type_name(type_of(it->second)));
    }
    out.emplace(a.name, it->second);
  }
  return out;
}

Result<KernelScalars> scalars_of(const CustomOpDef& def, const std::vector<TensorMeta>& in, const AttrMap& attrs) {
  KernelScalars k;
  if (def.kernel.scalars) {
    const Status s = def.kernel.scalars(in, attrs, k);
    if (!s.ok()) return schema_error(def.schema.name, "computing the kernel's scalars: " + s.message());
  } else {
    for (const CustomOpAttr& a : def.schema.attrs) {
      const AttrValue& v = attrs.at(a.name);
      if (a.type == AttrType::kInt) k.ints.push_back(std::get<int64_t>(v));
      else k.floats.push_back(static_cast<float>(std::get<double>(v)));
    }
  }
  if (k.ints.size() > static_cast<std::size_t>(kernels::kMaxIntArgs) ||
      k.floats.size() > static_cast<std::size_t>(kernels::kMaxFloatArgs)) {
    return schema_error(def.schema.name, std::to_string(k.ints.size()) + " int and " + std::to_string(k.floats.size()) +
                                             " float scalars: a kernel launch takes at most " +
                                             std::to_string(kernels::kMaxIntArgs) + " and " +
                                             std::to_string(kernels::kMaxFloatArgs));
  }
  return k;
}

thread_local uint32_t current_fusion_group = 0;

// Nodes recorded during a non-fusable composition get a fusion group of
// their own (Node::fusion_group): the fusers merge only nodes of one group.
// The number counts such calls in the pending graph, so a step recorded
// again gets the same numbers (and the same cache key).
class FusionGroupScope {
 public:
  explicit FusionGroupScope(Runtime::Impl& rt) : previous_(current_fusion_group) {
    std::lock_guard lock(rt.mutex);
    current_fusion_group = ++rt.pending.fusion_groups;
  }
  ~FusionGroupScope() { current_fusion_group = previous_; }
  FusionGroupScope(const FusionGroupScope&) = delete;
  FusionGroupScope& operator=(const FusionGroupScope&) = delete;

 private:
  uint32_t previous_;
};

}  // namespace

uint32_t recording_fusion_group() { return current_fusion_group; }

uint64_t custom_op_id(std::string_view name) { return kernels::kernel_id(name); }

Status register_custom_op(CustomOpDef def) {
  const CustomOpSchema& s = def.schema;
  const std::string name = s.name.empty() ? std::string("(unnamed)") : s.name;
  if (!well_formed(s.name)) return schema_error(name, "the name must be [A-Za-z0-9_.]+");
  if (!def.infer) return schema_error(name, "no shape and dtype inference (CustomOpDef::infer) was given");
  const bool kernel = !def.kernel.kernel.empty();
  if (kernel == static_cast<bool>(def.compose)) {
    return schema_error(name, "give exactly one implementation: a kernel name or a composition");
  }
  if (kernel && !well_formed(def.kernel.kernel)) {
    return schema_error(name, "kernel name '" + def.kernel.kernel + "' is not [A-Za-z0-9_.]+");
  }
  if (s.num_outputs < 1) return schema_error(name, "must have at least one output");
  if (kernel && s.inputs.size() + static_cast<std::size_t>(s.num_outputs) > kernels::kMaxTensorArgs) {
    return schema_error(name, "a kernel launch takes at most " + std::to_string(kernels::kMaxTensorArgs) +
                                  " tensors (inputs + outputs)");
  }
  for (std::size_t i = 0; i < s.inputs.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (!s.inputs[i].name.empty() && s.inputs[i].name == s.inputs[j].name) {
        return schema_error(name, "two inputs are named '" + s.inputs[i].name + "'");
      }
    }
  }
  for (std::size_t i = 0; i < s.attrs.size(); ++i) {
    const CustomOpAttr& a = s.attrs[i];
    if (a.name.empty()) return schema_error(name, "attribute " + std::to_string(i) + " has no name");
    for (std::size_t j = 0; j < i; ++j) {
      if (a.name == s.attrs[j].name) return schema_error(name, "two attributes are named '" + a.name + "'");
    }
    if (a.default_value && type_of(*a.default_value) != a.type) {
      return schema_error(name, "the default of attribute '" + a.name + "' is not " + type_name(a.type));
    }
  }
  Registry& r = registry();
  std::unique_lock lock(r.mu);
  if (r.ops.count(s.name) > 0) {
    return failed_precondition("custom op '" + s.name + "' is already registered");
  }
  for (const auto& [other, d] : r.ops) {
    (void)d;
    if (custom_op_id(other) == custom_op_id(s.name)) {
      return failed_precondition("custom op '" + s.name + "' has the id of '" + other + "'");
    }
  }
  std::string key = s.name;  // `s` is moved from below
  r.ops.emplace(std::move(key), std::make_shared<const CustomOpDef>(std::move(def)));
  return {};
}

std::shared_ptr<const CustomOpDef> find_custom_op(std::string_view name) {
  Registry& r = registry();
  std::shared_lock lock(r.mu);
  const auto it = r.ops.find(name);
  return it == r.ops.end() ? nullptr : it->second;
}

Result<CustomOpSchema> custom_op_schema(std::string_view name) {
  const auto def = find_custom_op(name);
  if (!def) return not_found("custom op '" + std::string(name) + "' is not registered");
  return def->schema;
}

std::vector<std::string> custom_op_names() {
  Registry& r = registry();
  std::shared_lock lock(r.mu);
  std::vector<std::string> names;
  for (const auto& [name, def] : r.ops) names.push_back(name);
  return names;
}

Result<std::vector<Tensor>> call_custom_op(std::string_view name, const std::vector<Tensor>& inputs,
                                           const AttrMap& given) {
  const auto found = find_custom_op(name);
  if (!found) {
    return not_found("custom op '" + std::string(name) +
                     "' is not registered (register_custom_op, or a plugin on the kernel search path)");
  }
  const CustomOpDef& def = *found;
  const CustomOpSchema& s = def.schema;
  if (inputs.size() != s.inputs.size()) {
    std::string names;
    for (const CustomOpInput& in : s.inputs) names += (names.empty() ? "" : ", ") + in.name;
    return schema_error(s.name, "takes " + std::to_string(s.inputs.size()) + " inputs (" + names + "), got " +
                                    std::to_string(inputs.size()));
  }
  if (inputs.empty()) return schema_error(s.name, "has no inputs: nothing says which runtime runs it");
  std::vector<TensorMeta> metas;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i];
    const std::string which = "input " + std::to_string(i) + (s.inputs[i].name.empty() ? "" : " (" + s.inputs[i].name + ")");
    if (!t.defined()) return schema_error(s.name, which + " is undefined");
    if (t.impl()->owner != inputs[0].impl()->owner) return schema_error(s.name, which + " belongs to another runtime");
    const std::vector<DType>& ok = s.inputs[i].dtypes;
    if (!ok.empty() && std::find(ok.begin(), ok.end(), t.dtype()) == ok.end()) {
      return schema_error(s.name, which + " must be " + dtype_list(ok) + ", got " + t.describe());
    }
    metas.push_back(TensorMeta{t.shape(), t.dtype()});
  }
  Runtime::Impl& rt = rt_of(inputs[0]);
  KILN_RETURN_IF_ERROR(rt.check_open("custom op '" + s.name + "'"));
  KILN_ASSIGN_OR_RETURN(const AttrMap attrs, complete_attrs(s, given));
  std::vector<TensorMeta> outs;
  const Status inferred = def.infer(metas, attrs, outs);
  if (!inferred.ok()) return schema_error(s.name, "shape inference: " + inferred.message());
  if (outs.size() != static_cast<std::size_t>(s.num_outputs)) {
    return schema_error(s.name, "inference gave " + std::to_string(outs.size()) + " outputs, the schema says " +
                                    std::to_string(s.num_outputs));
  }
  for (std::size_t i = 0; i < outs.size(); ++i) {
    const Shape& shape = outs[i].shape;
    if (static_cast<int>(shape.size()) > kMaxRank ||
        std::any_of(shape.begin(), shape.end(), [](int64_t d) { return d < 0; })) {
      return schema_error(s.name, "inference gave output " + std::to_string(i) + " the shape " + to_string(shape) +
                                      " (at most 5 dims, none negative)");
    }
  }

  if (def.compose) {
    std::optional<FusionGroupScope> group;
    if (!def.fusable) group.emplace(rt);
    Result<std::vector<Tensor>> result = [&] {
      CompositeScope scope(s.name.c_str());  // the registry keeps the name alive
      return def.compose(inputs, attrs);
    }();
    if (!result.ok()) return result.status().with_context("custom op '" + s.name + "'");
    if (result->size() != outs.size()) {
      return schema_error(s.name, "the composition returned " + std::to_string(result->size()) +
                                      " outputs, the schema says " + std::to_string(outs.size()));
    }
    for (std::size_t i = 0; i < outs.size(); ++i) {
      const Tensor& t = (*result)[i];
      if (!t.defined() || TensorMeta{t.shape(), t.dtype()} != outs[i]) {
        return schema_error(s.name, "the composition returned " + (t.defined() ? t.describe() : "nothing") +
                                        " for output " + std::to_string(i) + ", inference says " + describe(outs[i]));
      }
    }
    return result;
  }

  KILN_ASSIGN_OR_RETURN(const KernelScalars k, scalars_of(def, metas, attrs));
  // attrs.ints: the op's id and its kernel's (both part of the cache key),
  // then the kernel's int scalars; attrs.floats: its float scalars.
  Attrs a;
  a.ints = {std::bit_cast<int64_t>(custom_op_id(s.name)), std::bit_cast<int64_t>(kernels::kernel_id(def.kernel.kernel))};
  a.ints.insert(a.ints.end(), k.ints.begin(), k.ints.end());
  for (float f : k.floats) a.floats.push_back(f);
  std::vector<std::pair<Shape, DType>> out_metas;
  for (const TensorMeta& m : outs) out_metas.emplace_back(m.shape, m.dtype);
  return rt.record(OpKind::kCustom, std::move(a), inputs, out_metas, s.name);
}

}  // namespace kiln::runtime
