// Tensors from the host, and tensors made on the device.
#include <cmath>
#include <cstring>
#include <string>

#include "ops_util.h"

namespace kiln::runtime {

Result<Tensor> Runtime::from_host(const void* data, std::size_t bytes, Shape shape, DType dtype) {
  KILN_RETURN_IF_ERROR(check_shape("from_host", shape));
  const uint64_t need = static_cast<uint64_t>(numel(shape)) * dtype_size(dtype);
  if (bytes != need) {
    return invalid_argument("from_host: " + std::string(dtype_name(dtype)) + to_string(shape) + " needs " +
                            std::to_string(need) + " bytes, got " + std::to_string(bytes));
  }
  Impl& rt = *impl_;
  std::lock_guard lock(rt.mutex);
  auto slot = std::make_shared<Slot>();
  slot->shape = shape;
  slot->dtype = dtype;
  KILN_ASSIGN_OR_RETURN(slot->storage, rt.pool->allocate(need));
  // A reused block may still be read or written by queued work: wait for it.
  for (const auto& e : slot->storage->last_uses) {
    if (e) KILN_RETURN_IF_ERROR(e->synchronize());
  }
  if (need > 0) KILN_RETURN_IF_ERROR(rt.device->copy_to_device(slot->storage->buffer.address, data, need));
  return rt.make_tensor(std::move(slot));
}

Result<Tensor> Runtime::full(Shape shape, double value, DType dtype) {
  KILN_RETURN_IF_ERROR(check_shape("full", shape));
  // The fill kernel writes f32, bf16, f16 and i32: i64 and bool are an i32
  // fill cast on the device (an i64 value must fit i32 then).
  if (dtype == DType::kI64 || dtype == DType::kBool) {
    const double v = dtype == DType::kBool ? (value != 0 ? 1.0 : 0.0) : value;
    if (!(std::abs(v) <= 2147483647.0)) {
      std::string why = "full: an i64 value must be within int32's range on the device, got ";
      why += std::to_string(value);
      why += " (upload it with from_host)";
      return invalid_argument(why);
    }
    KILN_ASSIGN_OR_RETURN(Tensor t, full(std::move(shape), v, DType::kI32));
    return cast(t, dtype);
  }
  Attrs attrs;
  attrs.floats = {value};
  return impl_->record1(OpKind::kFill, std::move(attrs), {}, std::move(shape), dtype, "full");
}

Result<Tensor> Runtime::zeros(Shape shape, DType dtype) { return full(std::move(shape), 0.0, dtype); }

Result<Tensor> Runtime::arange(int64_t n, DType dtype) {
  if (n < 0) return invalid_argument("arange: negative length");
  Attrs attrs;
  attrs.floats = {0.0, 1.0};
  return impl_->record1(OpKind::kArange, std::move(attrs), {}, {n}, dtype, "arange");
}

Result<Tensor> Runtime::rand_uniform(Shape shape, DType dtype, uint64_t seed, double low, double high) {
  KILN_RETURN_IF_ERROR(check_shape("rand_uniform", shape));
  if (!is_float_dtype(dtype)) return invalid_argument("rand_uniform: needs a floating-point dtype");
  Attrs attrs;
  attrs.ints = {static_cast<int64_t>(seed)};
  attrs.floats = {low, high};
  return impl_->record1(OpKind::kRandUniform, std::move(attrs), {}, std::move(shape), dtype, "rand_uniform");
}

Result<Tensor> Runtime::rand_normal(Shape shape, DType dtype, uint64_t seed, double mean, double stddev) {
  KILN_RETURN_IF_ERROR(check_shape("rand_normal", shape));
  if (!is_float_dtype(dtype)) return invalid_argument("rand_normal: needs a floating-point dtype");
  Attrs attrs;
  attrs.ints = {static_cast<int64_t>(seed)};
  attrs.floats = {mean, stddev};
  return impl_->record1(OpKind::kRandNormal, std::move(attrs), {}, std::move(shape), dtype, "rand_normal");
}

Result<Tensor> Runtime::Impl::materialize_dense(const Tensor& t, const SourceLocation* read_at) {
  std::lock_guard lock(mutex);
  KILN_RETURN_IF_ERROR(check_open("read of " + t.describe()));
  const TensorImpl& ti = *t.impl();
  if (!ti.slot->storage && ti.slot->graph == pending.id) {
    if (capturing) return abandon_capture_locked("to_host (a read of " + t.describe() + ")");
    if (read_at != nullptr) note_graph_break(t, *read_at);
    KILN_RETURN_IF_ERROR(run_pending_locked("read to the host"));
  }
  if (!ti.slot->storage) return failed_precondition("read of " + t.describe() + ": its value was lost in a failed step");
  Tensor dense = t;
  if (!t.is_contiguous()) {
    ModeScope eager(*self, Mode::kEager);
    KILN_ASSIGN_OR_RETURN(dense, contiguous(t));
  }
  const Storage& storage = *dense.impl()->slot->storage;
  if (storage.ready) {
    KILN_RETURN_IF_ERROR(name_fault(storage.ready->synchronize()).with_context("read of " + t.describe()));
    // A fault reported before (to synchronize()) still makes the value unreadable.
    if (storage.step != 0) {
      KILN_RETURN_IF_ERROR(step_fault(storage.step).with_context("read of " + t.describe()));
    }
  }
  return dense;
}

}  // namespace kiln::runtime
