#include "kiln/kernels/kernel_context.h"

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>

namespace kiln::kernels {
namespace {

// Scalar accesses move an element's bytes through a wider integer.
static_assert(std::endian::native == std::endian::little, "the kernel API assumes a little-endian host");

// Largest span a strided load reads in one MemoryPort call.
constexpr uint64_t kMaxStridedSpanBytes = 16 * 1024;

std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string coord_string(const Coord& c) {
  std::string s = "(";
  for (int d = 0; d < kMaxDims; ++d) {
    if (d > 0) s += ',';
    s += std::to_string(c[d]);
  }
  return s + ")";
}

// Lanes [lo, hi) of a vector at c lie inside t; returns false when none do.
bool valid_lanes(const TensorDesc& t, const Coord& c, int lanes, int* lo, int* hi) {
  for (int d = 1; d < kMaxDims; ++d) {
    if (c[d] < 0 || c[d] >= t.dims[d]) return false;
  }
  const int64_t first = std::max<int64_t>(0, -c[0]);
  const int64_t last = std::min<int64_t>(lanes, t.dims[0] - c[0]);
  if (first >= last) return false;
  *lo = static_cast<int>(first);
  *hi = static_cast<int>(last);
  return true;
}

}  // namespace

std::string_view kernel_fault_cause_name(KernelFaultCause cause) {
  switch (cause) {
    case KernelFaultCause::kMemoryFault: return "memory fault";
    case KernelFaultCause::kDTypeMismatch: return "dtype mismatch";
    case KernelFaultCause::kOutOfBounds: return "out of bounds";
    case KernelFaultCause::kException: return "exception";
  }
  return "invalid";
}

std::string KernelFault::describe() const {
  std::string s(kernel_fault_cause_name(cause));
  if (address != 0) s += " at " + hex(address);
  return s + ": " + detail;
}

KernelContext::KernelContext(MemoryPort& memory, const KernelArgs& args, const IndexSlice& slice)
    : memory_(memory), args_(args), slice_(slice) {}

void KernelContext::raise_fault(KernelFaultCause cause, uint64_t address, std::string detail) {
  if (!fault_) fault_ = KernelFault{cause, address, std::move(detail)};
}

bool KernelContext::check_dtype(const TensorDesc& t, DType want, const char* what) {
  if (t.dtype == want) return true;
  raise_fault(KernelFaultCause::kDTypeMismatch, t.address,
              std::string(what) + " of " + std::string(dtype_name(want)) + " from a " + t.describe() +
                  " tensor");
  return false;
}

bool KernelContext::load_lanes(const TensorDesc& t, const Coord& c, int lanes, void* dst,
                               const char* what) {
  int lo = 0, hi = 0;
  if (!valid_lanes(t, c, lanes, &lo, &hi)) return true;
  const uint64_t esize = dtype_size(t.dtype);
  const int n = hi - lo;
  Coord first = c;
  first[0] += lo;
  const uint64_t addr = t.element_address(first);
  auto* out = static_cast<uint8_t*>(dst) + static_cast<uint64_t>(lo) * esize;
  const int64_t stride = t.strides[0];
  bool ok = true;
  uint64_t bytes = static_cast<uint64_t>(n) * esize;
  if (stride == 1 || n == 1) {
    ok = memory_.read(addr, out, bytes);
  } else if (stride == 0) {
    bytes = esize;
    ok = memory_.read(addr, out, esize);
    for (int i = 1; ok && i < n; ++i) std::memcpy(out + static_cast<uint64_t>(i) * esize, out, esize);
  } else {
    // Strided: one read of the whole span when it is small, else per element.
    const uint64_t step = static_cast<uint64_t>(stride < 0 ? -stride : stride) * esize;
    const uint64_t span = step * static_cast<uint64_t>(n - 1) + esize;
    bool done = false;
    if (span <= kMaxStridedSpanBytes) {
      uint8_t buf[kMaxStridedSpanBytes];
      const uint64_t base = stride > 0 ? addr : addr - (span - esize);
      if (memory_.read(base, buf, span)) {
        for (int i = 0; i < n; ++i) {
          const uint64_t at = stride > 0 ? static_cast<uint64_t>(i) * step : span - esize - static_cast<uint64_t>(i) * step;
          std::memcpy(out + static_cast<uint64_t>(i) * esize, buf + at, esize);
        }
        done = true;
      }
    }
    // Too sparse for one read, or a failed span read that may have touched
    // bytes between the elements only: the elements alone decide a fault.
    if (!done) ok = memory_.read_strided(addr, stride * static_cast<int64_t>(esize), n, esize, out);
  }
  if (!ok) {
    raise_fault(KernelFaultCause::kMemoryFault, addr,
                std::string(what) + " of " + std::to_string(bytes) + " bytes from " + t.describe() +
                    " at " + coord_string(c));
    return false;
  }
  counters_.bytes_loaded += bytes;
  return true;
}

bool KernelContext::store_lanes(const TensorDesc& t, const Coord& c, int lanes, const void* src,
                                Mask mask, const char* what) {
  int lo = 0, hi = 0;
  if (!valid_lanes(t, c, lanes, &lo, &hi)) return true;
  const uint64_t esize = dtype_size(t.dtype);
  const auto* in = static_cast<const uint8_t*>(src);
  const bool masked = lanes <= kF32Lanes && mask != Mask::all();
  // Walk runs of consecutive enabled lanes; stride-1 runs are one write each.
  int i = lo;
  while (i < hi) {
    if (masked && !mask.test(i)) {
      ++i;
      continue;
    }
    int j = i + 1;
    if (t.strides[0] == 1) {
      while (j < hi && (!masked || mask.test(j))) ++j;
    }
    Coord at = c;
    at[0] += i;
    const uint64_t addr = t.element_address(at);
    const uint64_t bytes = static_cast<uint64_t>(j - i) * esize;
    if (!memory_.write(addr, in + static_cast<uint64_t>(i) * esize, bytes)) {
      raise_fault(KernelFaultCause::kMemoryFault, addr,
                  std::string(what) + " of " + std::to_string(bytes) + " bytes to " + t.describe() +
                      " at " + coord_string(c));
      return false;
    }
    counters_.bytes_stored += bytes;
    i = j;
  }
  return true;
}

template <typename V, typename P>
V KernelContext::load_vector(const TensorDesc& t, const Coord& c, DType want, int lanes, P pad) {
  V v;
  std::fill(std::begin(v.lane), std::end(v.lane), pad);
  if (fault_) return v;
  count(OpClass::kVectorLoad);
  if (check_dtype(t, want, "vector load") && !load_lanes(t, c, lanes, v.lane, "vector load")) {
    std::fill(std::begin(v.lane), std::end(v.lane), pad);
  }
  return v;
}

VecF32 KernelContext::load_f32(const TensorDesc& t, const Coord& c, float pad) {
  return load_vector<VecF32>(t, c, DType::kF32, kF32Lanes, pad);
}

VecBF16 KernelContext::load_bf16(const TensorDesc& t, const Coord& c, bf16 pad) {
  return load_vector<VecBF16>(t, c, DType::kBF16, kBF16Lanes, pad);
}

VecF16 KernelContext::load_f16(const TensorDesc& t, const Coord& c, f16 pad) {
  return load_vector<VecF16>(t, c, DType::kF16, kF16Lanes, pad);
}

VecI32 KernelContext::load_i32(const TensorDesc& t, const Coord& c, int32_t pad) {
  return load_vector<VecI32>(t, c, DType::kI32, kI32Lanes, pad);
}

VecI64 KernelContext::load_i64(const TensorDesc& t, const Coord& c, int64_t pad) {
  return load_vector<VecI64>(t, c, DType::kI64, kI64Lanes, pad);
}

VecBool KernelContext::load_bool(const TensorDesc& t, const Coord& c, int lanes, bool pad) {
  const int n = std::clamp(lanes, 1, kBoolLanes);
  VecBool v = load_vector<VecBool>(t, c, DType::kBool, n, static_cast<uint8_t>(pad ? 1 : 0));
  // Lanes past `n` were never read: they keep the pad. Memory may hold any
  // byte; a kernel only ever sees 0 or 1.
  for (uint8_t& l : v.lane) l = l != 0 ? 1 : 0;
  return v;
}

void KernelContext::store(const TensorDesc& t, const Coord& c, const VecF32& v) {
  store(t, c, v, Mask::all());
}

void KernelContext::store(const TensorDesc& t, const Coord& c, const VecF32& v, Mask mask) {
  if (fault_) return;
  count(OpClass::kVectorStore);
  if (check_dtype(t, DType::kF32, "vector store")) store_lanes(t, c, kF32Lanes, v.lane, mask, "vector store");
}

void KernelContext::store(const TensorDesc& t, const Coord& c, const VecBF16& v) {
  if (fault_) return;
  count(OpClass::kVectorStore);
  if (check_dtype(t, DType::kBF16, "vector store")) {
    store_lanes(t, c, kBF16Lanes, v.lane, Mask::all(), "vector store");
  }
}

void KernelContext::store(const TensorDesc& t, const Coord& c, const VecF16& v) {
  if (fault_) return;
  count(OpClass::kVectorStore);
  if (check_dtype(t, DType::kF16, "vector store")) store_lanes(t, c, kF16Lanes, v.lane, Mask::all(), "vector store");
}

void KernelContext::store(const TensorDesc& t, const Coord& c, const VecI32& v) {
  if (fault_) return;
  count(OpClass::kVectorStore);
  if (check_dtype(t, DType::kI32, "vector store")) store_lanes(t, c, kI32Lanes, v.lane, Mask::all(), "vector store");
}

void KernelContext::store(const TensorDesc& t, const Coord& c, const VecI64& v) {
  if (fault_) return;
  count(OpClass::kVectorStore);
  if (check_dtype(t, DType::kI64, "vector store")) store_lanes(t, c, kI64Lanes, v.lane, Mask::all(), "vector store");
}

void KernelContext::store(const TensorDesc& t, const Coord& c, const VecBool& v, int lanes) {
  if (fault_) return;
  count(OpClass::kVectorStore);
  if (check_dtype(t, DType::kBool, "vector store")) {
    store_lanes(t, c, std::clamp(lanes, 1, kBoolLanes), v.lane, Mask::all(), "vector store");
  }
}

bool KernelContext::scalar_address(const TensorDesc& t, const Coord& c, const char* what, uint64_t* addr) {
  if (!t.contains(c)) {
    raise_fault(KernelFaultCause::kOutOfBounds, 0,
                std::string(what) + " at " + coord_string(c) + " outside " + t.describe());
    return false;
  }
  *addr = t.element_address(c);
  return true;
}

bool KernelContext::scalar_read(const TensorDesc& t, const Coord& c, void* dst) {
  uint64_t addr = 0;
  if (!scalar_address(t, c, "scalar load", &addr)) return false;
  const uint64_t esize = dtype_size(t.dtype);
  if (!memory_.read(addr, dst, esize)) {
    raise_fault(KernelFaultCause::kMemoryFault, addr, "scalar load from " + t.describe() + " at " + coord_string(c));
    return false;
  }
  counters_.bytes_loaded += esize;
  return true;
}

bool KernelContext::scalar_write(const TensorDesc& t, const Coord& c, const void* src) {
  uint64_t addr = 0;
  if (!scalar_address(t, c, "scalar store", &addr)) return false;
  const uint64_t esize = dtype_size(t.dtype);
  if (!memory_.write(addr, src, esize)) {
    raise_fault(KernelFaultCause::kMemoryFault, addr, "scalar store to " + t.describe() + " at " + coord_string(c));
    return false;
  }
  counters_.bytes_stored += esize;
  return true;
}

float KernelContext::load_scalar(const TensorDesc& t, const Coord& c) {
  if (fault_) return 0.0f;
  count(OpClass::kScalarLoad);
  if (!is_float(t.dtype)) {
    check_dtype(t, DType::kF32, "scalar load");
    return 0.0f;
  }
  uint32_t raw = 0;  // little-endian: a 2-byte element lands in the low half
  if (!scalar_read(t, c, &raw)) return 0.0f;
  if (t.dtype == DType::kBF16) return bf16::from_bits(static_cast<uint16_t>(raw)).to_float();
  if (t.dtype == DType::kF16) return f16::from_bits(static_cast<uint16_t>(raw)).to_float();
  return std::bit_cast<float>(raw);
}

int32_t KernelContext::load_scalar_i32(const TensorDesc& t, const Coord& c) {
  if (fault_) return 0;
  count(OpClass::kScalarLoad);
  int32_t v = 0;
  if (!check_dtype(t, DType::kI32, "scalar load") || !scalar_read(t, c, &v)) return 0;
  return v;
}

int64_t KernelContext::load_scalar_i64(const TensorDesc& t, const Coord& c) {
  if (fault_) return 0;
  count(OpClass::kScalarLoad);
  int64_t v = 0;
  if (!check_dtype(t, DType::kI64, "scalar load") || !scalar_read(t, c, &v)) return 0;
  return v;
}

uint64_t KernelContext::load_scalar_bits(const TensorDesc& t, const Coord& c) {
  if (fault_) return 0;
  count(OpClass::kScalarLoad);
  uint64_t v = 0;  // little-endian: the element's bytes are the low ones
  if (!scalar_read(t, c, &v)) return 0;
  return v;
}

void KernelContext::store_scalar(const TensorDesc& t, const Coord& c, float v) {
  if (fault_) return;
  count(OpClass::kScalarStore);
  if (!is_float(t.dtype)) {
    check_dtype(t, DType::kF32, "scalar store");
    return;
  }
  if (t.dtype == DType::kBF16) {
    const bf16 b = bf16::from_float(v);
    scalar_write(t, c, &b);
  } else if (t.dtype == DType::kF16) {
    const f16 h = f16::from_float(v);
    scalar_write(t, c, &h);
  } else {
    scalar_write(t, c, &v);
  }
}

void KernelContext::store_scalar_i32(const TensorDesc& t, const Coord& c, int32_t v) {
  if (fault_) return;
  count(OpClass::kScalarStore);
  if (check_dtype(t, DType::kI32, "scalar store")) scalar_write(t, c, &v);
}

void KernelContext::store_scalar_i64(const TensorDesc& t, const Coord& c, int64_t v) {
  if (fault_) return;
  count(OpClass::kScalarStore);
  if (check_dtype(t, DType::kI64, "scalar store")) scalar_write(t, c, &v);
}

void KernelContext::store_scalar_bits(const TensorDesc& t, const Coord& c, uint64_t bits) {
  if (fault_) return;
  count(OpClass::kScalarStore);
  scalar_write(t, c, &bits);  // little-endian: the low dtype_size bytes
}

}  // namespace kiln::kernels
