// The per-op lowering table: for each ONNX op type a check (run at load,
// from attributes and the types/shapes ONNX's shape inference gave every
// value) and a lowering onto runtime ops (run by OnnxModel::run). A check
// returns "" when the node is supported, else the reason, so load() can list
// every unsupported node at once before anything runs.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "kiln/frontend/host_tensor.h"
#include "kiln/runtime/ops.h"
#include "kiln/runtime/runtime.h"
#include "onnx_includes.h"

namespace kiln::frontend::detail {

using runtime::Tensor;

// What shape inference says about a value.
struct ValueInfo {
  std::optional<DType> dtype;     // nullopt: unknown, or no Kiln counterpart
  int32_t onnx_type = 0;
  std::optional<std::vector<int64_t>> shape;  // -1 for unknown dims
};

// Attribute access with ONNX's defaults.
int64_t attr_int(const onnx::NodeProto& n, const std::string& name, int64_t dflt);
float attr_float(const onnx::NodeProto& n, const std::string& name, float dflt);
std::string attr_string(const onnx::NodeProto& n, const std::string& name, const std::string& dflt);
std::optional<std::vector<int64_t>> attr_ints(const onnx::NodeProto& n, const std::string& name);
bool has_attr(const onnx::NodeProto& n, const std::string& name);
// Input i's name, or "" if absent (past the end or an empty name).
std::string input_name(const onnx::NodeProto& n, int i);

struct CheckContext {
  const onnx::NodeProto& node;
  int64_t opset;
  const std::map<std::string, ValueInfo>& infos;
  const std::set<std::string>& host_known;  // values whose host data exists when lowering
  const ValueInfo* info(int input) const;   // nullptr if absent/unknown
  const ValueInfo* out_info(int output) const;
  bool has_input(int i) const { return !input_name(node, i).empty(); }
  bool host(int i) const { return host_known.count(input_name(node, i)) > 0; }
  int rank(int input) const;  // -1 if unknown
};

// A value while lowering: a device tensor, host data, or both.
struct Value {
  std::optional<Tensor> device;
  std::shared_ptr<const HostTensor> host;
  // `host` holds a dtype and shape only (an initializer loaded for timing
  // without its values): device memory, uninitialised, made when a node
  // first reads it; never read as host values.
  bool shape_only = false;
};

// `v` on the device, made the first time it is asked for: its host values
// uploaded, or uninitialised memory of its shape (shape_only).
Result<Tensor> device_value(runtime::Runtime& rt, Value& v);

class LowerContext {
 public:
  LowerContext(runtime::Runtime& rt, const onnx::NodeProto& node, int64_t opset, std::map<std::string, Value>& values)
      : rt(rt), node(node), opset(opset), values_(values) {}
  runtime::Runtime& rt;
  const onnx::NodeProto& node;
  int64_t opset;

  // Autocast (LoadOptions::autocast) for this node: in() casts f32 device
  // inputs to it and out() casts its results back to f32.
  std::optional<DType> autocast;

  bool has(int i) const { return !input_name(node, i).empty(); }
  int inputs() const { return node.input_size(); }
  // Input i on the device (host data is uploaded once and kept).
  Result<Tensor> in(int i);
  // Input i's host values (for parameters: shapes, axes, bounds).
  Result<std::shared_ptr<const HostTensor>> host(int i);
  Result<std::vector<int64_t>> host_ints(int i);
  Result<double> host_scalar(int i);
  // Input i's shape, without uploading host data.
  Result<std::vector<int64_t>> shape_of(int i);
  void out(int i, Tensor t);
  void out_host(int i, HostTensor t);

 private:
  std::map<std::string, Value>& values_;
  bool autocast_applied_ = false;  // some input was cast: results go back to f32
};

using CheckFn = std::function<std::string(const CheckContext&)>;
// Stores an op's result as the node's first output (or returns its error).
inline Status put(LowerContext& c, Result<runtime::Tensor> r) {
  if (!r.ok()) return r.status();
  c.out(0, std::move(r).value());
  return {};
}

using LowerFn = std::function<Status(LowerContext&)>;
struct OpLowering {
  CheckFn check;
  LowerFn lower;
  // Inputs the lowering reads on the host (bounds, counts): a graph input
  // there is marked read_as_parameter.
  std::vector<int> host_inputs = {};
};
using OpTable = std::map<std::string, OpLowering>;

const OpTable& op_table();
void add_elementwise_ops(OpTable& table);
void add_nn_ops(OpTable& table);
void add_shape_ops(OpTable& table);
void add_math_ops(OpTable& table);
// These two extend entries add_nn_ops made (ArgMax/ArgMin, LayerNormalization): call them after it.
void add_reduce_ops(OpTable& table);
void add_layer_norm_statistics(OpTable& table);
void add_gather_ops(OpTable& table);
void add_loss_ops(OpTable& table);
void add_movement_ops(OpTable& table);
void add_make_ops(OpTable& table);
void add_resize_ops(OpTable& table);
void add_conv_ops(OpTable& table);
void add_norm_ops(OpTable& table);
void add_topk_ops(OpTable& table);
void add_grid_sample_ops(OpTable& table);
void add_rnn_ops(OpTable& table);
void add_einsum_ops(OpTable& table);

// A Constant node's value (after its check passed).
Result<HostTensor> constant_value(const onnx::NodeProto& node);

// Common checks: "" or a reason.
std::string require_float(const CheckContext& c, int input);            // f32/f16/bf16
std::string require_dtypes(const CheckContext& c, int input, std::initializer_list<DType> ok);
std::string require_data_dtype(const CheckContext& c, int input);  // any dtype a data-movement op moves
std::string require_host(const CheckContext& c, int input, const char* what);  // a constant/initializer
std::string first_of(std::initializer_list<std::string> reasons);
// full() and arange() in any dtype: the device makes f32/f16/bf16/int32
// values, others are cast from int32.
Result<Tensor> device_full(runtime::Runtime& rt, runtime::Shape shape, double value, DType dtype);
Result<Tensor> device_arange(runtime::Runtime& rt, int64_t n, DType dtype);
// concat of any number of tensors (the runtime's takes at most 7 per op).
Result<Tensor> concat_any(std::vector<Tensor> parts, int dim);
// A device tensor's dims as a vector (shape_math's functions take them so).
std::vector<int64_t> dims_of(const Tensor& t);
// Normalised axis or error.
Result<int> axis_of(int64_t axis, int rank, const char* what);

}  // namespace kiln::frontend::detail
