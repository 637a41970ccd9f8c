#include "kiln/runtime/tensor.h"

#include <cstring>
#include <numeric>

#include "kiln/runtime/ops.h"
#include "runtime_impl.h"

namespace kiln::runtime {

const Shape& Tensor::shape() const { return impl_->shape; }
const Shape& Tensor::strides() const { return impl_->strides; }
DType Tensor::dtype() const { return impl_->dtype; }
int64_t Tensor::numel() const { return runtime::numel(impl_->shape); }
Runtime& Tensor::runtime() const { return *impl_->owner->self; }
bool Tensor::materialized() const { return impl_->slot->storage != nullptr; }

int64_t Tensor::dim(int i) const {
  const auto d = normalize_dim(i, rank());
  return d ? impl_->shape[static_cast<std::size_t>(*d)] : 0;
}

bool Tensor::is_contiguous() const { return impl_->offset == 0 && impl_->strides == contiguous_strides(impl_->shape); }

Status Tensor::mark_dynamic_batch() const {
  if (rank() == 0) return invalid_argument("mark_dynamic_batch: " + describe() + " has no dim 0");
  impl_->slot->dynamic_batch = true;
  return {};
}

Status Tensor::mark_dynamic_sequence(int dim) const {
  const auto d = normalize_dim(dim, rank());
  if (!d) return invalid_argument("mark_dynamic_sequence: dim " + std::to_string(dim) + " is out of range for " + describe());
  if (!is_contiguous() || impl_->shape != impl_->slot->shape) {
    return invalid_argument("mark_dynamic_sequence: " + describe() + " is a view; mark the tensor it views");
  }
  if (!impl_->slot->storage) {
    return invalid_argument("mark_dynamic_sequence: " + describe() +
                            " is not computed yet; mark the step's input it is computed from");
  }
  impl_->slot->dynamic_sequence_dim = *d;
  return {};
}

std::string Tensor::describe() const {
  if (!impl_) return "undefined";
  return std::string(dtype_name(impl_->dtype)) + to_string(impl_->shape);
}

namespace {

Tensor with_view(const Tensor& t, Shape shape, Shape strides, int64_t offset) {
  auto v = std::make_shared<TensorImpl>(*t.impl());
  v->shape = std::move(shape);
  v->strides = std::move(strides);
  v->offset = offset;
  return Tensor(std::move(v));
}

Status bad(const std::string& op, const Tensor& t, const std::string& why) {
  return invalid_argument(op + ": " + why + " (tensor " + t.describe() + ")");
}

}  // namespace

Result<Tensor> Tensor::reshape(Shape shape) const {
  int infer = -1;
  Shape sized = shape;  // the -1 counted as 1
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (infer >= 0) return bad("reshape", *this, "more than one -1 in " + to_string(shape));
      infer = static_cast<int>(i);
      sized[i] = 1;
    } else if (shape[i] < 0) {
      return bad("reshape", *this, "negative size in " + to_string(shape));
    }
  }
  // Rank and size limits; after it the products below cannot overflow.
  if (Status s = check_shape("reshape", sized); !s.ok()) return invalid_argument(s.message() + " (tensor " + describe() + ")");
  if (infer >= 0) {
    const int64_t known = runtime::numel(sized);
    if (known == 0 || numel() % known != 0) return bad("reshape", *this, "cannot infer -1 in " + to_string(shape));
    shape[static_cast<std::size_t>(infer)] = numel() / known;
  }
  if (runtime::numel(shape) != numel()) {
    return bad("reshape", *this, to_string(shape) + " has " + std::to_string(runtime::numel(shape)) + " elements");
  }
  if (is_contiguous()) return with_view(*this, shape, contiguous_strides(shape), 0);
  // Not viewable as the new shape: a dense copy first.
  KILN_ASSIGN_OR_RETURN(Tensor dense, contiguous(*this));
  return with_view(dense, shape, contiguous_strides(shape), 0);
}

Result<Tensor> Tensor::permute(std::vector<int> dims) const {
  if (static_cast<int>(dims.size()) != rank()) return bad("permute", *this, "needs one index per dim");
  Shape shape, strides;
  std::vector<bool> seen(dims.size(), false);
  for (int d : dims) {
    const auto n = normalize_dim(d, rank());
    if (!n || seen[static_cast<std::size_t>(*n)]) return bad("permute", *this, "not a permutation of its dims");
    seen[static_cast<std::size_t>(*n)] = true;
    shape.push_back(impl_->shape[static_cast<std::size_t>(*n)]);
    strides.push_back(impl_->strides[static_cast<std::size_t>(*n)]);
  }
  return with_view(*this, shape, strides, impl_->offset);
}

Result<Tensor> Tensor::transpose(int a, int b) const {
  const auto da = normalize_dim(a, rank()), db = normalize_dim(b, rank());
  if (!da || !db) return bad("transpose", *this, "dim out of range");
  std::vector<int> dims(static_cast<std::size_t>(rank()));
  std::iota(dims.begin(), dims.end(), 0);
  std::swap(dims[static_cast<std::size_t>(*da)], dims[static_cast<std::size_t>(*db)]);
  return permute(dims);
}

Result<Tensor> Tensor::slice(int dim, int64_t start, int64_t end, int64_t step) const {
  const auto d = normalize_dim(dim, rank());
  if (!d) return bad("slice", *this, "dim " + std::to_string(dim) + " out of range");
  if (step < 1) return bad("slice", *this, "step must be >= 1");
  const int64_t size = impl_->shape[static_cast<std::size_t>(*d)];
  if (start < 0) start += size;
  if (end < 0) end += size;
  start = std::clamp<int64_t>(start, 0, size);
  end = std::clamp<int64_t>(end, start, size);
  Shape shape = impl_->shape, strides = impl_->strides;
  shape[static_cast<std::size_t>(*d)] = (end - start + step - 1) / step;
  strides[static_cast<std::size_t>(*d)] *= step;
  return with_view(*this, shape, strides, impl_->offset + start * impl_->strides[static_cast<std::size_t>(*d)]);
}

Result<Tensor> Tensor::expand(Shape shape) const {
  if (shape.size() < impl_->shape.size() || static_cast<int>(shape.size()) > kMaxRank) {
    return bad("expand", *this, "cannot expand to " + to_string(shape));
  }
  const std::size_t pad = shape.size() - impl_->shape.size();
  Shape strides(shape.size(), 0);
  for (std::size_t i = 0; i < impl_->shape.size(); ++i) {
    const int64_t from = impl_->shape[i], to = shape[pad + i];
    if (to == -1 || to == from) {
      shape[pad + i] = from;
      strides[pad + i] = impl_->strides[i];
    } else if (from == 1) {
      strides[pad + i] = 0;
    } else {
      return bad("expand", *this, "dim " + std::to_string(i) + " of size " + std::to_string(from) +
                                      " cannot expand to " + std::to_string(to));
    }
  }
  return with_view(*this, shape, strides, impl_->offset);
}

Result<Tensor> Tensor::squeeze(int dim) const {
  const auto d = normalize_dim(dim, rank());
  if (!d || impl_->shape[static_cast<std::size_t>(*d)] != 1) return bad("squeeze", *this, "dim is not of size 1");
  Shape shape = impl_->shape, strides = impl_->strides;
  shape.erase(shape.begin() + *d);
  strides.erase(strides.begin() + *d);
  return with_view(*this, shape, strides, impl_->offset);
}

Result<Tensor> Tensor::unsqueeze(int dim) const {
  const auto d = normalize_dim(dim, rank() + 1);
  if (!d || rank() >= kMaxRank) return bad("unsqueeze", *this, "dim out of range");
  Shape shape = impl_->shape, strides = impl_->strides;
  const int64_t stride = *d < rank() ? strides[static_cast<std::size_t>(*d)] * shape[static_cast<std::size_t>(*d)] : 1;
  shape.insert(shape.begin() + *d, 1);
  strides.insert(strides.begin() + *d, stride);
  return with_view(*this, shape, strides, impl_->offset);
}

Status Tensor::to_host(void* dst, std::size_t bytes, SourceLocation where) const {
  const uint64_t need = static_cast<uint64_t>(numel()) * dtype_size(dtype());
  if (bytes != need) {
    return invalid_argument("to_host: the tensor " + describe() + " has " + std::to_string(need) + " bytes, not " +
                            std::to_string(bytes));
  }
  Runtime::Impl& rt = *impl_->owner;
  KILN_ASSIGN_OR_RETURN(Tensor dense, rt.materialize_dense(*this, &where));
  if (need == 0) return {};
  if (!rt.device->properties().name.empty() && !rt.options.device.functional) {
    std::memset(dst, 0, bytes);  // timing only: no values exist
    return {};
  }
  const TensorImpl& d = *dense.impl();
  return rt.device->copy_to_host(dst, d.slot->storage->buffer.address + static_cast<uint64_t>(d.offset) * dtype_size(d.dtype),
                                 bytes);
}

}  // namespace kiln::runtime
