// Device memory, pinned host memory and the synchronous copy helpers.
#include <sys/mman.h>

#include <algorithm>

#include "device_impl.h"
#include "kiln/common/format.h"

namespace kiln::driver {

using Clock = std::chrono::steady_clock;

// ------------------------------------------------------------ releases

std::vector<uint64_t> Device::Impl::submitted_snapshot() const {
  std::vector<uint64_t> out(properties.queues);
  for (uint32_t q = 0; q < properties.queues; ++q) out[q] = queue_submitted[q].load(std::memory_order_acquire);
  return out;
}

void Device::Impl::release_later(std::function<void()> release, MemoryKind kind, uint64_t bytes) {
  PendingRelease p{submitted_snapshot(), std::move(release), kind, bytes};
  if (std::all_of(p.after.begin(), p.after.end(), [](uint64_t seq) { return seq == 0; })) {
    p.release();  // nothing was ever queued that could touch it
    return;
  }
  std::lock_guard lock(mutex);
  pending.push_back(std::move(p));
}

bool Device::Impl::has_pending() const {
  std::lock_guard lock(mutex);
  return !pending.empty();
}

void Device::Impl::reclaim(bool wait) {
  if (!has_pending()) return;
  const HostTimeline::Thread& t = host->current();
  if (wait) {
    std::vector<uint64_t> after;
    {
      std::lock_guard lock(mutex);
      after = pending.front().after;
    }
    const auto start = Clock::now();
    for (uint32_t q = 0; q < after.size(); ++q) {
      if (after[q] != 0) (void)wait_retired(q, after[q], kForever, "wait for freed memory", start);
    }
  }
  // What has retired is judged at this thread's simulated time, after the
  // simulation has caught up with it: the same program frees and reuses the
  // same memory on every run.
  transport->catch_up(t.clock);
  const uint64_t now = transport->host_clock_ps(t.clock);
  const auto retired_by_now = [&](uint32_t q, uint64_t seq) {
    if (seq == 0) return true;
    if (transport->completed_sequence(q) < seq) return false;
    const auto c = transport->completion(q, seq);
    return !c || c->end_ps < now;  // a record too old to be kept retired long ago
  };
  std::vector<std::function<void()>> ready;
  {
    std::lock_guard lock(mutex);
    for (auto it = pending.begin(); it != pending.end();) {
      bool done = true;
      for (uint32_t q = 0; q < it->after.size() && done; ++q) done = retired_by_now(q, it->after[q]);
      if (done) {
        ready.push_back(std::move(it->release));
        it = pending.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& release : ready) release();
}

// ------------------------------------------------------------ device memory

Result<DeviceBuffer> Device::Impl::allocate_device(uint64_t size, MemoryKind kind) {
  if (size == 0) return invalid_argument("allocate: size must be > 0");
  if (kind == MemoryKind::kHost) {
    return invalid_argument("allocate: MemoryKind::kHost is not device memory; use allocate_host for pinned host memory");
  }
  if (kind != MemoryKind::kHbm && kind != MemoryKind::kSram) {
    return invalid_argument("allocate: unknown memory kind " + std::to_string(static_cast<int>(kind)));
  }
  reclaim(/*wait=*/false);
  for (;;) {
    {
      std::lock_guard lock(mutex);
      RangeAllocator& pool = kind == MemoryKind::kHbm ? *hbm : *sram;
      if (auto phys = pool.allocate(size)) {
        const uint64_t rounded = pool.round_up(size);
        const uint64_t va = (kind == MemoryKind::kHbm ? kHbmBase : kSramBase) + *phys;
        const Status s = transport->map(context, va, kind, *phys, rounded);
        if (!s.ok()) {
          pool.release(*phys, rounded);
          return s;
        }
        mappings[va] = {size, rounded, *phys, kind};
        return DeviceBuffer{va, size, kind};
      }
      const bool memory_pending = std::any_of(pending.begin(), pending.end(),
                                              [&](const PendingRelease& p) { return p.kind == kind; });
      if (!memory_pending) {
        return out_of_memory("cannot allocate " + human_bytes(size) + " of " + std::string(memory_kind_name(kind)) +
                             ": " + human_bytes(pool.free_bytes()) + " free, largest free block " +
                             human_bytes(pool.largest_free_block()));
      }
    }
    // Memory freed while work still used it comes back when that work retires.
    reclaim(/*wait=*/true);
  }
}

Status Device::Impl::free_device(const DeviceBuffer& buffer) {
  Mapping m;
  {
    std::lock_guard lock(mutex);
    auto it = mappings.find(buffer.address);
    if (it == mappings.end() || it->second.kind == MemoryKind::kHost) {
      return not_found("free: no device allocation starts at " + hex(buffer.address));
    }
    m = it->second;
    // Gone for the caller at once; its memory stays mapped and owned until
    // the work queued before this free has retired.
    mappings.erase(it);
  }
  const uint64_t va = buffer.address;
  release_later(
      [this, va, m] {
        (void)transport->unmap(context, va);
        std::lock_guard lock(mutex);
        (m.kind == MemoryKind::kHbm ? *hbm : *sram).release(m.physical, m.mapped);
      },
      m.kind, m.mapped);
  return {};
}

bool Device::Impl::mapped(uint64_t address, uint64_t size) const {
  std::lock_guard lock(mutex);
  auto it = mappings.upper_bound(address);
  if (it == mappings.begin()) return false;
  --it;
  const uint64_t offset = address - it->first;
  return offset <= it->second.bytes && size <= it->second.bytes - offset;
}

Result<DeviceBuffer> Device::allocate(uint64_t size, MemoryKind kind) {
  const auto start = Clock::now();
  KILN_ASSIGN_OR_RETURN(DeviceBuffer out, impl_->allocate_device(size, kind));
  impl_->host->charge("allocate", impl_->host->costs().allocate, start, size);
  return out;
}

Status Device::free(const DeviceBuffer& buffer) {
  const auto start = Clock::now();
  KILN_RETURN_IF_ERROR(impl_->free_device(buffer));
  impl_->host->charge("free", impl_->host->costs().free, start);
  return {};
}

uint64_t Device::free_bytes(MemoryKind kind) const {
  std::lock_guard lock(impl_->mutex);
  if (kind != MemoryKind::kHbm && kind != MemoryKind::kSram) return 0;
  return (kind == MemoryKind::kHbm ? *impl_->hbm : *impl_->sram).free_bytes();
}

// -------------------------------------------------------------- host memory

Result<HostBuffer> Device::allocate_host(uint64_t size) {
  if (size == 0) return invalid_argument("allocate_host: size must be > 0");
  Impl& d = *impl_;
  const uint64_t page = d.properties.page_bytes;
  const uint64_t rounded = (size + page - 1) / page * page;
  // Anonymous mappings are zero-filled lazily, so a large buffer that a
  // timing-only run never touches costs no host memory.
  void* data = mmap(nullptr, rounded, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (data == MAP_FAILED) return out_of_memory("allocate_host: the host could not provide " + human_bytes(rounded));
  madvise(data, rounded, MADV_HUGEPAGE);  // fewer page faults when DMA first touches it
  const auto start = Clock::now();
  auto pinned = d.pin(data, size);
  if (!pinned.ok()) {
    munmap(data, rounded);
    return pinned.status();
  }
  {
    std::lock_guard lock(d.mutex);
    Impl::Mapping& m = d.mappings.at(pinned->address);
    m.owned_host = data;
    m.owned_bytes = rounded;
  }
  d.host->charge("allocate_host", d.host->costs().allocate, start, size);
  HostBuffer out = *pinned;
  out.owned = true;
  return out;
}

Result<HostBuffer> Device::Impl::pin(void* data, uint64_t size) {
  if (data == nullptr || size == 0) return invalid_argument("pin_host: null pointer or zero size");
  reclaim(/*wait=*/false);
  const uint64_t page = properties.page_bytes;
  const auto addr = reinterpret_cast<uintptr_t>(data);
  if (size > UINT64_MAX - addr - page) return invalid_argument("pin_host: the range wraps the address space");
  const uint64_t first = addr / page * page;
  const uint64_t span = (addr + size + page - 1) / page * page - first;
  std::lock_guard lock(mutex);
  auto aperture = host_va->allocate(span);
  if (!aperture) return out_of_memory("pin_host: host aperture exhausted for " + human_bytes(span));
  // The device sees exactly the caller's bytes, at the same offset into a
  // page as on the host; the bytes around them stay out of its reach.
  const uint64_t va = *aperture + (addr - first);
  const Status s = transport->map(context, va, MemoryKind::kHost, addr, size);
  if (!s.ok()) {
    host_va->release(*aperture, span);
    return s;
  }
  mappings[va] = {size, size, addr, MemoryKind::kHost, *aperture, span};
  return HostBuffer{data, size, va, false};
}

Status Device::Impl::unpin(const HostBuffer& buffer, bool wait_for_queued_work) {
  Mapping m;
  {
    std::lock_guard lock(mutex);
    auto it = mappings.find(buffer.address);
    if (it == mappings.end() || it->second.kind != MemoryKind::kHost) {
      return not_found("free_host: no pinned host buffer at device address " + hex(buffer.address));
    }
    m = it->second;
    mappings.erase(it);
  }
  const uint64_t va = buffer.address;
  auto release = [this, va, m] {
    (void)transport->unmap(context, va);
    if (m.owned_host) munmap(m.owned_host, m.owned_bytes);
    std::lock_guard lock(mutex);
    host_va->release(m.aperture, m.aperture_bytes);
  };
  if (m.owned_host) {
    release_later(std::move(release), MemoryKind::kHost, m.bytes);
    return {};
  }
  if (!wait_for_queued_work) {
    release();
    return {};
  }
  // The caller may reuse or free its own memory as soon as this returns, so
  // work that may still reach it must retire first.
  const auto after = submitted_snapshot();
  const auto start = Clock::now();
  for (uint32_t q = 0; q < after.size(); ++q) {
    if (after[q] != 0) (void)wait_retired(q, after[q], kForever, "unpin: wait for queued work", start);
  }
  release();
  return {};
}

Result<HostBuffer> Device::pin_host(void* data, uint64_t size) {
  const auto start = Clock::now();
  KILN_ASSIGN_OR_RETURN(HostBuffer out, impl_->pin(data, size));
  impl_->host->charge("pin_host", impl_->host->costs().allocate, start, size);
  return out;
}

Status Device::free_host(const HostBuffer& buffer) {
  const auto start = Clock::now();
  KILN_RETURN_IF_ERROR(impl_->unpin(buffer));
  impl_->host->charge("free_host", impl_->host->costs().free, start);
  return {};
}

// ------------------------------------------------------ synchronous helpers

Status Device::Impl::copy_host_sync(void* host_ptr, uint64_t device_addr, uint64_t size, bool to_device) {
  const auto start = Clock::now();
  if (size == 0) return {};
  // Pinning and staging: one modelled set-up cost; the pin itself is part of it.
  host->charge(to_device ? "copy_to_device setup" : "copy_to_host setup", host->costs().copy_setup, start, size);
  Stream& stream = *default_stream;
  KILN_ASSIGN_OR_RETURN(HostBuffer pinned, pin(host_ptr, size));
  auto seq = to_device ? stream.copy(device_addr, pinned.address, size) : stream.copy(pinned.address, device_addr, size);
  Status s = seq.ok() ? stream.wait(*seq) : seq.status();
  // The copy was the only work that could reach these bytes, and it is done.
  const Status unpinned = unpin(pinned, /*wait_for_queued_work=*/!s.ok());
  return s.ok() ? unpinned : s;
}

Status Device::copy_to_device(uint64_t dst, const void* src, uint64_t size) {
  return impl_->copy_host_sync(const_cast<void*>(src), dst, size, true);
}

Status Device::copy_to_host(void* dst, uint64_t src, uint64_t size) {
  return impl_->copy_host_sync(dst, src, size, false);
}

Status Device::copy_on_device(uint64_t dst, uint64_t src, uint64_t size) {
  KILN_ASSIGN_OR_RETURN(uint64_t seq, impl_->default_stream->copy(dst, src, size));
  return impl_->default_stream->wait(seq);
}

Status Device::memset(uint64_t dst, uint32_t pattern, uint64_t size) {
  KILN_ASSIGN_OR_RETURN(uint64_t seq, impl_->default_stream->memset(dst, pattern, size));
  return impl_->default_stream->wait(seq);
}

}  // namespace kiln::driver
