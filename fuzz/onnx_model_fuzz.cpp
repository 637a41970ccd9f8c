// Fuzz target: ONNX model files, the way `kiln run MODEL.onnx` reads them
// (kiln::frontend::OnnxModel::load: protobuf's parser, external data, ONNX's
// checker and shape inference, folding, Kiln's support check), then the
// lowering of a model that loads onto a runtime.
//
// Input: the bytes of a model file (a serialized onnx.ModelProto). They are
// written to <tmp>/model.onnx, beside weights.bin (4 KiB of known bytes)
// that an initializer's external data may name. Each input is loaded twice:
// for values (what `kiln run` does on a functional device; symbolic dims
// must be bound) and timing-only with unbound dims allowed and autocast to
// bf16 (what `kiln run --timing-only --inputs DIR --precision bf16` does:
// missing external data becomes shapes only, unbound dims are bound from
// the input files, here a size of 1). A model that loads is lowered onto
// one long-lived timing-only runtime (tiny config) inside a graph capture,
// compiled, and replayed once.
//
// Beyond "no crash, no sanitizer report", it checks what callers rely on:
// nothing throws out of load or run (ONNX's exceptions are caught inside);
// a failure is a Status with a message; a model that loads has inputs of
// non-negative sizes (or -1, unbound, where the options allow it); a
// lowering that fails names the node, or is out of device memory; the
// outputs of a lowering are the ones load announced, with their dtypes.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "kiln/frontend/host_tensor.h"
#include "kiln/frontend/onnx_model.h"
#include "kiln/runtime/runtime.h"

namespace {

namespace fs = std::filesystem;
using kiln::DType;
using kiln::Status;
using kiln::frontend::HostTensor;
using kiln::frontend::LoadOptions;
using kiln::frontend::OnnxModel;
using kiln::frontend::ValueSpec;
namespace runtime = kiln::runtime;

// Inputs of a lowering are allocated on the device and, for the inputs the
// model reads as parameters, filled on the host; larger ones are not lowered
// (the input does not enter the corpus). The device holds 256 MiB anyway.
constexpr int64_t kMaxInputElements = int64_t{1} << 22;
constexpr int64_t kMaxParameterElements = int64_t{1} << 12;

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "onnx_model fuzz: %s\n", what.c_str());
  std::abort();  // libFuzzer saves the input that led here
}

void check_failure(const Status& s, const std::string& what) {
  if (s.message().empty()) fail(what + " failed with an empty message (" + s.to_string() + ")");
}

// A directory of this process's own, removed at exit.
struct ScratchDir {
  fs::path dir;
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

const fs::path& model_path() {
  static const ScratchDir scratch = [] {
    const fs::path dir = fs::temp_directory_path() / ("kiln_onnx_fuzz_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    std::string weights(4096, '\0');
    for (std::size_t i = 0; i < weights.size(); ++i) weights[i] = static_cast<char>(i * 37 + 11);
    std::ofstream(dir / "weights.bin", std::ios::binary) << weights;
    return ScratchDir{dir};
  }();
  static const fs::path path = scratch.dir / "model.onnx";
  return path;
}

runtime::Runtime& fuzz_runtime() {
  // Opened at the first lowering and never closed: SystemC elaborates once
  // per process, and opening costs far more than an input.
  static runtime::Runtime* rt = [] {
    runtime::RuntimeOptions options;
    options.device.functional = false;
    options.device.trace_host_calls = false;
    options.mode = runtime::Mode::kLazy;
    auto r = runtime::Runtime::open("tiny", options);
    if (!r.ok()) fail("cannot open the tiny runtime: " + r.status().message());
    return r->release();
  }();
  return *rt;
}

// The element count of `shape`, or -1 past `limit` (or for a negative dim).
int64_t bounded_numel(const std::vector<int64_t>& shape, int64_t limit) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0 || (d > 0 && n > limit / d)) return -1;
    n *= d;
  }
  return n;
}

// Lowers, compiles and replays the model; false if it was too large to try.
bool lower(OnnxModel& model) {
  runtime::Runtime& rt = fuzz_runtime();
  std::vector<runtime::Tensor> inputs;
  std::vector<HostTensor> host;
  bool parameters = false;
  for (const ValueSpec& spec : model.inputs()) {
    const int64_t n = bounded_numel(spec.shape, spec.read_as_parameter ? kMaxParameterElements : kMaxInputElements);
    if (n < 0) return false;
    parameters = parameters || spec.read_as_parameter;
    HostTensor h;
    h.name = spec.name;
    h.dtype = spec.dtype;
    h.shape = spec.shape;
    host.push_back(std::move(h));
  }
  for (HostTensor& h : host) {
    if (parameters) h.data.assign(static_cast<std::size_t>(h.numel()) * kiln::dtype_size(h.dtype), std::byte{0});
    runtime::Shape shape;
    for (int64_t d : h.shape) shape.push_back(d);
    auto t = rt.empty(shape, h.dtype);
    if (!t.ok()) {
      check_failure(t.status(), "an input's allocation");
      return true;
    }
    inputs.push_back(*t);
  }
  if (!parameters) host.clear();

  if (Status s = rt.capture_begin(); !s.ok()) fail("the runtime refuses a capture: " + s.to_string());
  auto outs = model.run(rt, inputs, host);
  if (!outs.ok()) {
    rt.capture_discard();
    check_failure(outs.status(), "a lowering");
    if (outs.status().message().find("node ") == std::string::npos &&
        outs.status().code() != kiln::ErrorCode::kOutOfMemory)
      fail("a lowering failure that names no node: " + outs.status().to_string());
    return true;
  }
  if (outs->size() != model.outputs().size())
    fail("a lowering gave " + std::to_string(outs->size()) + " outputs, load announced " +
         std::to_string(model.outputs().size()));
  for (std::size_t i = 0; i < outs->size(); ++i) {
    if ((*outs)[i].dtype() != model.outputs()[i].dtype)
      fail("output '" + model.outputs()[i].name + "' is " + std::string(kiln::dtype_name((*outs)[i].dtype())) +
           ", load announced " + std::string(kiln::dtype_name(model.outputs()[i].dtype)));
  }
  auto graph = rt.capture_end();
  rt.capture_discard();  // nothing if capture_end closed it
  if (!graph.ok()) {
    check_failure(graph.status(), "a capture");
    return true;
  }
  if (Status s = graph->replay(); !s.ok()) check_failure(s, "a replay");
  if (Status s = rt.synchronize(); !s.ok()) check_failure(s, "a synchronize");
  rt.device().trace()->clear();  // a million inputs must not grow memory
  return true;
}

// One load with `options`, then the lowering of what loaded.
bool load_and_lower(const std::string& path, LoadOptions options) {
  auto model = OnnxModel::load(path, options);
  if (!model.ok()) {
    check_failure(model.status(), "a load");
    return true;
  }
  bool unbound = false;
  for (const ValueSpec& spec : (*model)->inputs()) {
    for (int64_t d : spec.shape) {
      if (d == -1 && options.allow_unbound) {
        unbound = true;
      } else if (d < 0) {
        fail("input '" + spec.name + "' loaded with the dim " + std::to_string(d));
      }
    }
  }
  if (unbound) {
    // As `kiln run --inputs` does: load again with the dims the input files
    // give, here 1 for every unbound dim.
    std::vector<HostTensor> files;
    for (const ValueSpec& spec : (*model)->inputs()) {
      HostTensor h;
      h.dtype = spec.dtype;
      for (int64_t d : spec.shape) h.shape.push_back(d == -1 ? 1 : d);
      files.push_back(std::move(h));
    }
    model = OnnxModel::load(path, options, files);
    if (!model.ok()) {
      check_failure(model.status(), "a load with bound dims");
      return true;
    }
  }
  return lower(**model);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const fs::path& path = model_path();
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    if (!out) fail("cannot write " + path.string());
  }
  try {
    LoadOptions values;
    LoadOptions timing;
    timing.timing_only = true;
    timing.allow_unbound = true;
    timing.autocast = DType::kBF16;
    const bool tried = load_and_lower(path.string(), values);
    return load_and_lower(path.string(), timing) && tried ? 0 : -1;
  } catch (const std::exception& e) {
    fail(std::string("an exception escaped: ") + e.what());
  } catch (...) {
    fail("an exception of unknown type escaped");
  }
}
