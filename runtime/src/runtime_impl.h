// The inside of a Runtime: its device and queues, the pending lazy graph,
// the recipe caches (in memory and on disk), the memory pool, the timelines
// its recipes signal, and the statistics users look at.
//
// Internal to kiln_runtime. `mutex` guards everything mutable.
#pragma once

#include <array>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bucketing.h"
#include "sequence_bucketing.h"
#include "compiler.h"
#include "graph.h"
#include "kiln/common/source_location.h"
#include "kiln/runtime/runtime.h"
#include "kiln/traces/op_labels.h"
#include "memory_pool.h"
#include "recipe_cache.h"
#include "recipe_store.h"

namespace kiln::runtime {

// Per queue, the op labels a launch names instead of its program's own
// (null: the program's).
using QueueLabels = std::array<std::shared_ptr<const traces::OpLabels>, kQueueCount>;

// The runtime's modelled host costs, in nanoseconds (config section `host`).
struct RuntimeCosts {
  double op_dispatch_ns = 0, op_record_ns = 0, compile_per_node_ns = 0, cache_lookup_ns = 0, recipe_launch_ns = 0;
};

// Memory a launch writes that its caller owns, not the pool: a captured
// graph's outputs (one per Recipe::outputs entry) and, unless null, its workspace.
struct FixedMemory {
  std::vector<std::shared_ptr<Storage>> outputs;
  std::shared_ptr<Storage> workspace;
};

struct Runtime::Impl : std::enable_shared_from_this<Runtime::Impl> {
  Impl(Runtime* self, std::unique_ptr<driver::Device> device, const RuntimeOptions& options);
  Status init();
  // The Runtime is being destroyed: drops the pending graph and caches,
  // closes the pool and the device. The Impl lives on while tensors do.
  void close();
  // An error naming `what` once closed.
  Status check_open(std::string_view what) const;

  // Records (lazy) or runs (eager, per the calling thread's mode) one op:
  // `inputs` are the tensors it reads, `outputs` the metas of what it makes.
  Result<std::vector<Tensor>> record(OpKind op, Attrs attrs, const std::vector<Tensor>& inputs,
                                     const std::vector<std::pair<Shape, DType>>& outputs, std::string label);
  Result<Tensor> record1(OpKind op, Attrs attrs, const std::vector<Tensor>& inputs, Shape shape, DType dtype,
                         std::string label);
  // Runs the pending graph (lazy mode's mark_step).
  Status run_pending_locked(const char* why);
  // Makes `t` materialized and its producing work waited for; returns the
  // tensor to read (a dense copy if `t` is a strided view).
  // `read_at`: the user's read (to_host) that asked, for the graph-break stats.
  Result<Tensor> materialize_dense(const Tensor& t, const SourceLocation* read_at = nullptr);
  // A read of `t` forces the pending graph to run mid-step: counts it.
  void note_graph_break(const Tensor& t, const SourceLocation& where);
  Mode thread_mode() const;
  // Graph capture (graph_capture.cpp): whether one is open; giving one up
  // because `op` cannot be captured (returns the error to report).
  bool capturing = false;
  Status abandon_capture_locked(const std::string& op);
  Tensor make_tensor(std::shared_ptr<Slot> slot);
  // Destroys one retired node and `values` retired values (lazy recording).
  void retire_some(std::size_t values);

  Runtime* self;  // null once closed
  bool closed = false;
  std::unique_ptr<driver::Device> device;
  RuntimeOptions options;
  Mode default_mode = Mode::kLazy;
  RuntimeCosts costs;
  ScheduleRates rates;                        // for the scheduler's estimates
  std::vector<std::string> disabled_passes;  // options', then $KILN_DISABLE_PASSES
  std::array<driver::Stream*, kQueueCount> streams{};
  std::array<uint32_t, kQueueCount> timelines{};  // sync objects
  std::array<uint32_t, kQueueCount> bases{};      // signals submitted so far on each
  std::unique_ptr<MemoryPool> pool;
  std::unique_ptr<MemoryPool> sram_pool;  // on-die scratch (Recipe::sram_bytes)
  std::string context;  // what recipes depend on besides the graph
  GraphHash context_hash;

  mutable std::recursive_mutex mutex;
  RecipeCache cache;
  std::unique_ptr<RecipeStore> disk;  // the on-disk cache, if any
  Graph pending;
  // The last launches, so a device fault can be traced to its op: the fault
  // names a queue, submission and packet; the recipe's labels name the op.
  struct Launch {
    uint32_t queue;
    uint64_t sequence;
    std::shared_ptr<const Recipe> recipe;
    uint64_t step;
    bool constant_section = false;  // its constant_programs, not its programs
    std::shared_ptr<const traces::OpLabels> labels;  // the launch's own, if not its program's
  };
  static constexpr std::size_t kLaunchesKept = 64;
  std::deque<Launch> launched;
  // A device fault `status` with the op, step and queue it happened in.
  Status name_fault(Status status);
  // The fault of a (retired) launch of `step`, named; ok if none faulted or
  // the step is older than the launches kept.
  Status step_fault(uint64_t step);
  // Packed inputs built, by the memory of their parts (valid while it lives).
  struct PackedEntry {
    std::vector<std::weak_ptr<Storage>> parts;
    std::shared_ptr<Storage> packed;
  };
  std::map<std::vector<const Storage*>, PackedEntry> packed;
  // Per recipe with a constant section (Recipe::constant_programs), the
  // buffer its section wrote at the recipe's first launch here, which every
  // launch binds at kConstantSlot. Dropped with the recipe (evicted from the
  // cache, or the runtime closing); the pool hands the memory out again only
  // after the launches that read it (Storage::last_uses). Keyed by owner, so
  // a recipe gone some other way is never mistaken for a new one at its
  // address.
  struct ConstantBuffer {
    std::shared_ptr<Storage> storage;
    uint64_t bytes = 0;
    std::array<uint64_t, kQueueCount> section{};  // per queue, the section's submission (0: none)
  };
  std::map<std::weak_ptr<const Recipe>, ConstantBuffer, std::owner_less<>> constants;
  // Frees what the runtime keeps for recipes the cache evicted.
  void drop_recipes(const std::vector<std::shared_ptr<Recipe>>& evicted);
  // The last step's nodes and values, destroyed one per op recorded since
  // (retire_some) rather than all by mark_step.
  std::vector<Node> retired_nodes;
  std::vector<Value> retired_values;
  uint64_t next_graph = 1;
  RuntimeStats stats;

 private:
  Status run_graph_locked(Graph& g);
  Status run_graph_as_locked(Graph& g, const std::vector<int>& outputs,
                             const std::vector<std::shared_ptr<Slot>>& output_slots, const PadPlan* plan);
  // A recipe's packed input (Recipe::packed_from): the parts stacked by DMA,
  // or the copy made for these parts' memory before. Returns it and its bytes.
  Result<std::pair<std::shared_ptr<Storage>, uint64_t>> packed_input(const std::vector<int>& sources,
                                                                    const Graph& g);
  // Bucketing (PadPlan): a copy of an input of `real` shape in the padded
  // layout of `v`, zeros around it; and an output's real elements copied out
  // of its padded layout. Both on the DMA queue, one copy per contiguous run.
  Result<std::shared_ptr<Storage>> stage_padded(const std::shared_ptr<Storage>& input, const Value& v,
                                                const Shape& real);
  Result<std::shared_ptr<Storage>> unpad(const std::shared_ptr<Storage>& output, const Value& v, const Shape& real);
  // The sequence mask of a padded step (true for the first `length` of
  // `padded` positions), made once per pair.
  Result<std::shared_ptr<Slot>> sequence_mask(int64_t length, int64_t padded);
  std::map<std::pair<int64_t, int64_t>, std::shared_ptr<Slot>> sequence_masks;
 public:
  // The recipe of `g` (producing `outputs`): from the in-memory cache, the
  // disk cache, or compiled (and cached); counted in the stats.
  Result<std::shared_ptr<Recipe>> recipe_for_locked(Graph& g, const std::vector<int>& outputs);
  // Binds and submits one launch of `recipe` over `g`'s tensors. Outputs and
  // workspace come from the pool, or from `fixed` (a captured graph's).
  Status launch_locked(const std::shared_ptr<Recipe>& recipe, Graph& g, const PadPlan* plan,
                       const FixedMemory* fixed = nullptr);

 private:
  // Submits one command buffer per queue (the empty ones skipped) as one
  // launch: every part is checked and bound first and nothing is submitted
  // unless all pass, so no queue waits on a part that never ran. Records
  // each submission in `launched` and, per queue used, an event after it in
  // `done`; advances the timeline bases by `signals`.
  // `labels`: per queue, the op labels the submission names instead of its
  // program's own (null: the program's).
  Status submit_parts(const std::array<driver::CommandBuffer, kQueueCount>& programs,
                      const std::array<uint32_t, kQueueCount>& signals, const driver::BindingTable& table,
                      const std::shared_ptr<const Recipe>& recipe, bool constant_section,
                      std::array<std::shared_ptr<driver::Event>, kQueueCount>& done,
                      std::array<uint64_t, kQueueCount>* sequences = nullptr, const QueueLabels* labels = nullptr);
  // The recipe's constants (constant_section.cpp): the buffer its section
  // wrote before, or a new one its section is submitted to write now — then
  // `written` holds, per queue the section ran on, the event after its jobs,
  // which the launch's other queues wait for.
  Result<std::shared_ptr<Storage>> constants_for(const std::shared_ptr<Recipe>& recipe,
                                                 std::array<std::shared_ptr<driver::Event>, kQueueCount>& written);
  // Whether a section submitted before faulted (then its values are not there).
  // Forgets the submissions that retired cleanly.
  bool section_faulted(ConstantBuffer& c);
  // The on-disk cache (runtime.cpp): opened from the options or environment;
  // a recipe found there goes into the in-memory cache too.
  void open_disk_cache();
  std::shared_ptr<Recipe> find_on_disk_locked(const GraphHash& key, const Graph& g, const std::vector<int>& outputs);
  void store_on_disk_locked(const GraphSignature& signature, const Recipe& recipe);
  Graph& graph_for(Mode mode, Graph& eager);
};

}  // namespace kiln::runtime
