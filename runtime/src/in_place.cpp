// In-place updates of device tensors, outside any graph: what a captured
// graph's inputs need between replays (Runtime::copy_, copy_from_host), and
// tensors that hold memory at once (Runtime::empty) to be those inputs.
#include "ops_util.h"

namespace kiln::runtime {

Status Runtime::copy_(const Tensor& dst, const Tensor& src) {
  Impl& rt = *impl_;
  KILN_RETURN_IF_ERROR(whole_tensor("copy_", dst));
  if (!src.defined()) return invalid_argument("copy_: the source is undefined");
  if (dst.impl()->owner.get() != &rt || src.impl()->owner.get() != &rt) {
    return invalid_argument("copy_: a tensor belongs to another runtime (device)");
  }
  if (src.shape() != dst.shape() || src.dtype() != dst.dtype()) {
    return invalid_argument("copy_: " + src.describe() + " into " + dst.describe() + ": shapes or dtypes differ");
  }
  if (capturing()) {
    std::lock_guard lock(rt.mutex);
    return rt.abandon_capture_locked("copy_");
  }
  Tensor from = src;
  if (!src.is_contiguous()) {
    // A strided view: made dense on the device first (an eager op, queued).
    ModeScope eager(*this, Mode::kEager);
    KILN_ASSIGN_OR_RETURN(from, contiguous(src));
  }
  std::lock_guard lock(rt.mutex);
  KILN_RETURN_IF_ERROR(rt.check_open("copy_"));
  if (!from.impl()->slot->storage && from.impl()->slot->graph == rt.pending.id) {
    KILN_RETURN_IF_ERROR(rt.run_pending_locked("copy_"));
  }
  const std::shared_ptr<Storage> in = from.impl()->slot->storage, out = dst.impl()->slot->storage;
  if (!in) return failed_precondition("copy_: " + src.describe() + ": its value was lost in a failed step");
  if (!out) return failed_precondition("copy_: " + dst.describe() + " holds no memory yet (run its step first)");
  if (in == out) return {};
  driver::Stream& dma = *rt.streams[kDmaQueue];
  if (in->ready && in->ready_queue != kDmaQueue) KILN_RETURN_IF_ERROR(dma.wait_event(*in->ready));
  if (out->ready && out->ready_queue != kDmaQueue) KILN_RETURN_IF_ERROR(dma.wait_event(*out->ready));
  for (uint32_t q = 0; q < kQueueCount; ++q) {
    if (out->last_uses[q] && q != kDmaQueue) KILN_RETURN_IF_ERROR(dma.wait_event(*out->last_uses[q]));
  }
  const uint64_t bytes = static_cast<uint64_t>(numel(dst.shape())) * dtype_size(dst.dtype());
  KILN_RETURN_IF_ERROR(dma.copy(out->buffer.address, in->buffer.address, bytes).status());
  KILN_ASSIGN_OR_RETURN(auto event, rt.device->create_event());
  std::shared_ptr<driver::Event> done(std::move(event));
  KILN_RETURN_IF_ERROR(dma.record(*done));
  out->ready = done;
  out->ready_queue = kDmaQueue;
  out->step = 0;
  out->last_uses[kDmaQueue] = done;
  in->last_uses[kDmaQueue] = done;
  return {};
}

Status Runtime::copy_from_host(const Tensor& dst, const void* data, std::size_t bytes) {
  Impl& rt = *impl_;
  KILN_RETURN_IF_ERROR(whole_tensor("copy_from_host", dst));
  if (dst.impl()->owner.get() != &rt) return invalid_argument("copy_from_host: the tensor belongs to another runtime");
  const uint64_t need = static_cast<uint64_t>(numel(dst.shape())) * dtype_size(dst.dtype());
  if (bytes != need) {
    return invalid_argument("copy_from_host: " + dst.describe() + " takes " + std::to_string(need) + " bytes, got " +
                            std::to_string(bytes));
  }
  std::lock_guard lock(rt.mutex);
  KILN_RETURN_IF_ERROR(rt.check_open("copy_from_host"));
  if (rt.capturing) return rt.abandon_capture_locked("copy_from_host");
  const std::shared_ptr<Storage> out = dst.impl()->slot->storage;
  if (!out) return failed_precondition("copy_from_host: " + dst.describe() + " holds no memory yet (run its step first)");
  // Its writer and earlier readers first (a replay still reading it).
  if (out->ready) KILN_RETURN_IF_ERROR(rt.name_fault(out->ready->synchronize()));
  for (const auto& e : out->last_uses) {
    if (e) KILN_RETURN_IF_ERROR(rt.name_fault(e->synchronize()));
  }
  KILN_RETURN_IF_ERROR(rt.device->copy_to_device(out->buffer.address, data, bytes));
  out->ready = nullptr;
  out->step = 0;
  return {};
}

Result<Tensor> Runtime::empty(Shape shape, DType dtype) {
  Impl& rt = *impl_;
  KILN_RETURN_IF_ERROR(check_shape("empty", shape));
  std::lock_guard lock(rt.mutex);
  KILN_RETURN_IF_ERROR(rt.check_open("empty"));
  auto slot = std::make_shared<Slot>();
  slot->shape = shape;
  slot->dtype = dtype;
  const uint64_t bytes = static_cast<uint64_t>(numel(shape)) * dtype_size(dtype);
  KILN_ASSIGN_OR_RETURN(slot->storage, rt.pool->allocate(bytes));
  Storage& s = *slot->storage;
  if (bytes > 0) {
    // Zeroed on the DMA queue, after whatever still used a reused block.
    driver::Stream& dma = *rt.streams[kDmaQueue];
    for (uint32_t q = 0; q < kQueueCount; ++q) {
      if (s.last_uses[q] && q != kDmaQueue) KILN_RETURN_IF_ERROR(dma.wait_event(*s.last_uses[q]));
    }
    KILN_RETURN_IF_ERROR(dma.memset(s.buffer.address, 0, bytes).status());
    KILN_ASSIGN_OR_RETURN(auto event, rt.device->create_event());
    std::shared_ptr<driver::Event> done(std::move(event));
    KILN_RETURN_IF_ERROR(dma.record(*done));
    s.ready = done;
    s.ready_queue = kDmaQueue;
    s.last_uses[kDmaQueue] = done;
  }
  return rt.make_tensor(std::move(slot));
}

}  // namespace kiln::runtime
