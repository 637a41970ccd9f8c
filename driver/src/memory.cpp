// Device memory, pinned host memory and the synchronous copy helpers.
#include <sys/mman.h>

#include "device_impl.h"
#include "kiln/common/format.h"

namespace kiln::driver {

using Clock = std::chrono::steady_clock;

Result<DeviceBuffer> Device::Impl::allocate_device(uint64_t size, MemoryKind kind) {
  if (size == 0) return invalid_argument("allocate: size must be > 0");
  if (kind == MemoryKind::kHost) {
    return invalid_argument("allocate: MemoryKind::kHost is not device memory; use allocate_host for pinned host memory");
  }
  if (kind != MemoryKind::kHbm && kind != MemoryKind::kSram) {
    return invalid_argument("allocate: unknown memory kind " + std::to_string(static_cast<int>(kind)));
  }
  std::lock_guard lock(mutex);
  RangeAllocator& pool = kind == MemoryKind::kHbm ? *hbm : *sram;
  auto phys = pool.allocate(size);
  if (!phys) {
    return out_of_memory("cannot allocate " + human_bytes(size) + " of " + std::string(memory_kind_name(kind)) +
                         ": " + human_bytes(pool.free_bytes()) + " free, largest free block " +
                         human_bytes(pool.largest_free_block()));
  }
  const uint64_t rounded = pool.round_up(size);
  const uint64_t va = (kind == MemoryKind::kHbm ? kHbmBase : kSramBase) + *phys;
  const Status s = transport->map(context, va, kind, *phys, rounded);
  if (!s.ok()) {
    pool.release(*phys, rounded);
    return s;
  }
  mappings[va] = {rounded, *phys, kind, nullptr, 0, va, size};
  return DeviceBuffer{va, size, kind};
}

Status Device::Impl::free_device(const DeviceBuffer& buffer) {
  std::lock_guard lock(mutex);
  auto it = mappings.find(buffer.address);
  if (it == mappings.end() || it->second.kind == MemoryKind::kHost) {
    return not_found("free: no device allocation starts at " + hex(buffer.address));
  }
  KILN_RETURN_IF_ERROR(transport->unmap(context, buffer.address));
  (it->second.kind == MemoryKind::kHbm ? *hbm : *sram).release(it->second.physical, it->second.size);
  mappings.erase(it);
  return {};
}

bool Device::Impl::mapped(uint64_t address, uint64_t size) const {
  std::lock_guard lock(mutex);
  auto it = mappings.upper_bound(address);
  if (it == mappings.begin()) return false;
  --it;
  const Mapping& m = it->second;
  if (address < m.user_address) return false;
  const uint64_t offset = address - m.user_address;
  return offset <= m.user_bytes && size <= m.user_bytes - offset;
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
  auto pinned = d.pin(data, rounded);
  if (!pinned.ok()) {
    munmap(data, rounded);
    return pinned.status();
  }
  {
    std::lock_guard lock(d.mutex);
    const uint64_t va = pinned->address / page * page;  // the mapping starts at the page boundary
    d.mappings[va].owned_host = data;
    d.mappings[va].owned_bytes = rounded;
  }
  d.host->charge("allocate_host", d.host->costs().allocate, start, size);
  HostBuffer out = *pinned;
  out.size = size;
  out.owned = true;
  return out;
}

Result<HostBuffer> Device::Impl::pin(void* data, uint64_t size) {
  if (data == nullptr || size == 0) return invalid_argument("pin_host: null pointer or zero size");
  const uint64_t page = properties.page_bytes;
  const auto addr = reinterpret_cast<uintptr_t>(data);
  const uint64_t first = addr / page * page;
  const uint64_t span = (addr + size + page - 1) / page * page - first;
  std::lock_guard lock(mutex);
  auto va = host_va->allocate(span);
  if (!va) return out_of_memory("pin_host: host aperture exhausted for " + human_bytes(span));
  const Status s = transport->map(context, *va, MemoryKind::kHost, first, span);
  if (!s.ok()) {
    host_va->release(*va, span);
    return s;
  }
  mappings[*va] = {span, first, MemoryKind::kHost, nullptr, 0, *va + (addr - first), size};
  return HostBuffer{data, size, *va + (addr - first), false};
}

Status Device::Impl::unpin(const HostBuffer& buffer) {
  const uint64_t page = properties.page_bytes;
  const uint64_t va = buffer.address / page * page;
  std::lock_guard lock(mutex);
  auto it = mappings.find(va);
  if (it == mappings.end() || it->second.kind != MemoryKind::kHost) {
    return not_found("free_host: no pinned host buffer at device address " + hex(buffer.address));
  }
  KILN_RETURN_IF_ERROR(transport->unmap(context, va));
  host_va->release(va, it->second.size);
  if (it->second.owned_host) munmap(it->second.owned_host, it->second.owned_bytes);
  mappings.erase(it);
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
  const Status unpinned = unpin(pinned);
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
