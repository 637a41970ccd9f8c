// The kernel test table, in the style of ggml's test-backend-ops: one list of
// cases -- every built-in kernel, fp32 and bf16, shapes that are not multiples
// of the vector width (64 fp32 / 128 bf16 lanes), broadcast cases, parameters
// -- each run through run_kernel_on_host on 3 cores and compared element by
// element with the double-precision host reference (reference.cpp).
//
// Tolerances, |got - want| <= atol + rtol * |want|:
//   fp32: rtol 1e-5, atol 1e-6 (1e-5 for kernels that accumulate: sums, means,
//         softmax, norms, average pooling)
//   bf16: rtol 1e-2 (1.3 to 2.5 bf16 ulps; an ulp is 2^-7 of the binade),
//         atol 1e-3; inputs are exact bf16 values, compute is fp32, the
//         output is rounded once, so the error is about half an ulp
//   cast into bf16: rtol 2^-8 (half an ulp), atol 0
//   data movement, argmax, max/min: exact
// Input buffers are registered read-only with the MemoryPort and the output
// region is exactly the output tensor, so a kernel that writes an input or past
// its output faults; the output starts as all-ones bytes (NaN), so an element
// left unwritten fails the comparison.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "kiln/kernels/kernel_api.h"
#include "kiln/kernels/library.h"
#include "reference.h"

namespace kiln::kernels::test {
namespace {

struct TensorSpec {
  std::vector<int64_t> dims;  // innermost first
  DType dtype = DType::kF32;
  double lo = -1.0, hi = 1.0;
  bool integral = false;  // whole numbers in [lo, hi)
};

struct KernelCase {
  std::string kernel;
  std::string label;
  DType dtype = DType::kF32;  // the dtype the case is filed under
  std::vector<TensorSpec> inputs;
  TensorSpec out;
  std::vector<int64_t> ints;
  std::vector<float> floats;
  double rtol = 0.0, atol = 0.0;
};

TensorSpec T(std::vector<int64_t> dims, DType dt, double lo = -1.0, double hi = 1.0) {
  return TensorSpec{std::move(dims), dt, lo, hi, false};
}
TensorSpec I(std::vector<int64_t> dims, double lo, double hi) { return TensorSpec{std::move(dims), DType::kI32, lo, hi, true}; }

void set_tol(KernelCase& c, bool accumulates, bool exact) {
  if (exact) {
    c.rtol = c.atol = 0.0;
  } else if (c.out.dtype == DType::kBF16) {
    c.rtol = 1e-2;
    c.atol = 1e-3;
  } else {
    c.rtol = 1e-5;
    c.atol = accumulates ? 1e-5 : 1e-6;
  }
}

KernelCase make_case(std::string kernel, std::string label, DType dt, std::vector<TensorSpec> in, TensorSpec out,
                     std::vector<int64_t> ints = {}, std::vector<float> floats = {}, bool accumulates = false,
                     bool exact = false) {
  KernelCase c{std::move(kernel), std::move(label), dt, std::move(in), std::move(out), std::move(ints), std::move(floats)};
  set_tol(c, accumulates, exact);
  return c;
}

std::vector<int64_t> reduced(std::vector<int64_t> dims, size_t axis) {
  dims[axis] = 1;
  return dims;
}

void add_elementwise(std::vector<KernelCase>& cases, DType d) {
  struct Shape3 { const char* label; std::vector<int64_t> a, b, out; };
  const std::vector<Shape3> all = {
      {"same_67x3", {67, 3}, {67, 3}, {67, 3}},
      {"bcast_both_67x4x3", {67, 1, 3}, {1, 4, 1}, {67, 4, 3}},
      {"bcast_dim0_129x2", {129, 2}, {1, 2}, {129, 2}},
      {"bcast_rows_130x4x3", {130, 4, 3}, {130, 1, 3}, {130, 4, 3}},
      {"scalar_lhs_200", {1}, {200}, {200}},
  };
  for (const char* op : {"add", "sub", "mul", "div", "max", "min", "pow"}) {
    const std::string k = op;
    const double alo = k == "pow" ? 0.5 : -2.0, ahi = 2.0;
    const double blo = k == "div" ? 0.5 : -2.0, bhi = 2.0;
    const size_t n = k == "add" ? all.size() : 3;
    for (size_t i = 0; i < n; ++i) {
      cases.push_back(make_case(k, all[i].label, d, {T(all[i].a, d, alo, ahi), T(all[i].b, d, blo, bhi)},
                                T(all[i].out, d), {}, {}, false, k == "max" || k == "min"));
    }
  }
  for (const char* op : {"neg", "abs", "exp", "log", "sqrt", "rsqrt", "reciprocal", "relu", "leaky_relu", "gelu_erf",
                         "gelu_tanh", "silu", "sigmoid", "tanh"}) {
    const std::string k = op;
    const bool positive = k == "log" || k == "sqrt" || k == "rsqrt" || k == "reciprocal";
    const double lo = positive ? 0.1 : -4.0, hi = 4.0;
    const std::vector<float> floats = k == "leaky_relu" ? std::vector<float>{0.2f} : std::vector<float>{};
    const bool exact = k == "neg" || k == "abs" || k == "relu";
    for (const auto& shape : {std::vector<int64_t>{67, 3}, std::vector<int64_t>{257, 2}}) {
      const std::string label = std::to_string(shape[0]) + "x" + std::to_string(shape[1]);
      cases.push_back(make_case(k, label, d, {T(shape, d, lo, hi)}, T(shape, d), {}, floats, false, exact));
    }
  }
  const DType other = d == DType::kF32 ? DType::kBF16 : DType::kF32;
  cases.push_back(make_case("cast", std::string("to_") + std::string(dtype_name(other)) + "_131x3", d,
                            {T({131, 3}, d, -100, 100)}, T({131, 3}, other)));
  cases.back().rtol = 1.0 / 256;  // rounding into bf16 errs by at most half an ulp: 2^-8 relative
  cases.back().atol = 0.0;
  cases.push_back(make_case("cast", "copy_131x3", d, {T({131, 3}, d, -100, 100)}, T({131, 3}, d), {}, {}, false, true));
  TensorSpec cond = T({67, 1, 3}, d, 0, 2);
  cond.integral = true;
  cases.push_back(make_case("where", "bcast_67x4x3", d, {cond, T({67, 4, 3}, d), T({1, 4, 1}, d)}, T({67, 4, 3}, d),
                            {}, {}, false, true));
  TensorSpec cond2 = T({200}, d, 0, 2);
  cond2.integral = true;
  cases.push_back(make_case("where", "same_200", d, {cond2, T({200}, d), T({200}, d)}, T({200}, d), {}, {}, false, true));
}

void add_reductions(std::vector<KernelCase>& cases, DType d) {
  struct R { const char* label; std::vector<int64_t> in; size_t axis; };
  const std::vector<R> shapes = {{"130x3x2_axis0", {130, 3, 2}, 0},
                                 {"130x3x2_axis1", {130, 3, 2}, 1},
                                 {"130x3x2_axis2", {130, 3, 2}, 2},
                                 {"300_axis0", {300}, 0}};
  for (const char* op : {"reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "argmax"}) {
    const std::string k = op;
    const bool exact = k != "reduce_sum" && k != "reduce_mean";
    for (const R& r : shapes) {
      const TensorSpec out = k == "argmax" ? TensorSpec{reduced(r.in, r.axis), DType::kI32} : T(reduced(r.in, r.axis), d);
      cases.push_back(make_case(k, r.label, d, {T(r.in, d, -4, 4)}, out, {static_cast<int64_t>(r.axis)}, {}, true, exact));
    }
  }
  for (const char* op : {"softmax", "log_softmax"}) {
    for (const auto& shape : {std::vector<int64_t>{1}, std::vector<int64_t>{67, 3}, std::vector<int64_t>{300, 2}}) {
      std::string label = std::to_string(shape[0]) + (shape.size() > 1 ? "x" + std::to_string(shape[1]) : "");
      cases.push_back(make_case(op, label, d, {T(shape, d, -5, 5)}, T(shape, d), {}, {}, true));
    }
  }
  cases.push_back(make_case("layer_norm", "affine_67x3", d, {T({67, 3}, d, -3, 3), T({67}, d, 0.5, 1.5), T({67}, d)},
                            T({67, 3}, d), {}, {1e-5f}, true));
  cases.push_back(make_case("layer_norm", "plain_200x2", d, {T({200, 2}, d, -3, 3)}, T({200, 2}, d), {}, {1e-5f}, true));
  cases.push_back(make_case("rms_norm", "affine_67x3", d, {T({67, 3}, d, -3, 3), T({67}, d, 0.5, 1.5)}, T({67, 3}, d),
                            {}, {1e-6f}, true));
  cases.push_back(make_case("rms_norm", "plain_300", d, {T({300}, d, -3, 3)}, T({300}, d), {}, {1e-6f}, true));
}

void add_data_movement(std::vector<KernelCase>& cases, DType d) {
  auto exact = [&](std::string k, std::string label, std::vector<TensorSpec> in, TensorSpec out, std::vector<int64_t> ints) {
    cases.push_back(make_case(std::move(k), std::move(label), d, std::move(in), std::move(out), std::move(ints), {},
                              false, true));
  };
  exact("permute", "swap01_67x5x3", {T({67, 5, 3}, d)}, T({5, 67, 3}, d), {1, 0, 2});
  exact("permute", "rotate_67x5x3", {T({67, 5, 3}, d)}, T({3, 67, 5}, d), {2, 0, 1});
  exact("permute", "keep0_67x5x3", {T({67, 5, 3}, d)}, T({67, 3, 5}, d), {0, 2, 1});
  exact("permute", "4d_3x4x5x6", {T({3, 4, 5, 6}, d)}, T({6, 4, 3, 5}, d), {3, 1, 0, 2});
  exact("slice", "strided_100x7x3", {T({100, 7, 3}, d)}, T({40, 2, 3}, d), {5, 1, 0, 0, 0, 2, 3, 1, 1, 1});
  exact("slice", "offset_80x4", {T({80, 4}, d)}, T({70, 4}, d), {3, 0});
  exact("concat", "axis0_3_inputs", {T({30, 3}, d), T({70, 3}, d), T({5, 3}, d)}, T({105, 3}, d), {0});
  exact("concat", "axis1_67x5x2", {T({67, 2, 2}, d), T({67, 3, 2}, d)}, T({67, 5, 2}, d), {1});
  exact("concat", "axis2_20x2x4", {T({20, 2, 1}, d), T({20, 2, 3}, d)}, T({20, 2, 4}, d), {2});
  exact("gather", "embedding_130x50", {T({130, 50}, d), I({7, 3}, -50, 50)}, T({130, 7, 3}, d), {1});
  exact("gather", "axis0_20x6", {T({20, 6}, d), I({5}, -20, 20)}, T({5, 6}, d), {0});
  exact("gather", "axis2_5x4x6", {T({5, 4, 6}, d), I({3}, 0, 6)}, T({5, 4, 3}, d), {2});
}

void add_pooling(std::vector<KernelCase>& cases, DType d) {
  for (const char* op : {"max_pool2d", "avg_pool2d"}) {
    const bool is_max = std::string(op) == "max_pool2d";
    cases.push_back(make_case(op, "k3s2p1_70x9x7x2", d, {T({70, 9, 7, 2}, d)}, T({70, 5, 4, 2}, d), {3, 3, 2, 2, 1, 1},
                              {}, true, is_max));
    cases.push_back(make_case(op, "k2_130x6x4", d, {T({130, 6, 4}, d)}, T({130, 3, 2}, d), {2, 2}, {}, true, is_max));
  }
  cases.push_back(make_case("avg_pool2d", "k3s2p1_include_pad", d, {T({70, 9, 7, 2}, d)}, T({70, 5, 4, 2}, d),
                            {3, 3, 2, 2, 1, 1, 1}, {}, true));
}

std::vector<KernelCase> build_cases() {
  std::vector<KernelCase> cases;
  for (DType d : {DType::kF32, DType::kBF16}) {
    add_elementwise(cases, d);
    add_reductions(cases, d);
    add_data_movement(cases, d);
    add_pooling(cases, d);
  }
  // Data movement also moves int32.
  const DType i = DType::kI32;
  cases.push_back(make_case("permute", "swap01_67x5x3", i, {I({67, 5, 3}, -1000, 1000)}, TensorSpec{{5, 67, 3}, i},
                            {1, 0, 2}, {}, false, true));
  cases.push_back(make_case("gather", "embedding_70x9", i, {I({70, 9}, -1000, 1000), I({4}, 0, 9)},
                            TensorSpec{{70, 4}, i}, {1}, {}, false, true));
  return cases;
}

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

// Fills the buffer with random values and returns them exactly as stored.
RefTensor fill(Buffer& b, const TensorSpec& s, std::mt19937& rng) {
  RefTensor r;
  r.dims = shape_of(s.dims);
  r.rank = static_cast<int>(s.dims.size());
  std::uniform_real_distribution<double> dist(s.lo, s.hi);
  const size_t n = b.bytes.size() / dtype_size(s.dtype);
  for (size_t i = 0; i < n; ++i) {
    double v = dist(rng);
    if (s.integral || s.dtype == DType::kI32) v = std::floor(v);
    if (s.dtype == DType::kF32) {
      const float f = static_cast<float>(v);
      std::memcpy(b.bytes.data() + 4 * i, &f, 4);
      v = f;
    } else if (s.dtype == DType::kBF16) {
      const bf16 h = bf16::from_float(static_cast<float>(v));
      std::memcpy(b.bytes.data() + 2 * i, &h, 2);
      v = h.to_float();
    } else {
      const auto k = static_cast<int32_t>(v);
      std::memcpy(b.bytes.data() + 4 * i, &k, 4);
    }
    r.v.push_back(v);
  }
  return r;
}

double read_element(const Buffer& b, size_t i) {
  switch (b.desc.dtype) {
    case DType::kF32: {
      float f;
      std::memcpy(&f, b.bytes.data() + 4 * i, 4);
      return f;
    }
    case DType::kBF16: {
      uint16_t h;
      std::memcpy(&h, b.bytes.data() + 2 * i, 2);
      return bf16::from_bits(h).to_float();
    }
    case DType::kI32: {
      int32_t k;
      std::memcpy(&k, b.bytes.data() + 4 * i, 4);
      return k;
    }
  }
  return 0.0;
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
    refs.push_back(fill(inputs.back(), s, rng));
    port.add_region(inputs.back().bytes.data(), inputs.back().bytes.size(), /*writable=*/false);
    args.add_tensor(inputs.back().desc);
  }
  Buffer out = make_buffer(kc.out);
  port.add_region(out.bytes.data(), out.bytes.size(), /*writable=*/true);
  args.add_tensor(out.desc);
  for (int64_t v : kc.ints) args.add_int(v);
  for (float v : kc.floats) args.add_float(v);

  auto run = run_kernel_on_host(builtin_registry(), kc.kernel, args, port, /*cores=*/3);
  ASSERT_TRUE(run.ok()) << run.status().to_string();
  ASSERT_FALSE(run->fault.has_value()) << run->status().to_string();
  EXPECT_GT(run->total.total_instructions(), 0u);

  const RefTensor want = reference(kc.kernel, refs, shape_of(kc.out.dims), kc.ints, kc.floats);
  ASSERT_EQ(want.v.size(), out.bytes.size() / dtype_size(kc.out.dtype));
  int bad = 0;
  double worst = 0.0;
  double closest = 0.0;  // largest error / allowance seen: how near the tolerance the case runs
  for (size_t i = 0; i < want.v.size(); ++i) {
    const double got = read_element(out, i);
    const double err = std::fabs(got - want.v[i]);
    const double allowed = kc.atol + kc.rtol * std::fabs(want.v[i]);
    if (err > 0.0) closest = std::max(closest, allowed > 0.0 ? err / allowed : INFINITY);
    if (!(err <= allowed)) {  // also catches NaN
      if (++bad <= 5) ADD_FAILURE() << "element " << i << ": got " << got << ", want " << want.v[i] << " (error " << err
                                    << " > " << allowed << ")";
      worst = std::max(worst, err);
    }
  }
  RecordProperty("error_over_tolerance", std::to_string(closest));
  if (std::getenv("KILN_TABLE_VERBOSE") != nullptr) std::printf("%-40s %.3f\n", case_name_of(kc).c_str(), closest);
  EXPECT_EQ(bad, 0) << bad << " of " << want.v.size() << " elements outside tolerance; worst error " << worst;
}

void PrintTo(const KernelCase& c, std::ostream* os) {
  *os << c.kernel << " " << dtype_name(c.dtype) << " " << c.label << " (rtol " << c.rtol << ", atol " << c.atol << ")";
}

std::string case_name(const ::testing::TestParamInfo<KernelCase>& info) {
  return case_name_of(info.param);
}

INSTANTIATE_TEST_SUITE_P(Builtin, KernelTable, ::testing::ValuesIn(build_cases()), case_name);

TEST(KernelTableCoverage, EveryBuiltinKernelHasF32AndBf16Cases) {
  std::set<std::pair<std::string, DType>> have;
  for (const KernelCase& c : build_cases()) have.insert({c.kernel, c.dtype});
  for (const std::string& name : builtin_kernel_names()) {
    EXPECT_TRUE(have.count({name, DType::kF32})) << name << " has no f32 case";
    EXPECT_TRUE(have.count({name, DType::kBF16})) << name << " has no bf16 case";
  }
  EXPECT_EQ(builtin_registry().size(), builtin_kernel_names().size());
}

}  // namespace
}  // namespace kiln::kernels::test
