// The runtime: tensors on a simulated device, eager and lazy execution, the
// graph compiler and its recipe cache. Modelled on the way PyTorch runs on
// Gaudi: lazy by default, graphs compiled once and cached by signature.
//
//   auto rt = Runtime::open("gaudi2").value();
//   Tensor a = rt->from_host<float>(x, {64, 256}).value();
//   Tensor b = gelu(matmul(a, w).value()).value();   // lazy: recorded
//   rt->mark_step();                                  // compiled (or found in the cache) and launched
//   auto values = b.to_host<float>().value();
//
// Modes. Lazy (the default): ops record into the runtime's pending graph;
// mark_step(), a read to the host, or synchronize() compiles and launches what
// has accumulated. Eager: every op compiles (cached by its signature) and
// launches at once. The mode is per thread (ModeScope), defaulting to
// RuntimeOptions::mode, else $KILN_LAZY_MODE (0 = eager, 1 = lazy), else lazy.
//
// The host is on the simulated timeline (docs/host-timeline.md): the runtime
// charges its own costs from the device config's `host` section — a dispatch
// per eager op, a recording per lazy op, compilation per graph node, a cache
// lookup and a launch per recipe — so eager and lazy steps differ in
// simulated time for the reasons they do on real hardware.
//
// Ownership: open() returns the sole owner; tensors must not outlive it.
// Threading: every member is thread-safe; the pending graph is shared by the
// threads using the runtime. Errors: Status/Result naming the op and what is
// wrong; a failed step leaves the runtime usable.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/common/status.h"
#include "kiln/driver/device.h"
#include "kiln/runtime/shape.h"
#include "kiln/runtime/tensor.h"

namespace kiln::runtime {

enum class Mode { kEager, kLazy };

struct RuntimeOptions {
  // The default mode of threads that set none (else $KILN_LAZY_MODE, else lazy).
  std::optional<Mode> mode;
  // How many recipes the in-memory cache keeps (least recently used go).
  std::size_t recipe_cache_entries = 512;
  // fp32 matmuls may run as TF32 on the matrix engine (TF32 numerics and rate).
  bool allow_tf32 = false;
  driver::DeviceOptions device;
};

// One recipe-cache miss: what was compiled and why nothing cached fit.
struct CacheMiss {
  std::string graph;   // a short description of the graph ("12 ops: matmul, add, ...")
  std::string reason;  // "no recipe for this graph yet", or the input whose shape/dtype differs
};

struct RuntimeStats {
  uint64_t ops_eager = 0;     // ops run in eager mode
  uint64_t ops_recorded = 0;  // ops recorded in lazy mode
  uint64_t steps = 0;         // graphs launched (mark_step, reads, eager ops)
  uint64_t compilations = 0;
  uint64_t cache_hits = 0;
  uint64_t cache_misses = 0;
  uint64_t graph_nodes_compiled = 0;
  double compile_wall_ms = 0;  // host wall time spent compiling
  uint64_t cached_recipes = 0;
  uint64_t cache_bytes = 0;    // command buffers and arenas of the cached recipes
  std::vector<CacheMiss> misses;  // the most recent ones, oldest first
};

class Runtime {
 public:
  // Opens a device (config name or path) and a runtime on it.
  static Result<std::unique_ptr<Runtime>> open(std::string_view config, const RuntimeOptions& options = {});
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  driver::Device& device();
  const RuntimeOptions& options() const;
  // The calling thread's mode.
  Mode mode() const;

  // Compiles and launches the pending graph (lazy mode); returns once it is
  // submitted. A device fault of earlier steps comes back here or from a read.
  Status mark_step();
  // mark_step(), then waits for every launched step.
  Status synchronize();

  RuntimeStats stats() const;

  // ---- tensors from the host ----
  Result<Tensor> from_host(const void* data, std::size_t bytes, Shape shape, DType dtype);
  template <typename T>
  Result<Tensor> from_host(std::span<const T> data, Shape shape, DType dtype = dtype_of<T>()) {
    return from_host(data.data(), data.size_bytes(), std::move(shape), dtype);
  }
  template <typename T>
  Result<Tensor> from_host(const std::vector<T>& data, Shape shape, DType dtype = dtype_of<T>()) {
    return from_host(data.data(), data.size() * sizeof(T), std::move(shape), dtype);
  }
  // Made on the device (no host data moves).
  Result<Tensor> zeros(Shape shape, DType dtype);
  Result<Tensor> full(Shape shape, double value, DType dtype);
  // 0, 1, ... n-1.
  Result<Tensor> arange(int64_t n, DType dtype);
  // Uniform in [low, high), or normal(mean, stddev); the same seed gives the
  // same values on every run and device.
  Result<Tensor> rand_uniform(Shape shape, DType dtype, uint64_t seed, double low = 0, double high = 1);
  Result<Tensor> rand_normal(Shape shape, DType dtype, uint64_t seed, double mean = 0, double stddev = 1);

  template <typename T>
  static constexpr DType dtype_of() {
    if constexpr (std::is_same_v<T, float>) return DType::kF32;
    else if constexpr (std::is_same_v<T, int32_t>) return DType::kI32;
    else static_assert(sizeof(T) == 0, "give the dtype explicitly");
  }

  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  explicit Runtime(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Sets the calling thread's mode for its lifetime.
class ModeScope {
 public:
  ModeScope(Runtime& runtime, Mode mode);
  ~ModeScope();
  ModeScope(const ModeScope&) = delete;
  ModeScope& operator=(const ModeScope&) = delete;

 private:
  Runtime& runtime_;
  std::optional<Mode> previous_;
};

}  // namespace kiln::runtime
