#include "kiln/driver/device.h"
#include "kiln/common/format.h"

#include <sys/mman.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "kiln/traces/analysis.h"
#include "kiln/traces/trace_io.h"
#include "range_allocator.h"
#include "transport.h"

namespace kiln::driver {

namespace {

// Device virtual address layout of a context. HBM and SRAM are mapped at a
// fixed offset from their physical address; pinned host memory gets
// addresses from an aperture of its own. Address 0 is never mapped.
constexpr uint64_t kHbmBase = 0x0000'1000'0000'0000ull;
constexpr uint64_t kSramBase = 0x0000'2000'0000'0000ull;
constexpr uint64_t kHostBase = 0x0000'4000'0000'0000ull;
constexpr uint64_t kHostApertureBytes = 0x0000'1000'0000'0000ull;  // 16 TiB



}  // namespace

// A pool of hardware indices (sync objects, monitors). Tracks which were
// ever handed out, since a reused sync object must be reset before use.
class Device::Pool {
 public:
  explicit Pool(uint32_t count) : used_(count, false), dirty_(count, false) {}
  std::optional<uint32_t> take(bool* was_dirty) {
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
  bool give_back(uint32_t k) {
    if (k >= used_.size() || !used_[k]) return false;
    used_[k] = false;
    return true;
  }
  uint32_t size() const { return static_cast<uint32_t>(used_.size()); }

 private:
  std::vector<bool> used_;
  std::vector<bool> dirty_;
  uint32_t next_ = 0;
};

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
  std::unique_ptr<Device> device(new Device(config, resolved));
  KILN_RETURN_IF_ERROR(device->init());
  return device;
}

Device::Device(DeviceConfig config, const DeviceOptions& options)
    : config_(std::move(config)),
      options_(options),
      trace_(std::make_shared<traces::TraceRecorder>(config_.name())),
      opened_at_(std::chrono::steady_clock::now()) {}

Status Device::init() {
  const auto start = std::chrono::steady_clock::now();
  const auto& c = config_;
  properties_ = {c.name(), c.description(), c.hbm().capacity_mib() << 20, c.sram().capacity_mib() << 20,
                 c.hbm().bandwidth_gb_per_s(), c.sram().bandwidth_gb_per_s(), c.host_link().bandwidth_gb_per_s(),
                 c.command_processor().queues(), c.dma().engines(), c.mme().count(), c.tpc().count(),
                 c.sync_manager().sync_objects(), c.sync_manager().monitors(),
                 static_cast<uint64_t>(c.mmu().page_size_kib()) << 10, peak_matrix_flops(c), peak_vector_flops(c)};
  limits_ = {c.sync_manager().sync_objects(), c.sync_manager().monitors(), c.command_processor().queues(),
             c.command_processor().fence_counters()};
  if (c.mmu().contexts() < 2) {
    return invalid_argument(c.name() + ": field 'mmu.contexts' must be >= 2 (the driver uses context 1)");
  }
  KILN_ASSIGN_OR_RETURN(transport_, make_in_process_transport(c, trace_, options_.functional, options_.kernel_paths));
  const uint64_t page = properties_.page_bytes;
  hbm_ = std::make_unique<RangeAllocator>(0, properties_.hbm_bytes, page);
  sram_ = std::make_unique<RangeAllocator>(0, properties_.sram_bytes, page);
  host_va_ = std::make_unique<RangeAllocator>(kHostBase, kHostApertureBytes, page);
  sync_objects_ = std::make_unique<Pool>(properties_.sync_objects);
  monitors_ = std::make_unique<Pool>(properties_.monitors);
  queue_taken_.assign(properties_.queues, false);
  queue_next_sequence_.assign(properties_.queues, 1);
  KILN_ASSIGN_OR_RETURN(default_stream_, create_stream());
  record_host_call("open", start);
  return {};
}

Device::~Device() {
  (void)synchronize();
  if (!options_.trace_path.empty()) {
    // A destructor cannot return the error; say it where the user will look.
    if (Status s = write_trace(options_.trace_path); !s.ok()) {
      std::fprintf(stderr, "kiln: could not write the trace: %s\n", s.to_string().c_str());
    }
  }
  std::lock_guard lock(mutex_);
  for (auto& [va, m] : mappings_) {
    if (m.owned_host) munmap(m.owned_host, m.owned_bytes);
  }
  // Streams go before the transport that they submit to.
  streams_.clear();
  transport_.reset();
}

void Device::record_host_call(const char* name, std::chrono::steady_clock::time_point start, uint64_t bytes,
                              uint64_t sequence) {
  if (!options_.trace_host_calls) return;
  const auto end = std::chrono::steady_clock::now();
  auto ps = [&](std::chrono::steady_clock::time_point t) {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(t - opened_at_).count()) * 1000;
  };
  trace_->record({.track = "host", .name = name, .start_ps = ps(start), .end_ps = ps(end), .bytes = bytes,
                  .sequence = sequence, .clock = traces::TraceClock::kHostWall});
}

// ---------------------------------------------------------------- memory

Result<DeviceBuffer> Device::allocate(uint64_t size, MemoryKind kind) {
  const auto start = std::chrono::steady_clock::now();
  if (size == 0) return invalid_argument("allocate: size must be > 0");
  if (kind == MemoryKind::kHost) {
    return invalid_argument("allocate: MemoryKind::kHost is not device memory; use allocate_host for pinned host memory");
  }
  if (kind != MemoryKind::kHbm && kind != MemoryKind::kSram) {
    return invalid_argument("allocate: unknown memory kind " + std::to_string(static_cast<int>(kind)));
  }
  std::lock_guard lock(mutex_);
  RangeAllocator& pool = kind == MemoryKind::kHbm ? *hbm_ : *sram_;
  auto phys = pool.allocate(size);
  if (!phys) {
    return out_of_memory("cannot allocate " + human_bytes(size) + " of " + std::string(memory_kind_name(kind)) +
                         ": " + human_bytes(pool.free_bytes()) + " free, largest free block " +
                         human_bytes(pool.largest_free_block()));
  }
  const uint64_t mapped = pool.round_up(size);
  const uint64_t va = (kind == MemoryKind::kHbm ? kHbmBase : kSramBase) + *phys;
  const Status s = transport_->map(context_, va, kind, *phys, mapped);
  if (!s.ok()) {
    pool.release(*phys, mapped);
    return s;
  }
  mappings_[va] = {mapped, *phys, kind, nullptr};
  record_host_call("allocate", start, size);
  return DeviceBuffer{va, size, kind};
}

Status Device::free(const DeviceBuffer& buffer) {
  const auto start = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  auto it = mappings_.find(buffer.address);
  if (it == mappings_.end() || it->second.kind == MemoryKind::kHost) {
    return not_found("free: no device allocation starts at " + hex(buffer.address));
  }
  KILN_RETURN_IF_ERROR(transport_->unmap(context_, buffer.address));
  (it->second.kind == MemoryKind::kHbm ? *hbm_ : *sram_).release(it->second.physical, it->second.size);
  mappings_.erase(it);
  record_host_call("free", start);
  return {};
}

uint64_t Device::free_bytes(MemoryKind kind) const {
  if (kind != MemoryKind::kHbm && kind != MemoryKind::kSram) return 0;
  std::lock_guard lock(mutex_);
  return (kind == MemoryKind::kHbm ? *hbm_ : *sram_).free_bytes();
}

Result<HostBuffer> Device::allocate_host(uint64_t size) {
  if (size == 0) return invalid_argument("allocate_host: size must be > 0");
  const uint64_t page = properties_.page_bytes;
  const uint64_t rounded = (size + page - 1) / page * page;
  // Anonymous mappings are zero-filled lazily, so a large buffer that a
  // timing-only run never touches costs no host memory.
  void* data = mmap(nullptr, rounded, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (data == MAP_FAILED) return out_of_memory("allocate_host: the host could not provide " + human_bytes(rounded));
  madvise(data, rounded, MADV_HUGEPAGE);  // fewer page faults when DMA first touches it
  auto pinned = pin_host(data, rounded);
  if (!pinned.ok()) {
    munmap(data, rounded);
    return pinned.status();
  }
  std::lock_guard lock(mutex_);
  const uint64_t va = pinned->address / page * page;  // the mapping starts at the page boundary
  mappings_[va].owned_host = data;
  mappings_[va].owned_bytes = rounded;
  HostBuffer out = *pinned;
  out.size = size;
  out.owned = true;
  return out;
}

Result<HostBuffer> Device::pin_host(void* data, uint64_t size) {
  const auto start = std::chrono::steady_clock::now();
  if (data == nullptr || size == 0) return invalid_argument("pin_host: null pointer or zero size");
  const uint64_t page = properties_.page_bytes;
  const auto addr = reinterpret_cast<uintptr_t>(data);
  const uint64_t first = addr / page * page;
  const uint64_t span = (addr + size + page - 1) / page * page - first;
  std::lock_guard lock(mutex_);
  auto va = host_va_->allocate(span);
  if (!va) return out_of_memory("pin_host: host aperture exhausted for " + human_bytes(span));
  const Status s = transport_->map(context_, *va, MemoryKind::kHost, first, span);
  if (!s.ok()) {
    host_va_->release(*va, span);
    return s;
  }
  mappings_[*va] = {span, first, MemoryKind::kHost, nullptr};
  record_host_call("pin_host", start, size);
  return HostBuffer{data, size, *va + (addr - first), false};
}

Status Device::free_host(const HostBuffer& buffer) {
  const auto start = std::chrono::steady_clock::now();
  const uint64_t page = properties_.page_bytes;
  const uint64_t va = buffer.address / page * page;
  std::lock_guard lock(mutex_);
  auto it = mappings_.find(va);
  if (it == mappings_.end() || it->second.kind != MemoryKind::kHost) {
    return not_found("free_host: no pinned host buffer at device address " + hex(buffer.address));
  }
  KILN_RETURN_IF_ERROR(transport_->unmap(context_, va));
  host_va_->release(va, it->second.size);
  if (it->second.owned_host) munmap(it->second.owned_host, it->second.owned_bytes);
  mappings_.erase(it);
  record_host_call("free_host", start);
  return {};
}

// ------------------------------------------------------ synchronous helpers

Status Device::copy_host_sync(void* host, uint64_t device_addr, uint64_t size, bool to_device) {
  const auto start = std::chrono::steady_clock::now();
  if (size == 0) return {};
  KILN_ASSIGN_OR_RETURN(HostBuffer pinned, pin_host(host, size));
  auto seq = to_device ? default_stream_->copy(device_addr, pinned.address, size)
                       : default_stream_->copy(pinned.address, device_addr, size);
  Status s = seq.ok() ? default_stream_->wait(*seq) : seq.status();
  const Status unpinned = free_host(pinned);
  record_host_call(to_device ? "copy_to_device" : "copy_to_host", start, size);
  return s.ok() ? unpinned : s;
}

Status Device::copy_to_device(uint64_t dst, const void* src, uint64_t size) {
  return copy_host_sync(const_cast<void*>(src), dst, size, true);
}

Status Device::copy_to_host(void* dst, uint64_t src, uint64_t size) {
  return copy_host_sync(dst, src, size, false);
}

Status Device::copy_on_device(uint64_t dst, uint64_t src, uint64_t size) {
  KILN_ASSIGN_OR_RETURN(uint64_t seq, default_stream_->copy(dst, src, size));
  return default_stream_->wait(seq);
}

Status Device::memset(uint64_t dst, uint32_t pattern, uint64_t size) {
  KILN_ASSIGN_OR_RETURN(uint64_t seq, default_stream_->memset(dst, pattern, size));
  return default_stream_->wait(seq);
}

// ------------------------------------------------------- streams and events

Result<uint32_t> Device::take_queue() {
  for (uint32_t q = 0; q < queue_taken_.size(); ++q) {
    if (!queue_taken_[q]) {
      queue_taken_[q] = true;
      return q;
    }
  }
  return resource_exhausted("no free hardware queue: all " + std::to_string(queue_taken_.size()) +
                            " queues of " + config_.name() + " have streams (destroy one first)");
}

Result<Stream*> Device::create_stream() {
  std::lock_guard lock(mutex_);
  KILN_ASSIGN_OR_RETURN(uint32_t queue, take_queue());
  streams_.push_back(std::unique_ptr<Stream>(new Stream(*this, queue, queue_next_sequence_[queue])));
  return streams_.back().get();
}

Status Device::destroy_stream(Stream* stream) {
  if (stream == default_stream_) return invalid_argument("destroy_stream: the default stream belongs to the device");
  if (stream) KILN_RETURN_IF_ERROR(stream->synchronize().with_context("destroy_stream"));
  std::lock_guard lock(mutex_);
  for (auto it = streams_.begin(); it != streams_.end(); ++it) {
    if (it->get() == stream) {
      queue_taken_[stream->queue()] = false;
      queue_next_sequence_[stream->queue()] = stream->last_sequence() + 1;
      streams_.erase(it);
      return {};
    }
  }
  return not_found("destroy_stream: the stream does not belong to this device");
}

Result<uint32_t> Device::allocate_sync_object() {
  bool dirty = false;
  std::optional<uint32_t> index;
  {
    std::lock_guard lock(mutex_);
    index = sync_objects_->take(&dirty);
  }
  if (!index) return resource_exhausted("all " + std::to_string(properties_.sync_objects) + " sync objects are in use");
  if (dirty) {
    // A reused sync object still holds its last value; start from zero.
    CommandBuffer reset;
    reset.signal(*index, packets::SyncOp::SET, 0);
    KILN_ASSIGN_OR_RETURN(uint64_t seq, default_stream_->submit(reset));
    KILN_RETURN_IF_ERROR(default_stream_->wait(seq));
  }
  return *index;
}

Status Device::free_sync_object(uint32_t index) {
  std::lock_guard lock(mutex_);
  if (!sync_objects_->give_back(index)) return not_found("sync object " + std::to_string(index) + " is not allocated");
  return {};
}

Result<uint32_t> Device::allocate_monitor() {
  std::lock_guard lock(mutex_);
  bool dirty = false;
  auto index = monitors_->take(&dirty);
  if (!index) return resource_exhausted("all " + std::to_string(properties_.monitors) + " monitors are in use");
  return *index;
}

Status Device::free_monitor(uint32_t index) {
  std::lock_guard lock(mutex_);
  if (!monitors_->give_back(index)) return not_found("monitor " + std::to_string(index) + " is not allocated");
  return {};
}

int32_t Device::sync_object_value(uint32_t index) const { return transport_->sync_object_value(index); }

Status Device::inject_fault(const FaultInjection& injection) {
  const auto start = std::chrono::steady_clock::now();
  KILN_RETURN_IF_ERROR(transport_->inject_fault(injection));
  record_host_call("inject_fault", start);
  return {};
}

std::optional<FaultRecord> Device::fatal_fault() const { return transport_->fatal_fault(); }

Result<std::unique_ptr<Event>> Device::create_event() {
  KILN_ASSIGN_OR_RETURN(uint32_t sob, allocate_sync_object());
  return std::unique_ptr<Event>(new Event(*this, sob));
}

Status Device::synchronize(std::chrono::nanoseconds timeout) {
  std::vector<Stream*> streams;
  {
    std::lock_guard lock(mutex_);
    for (auto& s : streams_) streams.push_back(s.get());
  }
  Status first;
  for (Stream* s : streams) {
    Status st = s->synchronize(timeout);
    if (first.ok() && !st.ok()) first = st;
  }
  return first;
}

double Device::now_ns() const { return transport_->now_ps() / 1000.0; }

proto::Trace Device::trace_proto() const {
  proto::Trace trace = traces::to_proto(config_.name(), trace_->events());
  traces::record_peaks(trace, traces::device_peaks(config_));
  return trace;
}

Status Device::write_trace(const std::string& path) const {
  return traces::write_trace_file(path, trace_proto());
}

}  // namespace kiln::driver
