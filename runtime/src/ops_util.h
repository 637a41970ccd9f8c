// Shared by the op functions: checks that name the op and what differs.
// Internal to kiln_runtime.
#pragma once

#include <string>
#include <vector>

#include "kiln/runtime/ops.h"
#include "runtime_impl.h"

namespace kiln::runtime {

// Inside a composite op (linear, attention), the ops it records are all
// labelled with the composite's name; the outermost composite wins.
class CompositeScope {
 public:
  explicit CompositeScope(const char* name);
  ~CompositeScope();
  CompositeScope(const CompositeScope&) = delete;
  CompositeScope& operator=(const CompositeScope&) = delete;

 private:
  bool outermost_;
};

// The label an op called `op` records under the calling thread's scopes.
std::string scoped_label(std::string_view op);

// Valid while any tensor of it lives (a closed runtime's Impl refuses ops).
inline Runtime::Impl& rt_of(const Tensor& t) { return *t.impl()->owner; }

inline Status op_error(std::string_view op, const std::string& why) {
  return invalid_argument(std::string(op) + ": " + why);
}

inline Status check_defined(std::string_view op, std::initializer_list<const Tensor*> tensors) {
  for (const Tensor* t : tensors) {
    if (!t->defined()) return op_error(op, "an input is undefined");
  }
  return {};
}

inline Status same_dtype(std::string_view op, const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype()) {
    return op_error(op, "dtypes differ: " + a.describe() + " and " + b.describe() + " (cast one first)");
  }
  return {};
}

inline bool is_float_dtype(DType d) { return d == DType::kF32 || d == DType::kBF16 || d == DType::kF16; }

inline Status float_dtype(std::string_view op, const Tensor& x) {
  if (!is_float_dtype(x.dtype())) return op_error(op, "needs a floating-point tensor, got " + x.describe());
  return {};
}

// `t` is a whole tensor (not a view of part of its value, nor a permutation
// of it): what in-place updates and graph bindings take.
inline Status whole_tensor(std::string_view what, const Tensor& t) {
  if (!t.defined()) return invalid_argument(std::string(what) + ": an undefined tensor");
  const TensorImpl& ti = *t.impl();
  if (!t.is_contiguous() || ti.shape != ti.slot->shape || ti.dtype != ti.slot->dtype) {
    return invalid_argument(std::string(what) + ": " + t.describe() + " is a view; give the whole tensor");
  }
  return {};
}

// Dims of a reduction, normalized and sorted; an error names the bad one.
Result<std::vector<int>> reduction_dims(std::string_view op, const Tensor& x, std::vector<int> dims);

}  // namespace kiln::runtime
