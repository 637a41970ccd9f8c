// Tensors: a shape, strides, a dtype, and either device memory or the
// pending graph node that will produce it (lazy mode).
//
//   auto rt = kiln::runtime::Runtime::open("gaudi2").value();
//   Tensor x = rt->from_host<float>(data, {8, 512}).value();
//   Tensor w = rt->rand_uniform({512, 512}, DType::kBF16, /*seed=*/1).value();
//   Tensor y = relu(matmul(cast(x, DType::kBF16).value(), w).value()).value();
//   rt->mark_step();                      // lazy (the default): compile and launch
//   std::vector<float> out = cast(y, DType::kF32).value().to_host<float>().value();
//
// Views (reshape of a contiguous tensor, permute/transpose, slice, expand,
// squeeze/unsqueeze) share memory with their base: no copy is made, and a
// view of a pending tensor is pending too. Ops (kiln/runtime/ops.h) check
// shapes and dtypes when called and fail naming the op and what differs;
// nothing is enqueued then.
//
// Ownership: a Tensor is a shared handle (copying it copies the handle). The
// memory and the graph node it refers to live while any handle does.
// Threading: handles may be passed between threads; a Runtime serialises the
// ops on its tensors. Errors are Status/Result values.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "kiln/common/source_location.h"
#include "kiln/common/status.h"
#include "kiln/runtime/shape.h"

namespace kiln::runtime {

class Runtime;
struct TensorImpl;

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  int rank() const { return static_cast<int>(shape().size()); }
  int64_t dim(int i) const;  // negative counts from the end
  int64_t numel() const;
  DType dtype() const;
  // Strides in elements, outermost first; 0 for an expanded (broadcast) dim.
  const Shape& strides() const;
  bool is_contiguous() const;
  // False while a lazy op that produces it has not run.
  bool materialized() const;
  Runtime& runtime() const;

  // ---- views: no copy ----
  // A contiguous tensor is reshaped in place; another is copied first.
  Result<Tensor> reshape(Shape shape) const;
  Result<Tensor> permute(std::vector<int> dims) const;
  Result<Tensor> transpose(int a, int b) const;
  // Elements start, start+step, ... below end of `dim` (end clamped to its size).
  Result<Tensor> slice(int dim, int64_t start, int64_t end, int64_t step = 1) const;
  // Broadcasts dims of size 1 (and new leading dims) to `shape`.
  Result<Tensor> expand(Shape shape) const;
  Result<Tensor> squeeze(int dim) const;
  Result<Tensor> unsqueeze(int dim) const;

  // Marks dim 0 as a batch whose size varies from step to step: with
  // RuntimeOptions::batch_buckets set, steps reading it may run padded to a
  // bucket size (docs/runtime.md). Fails on a rank-0 tensor.
  Status mark_dynamic_batch() const;
  // Marks `dim` as a sequence whose length varies from step to step: with
  // RuntimeOptions::sequence_buckets set, steps reading it may run padded to
  // a bucket length, with masks where positions meet (docs/runtime.md).
  // Padded positions read zeros. Fails unless the tensor is its value whole
  // (not a view of part or a permutation of it), holds memory (a step's
  // input, not a value the pending step computes) and `dim` is in range.
  Status mark_dynamic_sequence(int dim) const;

  // ---- reading ----
  // Runs whatever the value still needs (lazy mode: the pending graph, up to
  // it) and copies it to the host, densely, in this tensor's dtype. A read in
  // the middle of a step splits the graph there (a graph break, counted in
  // the runtime's stats). On a timing-only device the values are zeros.
  // `where` (the caller's line, by default) names the read in the stats.
  Status to_host(void* dst, std::size_t bytes, SourceLocation where = SourceLocation::current()) const;
  template <typename T>
  Result<std::vector<T>> to_host(SourceLocation where = SourceLocation::current()) const {
    std::vector<T> out(static_cast<std::size_t>(numel()));
    KILN_RETURN_IF_ERROR(to_host(out.data(), out.size() * sizeof(T), where));
    return out;
  }

  // "bf16[8, 512]".
  std::string describe() const;

  const std::shared_ptr<TensorImpl>& impl() const { return impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

}  // namespace kiln::runtime
