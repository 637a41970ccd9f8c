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
// Ownership: open() returns the owner. Closing it (destroying the Runtime)
// waits for launched work, then closes the device; tensors may outlive it:
// their shapes stay readable, any op or read on them fails naming the op and
// "the runtime ... is closed", and dropping them is safe.
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
#include "kiln/runtime/graph_capture.h"
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
  // Compiler passes to skip, by name ("dce", "cse", "constant_fold", "slice", "schedule",
  // "fuse_elementwise", "fuse_epilogue", "fuse_add_norm", "fuse_shared_input_gemms",
  // "mme_transpose": copy a transposed matmul operand densely instead of reading it with
  // kTransposeA/B, "mme_channels_last": copy an NHWC convolution input to NCHW instead of
  // reading it with kChannelsLastInput); also from $KILN_DISABLE_PASSES, comma-separated.
  std::vector<std::string> disabled_passes;
  // The slice pass (docs/runtime.md) cuts a GEMM and the row-wise work after
  // it into row slices where the estimates say it pays. > 0 (rounded up to a
  // multiple of 64): every such GEMM of more rows is cut into slices of this
  // many rows, whatever the estimates say (tests, experiments). Part of the
  // recipe cache's key.
  int64_t slice_rows = 0;
  // Bucket sizes for inputs marked with Tensor::mark_dynamic_batch(): a step
  // runs padded to the smallest bucket >= its batch when its ops keep batch
  // rows independent (docs/runtime.md). Empty: no bucketing.
  std::vector<int64_t> batch_buckets;
  // Bucket lengths for inputs marked with Tensor::mark_dynamic_sequence(): a
  // step runs padded to the smallest bucket >= its sequence length, with the
  // padded positions masked out of softmaxes, sums and contractions, when
  // every op keeps positions apart or reduces them that way
  // (docs/runtime.md). Combines with batch_buckets. Empty: no bucketing.
  std::vector<int64_t> sequence_buckets;
  // The on-disk recipe cache (docs/runtime-cache.md): a directory that runs
  // and concurrent processes share, so a second run compiles nothing. Empty:
  // $KILN_RECIPE_CACHE_DIR, else no disk cache.
  std::string recipe_cache_dir;
  // The most bytes its files take (least recently used go first); 0:
  // $KILN_RECIPE_CACHE_BYTES (a number, optionally with K, M or G), else 1 GiB.
  uint64_t recipe_cache_dir_bytes = 0;
  driver::DeviceOptions device;
};

// One recipe-cache miss: what was compiled and why nothing cached fit.
struct CacheMiss {
  std::string graph;   // a short description of the graph ("12 ops: matmul, add, ...")
  std::string reason;  // "no recipe for this graph yet", or the input whose shape/dtype differs
};

// A read of a device value on the host in the middle of a lazy step (a
// scheduler indexing a tensor, a data-dependent branch): the pending graph
// is cut there and run, so the step becomes two graphs and a host wait.
struct GraphBreak {
  std::string op;      // the op whose result was read ("matmul", "argmax")
  std::string source;  // where the program read it: "file.cpp:42 (function)"
  uint64_t count = 0;  // how many reads at this place
};

struct RuntimeStats {
  uint64_t ops_eager = 0;     // ops run in eager mode
  uint64_t ops_recorded = 0;  // ops recorded in lazy mode
  uint64_t steps = 0;         // graphs launched (mark_step, reads, eager ops)
  uint64_t compilations = 0;
  uint64_t cache_hits = 0;    // found in the in-memory cache
  uint64_t disk_hits = 0;     // found in the on-disk cache instead (not compiled)
  uint64_t cache_misses = 0;  // found in neither: compiled
  uint64_t graph_nodes_compiled = 0;
  double compile_wall_ms = 0;  // host wall time spent compiling
  uint64_t cached_recipes = 0;
  uint64_t cache_bytes = 0;    // command buffers and arenas of the cached recipes
  std::vector<CacheMiss> misses;  // the most recent ones, oldest first
  uint64_t graph_breaks = 0;
  std::vector<GraphBreak> breaks;  // by place, in order of first occurrence
  std::string last_compile_log;    // what the compiler's passes did, last compilation
  // Memory of the last step launched: its workspace (intermediates placed by
  // liveness) against the sum of its intermediates' sizes; the largest workspace.
  uint64_t last_workspace_bytes = 0;
  uint64_t last_intermediate_bytes = 0;
  uint64_t peak_workspace_bytes = 0;
  uint64_t last_step_jobs = 0;  // engine jobs of the last step launched (after fusion)
  uint64_t bucketed_steps = 0;  // steps run padded to a bucket
  // Packed inputs (stacked weights of fused GEMMs) built by DMA; a step
  // whose weights were packed before reuses them.
  uint64_t packed_inputs_built = 0;
  // Constant sections (the constant_fold pass) run: each once per recipe,
  // at its first launch in this runtime (again only after the cache evicted
  // it); the bytes of folded values they wrote; and the device bytes the
  // cached recipes' folded values hold now.
  uint64_t constant_sections_run = 0;
  uint64_t constant_bytes_folded = 0;
  uint64_t constant_bytes = 0;
  std::string last_bucketing;   // why the last step with a marked input ran unpadded, or empty
  uint64_t captures = 0;        // graphs captured (capture_end)
  uint64_t captures_discarded = 0;  // captures abandoned (an op that cannot be captured)
  uint64_t replays = 0;         // captured graphs launched

  // A readable summary (what KILN_RUNTIME_STATS=1 prints at exit).
  std::string report() const;
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

  // ---- graph capture and replay (kiln/runtime/graph_capture.h) ----
  // Opens a capture: runs the pending lazy work, then records every op until
  // capture_end. Fails if a capture is open already.
  Status capture_begin();
  // Closes it: compiles (or finds) the captured graph's recipe and gives its
  // outputs their memory. Runs nothing. Fails if no capture is open.
  Result<CapturedGraph> capture_end(const CaptureOptions& options = {});
  bool capturing() const;
  // Gives up an open capture (nothing if none): what it recorded is dropped.
  void capture_discard();

  // ---- in-place updates (a captured graph's inputs) ----
  // Copies `src` into `dst` on the device (DMA queue), after src's writer and
  // dst's earlier readers and writers. `dst`: a whole tensor holding memory;
  // same shape and dtype. Not during a capture.
  Status copy_(const Tensor& dst, const Tensor& src);
  // Writes `bytes` of host data into `dst` (same rules); waits for dst's
  // earlier users first.
  Status copy_from_host(const Tensor& dst, const void* data, std::size_t bytes);
  // A tensor holding zeroed device memory now (not a lazy op): a static input.
  Result<Tensor> empty(Shape shape, DType dtype);

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
  // Any dtype; an i64 value must be within int32's range (filled as i32 and
  // cast on the device), a bool one is value != 0.
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
  Runtime() = default;
  // Shared with the runtime's tensors, which may outlive it (closed then).
  std::shared_ptr<Impl> impl_;
};

// Names the ops the calling thread records during its lifetime, for traces,
// the per-op table and the stats: inside OpScope("layer3") and
// OpScope("attn") a matmul is "layer3.attn/matmul". Scopes nest; each thread
// has its own.
class OpScope {
 public:
  explicit OpScope(std::string name);
  ~OpScope();
  OpScope(const OpScope&) = delete;
  OpScope& operator=(const OpScope&) = delete;
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
