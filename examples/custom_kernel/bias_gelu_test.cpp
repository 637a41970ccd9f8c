// bias_gelu_test: runs the bias_gelu kernel on the host, loaded from the
// built plugin (libbias_gelu.so) exactly as the simulator loads it, against
// the plugin's own test definition (launch builder + double reference).
//
// The kernel runs through kiln::kernels::run_kernel_on_host over a
// HostMemoryPort: the same slices, counters and values the simulated TPC
// gets, without a device. fp32 and bf16, shapes whose dim 0 is not a multiple
// of the vector width, 1 to 5 dims, 1 and 8 cores.
//
// When the installed Kiln has the driver (Kiln::kernel_testing; CMakeLists.txt
// then defines BIAS_GELU_DEVICE_CONFIG), the same plugin is also loaded into a
// simulated device and checked on its TPC cluster with the GoogleTest helper
// kiln::driver::KernelMatchesReference -- what `kiln kernel run` does -- and
// the simulated cycles are printed.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "kiln/kernels/kernel_api.h"
#ifdef BIAS_GELU_DEVICE_CONFIG
#include "kiln/common/device_config.h"
#include "kiln/driver/kernel_check_testing.h"
#endif

#ifndef BIAS_GELU_PLUGIN
#error "BIAS_GELU_PLUGIN must be the path of libbias_gelu.so (CMakeLists.txt sets it)"
#endif

namespace {

using namespace kiln::kernels;

// ---- the plugin, loaded once ----

struct Plugin {
  KernelRegistry registry;           // only the plugin's kernels
  std::vector<std::string> kernels;  // what load_kernel_plugin added
  std::vector<KernelTestDef> tests;  // its KILN_REGISTER_KERNEL_TESTs
  std::string error;                 // empty when both loads succeeded
};

void load(Plugin& p) {
  auto names = load_kernel_plugin(BIAS_GELU_PLUGIN, p.registry);
  if (!names.ok()) {
    p.error = names.status().to_string();
    return;
  }
  p.kernels = *names;
  auto tests = load_kernel_plugin_tests(BIAS_GELU_PLUGIN);
  if (!tests.ok()) {
    p.error = tests.status().to_string();
    return;
  }
  p.tests = *tests;
}

const Plugin& plugin() {
  static Plugin p;
  static const bool loaded = (load(p), true);
  (void)loaded;
  return p;
}

const KernelTestDef* test_def() {
  for (const KernelTestDef& t : plugin().tests) {
    if (t.kernel == "bias_gelu") return &t;
  }
  return nullptr;
}

// ---- a launch over host memory ----

struct Launch {
  std::vector<std::vector<uint8_t>> buffers;  // one per tensor, in argument order
  HostMemoryPort port;
  KernelArgs args;
};

// Lays every tensor of the case out densely in host memory, converted to its
// dtype, and builds the kernel arguments (tensors, then the case's scalars).
void build_launch(const KernelTestCase& c, Launch& l) {
  l.args = c.scalars;
  l.args.num_tensors = 0;
  l.buffers.reserve(c.tensors.size());  // the regions must not move
  for (const HostTensor& t : c.tensors) {
    const size_t n = static_cast<size_t>(t.num_elements());
    std::vector<uint8_t>& b = l.buffers.emplace_back(std::max<size_t>(n * dtype_size(t.dtype), 1));
    for (size_t i = 0; i < n && !t.is_output; ++i) {
      if (t.dtype == DType::kBF16) {
        const bf16 h = to_bf16(t.values[i]);
        std::memcpy(b.data() + 2 * i, &h, 2);
      } else {
        std::memcpy(b.data() + 4 * i, &t.values[i], 4);
      }
    }
    l.port.add_region(b.data(), b.size());
    l.args.add_tensor(TensorDesc::contiguous(reinterpret_cast<uint64_t>(b.data()), t.dtype,
                                             std::span<const int64_t>(t.dims)));
  }
}

std::vector<float> read_back(const std::vector<uint8_t>& b, const HostTensor& t) {
  std::vector<float> v(static_cast<size_t>(t.num_elements()));
  for (size_t i = 0; i < v.size(); ++i) {
    if (t.dtype == DType::kBF16) {
      bf16 h;
      std::memcpy(&h, b.data() + 2 * i, 2);
      v[i] = to_float(h);
    } else {
      std::memcpy(&v[i], b.data() + 4 * i, 4);
    }
  }
  return v;
}

struct Tolerance {
  double rtol;
  double atol;
};

// fp32: 1e-5 relative. The largest error seen is 4e-6, for negative z, where
// the fp32 rounding of the sigmoid's argument w ~ -1.6 z (1 + 0.045 z^2) is
// amplified by |w|. bf16: one bf16 ulp (2^-7 relative): the kernel computes in
// fp32 and rounds once, on store (at most half an ulp). Both are tighter than
// the plugin's registered tolerance, which must serve both dtypes.
Tolerance tolerance(DType d) { return d == DType::kBF16 ? Tolerance{1.0 / 128, 1e-6} : Tolerance{1e-5, 1e-7}; }

// Index of the first element outside |got - want| <= atol + rtol |want|, or -1.
int64_t first_mismatch(const std::vector<float>& got, const std::vector<float>& want, Tolerance tol) {
  if (got.size() != want.size()) return 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double g = got[i], w = want[i];
    if (!(std::fabs(g - w) <= tol.atol + tol.rtol * std::fabs(w))) return static_cast<int64_t>(i);
  }
  return -1;
}

// Runs the case on `cores` cores; returns the output values.
std::vector<float> run(Launch& l, const KernelTestCase& c, int cores, KernelRunResult* result = nullptr) {
  std::fill(l.buffers.back().begin(), l.buffers.back().end(), uint8_t{0xff});  // NaN: unwritten outputs show
  auto r = run_kernel_on_host(plugin().registry, "bias_gelu", l.args, l.port, cores);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  if (!r.ok()) return {};
  EXPECT_TRUE(r->status().ok()) << r->status().to_string();
  if (result) *result = *r;
  return read_back(l.buffers.back(), c.tensors.back());
}

// ---- tests ----

TEST(BiasGeluPlugin, RegistersTheKernelAndItsTest) {
  ASSERT_TRUE(plugin().error.empty()) << plugin().error;
  EXPECT_EQ(plugin().kernels, std::vector<std::string>{"bias_gelu"});
  const KernelDef* def = plugin().registry.find(kernel_id("bias_gelu"));
  ASSERT_NE(def, nullptr);
  EXPECT_NE(def->signature.find("gelu_tanh"), std::string::npos) << def->signature;
  ASSERT_NE(test_def(), nullptr);
  EXPECT_NE(test_def()->make_case, nullptr);
  EXPECT_NE(test_def()->reference, nullptr);
}

// Pins the reference to the tanh-form GELU (values from the formula in double).
TEST(BiasGeluPlugin, ReferenceIsTheTanhFormGelu) {
  ASSERT_NE(test_def(), nullptr) << plugin().error;
  const std::vector<int64_t> shape = {4, 2};
  KernelTestCase c;
  ASSERT_TRUE(test_def()->make_case(shape, c).ok());
  ASSERT_EQ(c.tensors.size(), 3u);
  c.tensors[0].values = {0.0f, 1.0f, -1.0f, 2.0f, 0.5f, 0.5f, -2.0f, -5.0f};
  c.tensors[1].values = {0.0f, 0.0f, 0.0f, 0.0f};
  c.tensors[1].values[3] = -1.0f;  // bias[3] is added to x[3] and x[7]
  test_def()->reference(c);
  const std::vector<float>& out = c.tensors[2].values;
  EXPECT_EQ(out[0], 0.0f);
  EXPECT_NEAR(out[1], 0.8411919906082768, 1e-7);
  EXPECT_NEAR(out[2], -0.15880800939172324, 1e-7);
  EXPECT_NEAR(out[3], 0.8411919906082768, 1e-7);  // gelu(2 - 1)
  EXPECT_NEAR(out[4], 0.34571400982514394, 1e-7);
  EXPECT_NEAR(out[6], -0.04540230591222, 1e-7);   // gelu(-2)
  EXPECT_NEAR(out[7], 0.0, 1e-9);                 // gelu(-6)
}

using Param = std::tuple<DType, std::vector<int64_t>>;

class BiasGelu : public ::testing::TestWithParam<Param> {};

TEST_P(BiasGelu, MatchesTheReferenceOnAnyCoreCount) {
  ASSERT_NE(test_def(), nullptr) << plugin().error;
  const auto& [dtype, shape] = GetParam();
  KernelTestCase c;
  c.dtype = dtype;
  const kiln::Status made = test_def()->make_case(shape, c);
  ASSERT_TRUE(made.ok()) << made.to_string();
  KernelTestCase want = c;
  test_def()->reference(want);
  const std::vector<float>& expected = want.tensors[2].values;

  Launch l;
  build_launch(c, l);
  KernelRunResult one_core, eight_cores;
  const std::vector<float> got1 = run(l, c, 1, &one_core);
  const std::vector<float> got8 = run(l, c, 8, &eight_cores);

  for (const std::vector<float>* got : {&got1, &got8}) {
    const int64_t bad = first_mismatch(*got, expected, tolerance(dtype));
    ASSERT_EQ(bad, -1) << "element " << bad << ": got " << (*got)[static_cast<size_t>(bad)] << ", want "
                       << expected[static_cast<size_t>(bad)];
    // The registered tolerance (what `kiln kernel run` applies) holds too.
    EXPECT_EQ(first_mismatch(*got, expected, {test_def()->rtol, test_def()->atol}), -1);
  }
  EXPECT_EQ(std::memcmp(got1.data(), got8.data(), got1.size() * sizeof(float)), 0)
      << "values depend on the core count";

  // One sigmoid per vector of x, however the rows are split.
  const int64_t lanes = lanes_per_vector(dtype);
  int64_t rows = 1;
  for (size_t d = 1; d < shape.size(); ++d) rows *= shape[d];
  const uint64_t vectors = static_cast<uint64_t>((shape[0] + lanes - 1) / lanes * rows);
  EXPECT_EQ(one_core.total.count(OpClass::kVectorTranscendental), vectors);
  EXPECT_EQ(eight_cores.total.count(OpClass::kVectorTranscendental), vectors);
  EXPECT_EQ(one_core.total.count(OpClass::kVectorStore), vectors);
}

std::string param_name(const ::testing::TestParamInfo<Param>& info) {
  std::string name(dtype_name(std::get<0>(info.param)));
  for (int64_t d : std::get<1>(info.param)) name += "_" + std::to_string(d);
  return name;
}

// Dim 0 (C) is never a multiple of 64 or 128 except in 300x64's rows and the
// 128 case; 1 to 5 dims; more cores than rows (7x2x3x2x2 has 24 rows, 1 has 1).
const std::vector<std::vector<int64_t>> kShapes = {
    {300, 64}, {1}, {63}, {65, 3}, {128, 2}, {129, 5}, {257, 3, 2}, {7, 2, 3, 2, 2}, {1000, 1, 9},
};

INSTANTIATE_TEST_SUITE_P(Shapes, BiasGelu,
                         ::testing::Combine(::testing::Values(DType::kF32, DType::kBF16), ::testing::ValuesIn(kShapes)),
                         param_name);

// Per vector of x: one load, the bias add + 4 ALU, one sigmoid, one store;
// per slice: one broadcast, and one bias load per vector column.
TEST(BiasGeluPlugin, IssuesFiveAluAndOneSigmoidPerVector) {
  ASSERT_NE(test_def(), nullptr) << plugin().error;
  const std::vector<int64_t> shape = {130, 4};  // 3 vector columns (64 + 64 + 2 lanes) x 4 rows
  KernelTestCase c;
  ASSERT_TRUE(test_def()->make_case(shape, c).ok());
  Launch l;
  build_launch(c, l);
  KernelRunResult r;
  run(l, c, 1, &r);
  EXPECT_EQ(r.total.count(OpClass::kVectorLoad), 12u + 3u);
  EXPECT_EQ(r.total.count(OpClass::kVectorAlu), 5u * 12u + 1u);
  EXPECT_EQ(r.total.count(OpClass::kVectorTranscendental), 12u);
  EXPECT_EQ(r.total.count(OpClass::kVectorStore), 12u);
}

// Huge magnitudes saturate to x and -0 instead of overflowing to NaN.
TEST(BiasGeluPlugin, SaturatesForLargeInputs) {
  ASSERT_NE(test_def(), nullptr) << plugin().error;
  const std::vector<int64_t> shape = {6};
  KernelTestCase c;
  ASSERT_TRUE(test_def()->make_case(shape, c).ok());
  c.tensors[0].values = {-1e30f, -100.0f, -10.0f, 10.0f, 100.0f, 1e30f};
  c.tensors[1].values.assign(6, 0.0f);
  KernelTestCase want = c;
  test_def()->reference(want);
  Launch l;
  build_launch(c, l);
  const std::vector<float> got = run(l, c, 1);
  ASSERT_EQ(got.size(), 6u);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_FALSE(std::isnan(got[i])) << i;
    EXPECT_NEAR(got[i], want.tensors[2].values[i], 1e-6 * std::fabs(want.tensors[2].values[i]) + 1e-30) << i;
  }
}

TEST(BiasGeluPlugin, RejectsMismatchedArguments) {
  ASSERT_NE(test_def(), nullptr) << plugin().error;
  std::vector<float> x(64 * 3), bias(64), short_bias(63), out(64 * 3);
  std::vector<uint16_t> bf16_bias(64);
  HostMemoryPort port;
  port.add_region(std::span<float>(x));
  port.add_region(std::span<float>(bias));
  port.add_region(std::span<float>(short_bias));
  port.add_region(std::span<float>(out));
  port.add_region(std::span<uint16_t>(bf16_bias));
  auto addr = [](const auto& v) { return reinterpret_cast<uint64_t>(v.data()); };
  const TensorDesc xd = TensorDesc::contiguous(addr(x), DType::kF32, {64, 3});
  const TensorDesc od = TensorDesc::contiguous(addr(out), DType::kF32, {64, 3});
  auto launch = [&](const TensorDesc& b) {
    KernelArgs args;
    args.add_tensor(xd).add_tensor(b).add_tensor(od);
    return run_kernel_on_host(plugin().registry, "bias_gelu", args, port, 2).status();
  };
  EXPECT_TRUE(launch(TensorDesc::contiguous(addr(bias), DType::kF32, {64})).ok());
  const kiln::Status wrong_length = launch(TensorDesc::contiguous(addr(short_bias), DType::kF32, {63}));
  EXPECT_EQ(wrong_length.code(), kiln::ErrorCode::kInvalidArgument);
  EXPECT_NE(wrong_length.message().find("bias"), std::string::npos) << wrong_length.to_string();
  const kiln::Status wrong_dtype = launch(TensorDesc::contiguous(addr(bf16_bias), DType::kBF16, {64}));
  EXPECT_EQ(wrong_dtype.code(), kiln::ErrorCode::kInvalidArgument);
  EXPECT_NE(wrong_dtype.message().find("dtype"), std::string::npos) << wrong_dtype.to_string();
}

#ifdef BIAS_GELU_DEVICE_CONFIG
// ---- on the simulated TPC ----

// A simulated device (BIAS_GELU_DEVICE_CONFIG: the installed tiny config, two
// vector cores) that loads the plugin at open, as `kiln` does for
// KILN_KERNEL_PATH. Null (with a test failure) when it does not open.
std::unique_ptr<kiln::driver::Device> open_device() {
  kiln::driver::DeviceOptions options;
  options.kernel_paths = {BIAS_GELU_PLUGIN};
  auto dev = kiln::driver::Device::open(BIAS_GELU_DEVICE_CONFIG, options);
  if (!dev.ok()) {
    ADD_FAILURE() << dev.status().to_string();
    return nullptr;
  }
  return std::move(*dev);
}

// Inputs uniform in [-1, 1), outputs within the registered tolerance. With
// the host registry, the report also has the per-slot cycle breakdown.
kiln::driver::KernelCheckOptions check_options(DType dtype, uint32_t cores = 0) {
  kiln::driver::KernelCheckOptions o;
  o.dtype = dtype;
  o.cores = cores;
  o.host_registry = &plugin().registry;
  return o;
}

TEST(BiasGeluOnSimulatedTpc, MatchesTheReference) {
  ASSERT_NE(test_def(), nullptr) << plugin().error;
  const auto dev = open_device();
  ASSERT_NE(dev, nullptr);
  using kiln::driver::KernelMatchesReference;
  EXPECT_TRUE(KernelMatchesReference(*dev, *test_def(), {300, 64}, check_options(DType::kF32)));
  EXPECT_TRUE(KernelMatchesReference(*dev, *test_def(), {300, 64}, check_options(DType::kBF16)));
  EXPECT_TRUE(KernelMatchesReference(*dev, *test_def(), {65, 3}, check_options(DType::kF32, 1)));
  EXPECT_TRUE(KernelMatchesReference(*dev, *test_def(), {7, 2, 3, 2, 2}, check_options(DType::kBF16)));
}

// The report behind the helper: where the simulated time and cycles go.
TEST(BiasGeluOnSimulatedTpc, ReportsCyclesAndBytes) {
  ASSERT_NE(test_def(), nullptr) << plugin().error;
  const auto dev = open_device();
  ASSERT_NE(dev, nullptr);
  const std::vector<int64_t> shape = {300, 64};
  auto report = kiln::driver::check_kernel_on_device(*dev, *test_def(), shape, check_options(DType::kF32));
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  std::printf("%s", report->summary().c_str());
  EXPECT_TRUE(report->passed) << report->summary();
  EXPECT_EQ(report->elements_checked, 300u * 64u);
  EXPECT_EQ(report->cores_used, dev->config().tpc().count());  // 64 rows: work for every core
  EXPECT_GT(report->max_core_cycles, 0u);
  EXPECT_GT(report->device_ns, 0.0);
  // x is loaded and out stored once; the bias adds one vector per column and slice.
  EXPECT_GE(report->bytes_moved, 2u * 300u * 64u * 4u);
}
#endif

}  // namespace
