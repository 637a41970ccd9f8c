#include "kiln/runtime/runtime.h"

#include <chrono>
#include <cstdlib>
#include <cstring>

#include "kiln/common/device_config.h"
#include "runtime_impl.h"

namespace kiln::runtime {

namespace {

// The compiler's version: a cached recipe from another version is not used.
constexpr const char* kCompilerVersion = "kiln-runtime-1";

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
  context = std::string(kCompilerVersion) + "|" + device->config().SerializeAsString() + "|tf32=" +
            (options.allow_tf32 ? "1" : "0");
  pending.id = next_graph++;
  return {};
}

Runtime::Runtime(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Runtime::~Runtime() {
  (void)synchronize();
  // Tensors' storage must go back to the pool before the pool goes.
  std::lock_guard lock(impl_->mutex);
  impl_->pending = Graph{};
}

Result<std::unique_ptr<Runtime>> Runtime::open(std::string_view config, const RuntimeOptions& options) {
  KILN_ASSIGN_OR_RETURN(auto device, driver::Device::open(config, options.device));
  std::unique_ptr<Runtime> rt(new Runtime(nullptr));
  rt->impl_ = std::make_unique<Impl>(rt.get(), std::move(device), options);
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
  return s;
}

Status Runtime::mark_step() {
  std::lock_guard lock(impl_->mutex);
  return impl_->run_pending_locked("mark_step");
}

Status Runtime::synchronize() {
  KILN_RETURN_IF_ERROR(mark_step());
  return impl_->device->synchronize();
}

// ---------------------------------------------------------------- recording

Tensor Runtime::Impl::make_tensor(std::shared_ptr<Slot> slot) {
  auto t = std::make_shared<TensorImpl>();
  t->runtime = self;
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
  const auto wall = std::chrono::steady_clock::now();
  (void)wall;
  for (const Tensor& t : inputs) {
    if (!t.defined()) return invalid_argument(std::string(op_name(op)) + ": an input tensor is undefined");
    if (t.impl()->runtime != self) {
      return invalid_argument(std::string(op_name(op)) + ": an input tensor belongs to another runtime (device)");
    }
  }
  const Mode mode = thread_mode();
  Graph eager;
  if (mode == Mode::kEager) eager.id = next_graph++;
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
  const std::vector<int> ids = g.add_node(op, std::move(attrs), std::move(views), outputs, std::move(label));
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

Result<Tensor> Runtime::Impl::record1(OpKind op, Attrs attrs, const std::vector<Tensor>& inputs, Shape shape,
                                      DType dtype, std::string label) {
  KILN_ASSIGN_OR_RETURN(auto outs, record(op, std::move(attrs), inputs, {{std::move(shape), dtype}}, std::move(label)));
  return outs[0];
}

Status Runtime::Impl::run_pending_locked(const char* why) {
  (void)why;
  if (pending.empty()) return {};
  Graph g = std::move(pending);
  pending = Graph{};
  pending.id = next_graph++;
  return run_graph_locked(g);
}

}  // namespace kiln::runtime
