// The kernel test table, in the style of ggml's test-backend-ops: one list of
// cases (kernel_table_cases*.cpp) -- every built-in kernel, f32, bf16 and f16
// for every kernel that takes floats, i32/i64/bool where the kernel takes
// them, shapes that are not multiples of the vector width, broadcast cases,
// parameters, hostile values -- each run through run_kernel_on_host on 3
// cores and compared element by element with the host reference
// (reference.cpp in double; reference_dtypes.cpp exact for integers).
//
// Tolerances, |got - want| <= atol + rtol * |want| (equal values, equal
// infinities and NaN against NaN always pass):
//   fp32: rtol 1e-5, atol 1e-6 (1e-5 for kernels that accumulate: sums, means,
//         cumsum, softmax, layer/rms norms, average pooling)
//   bf16: rtol 1e-2 (1.3 to 2.5 bf16 ulps; an ulp is 2^-7 of the binade),
//         atol 1e-3; inputs are exact bf16 values, compute is fp32, the
//         output is rounded once, so the error is about half an ulp
//   f16:  rtol 2e-3 (1 to 2 f16 ulps; an ulp is 2^-10 of the binade), atol
//         1e-4, for the same reason
//   exact: every i32, i64 and bool output; cast (the reference rounds into
//         bf16/f16 itself); where; data movement (pad too); argmax/argmin,
//         max/min, clamp, max pooling
// Fused chains (fused_elementwise, the add_* norms) use their output dtype's
// tolerance; fused_test.cpp checks them bit for bit against the unfused kernels.
// Input buffers are registered read-only with the MemoryPort and each output
// region is exactly its output tensor, so a kernel that writes an input or
// past its output faults; outputs start as all-ones bytes (NaN, or an invalid
// 255 bool), so an element left unwritten fails the comparison.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "kiln/kernels/kernel_api.h"
#include "kiln/kernels/library.h"
#include "kernel_table.h"
#include "reference.h"

namespace kiln::kernels::test {
namespace {

// ---- running a case ----

struct Buffer {
  std::vector<uint8_t> bytes;
  TensorDesc desc;
};

Buffer make_buffer(const TensorSpec& s) {
  Buffer b;
  int64_t n = 1;
  for (int64_t x : s.dims) n *= x;
  b.bytes.assign(static_cast<size_t>(n) * dtype_size(s.dtype), 0xff);
  b.desc = TensorDesc::contiguous(reinterpret_cast<uint64_t>(b.bytes.data()), s.dtype,
                                  std::span<const int64_t>(s.dims.data(), s.dims.size()));
  return b;
}

Shape shape_of(const std::vector<int64_t>& dims) {
  Shape s = {1, 1, 1, 1, 1};
  for (size_t i = 0; i < dims.size(); ++i) s[i] = dims[i];
  return s;
}

bool int_like(DType d) { return d == DType::kI32 || d == DType::kI64 || d == DType::kBool; }

// Hostile float values (TensorSpec::specials): NaN, infinities, signed zero,
// the ends of the ranges, a subnormal, f16's overflow edge, bf16 ties, and
// values past i32 and i64.
const std::vector<double>& float_specials() {
  static const std::vector<double> v = {NAN,   INFINITY, -INFINITY, -0.0,           0.0,
                                        3e38,  -3e38,    1e-40,     65520.0,        65519.0,
                                        1.0 + 1.0 / 256, 1.0 + 3.0 / 256, 2.5, -2.5, 2147483648.0,
                                        -2147483904.0, 1e19, -9.3e18, 0.5, -0.999};
  return v;
}

// The ends of an integer type and its troublesome neighbours, in an order
// that pairs MIN with -1 and x with 0 across inputs 0 and 1 (offset 2 per
// input: see fill), then values that a conversion through another format
// would round twice: 2^24 + 2^16 + 1 is a bf16 tie once rounded to fp32,
// 2^60 + 2^36 + 1 an fp32 tie once rounded to double; 65519 and 65520 sit
// either side of f16's overflow.
std::vector<int64_t> int_specials(DType d) {
  const int64_t lo = d == DType::kI32 ? std::numeric_limits<int32_t>::min() : std::numeric_limits<int64_t>::min();
  const int64_t hi = d == DType::kI32 ? std::numeric_limits<int32_t>::max() : std::numeric_limits<int64_t>::max();
  std::vector<int64_t> v = {lo, hi, -1, 0, 1, lo + 1, 2, 16842753, -16842753, 65519, 65520};
  if (d == DType::kI64) {
    const int64_t trap = (int64_t{1} << 60) + (int64_t{1} << 36) + 1;
    v.push_back(trap);
    v.push_back(-trap);
  }
  return v;
}

void store_element(Buffer& b, size_t i, double v, int64_t k) {
  uint8_t* p = b.bytes.data() + i * dtype_size(b.desc.dtype);
  switch (b.desc.dtype) {
    case DType::kF32: {
      const float f = static_cast<float>(v);
      std::memcpy(p, &f, 4);
      break;
    }
    case DType::kBF16: {
      const bf16 h = bf16::from_float(static_cast<float>(v));
      std::memcpy(p, &h, 2);
      break;
    }
    case DType::kF16: {
      const f16 h = f16::from_float(static_cast<float>(v));
      std::memcpy(p, &h, 2);
      break;
    }
    case DType::kI32: {
      const auto x = static_cast<int32_t>(k);
      std::memcpy(p, &x, 4);
      break;
    }
    case DType::kI64: std::memcpy(p, &k, 8); break;
    case DType::kBool: *p = static_cast<uint8_t>(k); break;
  }
}

double read_element(const Buffer& b, size_t i) {
  const uint8_t* p = b.bytes.data() + i * dtype_size(b.desc.dtype);
  switch (b.desc.dtype) {
    case DType::kF32: {
      float f;
      std::memcpy(&f, p, 4);
      return f;
    }
    case DType::kBF16: {
      uint16_t h;
      std::memcpy(&h, p, 2);
      return bf16::from_bits(h).to_float();
    }
    case DType::kF16: {
      uint16_t h;
      std::memcpy(&h, p, 2);
      return f16::from_bits(h).to_float();
    }
    default: break;
  }
  return 0.0;
}

// The exact value of an integer or bool element (a bool byte as stored: a
// kernel must write 0 or 1).
int64_t read_int(const Buffer& b, size_t i) {
  const uint8_t* p = b.bytes.data() + i * dtype_size(b.desc.dtype);
  switch (b.desc.dtype) {
    case DType::kI32: {
      int32_t k;
      std::memcpy(&k, p, 4);
      return k;
    }
    case DType::kI64: {
      int64_t k;
      std::memcpy(&k, p, 8);
      return k;
    }
    case DType::kBool: return *p;
    default: return 0;
  }
}

int64_t random_int(DType d, std::mt19937& rng) {
  if (d == DType::kI32) return std::uniform_int_distribution<int32_t>()(rng);
  return std::uniform_int_distribution<int64_t>(std::numeric_limits<int64_t>::min(),
                                                std::numeric_limits<int64_t>::max())(rng);
}

// Fills the buffer with random values (input `which` of its case) and
// returns them exactly as stored.
RefTensor fill(Buffer& b, const TensorSpec& s, std::mt19937& rng, int which) {
  RefTensor r;
  r.dims = shape_of(s.dims);
  r.rank = static_cast<int>(s.dims.size());
  r.dtype = s.dtype;
  std::uniform_real_distribution<double> dist(s.lo, s.hi);
  const size_t n = b.bytes.size() / dtype_size(s.dtype);
  const std::vector<double>& fs = float_specials();
  const std::vector<int64_t> is = int_specials(s.dtype);
  const auto w = static_cast<size_t>(which);
  for (size_t i = 0; i < n; ++i) {
    if (s.dtype == DType::kBool) {
      static constexpr uint8_t kTrue[] = {1, 2, 255};
      const uint8_t byte = rng() % 2 == 0 ? 0 : kTrue[rng() % 3];
      store_element(b, i, 0.0, byte);
      r.iv.push_back(byte != 0);
    } else if (int_like(s.dtype)) {
      int64_t k = 0;
      if (s.full_range) k = i < is.size() ? is[(i + 2 * w) % is.size()] : random_int(s.dtype, rng);
      else k = static_cast<int64_t>(std::floor(dist(rng)));
      store_element(b, i, 0.0, k);
      r.iv.push_back(k);
    } else {
      double v = s.specials && i < fs.size() ? fs[(i + 3 * w) % fs.size()] : dist(rng);
      if (s.integral && std::isfinite(v)) v = std::floor(v);
      store_element(b, i, v, 0);
      r.v.push_back(read_element(b, i));
      continue;
    }
    r.v.push_back(static_cast<double>(r.iv.back()));
  }
  return r;
}

const KernelRegistry& builtin_registry() {
  static const KernelRegistry* registry = [] {
    auto* r = new KernelRegistry();
    EXPECT_TRUE(register_builtin_kernels(*r).ok());
    return r;
  }();
  return *registry;
}

std::string case_name_of(const KernelCase& c) {
  return c.kernel + "_" + std::string(dtype_name(c.dtype)) + "_" + c.label;
}

class KernelTable : public ::testing::TestWithParam<KernelCase> {};

TEST_P(KernelTable, MatchesReference) {
  const KernelCase& kc = GetParam();
  std::mt19937 rng(static_cast<uint32_t>(kernel_id(kc.kernel + kc.label)) ^ static_cast<uint32_t>(kc.dtype));
  HostMemoryPort port;
  KernelArgs args;
  std::vector<Buffer> inputs;
  std::vector<RefTensor> refs;
  inputs.reserve(kc.inputs.size());
  for (const TensorSpec& s : kc.inputs) {
    inputs.push_back(make_buffer(s));
    refs.push_back(fill(inputs.back(), s, rng, static_cast<int>(refs.size())));
    port.add_region(inputs.back().bytes.data(), inputs.back().bytes.size(), /*writable=*/false);
    args.add_tensor(inputs.back().desc);
  }
  std::vector<TensorSpec> out_specs = {kc.out};
  out_specs.insert(out_specs.end(), kc.extra_outs.begin(), kc.extra_outs.end());
  std::vector<Buffer> outs;
  outs.reserve(out_specs.size());
  std::vector<OutSpec> want_specs;
  for (const TensorSpec& s : out_specs) {
    outs.push_back(make_buffer(s));
    port.add_region(outs.back().bytes.data(), outs.back().bytes.size(), /*writable=*/true);
    args.add_tensor(outs.back().desc);
    want_specs.push_back(OutSpec{shape_of(s.dims), s.dtype});
  }
  for (int64_t v : kc.ints) args.add_int(v);
  for (float v : kc.floats) args.add_float(v);

  auto run = run_kernel_on_host(builtin_registry(), kc.kernel, args, port, /*cores=*/3);
  ASSERT_TRUE(run.ok()) << run.status().to_string();
  ASSERT_FALSE(run->fault.has_value()) << run->status().to_string();
  EXPECT_GT(run->total.total_instructions(), 0u);

  const std::vector<RefTensor> wants = reference(kc.kernel, refs, want_specs, kc.ints, kc.floats);
  ASSERT_EQ(wants.size(), outs.size());
  double closest = 0.0;  // largest error / allowance seen: how near the tolerance the case runs
  for (size_t o = 0; o < outs.size(); ++o) {
    const Buffer& out = outs[o];
    const RefTensor& want = wants[o];
    ASSERT_EQ(want.v.size(), out.bytes.size() / dtype_size(out.desc.dtype));
    int bad = 0;
    double worst = 0.0;
    for (size_t i = 0; i < want.v.size(); ++i) {
      if (int_like(out.desc.dtype)) {
        const int64_t got = read_int(out, i);
        if (got != want.iv[i] && ++bad <= 5) {
          ADD_FAILURE() << "output " << o << " element " << i << ": got " << got << ", want " << want.iv[i];
        }
        continue;
      }
      const double got = read_element(out, i);
      if (got == want.v[i] || (std::isnan(got) && std::isnan(want.v[i]))) continue;  // also infinities
      const double err = std::fabs(got - want.v[i]);
      const double allowed = kc.atol + kc.rtol * std::fabs(want.v[i]);
      closest = std::max(closest, allowed > 0.0 ? err / allowed : INFINITY);
      if (!(err <= allowed)) {  // also catches NaN
        if (++bad <= 5) {
          ADD_FAILURE() << "output " << o << " element " << i << ": got " << got << ", want " << want.v[i]
                        << " (error " << err << " > " << allowed << ")";
        }
        worst = std::max(worst, err);
      }
    }
    EXPECT_EQ(bad, 0) << "output " << o << ": " << bad << " of " << want.v.size()
                      << " elements outside tolerance; worst error " << worst;
  }
  RecordProperty("error_over_tolerance", std::to_string(closest));
  if (std::getenv("KILN_TABLE_VERBOSE") != nullptr) std::printf("%-40s %.3f\n", case_name_of(kc).c_str(), closest);
}

}  // namespace

// Found by argument-dependent lookup, so outside the anonymous namespace.
void PrintTo(const KernelCase& c, std::ostream* os) {
  *os << c.kernel << " " << dtype_name(c.dtype) << " " << c.label << " (rtol " << c.rtol << ", atol " << c.atol << ")";
}

namespace {

std::string case_name(const ::testing::TestParamInfo<KernelCase>& info) {
  return case_name_of(info.param);
}

INSTANTIATE_TEST_SUITE_P(Builtin, KernelTable, ::testing::ValuesIn(build_cases()), case_name);

// Every kernel has cases; every kernel that takes floats has f32, bf16 and
// f16 cases (the logical ops take bool only).
TEST(KernelTableCoverage, EveryBuiltinKernelHasCasesForItsDTypes) {
  std::set<std::pair<std::string, DType>> have;
  std::set<std::string> any;
  for (const KernelCase& c : build_cases()) {
    have.insert({c.kernel, c.dtype});
    any.insert(c.kernel);
  }
  const std::set<std::string> bool_only = {"logical_and", "logical_or", "logical_xor", "logical_not"};
  // The generators have no inputs to compare a host loop against (the random
  // ones are defined by their counter-based generator): tests/runtime/ops_test.cpp
  // (FactoriesMakeValuesOnTheDevice) checks their values and statistics.
  const std::set<std::string> generators = {"fill", "arange", "rand_uniform", "rand_normal"};
  for (const std::string& name : builtin_kernel_names()) {
    if (generators.count(name)) continue;
    EXPECT_TRUE(any.count(name)) << name << " has no case";
    if (bool_only.count(name)) continue;
    for (DType d : {DType::kF32, DType::kBF16, DType::kF16}) {
      EXPECT_TRUE(have.count({name, d})) << name << " has no " << dtype_name(d) << " case";
    }
  }
  EXPECT_EQ(builtin_registry().size(), builtin_kernel_names().size());
}

// Runs a case's launch on `cores` cores and returns the summed counters.
SliceCounters counters_of(const KernelCase& kc, int cores) {
  std::mt19937 rng(1);
  HostMemoryPort port;
  KernelArgs args;
  std::vector<Buffer> buffers;
  buffers.reserve(kc.inputs.size() + 1);
  for (size_t i = 0; i <= kc.inputs.size(); ++i) {
    const bool is_out = i == kc.inputs.size();
    const TensorSpec& s = is_out ? kc.out : kc.inputs[i];
    buffers.push_back(make_buffer(s));
    if (!is_out) fill(buffers.back(), s, rng, static_cast<int>(i));
    port.add_region(buffers.back().bytes.data(), buffers.back().bytes.size(), is_out);
    args.add_tensor(buffers.back().desc);
  }
  for (int64_t v : kc.ints) args.add_int(v);
  for (float v : kc.floats) args.add_float(v);
  auto run = run_kernel_on_host(builtin_registry(), kc.kernel, args, port, cores);
  EXPECT_TRUE(run.ok()) << run.status().to_string();
  return run.ok() ? run->total : SliceCounters{};
}

// The instruction counts behind library.h's descriptions: axes other than 0
// are walked a vector at a time without cross-lane work, batch_norm folds its
// factors once per channel and core, cumsum along dim 0 scans chunks.
TEST(KernelTableShape, WorkIsVectorisedAsDescribed) {
  const DType f = DType::kF32;
  // {67, 5, 3} along axis 1: 2 vectors x 3 lines, 3 passes of 5 steps.
  const SliceCounters sm = counters_of(make_case("softmax", "", f, {T({67, 5, 3}, f)}, T({67, 5, 3}, f), {1}), 3);
  EXPECT_EQ(sm.count(OpClass::kVectorReduce), 0u);
  EXPECT_EQ(sm.count(OpClass::kVectorLoad), 2u * 3 * 3 * 5);
  const SliceCounters cs = counters_of(make_case("cumsum", "", f, {T({67, 9, 2}, f)}, T({67, 9, 2}, f), {1}), 3);
  EXPECT_EQ(cs.count(OpClass::kVectorReduce), 0u);
  EXPECT_EQ(cs.count(OpClass::kVectorLoad), 2u * 2 * 9);
  // A row of 300: chunks of 18, 17 of them; one cross-lane sum per chunk
  // after the first, and each chunk position loaded once per pass.
  const SliceCounters row = counters_of(make_case("cumsum", "", f, {T({300}, f)}, T({300}, f), {0}), 3);
  EXPECT_EQ(row.count(OpClass::kVectorReduce), 16u);
  EXPECT_EQ(row.count(OpClass::kVectorLoad), 2u * 18);
  EXPECT_EQ(row.count(OpClass::kVectorStore), 18u);
  // NHWC {70, 5, 3, 2}: 30 rows split over 3 cores, each folding both
  // channel vectors once: 6 rsqrt for 2100 elements.
  const std::vector<int64_t> c70 = {70};
  const SliceCounters nhwc = counters_of(
      make_case("batch_norm", "", f, {T({70, 5, 3, 2}, f), T(c70, f), T(c70, f), T(c70, f), T(c70, f, 0.5, 2)},
                T({70, 5, 3, 2}, f), {0}),
      3);
  EXPECT_EQ(nhwc.count(OpClass::kVectorDivSqrt), 6u);
  // NCHW {9, 7, 5, 2}: the 2 batch entries go to 2 cores, each folding the
  // 5 channels once.
  const std::vector<int64_t> c5 = {5};
  const SliceCounters nchw = counters_of(
      make_case("batch_norm", "", f, {T({9, 7, 5, 2}, f), T(c5, f), T(c5, f), T(c5, f), T(c5, f, 0.5, 2)},
                T({9, 7, 5, 2}, f), {2}),
      3);
  EXPECT_EQ(nchw.count(OpClass::kVectorDivSqrt), 10u);
  EXPECT_EQ(nchw.count(OpClass::kScalarLoad), 40u);
}

// Launches every new parameter can get wrong: each is refused before any slice
// runs, with a message that names the problem.
TEST(KernelTableValidation, BadParametersAreNamed) {
  struct Bad {
    std::string kernel;
    std::vector<std::vector<int64_t>> dims;  // f32 tensors at a dummy address
    std::vector<int64_t> ints;
    std::vector<float> floats;
    std::string needle;
  };
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<Bad> bad = {
      {"softmax", {{5, 3}, {5, 3}}, {2}, {}, "axis 2 is outside 0..1"},
      {"cumsum", {{5, 3}, {5, 3}}, {0, 2}, {}, "exclusive ints[1] = 2 must be 0 or 1"},
      {"layer_norm", {{5, 3}, {5, 3}}, {3}, {}, "ints[0] = 3 normalised dims is outside 1..2"},
      {"rms_norm", {{5, 3}, {5}, {5, 3}}, {2}, {}, "gamma has dims {5}; expected {5, 3, 1, 1, 1}"},
      {"max_pool2d", {{4, 5, 5}, {4, 4, 4}}, {2, 2, 1, 1, 0, 0, 0, 0, 1}, {}, "dilation_w 0 must be >= 1"},
      {"max_pool2d", {{4, 5, 6}, {4, 4, 4}}, {2, 2, 2, 2, 1, 1, 0, 1, 1, 1}, {}, "expected {4, 3, 4, 1, 1}"},
      {"avg_pool2d", {{4, 5, 6}, {4, 3, 4}}, {2, 2, 2, 2, 1, 1, 0, 1, 1, 1, 0, 2}, {}, "pad_h_end 2"},
      {"avg_pool2d", {{4, 5, 6}, {4, 3, 4}}, std::vector<int64_t>(13, 1), {}, "at most 12 ints, got 13"},
      {"global_avg_pool2d", {{4, 5, 6}, {4, 1, 2}}, {}, {}, "expected {4, 1, 1, 1, 1}"},
      {"batch_norm", {{4, 3}, {3}, {4}, {4}, {4}, {4, 3}}, {0}, {}, "scale has dims {3}; expected {4, 1, 1, 1, 1}"},
      {"batch_norm", {{4, 3}, {3}, {3}, {3}, {3}, {4, 3}}, {1}, {-1.0f}, "epsilon floats[0]"},
      {"pad", {{3, 2}, {8, 2}}, {3, 0, 2, 0, 1}, {}, "must be smaller than in.dims[0] = 3 to reflect"},
      {"pad", {{3, 2}, {5, 2}}, {1, 1}, {}, "got 2 ints"},
      {"pad", {{3, 2}, {3, 2}}, {0, 0, 0, 0, 3}, {}, "mode ints[4] = 3"},
      {"pad", {{3, 2}, {4, 2}}, {1, 0, 1, 0}, {}, "out has dims {4, 2}; expected {5, 2, 1, 1, 1}"},
      {"clamp", {{5}, {5}}, {}, {nan, 1.0f}, "must not be NaN"},
      {"argmin", {{5, 3}, {1, 3}}, {}, {}, "out has dtype f32; expected i32"},
  };
  for (const Bad& b : bad) {
    KernelArgs args;
    for (const auto& dims : b.dims) {
      args.add_tensor(TensorDesc::contiguous(0x1000, DType::kF32, std::span<const int64_t>(dims.data(), dims.size())));
    }
    for (int64_t v : b.ints) args.add_int(v);
    for (float v : b.floats) args.add_float(v);
    const KernelDef* def = builtin_registry().find(b.kernel);
    ASSERT_NE(def, nullptr) << b.kernel;
    const Status st = validate_kernel_launch(*def, args);
    EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument) << b.kernel << ": " << st.to_string();
    EXPECT_NE(st.message().find(b.needle), std::string::npos) << b.kernel << ": " << st.to_string();
  }
}

}  // namespace
}  // namespace kiln::kernels::test
