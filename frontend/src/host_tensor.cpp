// Host tensors and the output comparison of `kiln run --check`.
#include "kiln/frontend/host_tensor.h"

#include <cmath>
#include <cstring>
#include <sstream>

#include "kiln/common/bf16.h"
#include "kiln/common/f16.h"
#include "proto_io.h"

namespace kiln::frontend {

int64_t HostTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

double HostTensor::at(int64_t i) const {
  const std::byte* p = data.data() + static_cast<std::size_t>(i) * dtype_size(dtype);
  switch (dtype) {
    case DType::kF32: { float v; std::memcpy(&v, p, 4); return v; }
    case DType::kBF16: { uint16_t b; std::memcpy(&b, p, 2); return to_float(bf16::from_bits(b)); }
    case DType::kF16: { uint16_t b; std::memcpy(&b, p, 2); return to_float(f16::from_bits(b)); }
    case DType::kI32: { int32_t v; std::memcpy(&v, p, 4); return v; }
    case DType::kI64: { int64_t v; std::memcpy(&v, p, 8); return static_cast<double>(v); }
    case DType::kBool: return *p != std::byte{0} ? 1.0 : 0.0;
  }
  return 0;
}

std::string describe(const HostTensor& t) {
  std::ostringstream s;
  s << dtype_name(t.dtype) << "[";
  for (std::size_t i = 0; i < t.shape.size(); ++i) s << (i ? ", " : "") << t.shape[i];
  s << "]";
  return s.str();
}

Result<HostTensor> read_tensor_file(const std::string& path) { return detail::read_tensor_proto_file(path); }

Tolerance tolerance_for(DType dtype) {
  switch (dtype) {
    case DType::kF32: return {1e-4, 1e-3};
    case DType::kF16: return {1e-3, 1e-2};
    case DType::kBF16: return {1e-2, 2e-2};
    default: return {0, 0};
  }
}

Comparison compare(const HostTensor& expected, const HostTensor& actual, Tolerance tolerance) {
  Comparison c;
  if (expected.shape != actual.shape || expected.dtype != actual.dtype) {
    c.message = "expected " + describe(expected) + ", got " + describe(actual);
    return c;
  }
  double worst_excess = -1;
  const int64_t n = expected.numel();
  for (int64_t i = 0; i < n; ++i) {
    const double e = expected.at(i), a = actual.at(i);
    if (std::isnan(e) && std::isnan(a)) continue;
    // inf == inf is a match; inf - inf would be NaN below.
    if (std::isinf(e) && a == e) continue;
    const double err = std::abs(a - e);
    const bool bad = !(err <= tolerance.atol + tolerance.rtol * std::abs(e));
    if (std::isnan(err) || err > c.max_abs_error) c.max_abs_error = std::isnan(err) ? INFINITY : err;
    if (e != 0 && err / std::abs(e) > c.max_rel_error) c.max_rel_error = err / std::abs(e);
    const double excess = std::isnan(err) ? INFINITY : err - (tolerance.atol + tolerance.rtol * std::abs(e));
    if (bad) ++c.mismatches;
    if (excess > worst_excess || c.worst_index < 0) {
      worst_excess = excess;
      c.worst_index = i;
    }
  }
  c.ok = c.mismatches == 0;
  if (c.worst_index >= 0) {
    std::ostringstream s;
    s << c.mismatches << " of " << n << " elements outside atol " << tolerance.atol << " rtol " << tolerance.rtol
      << "; max abs error " << c.max_abs_error << ", max rel error " << c.max_rel_error << "; worst at flat index "
      << c.worst_index << ": expected " << expected.at(c.worst_index) << ", got " << actual.at(c.worst_index);
    c.message = s.str();
  }
  return c;
}

}  // namespace kiln::frontend
