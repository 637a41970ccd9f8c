// OnnxModel: load, ONNX's checker and shape inference, the whole-model
// support check, and lowering onto a runtime.
#include "kiln/frontend/onnx_model.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <set>
#include <sstream>
#include <system_error>
#include <thread>

#include "external_data.h"
#include "fold.h"
#include "lowering.h"
#include "model_file.h"
#include "proto_io.h"
#include "schema_guards.h"
#include "shape_math.h"

namespace kiln::frontend {

using detail::ValueInfo;

struct OnnxModel::Impl {
  std::string path;
  onnx::ModelProto model;
  int64_t opset = 0;
  std::vector<ValueSpec> inputs, outputs;
  std::map<std::string, std::shared_ptr<const HostTensor>> initializers;
  // Initializers without values (timing-only): name -> their data file.
  std::map<std::string, std::string> absent;
  uint64_t mapped_weight_bytes = 0;
  std::set<int> folded;  // nodes evaluated at load (Constants, fold.h): their values are in `initializers`
  // Initializers uploaded per runtime: weights move to a device once.
  std::map<const runtime::Runtime*, std::map<std::string, runtime::Tensor>> uploaded;
  std::optional<DType> autocast;
};

std::vector<std::string> supported_op_types() {
  std::vector<std::string> ops;
  for (const auto& [op, lowering] : detail::op_table()) ops.push_back(op);
  return ops;  // the table is a std::map: sorted already
}

Status unsupported_error(const std::string& path, const std::vector<UnsupportedNode>& nodes) {
  std::ostringstream s;
  s << "'" << path << "': " << nodes.size() << " unsupported node" << (nodes.size() == 1 ? "" : "s") << ":";
  for (const auto& n : nodes) s << "\n  " << n.node << " (" << n.op_type << "): unsupported: " << n.reason;
  return unimplemented(s.str());
}

namespace {

// The ops autocast runs in the lower-precision dtype: those the MME runs.
bool is_matrix_op(const std::string& op) {
  return op == "MatMul" || op == "Gemm" || op == "Conv" || op == "ConvTranspose";
}

ValueInfo info_of(const onnx::ValueInfoProto& v) {
  ValueInfo info;
  if (!v.type().has_tensor_type()) return info;
  const auto& tt = v.type().tensor_type();
  info.onnx_type = tt.elem_type();
  info.dtype = detail::to_kiln_dtype(tt.elem_type());
  if (tt.has_shape()) {
    std::vector<int64_t> dims;
    for (const auto& d : tt.shape().dim()) dims.push_back(d.has_dim_value() ? d.dim_value() : -1);
    info.shape = dims;
  }
  return info;
}


// "FLOAT [2, 4]".
std::string describe_declared(const ValueInfo& v) {
  return detail::onnx_dtype_name(v.onnx_type) + " " + detail::shape_string(v.shape.value_or(std::vector<int64_t>{}));
}

// A graph output that is a graph input or an initializer passes that value
// through: what it declares must be the value's type, and its sized dims
// the value's. (ONNX's checker and shape inference compare neither: the
// value would reach the caller with a dtype load did not announce.)
Status check_pass_through_outputs(const onnx::GraphProto& g) {
  std::map<std::string, std::pair<std::string, ValueInfo>> sources;  // name -> (what it is, its type)
  for (const auto& v : g.input()) sources[v.name()] = {"graph input", info_of(v)};
  for (const auto& t : g.initializer()) {
    ValueInfo vi;
    vi.onnx_type = t.data_type();
    vi.shape = std::vector<int64_t>(t.dims().begin(), t.dims().end());
    sources[t.name()] = {"initializer", vi};
  }
  for (const auto& o : g.output()) {
    auto it = sources.find(o.name());
    if (it == sources.end() || !o.type().has_tensor_type()) continue;
    const ValueInfo declared = info_of(o), &value = it->second.second;
    bool agrees = declared.onnx_type == 0 || declared.onnx_type == value.onnx_type;
    if (declared.shape && value.shape) {
      agrees = agrees && declared.shape->size() == value.shape->size();
      for (std::size_t i = 0; agrees && i < declared.shape->size(); ++i) {
        const int64_t want = (*declared.shape)[i], have = (*value.shape)[i];
        agrees = want < 0 || have < 0 || want == have;
      }
    }
    if (!agrees)
      return invalid_argument("graph output '" + o.name() + "' declares " + describe_declared(declared) + ", but it is " +
                              it->second.first + " '" + o.name() + "' of " + describe_declared(value));
  }
  return {};
}

int32_t onnx_type_of(DType d) {
  switch (d) {
    case DType::kF32: return onnx::TensorProto::FLOAT;
    case DType::kBF16: return onnx::TensorProto::BFLOAT16;
    case DType::kF16: return onnx::TensorProto::FLOAT16;
    case DType::kI32: return onnx::TensorProto::INT32;
    case DType::kI64: return onnx::TensorProto::INT64;
    case DType::kBool: return onnx::TensorProto::BOOL;
  }
  return onnx::TensorProto::UNDEFINED;
}

void write_tensor_proto(const HostTensor& h, const std::string& name, onnx::TensorProto* t) {
  t->set_name(name);
  t->set_data_type(onnx_type_of(h.dtype));
  for (int64_t d : h.shape) t->add_dims(d);
  t->set_raw_data(std::string(reinterpret_cast<const char*>(h.data.data()), h.data.size()));  // ONNX's raw layout: ours
}

// What libonnx's shape inference (1.12) assumes and does not check: it
// divides by a Conv's or a pool's strides and by a DepthToSpace's or
// SpaceToDepth's blocksize, so a zero there is a SIGFPE inside libonnx, past
// anything a try/catch can do. Checked on every node of every (sub)graph
// before it runs. ONNX requires both to be positive anyway; dilations too.
Status check_inference_preconditions(const onnx::GraphProto& graph) {
  for (const auto& n : graph.node()) {
    for (const auto& a : n.attribute()) {
      for (const auto& g : a.graphs()) KILN_RETURN_IF_ERROR(check_inference_preconditions(g));
      if (a.has_g()) KILN_RETURN_IF_ERROR(check_inference_preconditions(a.g()));
      if (a.name() != "strides" && a.name() != "dilations" && a.name() != "blocksize") continue;
      bool positive = a.ints_size() == 0 || *std::min_element(a.ints().begin(), a.ints().end()) > 0;
      if (a.type() == onnx::AttributeProto::INT || a.has_i()) positive = positive && a.i() > 0;
      if (!positive) {
        std::string node = n.name().empty() ? "a " + n.op_type() + " node" : "node " + n.name() + " (" + n.op_type() + ")";
        node += ": ";
        node += a.name();
        return invalid_argument(node + " must be positive");
      }
    }
  }
  return {};
}

// ONNX's shape inference ran before anything was folded, so a Reshape whose
// shape is computed (torch.onnx's export of x.view(x.size(0), ...): Shape,
// Gather, Div, Concat) has no known output shape, nor has anything after it.
// Folds what folds, then infers again on a copy of the graph in which the
// folded values are initializers, and takes the shapes the first pass did
// not know. Errors of folding are left to the main pass, which names the
// node; if the second inference throws, the first one's shapes stand.
void infer_after_folding(const onnx::ModelProto& model, int64_t opset, std::map<std::string, ValueInfo>& infos,
                         std::map<std::string, std::shared_ptr<const HostTensor>> constants) {
  bool unknown = false;
  for (const auto& n : model.graph().node())
    for (const auto& o : n.output()) {
      auto it = infos.find(o);
      unknown = unknown || (!o.empty() && (it == infos.end() || !it->second.shape));
    }
  if (!unknown) return;
  onnx::ModelProto copy = model;
  auto* graph = copy.mutable_graph();
  // The initializers' values were moved out; shape inference may read the small ones.
  for (auto& t : *graph->mutable_initializer()) {
    auto it = constants.find(t.name());
    if (it != constants.end() && it->second->numel() <= detail::kMaxFoldElements) {
      t.Clear();
      write_tensor_proto(*it->second, it->first, &t);
    }
  }
  google::protobuf::RepeatedPtrField<onnx::NodeProto> kept;
  auto local = infos;
  bool folded = false;
  for (const auto& n : model.graph().node()) {
    std::optional<HostTensor> value;
    if (n.op_type() == "Constant" && (n.domain().empty() || n.domain() == "ai.onnx")) {
      auto v = detail::constant_value(n);
      if (v.ok()) value = std::move(v).value();
    } else {
      auto f = detail::try_fold(n, opset, local, constants);
      if (f.ok() && *f) {
        value = std::move(**f);
        folded = true;
      }
    }
    if (!value || n.output_size() != 1) {
      *kept.Add() = n;
      continue;
    }
    ValueInfo& vi = local[n.output(0)];
    vi.dtype = value->dtype;
    vi.shape = value->shape;
    write_tensor_proto(*value, n.output(0), graph->add_initializer());
    constants[n.output(0)] = std::make_shared<const HostTensor>(std::move(*value));
  }
  if (!folded) return;
  *graph->mutable_node() = kept;
  graph->clear_value_info();
  try {
    onnx::ShapeInferenceOptions si(/*check_type=*/true, /*strict_mode=*/1, /*data_prop=*/true);
    onnx::shape_inference::InferShapes(copy, detail::guarded_schemas(), si);
  } catch (const std::exception&) {
    return;
  }
  auto take = [&](const onnx::ValueInfoProto& v) {
    ValueInfo fresh = info_of(v);
    ValueInfo& current = infos[v.name()];
    if (!current.shape && fresh.shape) current = fresh;
  };
  for (const auto& v : copy.graph().value_info()) take(v);
  for (const auto& v : copy.graph().output()) take(v);
}
}  // namespace

OnnxModel::OnnxModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
OnnxModel::~OnnxModel() = default;
const std::vector<ValueSpec>& OnnxModel::inputs() const { return impl_->inputs; }
const std::vector<ValueSpec>& OnnxModel::outputs() const { return impl_->outputs; }
int64_t OnnxModel::opset() const { return impl_->opset; }
std::size_t OnnxModel::node_count() const { return static_cast<std::size_t>(impl_->model.graph().node_size()); }
const std::string& OnnxModel::path() const { return impl_->path; }
uint64_t OnnxModel::mapped_weight_bytes() const { return impl_->mapped_weight_bytes; }

Result<std::unique_ptr<OnnxModel>> OnnxModel::load(const std::string& path, const LoadOptions& options,
                                                   std::span<const HostTensor> bind_from) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  if (options.autocast && *options.autocast != DType::kBF16 && *options.autocast != DType::kF16)
    return invalid_argument("autocast to " + std::string(dtype_name(*options.autocast)) + ": only bf16 and f16 are supported");
  impl->autocast = options.autocast;
  // libonnx builds its registry of every operator schema on first use (about
  // 15 ms, once per process): on another thread while this one reads and
  // parses the file (joined before the checker, or on any return). Without
  // a thread to spare, the checker builds it.
  static std::atomic<bool> schemas_built{false};
  std::jthread schemas;
  if (!schemas_built.load(std::memory_order_acquire)) {
    try {
      schemas = std::jthread([] {
        (void)detail::guarded_schemas();
        schemas_built.store(true, std::memory_order_release);
      });
    } catch (const std::system_error&) {
    }
  }
  KILN_ASSIGN_OR_RETURN(detail::ModelFile file, detail::read_model_file(path));
  impl->model = std::move(file.model);
  onnx::ModelProto& model = impl->model;
  KILN_ASSIGN_OR_RETURN(detail::ExternalData external,
                        detail::resolve_external_data(model, path, options.timing_only, std::move(file.mapping)));
  impl->absent = std::move(external.absent);
  for (const auto& [name, bytes] : external.present) impl->mapped_weight_bytes += bytes.size();
  for (const auto& o : model.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx") impl->opset = o.version();

  // ONNX's own checks first: a model they reject is malformed, whatever Kiln supports.
  // Both throw (ValidationError, InferenceError, protobuf's errors): caught here.
  if (schemas.joinable()) schemas.join();
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    return invalid_argument("'" + path + "' fails the ONNX checker: " + e.what());
  }
  std::set<std::string> init_names;
  for (const auto& t : model.graph().initializer()) init_names.insert(t.name());
  {
    // ONNX's checker lets a graph output that nothing produces through.
    std::set<std::string> produced = init_names;
    for (const auto& v : model.graph().input()) produced.insert(v.name());
    for (const auto& n : model.graph().node()) produced.insert(n.output().begin(), n.output().end());
    for (const auto& v : model.graph().output())
      if (!produced.count(v.name()))
        return invalid_argument("'" + path + "': graph output '" + v.name() + "' is produced by no node, graph input or initializer");
    if (Status s = check_pass_through_outputs(model.graph()); !s.ok()) return s.with_context("'" + path + "'");
  }
  // Symbolic dims bound before inference, so every shape it derives is concrete.
  auto* graph = model.mutable_graph();
  std::size_t input_index = 0;
  for (auto& in : *graph->mutable_input()) {
    if (init_names.count(in.name())) continue;
    const HostTensor* from = input_index < bind_from.size() ? &bind_from[input_index] : nullptr;
    ++input_index;
    if (!in.type().has_tensor_type()) continue;
    auto* shape = in.mutable_type()->mutable_tensor_type()->mutable_shape();
    for (int k = 0; k < shape->dim_size(); ++k) {
      auto& d = *shape->mutable_dim(k);
      // ONNX's checker takes a negative size; whatever sizes inputs by it does not.
      if (d.has_dim_value() && d.dim_value() < 0)
        return invalid_argument("'" + path + "': input '" + in.name() + "' has the dim " + std::to_string(d.dim_value()));
      if (d.has_dim_value()) continue;
      auto it = options.bindings.find(d.dim_param());
      if (it != options.bindings.end()) {
        d.set_dim_value(it->second);
      } else if (from && static_cast<int>(from->shape.size()) == shape->dim_size()) {
        d.set_dim_value(from->shape[static_cast<std::size_t>(k)]);
      } else if (!options.allow_unbound) {
        return invalid_argument("'" + path + "': input '" + in.name() + "' has the symbolic dim '" + d.dim_param() +
                                "': bind it (--bind " + (d.dim_param().empty() ? "NAME" : d.dim_param()) + "=SIZE)");
      }
    }
  }
  if (Status s = check_inference_preconditions(model.graph()); !s.ok()) return s.with_context("'" + path + "'");
  if (impl->opset > kMaxOpset)
    return unimplemented("'" + path + "': opset " + std::to_string(impl->opset) + " is above the highest supported, " +
                         std::to_string(kMaxOpset));
  try {
    onnx::ShapeInferenceOptions si(/*check_type=*/true, /*strict_mode=*/1, /*data_prop=*/true);
    onnx::shape_inference::InferShapes(model, detail::guarded_schemas(), si);
  } catch (const std::exception& e) {
    return invalid_argument("'" + path + "': ONNX shape inference failed: " + e.what());
  }

  std::map<std::string, ValueInfo> infos;
  for (const auto& v : model.graph().input()) infos[v.name()] = info_of(v);
  for (const auto& v : model.graph().value_info()) infos[v.name()] = info_of(v);
  for (const auto& v : model.graph().output()) infos[v.name()] = info_of(v);
  std::set<std::string> host_known;
  for (auto& t : *model.mutable_graph()->mutable_initializer()) {
    const std::string what = "'" + path + "': initializer '" + t.name() + "'";
    const bool absent = impl->absent.count(t.name()) > 0;
    auto mapped = external.present.find(t.name());
    const bool external_values = mapped != external.present.end();
    KILN_ASSIGN_OR_RETURN(HostTensor h, absent || external_values ? detail::shape_only(t, what) : detail::take_tensor_proto(t, what));
    if (external_values) h.data = std::move(mapped->second);
    if (!absent) host_known.insert(t.name());
    t.clear_raw_data();  // the HostTensor holds the values now
    ValueInfo& vi = infos[t.name()];
    vi.dtype = h.dtype;
    vi.onnx_type = t.data_type();
    vi.shape = h.shape;
    impl->initializers[t.name()] = std::make_shared<const HostTensor>(std::move(h));
  }
  auto constants = impl->initializers;  // and Constants and folded values: what folding reads
  infer_after_folding(model, impl->opset, infos, constants);
  std::set<std::string> graph_inputs;
  for (const auto& v : model.graph().input()) {
    if (init_names.count(v.name())) continue;
    graph_inputs.insert(v.name());
    host_known.insert(v.name());  // run() is given inputs' host values where needed
  }

  // Every node, before anything runs: one list of what cannot be lowered.
  std::vector<UnsupportedNode> unsupported;
  std::set<std::string> parameters;  // graph inputs read as parameters
  const auto& table = detail::op_table();
  const auto& nodes = model.graph().node();
  for (int i = 0; i < nodes.size(); ++i) {
    const auto& n = nodes[i];
    const std::string name = n.name().empty() ? "#" + std::to_string(i) : n.name();
    std::string reason;
    auto it = table.find(n.op_type());
    if (!n.domain().empty() && n.domain() != "ai.onnx") reason = "domain '" + n.domain() + "' is not supported";
    for (int k = 0; reason.empty() && k < n.input_size(); ++k) {
      if (n.input(k).empty()) continue;
      auto v = infos.find(n.input(k));
      if (v == infos.end() || !v->second.dtype)
        reason = "input '" + n.input(k) + "': dtype " + (v == infos.end() ? std::string("unknown") : detail::onnx_dtype_name(v->second.onnx_type)) + " is not supported";
    }
    for (int k = 0; reason.empty() && k < n.output_size(); ++k) {
      if (n.output(k).empty()) continue;
      auto v = infos.find(n.output(k));
      if (v != infos.end() && !v->second.dtype)
        reason = "output '" + n.output(k) + "': dtype " + detail::onnx_dtype_name(v->second.onnx_type) + " is not supported";
    }
    for (int k = 0; reason.empty() && k < n.output_size(); ++k) {
      auto v = infos.find(n.output(k));
      if (v != infos.end() && v->second.shape && v->second.shape->size() > static_cast<std::size_t>(runtime::kMaxRank))
        reason = "output '" + n.output(k) + "' has rank " + std::to_string(v->second.shape->size()) + ", above the runtime's " +
                 std::to_string(runtime::kMaxRank);
    }
    if (reason.empty()) {
      auto folded = detail::try_fold(n, impl->opset, infos, constants);
      if (!folded.ok()) return folded.status().with_context("'" + path + "': node " + name + " (" + n.op_type() + ")");
      if (*folded) {
        auto value = std::make_shared<const HostTensor>(std::move(**folded));
        ValueInfo& vi = infos[n.output(0)];
        vi.dtype = value->dtype;
        vi.shape = value->shape;
        impl->folded.insert(i);
        impl->initializers[n.output(0)] = constants[n.output(0)] = value;
        host_known.insert(n.output(0));
        continue;
      }
    }
    if (reason.empty() && it == table.end()) reason = "no lowering for this op";
    for (int k = 0; reason.empty() && k < n.input_size(); ++k) {
      auto v = infos.find(n.input(k));
      if (v != infos.end() && v->second.shape && v->second.shape->size() > static_cast<std::size_t>(runtime::kMaxRank))
        reason = "input '" + n.input(k) + "' has rank " + std::to_string(v->second.shape->size()) + ", above the runtime's " +
                 std::to_string(runtime::kMaxRank);
    }
    if (reason.empty()) {
      detail::CheckContext ctx{n, impl->opset, infos, host_known};
      reason = it->second.check(ctx);
    }
    if (!reason.empty()) {
      unsupported.push_back({name, n.op_type(), reason});
      continue;
    }
    if (n.op_type() == "Constant") {
      auto value = detail::constant_value(n);
      if (!value.ok()) return value.status().with_context("'" + path + "': node " + name + " (Constant)");
      impl->folded.insert(i);
      impl->initializers[n.output(0)] = constants[n.output(0)] = std::make_shared<const HostTensor>(std::move(value).value());
      host_known.insert(n.output(0));
    }
    // A graph input read as a parameter: an input past the op's first that it reads on the host.
    for (int k = 1; k < n.input_size(); ++k)
      if (graph_inputs.count(n.input(k)) &&
          (n.op_type() == "Reshape" || n.op_type() == "Clip" || n.op_type() == "Squeeze" || n.op_type() == "Unsqueeze" ||
           n.op_type() == "Split" || n.op_type() == "ReduceSum"))
        parameters.insert(n.input(k));
    for (int k : it->second.host_inputs)
      if (k < n.input_size() && graph_inputs.count(n.input(k))) parameters.insert(n.input(k));
  }
  if (!unsupported.empty()) return unsupported_error(path, unsupported);

  for (const auto& v : model.graph().input()) {
    if (init_names.count(v.name())) continue;
    ValueInfo vi = info_of(v);
    if (!vi.dtype) return unimplemented("'" + path + "': input '" + v.name() + "' has dtype " + detail::onnx_dtype_name(vi.onnx_type) + ", not supported");
    impl->inputs.push_back({v.name(), *vi.dtype, vi.shape.value_or(std::vector<int64_t>{}), parameters.count(v.name()) > 0});
  }
  for (const auto& v : model.graph().output()) {
    ValueInfo vi = infos[v.name()];
    if (!vi.dtype) return unimplemented("'" + path + "': output '" + v.name() + "' has dtype " + detail::onnx_dtype_name(vi.onnx_type) + ", not supported");
    impl->outputs.push_back({v.name(), *vi.dtype, vi.shape.value_or(std::vector<int64_t>{}), false});
  }
  return std::unique_ptr<OnnxModel>(new OnnxModel(std::move(impl)));
}

Result<std::vector<runtime::Tensor>> OnnxModel::run(runtime::Runtime& rt, const std::vector<runtime::Tensor>& inputs,
                                                    std::span<const HostTensor> host_inputs) {
  Impl& m = *impl_;
  if (inputs.size() != m.inputs.size())
    return invalid_argument("'" + m.path + "' takes " + std::to_string(m.inputs.size()) + " inputs, got " + std::to_string(inputs.size()));
  std::map<std::string, detail::Value> values;
  auto& uploaded = m.uploaded[&rt];
  for (const auto& [name, host] : m.initializers) {
    detail::Value v{std::nullopt, host};
    if (auto it = uploaded.find(name); it != uploaded.end()) v.device = it->second;
    if (auto absent = m.absent.find(name); absent != m.absent.end()) {
      if (rt.options().device.functional)
        return failed_precondition("'" + m.path + "': initializer '" + name + "' has no values (loaded for timing only, its data in '" +
                                   absent->second + "' absent or not read): it runs only on a timing-only device");
      // Only the shape matters: device memory without an upload from the
      // host, made when a node first reads it (LowerContext::in).
      v.shape_only = true;
    }
    values[name] = v;
  }
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    detail::Value v{inputs[i], nullptr};
    if (i < host_inputs.size()) v.host = std::make_shared<const HostTensor>(host_inputs[i]);
    else if (m.inputs[i].read_as_parameter)
      return invalid_argument("input '" + m.inputs[i].name + "' is read as a parameter: its host values are needed");
    values[m.inputs[i].name] = v;
  }
  const auto& table = detail::op_table();
  const auto& nodes = m.model.graph().node();
  for (int i = 0; i < nodes.size(); ++i) {
    const auto& n = nodes[i];
    if (m.folded.count(i)) continue;  // its value is among the initializers
    detail::LowerContext ctx(rt, n, m.opset, values);
    if (m.autocast && is_matrix_op(n.op_type())) ctx.autocast = m.autocast;
    runtime::OpScope scope(n.name().empty() ? n.op_type() + "_" + std::to_string(i) : n.name());
    Status s = table.at(n.op_type()).lower(ctx);
    if (!s.ok()) return s.with_context("node " + (n.name().empty() ? "#" + std::to_string(i) : n.name()) + " (" + n.op_type() + ")");
  }
  // Keep the uploaded weights for the next run on this runtime.
  for (const auto& [name, host] : m.initializers)
    if (values[name].device) uploaded[name] = *values[name].device;
  std::vector<runtime::Tensor> outs;
  for (const auto& o : m.outputs) {
    auto it = values.find(o.name);
    if (it == values.end()) return internal_error("output '" + o.name + "' was not computed");
    // An output that is a constant is uploaded as is (an absent one: its memory).
    Result<runtime::Tensor> t = detail::device_value(rt, it->second);
    if (!t.ok()) return t.status().with_context("output '" + o.name + "'");
    outs.push_back(*t);
  }
  return outs;
}

}  // namespace kiln::frontend
