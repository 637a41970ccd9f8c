#include "kiln/driver/device.h"

#include <sys/mman.h>

#include <cstdio>
#include <cstdlib>

#include "device_impl.h"
#include "kiln/common/format.h"
#include "kiln/proto/trace.pb.h"
#include "kiln/traces/analysis.h"
#include "kiln/traces/trace_io.h"

namespace kiln::driver {

IndexPool::IndexPool(uint32_t count, uint32_t reserved)
    : used_(count, false), dirty_(count, false), releasing_(count, false), next_(reserved) {
  for (uint32_t i = 0; i < reserved && i < count; ++i) used_[i] = true;
}

std::optional<uint32_t> IndexPool::take(bool* was_dirty) {
  for (uint32_t i = next_; i < used_.size() + next_; ++i) {
    const uint32_t k = i % used_.size();
    if (!used_[k]) {
      used_[k] = true;
      *was_dirty = dirty_[k];
      dirty_[k] = true;
      next_ = k + 1;
      return k;
    }
  }
  return std::nullopt;
}

bool IndexPool::give_back(uint32_t k) {
  if (k >= used_.size() || !used_[k]) return false;
  used_[k] = false;
  releasing_[k] = false;
  return true;
}

bool IndexPool::begin_release(uint32_t k) {
  if (k >= used_.size() || !used_[k] || releasing_[k]) return false;
  releasing_[k] = true;
  return true;
}

// ---------------------------------------------------------------- open/close

Result<std::unique_ptr<Device>> Device::open(std::string_view config_name, const DeviceOptions& options) {
  KILN_ASSIGN_OR_RETURN(DeviceConfig config, load_device_config(config_name));
  return open(config, options);
}

Result<std::unique_ptr<Device>> Device::open(const DeviceConfig& config, const DeviceOptions& options) {
  KILN_RETURN_IF_ERROR(validate_device_config(config, config.name().empty() ? "device config" : config.name()));
  DeviceOptions resolved = options;
  if (resolved.trace_path.empty()) {
    if (const char* env = std::getenv("KILN_TRACE")) resolved.trace_path = env;
  }
  auto impl = std::make_unique<Impl>(config, resolved);
  std::unique_ptr<Device> device(new Device(std::move(impl)));
  KILN_RETURN_IF_ERROR(device->impl_->init());
  KILN_ASSIGN_OR_RETURN(device->impl_->default_stream, device->create_stream());
  return device;
}

Device::Device(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

namespace {
std::atomic<uint64_t> device_serials{1};
}  // namespace

Device::Impl::Impl(DeviceConfig c, const DeviceOptions& o)
    : config(std::move(c)),
      options(o),
      trace(std::make_shared<traces::TraceRecorder>(config.name())),
      opened_at(std::chrono::steady_clock::now()),
      serial(device_serials.fetch_add(1)) {}

Status Device::Impl::init() {
  const auto start = std::chrono::steady_clock::now();
  const auto& c = config;
  properties = {c.name(), c.description(), c.hbm().capacity_mib() << 20, c.sram().capacity_mib() << 20,
                c.hbm().bandwidth_gb_per_s(), c.sram().bandwidth_gb_per_s(), c.host_link().bandwidth_gb_per_s(),
                c.command_processor().queues(), c.dma().engines(), c.mme().count(), c.tpc().count(),
                c.sync_manager().sync_objects(), c.sync_manager().monitors(),
                static_cast<uint64_t>(c.mmu().page_size_kib()) << 10, peak_matrix_flops(c), peak_vector_flops(c)};
  limits = {c.sync_manager().sync_objects(), c.sync_manager().monitors(), c.command_processor().queues(),
            c.command_processor().fence_counters()};
  if (c.mmu().contexts() < 2) {
    return invalid_argument(c.name() + ": field 'mmu.contexts' must be >= 2 (the driver uses context 1)");
  }
  KILN_ASSIGN_OR_RETURN(transport, make_in_process_transport(c, trace, options.functional, options.kernel_paths));
  host = std::make_unique<HostTimeline>(*transport, c.host(), trace, options.trace_host_calls,
                                        options.host_idle_after, opened_at);
  const uint64_t page = properties.page_bytes;
  hbm = std::make_unique<RangeAllocator>(0, properties.hbm_bytes, page);
  sram = std::make_unique<RangeAllocator>(0, properties.sram_bytes, page);
  host_va = std::make_unique<RangeAllocator>(kHostApertureBase, kHostApertureBytes, page);
  // The first `queues` sync objects are the queues' retirement counters.
  sync_objects = std::make_unique<IndexPool>(properties.sync_objects, properties.queues);
  monitors = std::make_unique<IndexPool>(properties.monitors);
  queue_taken.assign(properties.queues, false);
  queue_next_sequence.assign(properties.queues, 1);
  queue_submitted = std::make_unique<std::atomic<uint64_t>[]>(properties.queues);
  // The opening thread is the first on the timeline: it is the "host" track.
  host->charge("open", 0, start);
  return {};
}

Device::Impl::~Impl() {
  // Everything was synchronised: what waits for queued work can go now.
  for (auto& p : pending) p.release();
  pending.clear();
  // Streams go before the timeline and the transport they use; the timeline
  // removes its clocks before the transport closes the device.
  streams.clear();
  if (host) host->shutdown();
  host.reset();
  transport.reset();
}

Device::~Device() {
  (void)synchronize();
  if (!impl_->options.trace_path.empty()) {
    // A destructor cannot return the error; say it where the user will look.
    if (Status s = write_trace(impl_->options.trace_path); !s.ok()) {
      std::fprintf(stderr, "kiln: could not write the trace: %s\n", s.to_string().c_str());
    }
  }
  std::lock_guard lock(impl_->mutex);
  for (auto& [va, m] : impl_->mappings) {
    if (m.owned_host) munmap(m.owned_host, m.owned_bytes);
  }
}

const DeviceProperties& Device::properties() const { return impl_->properties; }
const DeviceConfig& Device::config() const { return impl_->config; }
const ValidationLimits& Device::validation_limits() const { return impl_->limits; }
Stream& Device::default_stream() { return *impl_->default_stream; }
std::shared_ptr<traces::TraceRecorder> Device::trace() const { return impl_->trace; }

// ------------------------------------------------------------ host timeline

double Device::now_ns() const {
  return static_cast<double>(impl_->transport->host_clock_ps(impl_->host->current().clock)) / 1000.0;
}

void Device::charge_host(double ns, std::string_view what) {
  const auto start = std::chrono::steady_clock::now();
  const uint64_t ps = ns <= 0 ? 0 : static_cast<uint64_t>(ns * 1000.0 + 0.5);
  impl_->host->charge(what, ps, start);
}

HostTimelineStats Device::host_timeline_stats() const {
  return {impl_->host->threads(), impl_->host->catch_ups()};
}

Status Device::Impl::wait_retired(uint32_t queue, uint64_t sequence, std::chrono::nanoseconds timeout,
                                  const char* name, std::chrono::steady_clock::time_point wall_start) {
  const HostTimeline::Thread& t = host->current();
  const uint64_t before = transport->host_clock_ps(t.clock);
  const Status waited = transport->wait(queue, sequence, timeout, t.clock);
  // A wait that found its work done costs a look at a completion counter;
  // one that blocked costs the wake-up.
  const bool blocked = transport->host_clock_ps(t.clock) > before;
  ClockUpdate u = transport->advance_host_clock(t.clock, blocked ? host->costs().wake : host->costs().query);
  u.before_ps = before;
  // The call waited for the jobs and waits the submission ended with.
  std::optional<SubmissionInfo> done;
  if (waited.ok()) done = transport->completion(queue, sequence);
  host->record(t, name, u, wall_start, 0, sequence, {}, 0, done ? done->last_events : std::vector<uint64_t>{});
  KILN_RETURN_IF_ERROR(waited);
  if (done && done->fault) return done->fault->to_status();
  return {};
}

bool Device::Impl::query_retired(uint32_t queue, uint64_t sequence, std::chrono::steady_clock::time_point wall_start) {
  const HostTimeline::Thread& t = host->current();
  const ClockUpdate u = transport->advance_host_clock(t.clock, host->costs().query);
  transport->catch_up(t.clock);
  const bool done = transport->completed_sequence(queue) >= sequence;
  host->record(t, "query", u, wall_start, 0, sequence);
  return done;
}

// ------------------------------------------------------- streams and events

Result<uint32_t> Device::Impl::take_queue() {
  for (uint32_t q = 0; q < queue_taken.size(); ++q) {
    if (!queue_taken[q]) {
      queue_taken[q] = true;
      return q;
    }
  }
  return resource_exhausted("no free hardware queue: all " + std::to_string(queue_taken.size()) +
                            " queues of " + config.name() + " have streams (destroy one first)");
}

Result<Stream*> Device::create_stream() {
  std::lock_guard lock(impl_->mutex);
  KILN_ASSIGN_OR_RETURN(uint32_t queue, impl_->take_queue());
  impl_->streams.push_back(std::unique_ptr<Stream>(new Stream(*this, queue, impl_->queue_next_sequence[queue])));
  return impl_->streams.back().get();
}

Status Device::destroy_stream(Stream* stream) {
  if (stream == impl_->default_stream) {
    return invalid_argument("destroy_stream: the default stream belongs to the device");
  }
  if (stream) KILN_RETURN_IF_ERROR(stream->synchronize().with_context("destroy_stream"));
  std::lock_guard lock(impl_->mutex);
  for (auto it = impl_->streams.begin(); it != impl_->streams.end(); ++it) {
    if (it->get() == stream) {
      impl_->queue_taken[stream->queue()] = false;
      impl_->queue_next_sequence[stream->queue()] = stream->last_sequence() + 1;
      impl_->streams.erase(it);
      return {};
    }
  }
  return not_found("destroy_stream: the stream does not belong to this device");
}

Result<uint32_t> Device::allocate_sync_object() {
  bool dirty = false;
  std::optional<uint32_t> index;
  impl_->reclaim(/*wait=*/false);
  for (;;) {
    bool waiting = false;
    {
      std::lock_guard lock(impl_->mutex);
      index = impl_->sync_objects->take(&dirty);
      waiting = !index && !impl_->pending.empty();
    }
    if (!waiting) break;
    impl_->reclaim(/*wait=*/true);  // one freed while work could still signal it comes back then
  }
  if (!index) {
    return resource_exhausted("all " + std::to_string(impl_->properties.sync_objects - impl_->properties.queues) +
                              " sync objects that programs can have are in use");
  }
  if (dirty) {
    // A reused sync object still holds its last value; start from zero.
    CommandBuffer reset;
    reset.signal(*index, packets::SyncOp::SET, 0);
    KILN_ASSIGN_OR_RETURN(uint64_t seq, impl_->default_stream->submit(reset));
    KILN_RETURN_IF_ERROR(impl_->default_stream->wait(seq));
  }
  return *index;
}

Status Device::free_sync_object(uint32_t index) {
  {
    std::lock_guard lock(impl_->mutex);
    if (!impl_->sync_objects->begin_release(index)) {
      return not_found("sync object " + std::to_string(index) + " is not allocated");
    }
  }
  // Work queued before now may still signal it: it goes back to the pool
  // when that work has retired, so a new owner never sees an old signal.
  impl_->release_later(
      [impl = impl_.get(), index] {
        std::lock_guard lock(impl->mutex);
        impl->sync_objects->give_back(index);
      },
      MemoryKind::kHost, 0);
  return {};
}

Result<uint32_t> Device::allocate_monitor() {
  impl_->reclaim(/*wait=*/false);
  for (;;) {
    bool waiting = false;
    {
      std::lock_guard lock(impl_->mutex);
      bool dirty = false;
      if (auto index = impl_->monitors->take(&dirty)) return *index;
      waiting = !impl_->pending.empty();
    }
    if (!waiting) break;
    impl_->reclaim(/*wait=*/true);
  }
  return resource_exhausted("all " + std::to_string(impl_->properties.monitors) + " monitors are in use");
}

Status Device::free_monitor(uint32_t index) {
  {
    std::lock_guard lock(impl_->mutex);
    if (!impl_->monitors->begin_release(index)) return not_found("monitor " + std::to_string(index) + " is not allocated");
  }
  impl_->release_later(
      [impl = impl_.get(), index] {
        std::lock_guard lock(impl->mutex);
        impl->monitors->give_back(index);
      },
      MemoryKind::kHost, 0);
  return {};
}

int32_t Device::sync_object_value(uint32_t index) const { return impl_->transport->sync_object_value(index); }

Status Device::inject_fault(const FaultInjection& injection) {
  const auto start = std::chrono::steady_clock::now();
  KILN_RETURN_IF_ERROR(impl_->transport->inject_fault(injection));
  impl_->host->charge("inject_fault", 0, start);
  return {};
}

std::optional<FaultRecord> Device::fatal_fault() const { return impl_->transport->fatal_fault(); }

Result<std::unique_ptr<Event>> Device::create_event() { return std::unique_ptr<Event>(new Event(*this)); }

Status Device::synchronize(std::chrono::nanoseconds timeout) {
  std::vector<Stream*> streams;
  {
    std::lock_guard lock(impl_->mutex);
    for (auto& s : impl_->streams) streams.push_back(s.get());
  }
  Status first;
  for (Stream* s : streams) {
    Status st = s->synchronize(timeout);
    if (first.ok() && !st.ok()) first = st;
  }
  return first;
}

// -------------------------------------------------------------------- traces

proto::Trace Device::trace_proto() const {
  proto::Trace trace = traces::to_proto(impl_->config.name(), impl_->trace->events());
  traces::record_peaks(trace, traces::device_peaks(impl_->config));
  return trace;
}

Status Device::write_trace(const std::string& path) const {
  return traces::write_trace_file(path, trace_proto());
}

}  // namespace kiln::driver
