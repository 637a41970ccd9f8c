// Custom operators: an op defined outside Kiln's op set, registered once and
// then called like any runtime op, in eager and lazy mode (and in captured
// graphs, since it records an ordinary graph node).
//
// One registration (CustomOpDef) gives
//  - the schema: the op's name, its inputs (with the dtypes each accepts),
//    its attributes (int or float, with or without a default) and its
//    output count;
//  - shape and dtype inference: input metas + attributes -> output metas;
//  - the implementation, one of
//      * a TPC kernel by registry name (a built-in one or one a kernel plugin
//        brought in). The launch's tensor descriptors are the inputs in
//        order, then the outputs, each in the kernel layer's order (dim 0
//        innermost: numpy's reversed). Its scalars are the attributes in
//        schema order (ints to KernelArgs::ints, floats to ::floats), or what
//        CustomOpKernel::scalars computes. The arguments travel as the
//        versioned kernel argument block (kiln/kernels/kernel_arg_block.h),
//        never as a C++ struct;
//      * a composition: a function that records existing runtime ops
//        (matmul, softmax, ...), i.e. MME and TPC jobs;
//  - whether the fuser may merge it (`fusable`, below).
//
// Calling it: call_custom_op("my_op", {x, y}, {{"alpha", 0.5}}). The call
// checks the inputs against the schema, fills in attribute defaults, runs
// inference and records the op; every error names the op:
//   custom op 'my_op': input 1 (bias) must be f32 or bf16, got i32[3]
//   custom op 'my_op': unknown attribute 'alpah' (it has: alpha, beta)
// A kernel that faults at launch comes back from synchronize() or a read as
// a device fault naming the op ("op 'my_op' of step 3, TPC queue: ...").
//
// Plugins: a shared library on the kernel search path (DeviceOptions::
// kernel_paths and $KILN_KERNEL_PATH, which the simulator loads kernels from)
// may register custom ops as well as kernels: KILN_CUSTOM_OP_PLUGIN(fn)
// once in one of its sources, with `fn` adding its ops to the registrar.
// Runtime::open loads the custom ops of every plugin on that path (each
// library once per process); a library built for another custom-op plugin
// API version is refused with a message naming both versions. Plugin ops
// are kernel ops: a composition calls runtime functions, which a plugin
// (linked against no runtime) cannot.
//
// Fusion: a kernel op is one vector-core launch the fusers never merge (the
// fused_elementwise kernel runs only its own instruction set), so for a
// kernel op `fusable` changes nothing and the op is a fusion barrier. For a
// composition, `fusable` = true lets the fusers merge its ops with each
// other and with the ops around it (a composed bias + gelu fuses into the
// GEMM before it); false keeps its ops apart from the ops outside it: they
// fuse among themselves only.
//
// Registry: process-wide, never shrinks; entries are immutable once added.
// Threading: every function here is thread-safe. The callbacks (infer,
// scalars, compose) may be called from any thread that calls the op, at the
// call only (never during compilation), and must not block on the runtime.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "kiln/common/status.h"
#include "kiln/runtime/shape.h"
#include "kiln/runtime/tensor.h"

namespace kiln::runtime {

enum class AttrType : uint8_t { kInt, kFloat };
// An attribute's value: int64_t for kInt, double for kFloat (no conversion
// between them: an int given for a float attribute is a schema mismatch).
using AttrValue = std::variant<int64_t, double>;
using AttrMap = std::map<std::string, AttrValue, std::less<>>;

// A tensor as inference sees it.
struct TensorMeta {
  Shape shape;  // numpy order
  DType dtype = DType::kF32;
  bool operator==(const TensorMeta&) const = default;
};

struct CustomOpInput {
  std::string name;           // for messages
  std::vector<DType> dtypes;  // the dtypes it accepts; empty: any
};

struct CustomOpAttr {
  std::string name;
  AttrType type = AttrType::kFloat;
  std::optional<AttrValue> default_value;  // none: the caller must give it
};

struct CustomOpSchema {
  std::string name;  // unique; [A-Za-z0-9_.]+
  std::vector<CustomOpInput> inputs;
  std::vector<CustomOpAttr> attrs;
  int num_outputs = 1;
};

// Output metas from input metas and the complete attributes (defaults filled
// in, types checked). Fills `outputs` with schema.num_outputs metas or
// returns an error saying what is wrong (the caller adds the op's name).
using CustomOpInferFn =
    std::function<Status(const std::vector<TensorMeta>& inputs, const AttrMap& attrs, std::vector<TensorMeta>& outputs)>;

// The scalar parameters of a kernel launch (at most 16 ints and 8 floats).
struct KernelScalars {
  std::vector<int64_t> ints;
  std::vector<float> floats;
};
using CustomOpScalarsFn =
    std::function<Status(const std::vector<TensorMeta>& inputs, const AttrMap& attrs, KernelScalars& scalars)>;

struct CustomOpKernel {
  std::string kernel;         // a kernel registry name ("leaky_relu", a plugin's "bias_gelu")
  CustomOpScalarsFn scalars;  // null: the attributes in schema order
};

// Records the op with existing runtime ops; returns its outputs, which must
// match what inference said.
using CustomOpComposeFn =
    std::function<Result<std::vector<Tensor>>(const std::vector<Tensor>& inputs, const AttrMap& attrs)>;

struct CustomOpDef {
  CustomOpSchema schema;
  CustomOpInferFn infer;     // required
  CustomOpKernel kernel;     // either kernel.kernel ...
  CustomOpComposeFn compose;  // ... or compose, not both
  bool fusable = false;
};

// Adds `def` to the process-wide registry. Errors (kInvalidArgument, naming
// the op): an ill-formed name, no inference, neither or both of a kernel and
// a composition, more than 8 inputs + outputs for a kernel, duplicate input
// or attribute names, a default of the wrong type; kFailedPrecondition: the
// name is taken.
Status register_custom_op(CustomOpDef def);

// Checks the call against the schema, infers the outputs and records (lazy)
// or runs (eager) the op on the inputs' runtime. Errors name the op:
// kNotFound (not registered), kInvalidArgument (input count, an undefined
// input, dtypes, unknown/missing/mistyped attributes, inputs of different
// runtimes, an inference error or bad inference result, a composition whose
// outputs differ from inference).
Result<std::vector<Tensor>> call_custom_op(std::string_view name, const std::vector<Tensor>& inputs,
                                           const AttrMap& attrs = {});

// The schema of a registered op (kNotFound naming it).
Result<CustomOpSchema> custom_op_schema(std::string_view name);
std::vector<std::string> custom_op_names();  // sorted

// ---- plugins ----

// 1: CustomOpDef as above; KILN_CUSTOM_OP_PLUGIN's two entry points.
inline constexpr uint32_t kCustomOpPluginApiVersion = 1;

// What a plugin's registration function adds its ops to. Implemented by the
// host; add() has register_custom_op's contract.
class CustomOpRegistrar {
 public:
  virtual Status add(CustomOpDef def) = 0;

 protected:
  ~CustomOpRegistrar() = default;
};

// Loads the custom ops of the shared library at `path` (once per process:
// loading it again returns the ops it added the first time). Returns the
// names of its ops. Errors: kNotFound (the file does not load),
// kInvalidArgument (no KILN_CUSTOM_OP_PLUGIN entry points, an API version
// mismatch naming both versions, or an op the registry refused, naming it).
Result<std::vector<std::string>> load_custom_op_plugin(const std::string& path);

// The libraries of the kernel search path: `paths` then $KILN_KERNEL_PATH
// (colon-separated), each a .so or a directory of them (in name order).
// Those that have custom ops are loaded as above; the others are kernel
// plugins only and skipped. Returns the op names added.
Result<std::vector<std::string>> load_custom_op_plugins(const std::vector<std::string>& paths);

}  // namespace kiln::runtime

// In one source of a plugin: `register_fn` is a function
// `void register_fn(kiln::runtime::CustomOpRegistrar&)` that calls add() for
// each op (errors are returned by add and also reported to the host).
#define KILN_CUSTOM_OP_PLUGIN(register_fn)                                                    \
  extern "C" __attribute__((visibility("default"))) uint32_t kiln_custom_op_plugin_api_version() { \
    return ::kiln::runtime::kCustomOpPluginApiVersion;                                          \
  }                                                                                             \
  extern "C" __attribute__((visibility("default"))) void kiln_custom_op_plugin_register(         \
      ::kiln::runtime::CustomOpRegistrar* registrar) {                                          \
    register_fn(*registrar);                                                                    \
  }
