// An ONNX model loaded, checked and ready to lower onto a Kiln runtime.
//
//   auto model = OnnxModel::load("model.onnx", {.bindings = {{"N", 8}}}).value();
//   std::vector<Tensor> outs = model->run(*rt, {x}).value();   // records ops (lazy) or runs them (eager)
//
// load() reads the file with ONNX's protobuf classes, runs ONNX's checker and
// shape inference (symbolic input dims bound from `bindings` first), then
// checks every node against Kiln's lowering table. Everything that cannot
// run — an op with no lowering, an attribute value or dtype a lowering does
// not handle, an opset above 17 — is reported together in ONE error (code
// kUnimplemented) listing each node: name, op type, reason. A file that is
// not a model (truncated, garbage) fails with kInvalidArgument naming it;
// the checker's or shape inference's complaint fails with its text.
//
// Ownership: load() returns the owner; run() may be called many times and
// on several runtimes. The model's initializers are uploaded to a runtime at
// its first run() there and reused (they stay alive as long as the model).
// Threading: run() is not thread-safe (one caller at a time per model).
// Errors: Status/Result, nothing throws (ONNX's exceptions are caught).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/common/status.h"
#include "kiln/frontend/host_tensor.h"
#include "kiln/runtime/runtime.h"
#include "kiln/runtime/tensor.h"

namespace kiln::frontend {

// The highest default-domain opset supported.
inline constexpr int64_t kMaxOpset = 17;

struct LoadOptions {
  // Sizes of symbolic input dims ("batch" -> 8), by dim_param name.
  std::map<std::string, int64_t> bindings;
  // Fail (false) or not (true) on inputs with an unbound symbolic dim.
  // Runs then need the input files' shapes (kiln run binds those itself).
  bool allow_unbound = false;
  // For a timing-only runtime: initializers whose external data file is
  // missing (or large) load as shapes only (docs/onnx.md, "External data").
  // Such a model then runs only on timing-only runtimes.
  bool timing_only = false;
  // Autocast: bf16 or f16 runs every matrix op (MatMul, Gemm, Conv,
  // ConvTranspose) in that dtype, as torch.autocast does: f32 operands are
  // cast to it, the MME computes in it, and the result is cast back to f32.
  // Other ops keep the model's dtypes. nullopt: the model's own dtypes.
  std::optional<DType> autocast;
};

struct ValueSpec {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;  // -1: unknown (an unbound symbolic dim)
  // The model reads this input's values when it is lowered (a Reshape's
  // shape, a Clip's bound): run() needs its host values, and a captured
  // graph keeps the values it was captured with.
  bool read_as_parameter = false;
};

// One node the lowering table refuses.
struct UnsupportedNode {
  std::string node;     // its name, or "#<index>" if it has none
  std::string op_type;
  std::string reason;
};

class OnnxModel {
 public:
  // `bind_from`: tensors for the graph inputs in order (input files); an
  // input's symbolic dims left unbound by options take their sizes.
  static Result<std::unique_ptr<OnnxModel>> load(const std::string& path, const LoadOptions& options = {},
                                                 std::span<const HostTensor> bind_from = {});
  ~OnnxModel();
  OnnxModel(const OnnxModel&) = delete;
  OnnxModel& operator=(const OnnxModel&) = delete;

  // Graph inputs that are not initializers, in graph order; and outputs.
  const std::vector<ValueSpec>& inputs() const;
  const std::vector<ValueSpec>& outputs() const;
  int64_t opset() const;
  std::size_t node_count() const;
  const std::string& path() const;
  // Bytes of initializer values read in place from a mapping of their file
  // (the model file's large weights, external data) instead of copied.
  uint64_t mapped_weight_bytes() const;

  // Lowers the graph onto `runtime` in the calling thread's mode: lazy
  // records ops, eager runs each. `inputs` follow inputs(); `host_inputs`
  // (same order, may be empty) must hold the values of inputs that are
  // read_as_parameter. Returns the outputs in outputs() order. A lowering
  // that fails here (a runtime op refusing a shape) names the node.
  Result<std::vector<runtime::Tensor>> run(runtime::Runtime& runtime, const std::vector<runtime::Tensor>& inputs,
                                           std::span<const HostTensor> host_inputs = {});

  struct Impl;

 private:
  explicit OnnxModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The op types (default domain) the lowering table has, sorted: what
// `kiln run --list-ops` prints and docs/onnx.md's coverage table lists.
// An op listed may still refuse some attributes or dtypes at load.
std::vector<std::string> supported_op_types();

// The one error load() gives for unsupported nodes, from its list.
Status unsupported_error(const std::string& path, const std::vector<UnsupportedNode>& nodes);

}  // namespace kiln::frontend
