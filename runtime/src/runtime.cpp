#include "kiln/runtime/runtime.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "custom_op_registry.h"
#include "kiln/common/device_config.h"
#include "ops_util.h"
#include "runtime_impl.h"

namespace kiln::runtime {

namespace {

// The compiler's version: a cached recipe from another version is not used.
// 2: matmul operands that are transposed views are read with kTransposeA/B, not copied.
// 4: scalar constants folded into fused elementwise kernels are rounded to their fill's dtype;
//    constant folding (a constant section, and the constant binding slot
//    before the tensors'); comparison ops.
// 5: GEMMs sliced into a pipeline with the row-wise work after them; the
//    scheduler's estimates count per-job costs and A's re-streaming.
// 7: fused_sdpa: key blocks as long as SRAM allows, P over the scores in
//    SRAM, the two lanes rolling across tiles and groups.
constexpr const char* kCompilerVersion = "kiln-runtime-9";

thread_local std::vector<std::string> op_scopes;
thread_local const char* composite_op = nullptr;

// The calling thread's mode scopes, innermost last.
thread_local std::vector<std::pair<const Runtime::Impl*, Mode>> mode_scopes;

}  // namespace

// ---------------------------------------------------------------- open

Runtime::Impl::Impl(Runtime* owner, std::unique_ptr<driver::Device> dev, const RuntimeOptions& opts)
    : self(owner), device(std::move(dev)), options(opts), cache(opts.recipe_cache_entries) {}

Status Runtime::Impl::init() {
  if (options.mode) {
    default_mode = *options.mode;
  } else if (const char* env = std::getenv("KILN_LAZY_MODE")) {
    default_mode = std::strcmp(env, "0") == 0 ? Mode::kEager : Mode::kLazy;
  }
  const auto& h = device->config().host();
  costs = {h.op_dispatch_ns(), h.op_record_ns(), h.compile_per_node_ns(), h.cache_lookup_ns(), h.recipe_launch_ns()};
  for (uint32_t q = 0; q < kQueueCount; ++q) {
    KILN_ASSIGN_OR_RETURN(streams[q], device->create_stream());
    KILN_ASSIGN_OR_RETURN(timelines[q], device->allocate_sync_object());
  }
  pool = std::make_unique<MemoryPool>(*device);
  sram_pool = std::make_unique<MemoryPool>(*device, MemoryKind::kSram);
  rates = schedule_rates(device->config());
  disabled_passes = options.disabled_passes;
  if (const char* env = std::getenv("KILN_DISABLE_PASSES")) {
    std::stringstream list(env);
    for (std::string pass; std::getline(list, pass, ',');) {
      if (!pass.empty()) disabled_passes.push_back(pass);
    }
  }
  std::sort(disabled_passes.begin(), disabled_passes.end());
  context = std::string(kCompilerVersion) + "|" + device->config().SerializeAsString() + "|tf32=" +
            (options.allow_tf32 ? "1" : "0") + "|slice_rows=" + std::to_string(options.slice_rows) + "|off=";
  for (const std::string& pass : disabled_passes) context += pass + ",";
  context_hash.mix(context);
  pending.id = next_graph++;
  open_disk_cache();
  return {};
}

// ---------------------------------------------------------------- the on-disk cache

namespace {

// $name as a byte count ("1048576", "512K", "64M", "1G"), else `fallback`.
uint64_t bytes_from_env(const char* name, uint64_t fallback) {
  const char* env = std::getenv(name);
  if (env == nullptr || *env == '\0') return fallback;
  char* end = nullptr;
  errno = 0;
  const unsigned long long n = std::strtoull(env, &end, 10);
  unsigned shift = 0;
  if (*end == 'K' || *end == 'k') shift = 10;
  if (*end == 'M' || *end == 'm') shift = 20;
  if (*end == 'G' || *end == 'g') shift = 30;
  if (shift) ++end;
  if (errno != 0 || end == env || *end != '\0' || n == 0 || n > (UINT64_MAX >> shift) || env[0] == '-') {
    std::fprintf(stderr, "kiln: recipe cache: ignoring %s=%s (not a byte count); using %llu bytes\n", name, env,
                 static_cast<unsigned long long>(fallback));
    return fallback;
  }
  return static_cast<uint64_t>(n) << shift;
}

}  // namespace

void Runtime::Impl::open_disk_cache() {
  std::string dir = options.recipe_cache_dir;
  if (dir.empty()) {
    if (const char* env = std::getenv("KILN_RECIPE_CACHE_DIR")) dir = env;
  }
  if (dir.empty()) return;
  const uint64_t limit = options.recipe_cache_dir_bytes != 0 ? options.recipe_cache_dir_bytes
                                                             : bytes_from_env("KILN_RECIPE_CACHE_BYTES", 1ull << 30);
  disk = std::make_unique<RecipeStore>(dir, limit);
  if (!disk->usable()) disk.reset();  // it warned
}

std::shared_ptr<Recipe> Runtime::Impl::find_on_disk_locked(const GraphHash& key, const Graph& g,
                                                           const std::vector<int>& outputs) {
  if (!disk) return nullptr;
  // Not a compilation: a disk hit costs the host a lookup. Files hold the
  // full signature key (graph_signature), not only its hash.
  device->charge_host(costs.cache_lookup_ns, "recipe disk cache lookup");
  const GraphSignature signature = graph_signature(g, outputs, context);
  std::shared_ptr<Recipe> recipe = disk->load(signature.key, g, outputs);
  if (recipe) drop_recipes(cache.insert(key, signature, recipe));
  return recipe;
}

void Runtime::Impl::store_on_disk_locked(const GraphSignature& signature, const Recipe& recipe) {
  if (disk) disk->store(signature.key, recipe);
}

Runtime::~Runtime() {
  if (!impl_) return;
  (void)synchronize();
  if (const char* env = std::getenv("KILN_RUNTIME_STATS"); env != nullptr && std::strcmp(env, "0") != 0) {
    std::fprintf(stderr, "%s", stats().report().c_str());
  }
  impl_->close();
}

void Runtime::Impl::close() {
  std::lock_guard lock(mutex);
  // Storage goes back to the pool before the pool returns it to the driver;
  // blocks still held by live tensors are dropped by the closed pool later.
  pending = Graph{};
  retired_nodes.clear();
  retired_values.clear();
  cache.clear();
  packed.clear();
  constants.clear();
  sequence_masks.clear();
  launched.clear();
  disk.reset();
  pool->close();
  sram_pool->close();
  streams = {};
  device.reset();
  self = nullptr;
  closed = true;
}

Status Runtime::Impl::check_open(std::string_view what) const {
  if (!closed) return {};
  return failed_precondition(std::string(what) + ": the runtime this tensor belongs to is closed");
}

Result<std::unique_ptr<Runtime>> Runtime::open(std::string_view config, const RuntimeOptions& options) {
  KILN_ASSIGN_OR_RETURN(auto device, driver::Device::open(config, options.device));
  // The device loaded the kernels of the search path's plugins; their custom
  // ops (custom_op.h) come from the same libraries.
  KILN_RETURN_IF_ERROR(load_custom_op_plugins(options.device.kernel_paths).status());
  std::unique_ptr<Runtime> rt(new Runtime());
  rt->impl_ = std::make_shared<Impl>(rt.get(), std::move(device), options);
  KILN_RETURN_IF_ERROR(rt->impl_->init());
  return rt;
}

driver::Device& Runtime::device() { return *impl_->device; }
const RuntimeOptions& Runtime::options() const { return impl_->options; }
Mode Runtime::mode() const { return impl_->thread_mode(); }

Mode Runtime::Impl::thread_mode() const {
  for (auto it = mode_scopes.rbegin(); it != mode_scopes.rend(); ++it) {
    if (it->first == this) return it->second;
  }
  return default_mode;
}

OpScope::OpScope(std::string name) { op_scopes.push_back(std::move(name)); }
OpScope::~OpScope() { op_scopes.pop_back(); }

CompositeScope::CompositeScope(const char* name) : outermost_(composite_op == nullptr) {
  if (outermost_) composite_op = name;
}
CompositeScope::~CompositeScope() {
  if (outermost_) composite_op = nullptr;
}

std::string scoped_label(std::string_view op) {
  std::string label;
  for (const std::string& s : op_scopes) {
    if (!label.empty()) label += '.';
    label += s;
  }
  if (!label.empty()) label += '/';
  label += composite_op != nullptr ? std::string_view(composite_op) : op;
  return label;
}

ModeScope::ModeScope(Runtime& runtime, Mode mode) : runtime_(runtime) {
  mode_scopes.emplace_back(&runtime.impl(), mode);
}

ModeScope::~ModeScope() {
  for (auto it = mode_scopes.rbegin(); it != mode_scopes.rend(); ++it) {
    if (it->first == &runtime_.impl()) {
      mode_scopes.erase(std::next(it).base());
      break;
    }
  }
}

RuntimeStats Runtime::stats() const {
  std::lock_guard lock(impl_->mutex);
  RuntimeStats s = impl_->stats;
  s.cached_recipes = impl_->cache.size();
  s.cache_bytes = impl_->cache.bytes();
  for (const auto& [recipe, c] : impl_->constants) s.constant_bytes += c.bytes;
  return s;
}

void Runtime::Impl::note_graph_break(const Tensor& t, const SourceLocation& where) {
  if (pending.empty()) return;
  std::string op = "?";
  const int value = t.impl()->slot->value;
  if (value >= 0 && static_cast<std::size_t>(value) < pending.values.size()) {
    const int producer = pending.values[static_cast<std::size_t>(value)].producer;
    if (producer >= 0) op = pending.nodes[static_cast<std::size_t>(producer)].label;
  }
  std::string file = where.file_name();
  if (const auto slash = file.rfind('/'); slash != std::string::npos) file = file.substr(slash + 1);
  const std::string source = file + ":" + std::to_string(where.line()) + " (" + where.function_name() + ")";
  ++stats.graph_breaks;
  auto it = std::find_if(stats.breaks.begin(), stats.breaks.end(),
                         [&](const GraphBreak& b) { return b.op == op && b.source == source; });
  if (it == stats.breaks.end()) {
    stats.breaks.push_back({op, source, 0});
    it = stats.breaks.end() - 1;
  }
  ++it->count;
  // A zero-length mark on the host track: the sync users otherwise find by guesswork.
  device->charge_host(0, "graph break: read of " + op + " at " + file + ":" + std::to_string(where.line()));
}

std::string RuntimeStats::report() const {
  std::ostringstream o;
  o << "kiln runtime: " << steps << " steps, " << ops_recorded << " ops recorded (lazy), " << ops_eager
    << " ops eager\n";
  o << "  recipes: " << compilations << " compiled (" << graph_nodes_compiled << " nodes, " << compile_wall_ms
    << " ms), " << cache_hits << " cache hits, " << disk_hits << " from disk, " << cache_misses << " misses; " << cached_recipes << " cached, "
    << cache_bytes << " bytes\n";
  for (const CacheMiss& m : misses) o << "  miss: " << m.graph << ": " << m.reason << "\n";
  o << "  constants: " << constant_sections_run << " constant sections run (" << constant_bytes_folded
    << " bytes folded); " << constant_bytes << " bytes held for cached recipes\n";
  if (captures + captures_discarded + replays > 0) {
    o << "  graphs: " << captures << " captured, " << captures_discarded << " captures discarded, " << replays
      << " replays\n";
  }
  o << "  graph breaks: " << graph_breaks << "\n";
  for (const GraphBreak& b : breaks) o << "    " << b.count << "x read of " << b.op << " at " << b.source << "\n";
  return o.str();
}

Status Runtime::mark_step() {
  std::lock_guard lock(impl_->mutex);
  if (impl_->capturing) return {};  // a capture is one graph
  return impl_->run_pending_locked("mark_step");
}

Status Runtime::synchronize() {
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->capturing) return impl_->abandon_capture_locked("synchronize");
  }
  KILN_RETURN_IF_ERROR(mark_step());
  const Status status = impl_->device->synchronize();
  std::lock_guard lock(impl_->mutex);
  return impl_->name_fault(status);
}

// ---------------------------------------------------------------- recording

Tensor Runtime::Impl::make_tensor(std::shared_ptr<Slot> slot) {
  auto t = std::make_shared<TensorImpl>();
  t->owner = shared_from_this();
  t->shape = slot->shape;
  t->strides = contiguous_strides(slot->shape);
  t->dtype = slot->dtype;
  t->slot = std::move(slot);
  return Tensor(std::move(t));
}

Result<std::vector<Tensor>> Runtime::Impl::record(OpKind op, Attrs attrs, const std::vector<Tensor>& inputs,
                                                  const std::vector<std::pair<Shape, DType>>& outputs,
                                                  std::string label) {
  std::lock_guard lock(mutex);
  KILN_RETURN_IF_ERROR(check_open(op_name(op)));
  // Every tensor the device sees is made here or by a factory, so a result
  // too large for the device (a model's ConstantOfShape or Expand, say) is
  // refused here, naming the op, before anything is recorded.
  const std::string_view what = label.empty() ? std::string_view(op_name(op)) : std::string_view(label);
  for (const auto& [shape, dtype] : outputs) KILN_RETURN_IF_ERROR(check_shape(what, shape));
  for (const Tensor& t : inputs) {
    if (!t.defined()) return invalid_argument(std::string(op_name(op)) + ": an input tensor is undefined");
    if (t.impl()->owner.get() != this) {
      return invalid_argument(std::string(op_name(op)) + ": an input tensor belongs to another runtime (device)");
    }
  }
  // A graph capture records every op, whatever the thread's mode.
  const Mode mode = capturing ? Mode::kLazy : thread_mode();
  Graph eager;
  if (mode == Mode::kEager) {
    eager.id = next_graph++;
    eager.labels_in_key = false;
  }
  Graph& g = mode == Mode::kEager ? eager : pending;
  std::vector<View> views;
  for (const Tensor& t : inputs) {
    const TensorImpl& ti = *t.impl();
    if (!ti.slot->storage && ti.slot->graph != g.id) {
      // Pending in the lazy graph while this op runs eagerly: run that first.
      if (ti.slot->graph == pending.id) KILN_RETURN_IF_ERROR(run_pending_locked("eager op on a lazy tensor"));
      if (!ti.slot->storage) {
        return failed_precondition(std::string(op_name(op)) + ": an input's value was lost in a failed step");
      }
    }
    views.push_back(View{g.input_value(ti.slot), ti.shape, ti.strides, ti.offset, ti.dtype});
  }
  const std::size_t values_before = g.values.size();
  const std::vector<int> ids = g.add_node(op, std::move(attrs), std::move(views), outputs, scoped_label(label));
  if (const uint32_t group = recording_fusion_group(); group != 0) {
    g.nodes.back().fusion_group = group;
    g.hash.mix(uint64_t{0xf6} + group);  // as Graph::rehash
  }
  if (mode == Mode::kLazy) retire_some(g.values.size() - values_before);
  std::vector<Tensor> result;
  for (int id : ids) {
    auto slot = std::make_shared<Slot>();
    slot->shape = g.values[static_cast<std::size_t>(id)].shape;
    slot->dtype = g.values[static_cast<std::size_t>(id)].dtype;
    slot->graph = g.id;
    slot->value = id;
    g.values[static_cast<std::size_t>(id)].slot = slot;
    result.push_back(make_tensor(std::move(slot)));
  }
  if (mode == Mode::kLazy) {
    ++stats.ops_recorded;
    device->charge_host(costs.op_record_ns, "record " + std::string(op_name(op)));
    return result;
  }
  ++stats.ops_eager;
  device->charge_host(costs.op_dispatch_ns, "dispatch " + std::string(op_name(op)));
  KILN_RETURN_IF_ERROR(run_graph_locked(eager));
  return result;
}

void Runtime::Impl::retire_some(std::size_t values) {
  if (!retired_nodes.empty()) retired_nodes.pop_back();
  for (std::size_t i = 0; i < values && !retired_values.empty(); ++i) retired_values.pop_back();
}

Result<Tensor> Runtime::Impl::record1(OpKind op, Attrs attrs, const std::vector<Tensor>& inputs, Shape shape,
                                      DType dtype, std::string label) {
  KILN_ASSIGN_OR_RETURN(auto outs, record(op, std::move(attrs), inputs, {{std::move(shape), dtype}}, std::move(label)));
  return outs[0];
}

Status Runtime::Impl::run_pending_locked(const char* why) {
  (void)why;
  if (pending.empty()) return {};
  // The step runs from `g`. Its nodes and values then retire: each op
  // recorded later destroys one of them (retire_one), so a step's teardown
  // is paid op by op as it was built, not all at once here, and recording
  // reuses the retired lists' buffers once they are drained.
  Graph g;
  std::swap(g, pending);
  pending.reset(next_graph++);
  retired_nodes.clear();  // what the steps since did not use up (this one was smaller)
  retired_values.clear();
  std::swap(pending.nodes, retired_nodes);
  std::swap(pending.values, retired_values);
  const Status status = run_graph_locked(g);
  // Inputs' memory must not wait for recording to come round to them.
  for (const auto& [slot, index] : g.external_of) g.values[static_cast<std::size_t>(index)].external.reset();
  retired_nodes = std::move(g.nodes);
  retired_values = std::move(g.values);
  return status;
}

}  // namespace kiln::runtime
