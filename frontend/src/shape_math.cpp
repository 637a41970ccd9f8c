// Shape arithmetic shared by the host folding and the device lowerings.
#include "shape_math.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace kiln::frontend::detail {

std::vector<int64_t> int_values(const HostTensor& t) {
  const int64_t n = t.numel();
  std::vector<int64_t> out(static_cast<std::size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const std::byte* p = t.data.data() + static_cast<std::size_t>(i) * dtype_size(t.dtype);
    int64_t v = 0;
    if (t.dtype == DType::kI64) {
      std::memcpy(&v, p, 8);
    } else if (t.dtype == DType::kI32) {
      int32_t w;
      std::memcpy(&w, p, 4);
      v = w;
    } else {
      v = static_cast<int64_t>(t.at(i));
    }
    out[static_cast<std::size_t>(i)] = v;
  }
  return out;
}

HostTensor int_tensor(DType dtype, std::vector<int64_t> shape, const std::vector<int64_t>& values) {
  HostTensor h;
  h.dtype = dtype;
  h.shape = std::move(shape);
  const std::size_t size = dtype_size(dtype);
  h.data.resize(values.size() * size);
  for (std::size_t i = 0; i < values.size(); ++i) {
    std::byte* p = h.data.data() + i * size;
    if (dtype == DType::kI64) {
      std::memcpy(p, &values[i], 8);
    } else if (dtype == DType::kI32) {
      const auto w = static_cast<int32_t>(values[i]);
      std::memcpy(p, &w, 4);
    } else {
      *p = values[i] != 0 ? std::byte{1} : std::byte{0};
    }
  }
  return h;
}

int64_t numel_of(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

bool is_int_dtype(DType d) { return d == DType::kI32 || d == DType::kI64 || d == DType::kBool; }

std::string shape_string(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(s[i]);
  }
  out += "]";
  return out;
}

Result<std::vector<int64_t>> broadcast_shapes(const std::vector<std::vector<int64_t>>& shapes) {
  std::size_t rank = 0;
  for (const auto& s : shapes) rank = std::max(rank, s.size());
  std::vector<int64_t> out(rank, 1);
  for (const auto& s : shapes) {
    for (std::size_t i = 0; i < s.size(); ++i) {
      int64_t& o = out[rank - s.size() + i];
      const int64_t d = s[i];
      if (d == o || d == 1) continue;
      if (o != 1) {
        std::string msg = "shapes do not broadcast:";
        for (const auto& t : shapes) {
          msg += " ";
          msg += shape_string(t);
        }
        return invalid_argument(msg);
      }
      o = d;
    }
  }
  return out;
}

Result<std::vector<SliceDim>> slice_dims(const std::vector<int64_t>& shape, const std::vector<int64_t>& starts,
                                         const std::vector<int64_t>& ends, const std::vector<int64_t>& axes,
                                         const std::vector<int64_t>& steps) {
  const auto rank = static_cast<int64_t>(shape.size());
  if (starts.size() != ends.size()) return invalid_argument("starts and ends differ in length");
  if (!axes.empty() && axes.size() != starts.size()) return invalid_argument("axes and starts differ in length");
  if (!steps.empty() && steps.size() != starts.size()) return invalid_argument("steps and starts differ in length");
  std::vector<SliceDim> out;
  std::vector<bool> seen(shape.size(), false);
  for (std::size_t i = 0; i < starts.size(); ++i) {
    int64_t axis = axes.empty() ? static_cast<int64_t>(i) : axes[i];
    if (axis < -rank || axis >= rank) return invalid_argument("axis " + std::to_string(axis) + " out of range for rank " + std::to_string(rank));
    if (axis < 0) axis += rank;
    if (seen[static_cast<std::size_t>(axis)]) return invalid_argument("axis " + std::to_string(axis) + " is repeated");
    seen[static_cast<std::size_t>(axis)] = true;
    const int64_t dim = shape[static_cast<std::size_t>(axis)];
    const int64_t step = steps.empty() ? 1 : steps[i];
    if (step == 0) return invalid_argument("step 0 on axis " + std::to_string(axis));
    int64_t start = starts[i], end = ends[i];
    if (start < 0) start += dim;
    if (end < 0) end += dim;
    int64_t count = 0;
    if (step > 0) {
      start = std::clamp<int64_t>(start, 0, dim);
      end = std::clamp<int64_t>(end, 0, dim);
      count = end > start ? 1 + (end - start - 1) / step : 0;
    } else {
      start = std::clamp<int64_t>(start, 0, dim - 1);
      end = std::clamp<int64_t>(end, -1, dim - 1);
      const uint64_t stride = static_cast<uint64_t>(-(step + 1)) + 1;  // -step without overflow
      count = start > end ? 1 + static_cast<int64_t>(static_cast<uint64_t>(start - end - 1) / stride) : 0;
    }
    out.push_back({static_cast<int>(axis), start, step, count});
  }
  return out;
}

std::vector<int64_t> strides_of(const std::vector<int64_t>& shape) {
  std::vector<int64_t> s(shape.size(), 1);
  for (std::size_t i = shape.size(); i-- > 1;) s[i - 1] = s[i] * shape[i];
  return s;
}

}  // namespace kiln::frontend::detail
