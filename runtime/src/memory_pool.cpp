#include "memory_pool.h"

namespace kiln::runtime {

Storage::~Storage() {
  if (pool != nullptr) pool->give_back(buffer, bytes, std::move(last_uses));
}

MemoryPool::~MemoryPool() { trim(); }

uint64_t MemoryPool::size_class(uint64_t bytes) const {
  // The driver maps whole pages: round to them, so a block serves every
  // request that would take the same pages.
  const uint64_t page = device_.properties().page_bytes;
  return std::max<uint64_t>(1, (bytes + page - 1) / page) * page;
}

Result<std::shared_ptr<Storage>> MemoryPool::allocate(uint64_t bytes) {
  const uint64_t size = size_class(bytes);
  {
    std::lock_guard lock(mutex_);
    auto it = free_.find(size);
    if (it != free_.end()) {
      auto s = std::make_shared<Storage>();
      s->buffer = it->second.buffer;
      s->bytes = size;
      s->pool = this;
      s->last_uses = std::move(it->second.last_uses);
      cached_ -= size;
      free_.erase(it);
      return s;
    }
  }
  auto buffer = device_.allocate(size, kind_);
  if (!buffer.ok() && buffer.status().code() == ErrorCode::kOutOfMemory) {
    trim();
    buffer = device_.allocate(size, kind_);
  }
  if (!buffer.ok()) return buffer.status();
  auto s = std::make_shared<Storage>();
  s->buffer = *buffer;
  s->bytes = size;
  s->pool = this;
  return s;
}

void MemoryPool::give_back(const driver::DeviceBuffer& buffer, uint64_t bytes, LastUses last_uses) {
  std::lock_guard lock(mutex_);
  if (closed_) return;
  free_.emplace(bytes, Cached{buffer, std::move(last_uses)});
  cached_ += bytes;
}

void MemoryPool::trim() {
  std::multimap<uint64_t, Cached> blocks;
  {
    std::lock_guard lock(mutex_);
    blocks.swap(free_);
    cached_ = 0;
  }
  // The driver's free waits for queued work on its own (memory ordered with
  // the queues), so the events need not be waited for here.
  for (auto& [size, block] : blocks) (void)device_.free(block.buffer);
}

void MemoryPool::close() {
  trim();
  std::lock_guard lock(mutex_);
  closed_ = true;
}

uint64_t MemoryPool::cached_bytes() const {
  std::lock_guard lock(mutex_);
  return cached_;
}

}  // namespace kiln::runtime
