// The matrix engine's numerics and per-dtype rates through the driver: the
// same GEMM in bf16, fp16, TF32 and fp32 takes the times the config's rates
// give; TF32 really rounds the inputs; fp16 outputs round to nearest even
// with overflow to infinity, subnormals and NaN; the epilogue is
// act(A * B + bias) + R, R possibly C itself, and R may be a binding.
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "kiln/common/device_config.h"
#include "kiln/common/packets.h"
#include "kiln/common/f16.h"
#include "kiln/common/tf32.h"
#include "mme_test_util.h"

namespace kiln::driver {
namespace {

using mme::gemm_descriptor;
using testing::read_back;
using testing::take;

// An input type of a GEMM as `kiln gemm --dtype` names it.
struct InputType {
  const char* name;
  DType dtype;
  bool tf32;
};
constexpr InputType kInputTypes[] = {{"bf16", DType::kBF16, false},
                                     {"fp16", DType::kF16, false},
                                     {"tf32", DType::kF32, true},
                                     {"fp32", DType::kF32, false}};

// The busiest MME's cycles for a GEMM of one batch, from the config alone
// (mme_timing.h, pipelined dataflow): its share of the folds, each streaming
// ceil(m / rate) rows or waiting for the weight fill, then one fill, skew
// and drain.
uint64_t expected_cycles(const proto::MmeConfig& c, uint64_t m, uint64_t k, uint64_t n, double rate) {
  const uint64_t folds = ((k + c.array_rows() - 1) / c.array_rows()) * ((n + c.array_cols() - 1) / c.array_cols());
  const uint64_t busiest = (folds + c.count() - 1) / c.count();
  const uint64_t fill = (c.array_rows() + c.fill_rows_per_cycle() - 1) / c.fill_rows_per_cycle();
  const auto stream = static_cast<uint64_t>(std::ceil(static_cast<double>(m) / rate));
  EXPECT_EQ(c.dataflow(), proto::WEIGHT_STATIONARY_PIPELINED);
  return busiest * std::max(stream, fill) + fill + c.array_rows() + c.array_cols() - 3;
}

struct RateCase {
  const char* config;
  uint64_t m, k, n;
  MemoryKind memory;  // where the operands live: fast enough that compute bounds the job
};

class MmeDtypeRates : public ::testing::TestWithParam<RateCase> {};

TEST_P(MmeDtypeRates, TheSameGemmTakesTheConfiguredRatios) {
  const RateCase rc = GetParam();
  auto dev = testing::open_device(rc.config, /*functional=*/false);
  Stream* s = take(dev->create_stream());
  const proto::MmeConfig& cfg = dev->config().mme();
  double bf16_ps = 0;
  for (const InputType& t : kInputTypes) {
    const uint64_t es = dtype_size(t.dtype);
    auto a = take(dev->allocate(rc.m * rc.k * es, rc.memory)), b = take(dev->allocate(rc.k * rc.n * es, rc.memory)),
         c = take(dev->allocate(rc.m * rc.n * es, rc.memory));
    auto d = gemm_descriptor(rc.m, rc.k, rc.n, t.dtype, t.dtype, t.dtype);
    d.a_addr = a.address, d.b_addr = b.address, d.c_addr = c.address;
    if (t.tf32) d.flags = mme::kTf32;
    const double ps = static_cast<double>(testing::mme_ps(*dev, *s, testing::launch_descriptor(*dev, *s, d)));
    const double rate = mme_macs_per_cell_per_cycle(cfg, t.dtype, t.dtype, t.tf32);
    const double want_ps = static_cast<double>(expected_cycles(cfg, rc.m, rc.k, rc.n, rate)) * 1e6 / cfg.clock_mhz();
    EXPECT_NEAR(ps, want_ps, 2.0) << rc.config << " " << t.name << " at " << rate << " MACs/cell/cycle";
    if (t.dtype == DType::kBF16) bf16_ps = ps;
    // Each engine's folds stream far more rows than one fill and drain take,
    // so the times come within 2% of the rates' ratios.
    EXPECT_NEAR(ps / bf16_ps, 1.0 / rate, 0.02 / rate) << rc.config << " " << t.name;
    for (auto* buf : {&a, &b, &c}) ASSERT_OK(dev->free(*buf));
  }
}

INSTANTIATE_TEST_SUITE_P(Configs, MmeDtypeRates,
                         ::testing::Values(RateCase{"tiny", 4096, 64, 64, MemoryKind::kHbm},
                                           RateCase{"gaudi2", 4096, 1024, 1024, MemoryKind::kSram},
                                           // gaudi3's eight MMEs need 64 folds to get 8 each.
                                           RateCase{"gaudi3", 4096, 2048, 2048, MemoryKind::kSram}),
                         [](const auto& p) { return std::string(p.param.config); });

TEST(MmeDtypeRates, ShippedConfigsSlowFp32AndTf32AndKeepBf16) {
  for (const char* name : {"gaudi2", "gaudi3"}) {
    const DeviceConfig c = take(load_device_config(name));
    EXPECT_EQ(mme_macs_per_cell_per_cycle(c.mme(), DType::kBF16, DType::kBF16), 1.0);
    EXPECT_LT(mme_macs_per_cell_per_cycle(c.mme(), DType::kF32, DType::kF32), 1.0) << name;
    EXPECT_LT(mme_macs_per_cell_per_cycle(c.mme(), DType::kF32, DType::kF32, true), 1.0) << name;
    EXPECT_GT(mme_macs_per_cell_per_cycle(c.mme(), DType::kF32, DType::kF32, true),
              mme_macs_per_cell_per_cycle(c.mme(), DType::kF32, DType::kF32))
        << name;
  }
  const DeviceConfig g3 = take(load_device_config("gaudi3"));
  EXPECT_NEAR(peak_matrix_flops(g3, DType::kF32, DType::kF32, true), 459e12, 1e12);  // TF32
  EXPECT_NEAR(peak_matrix_flops(g3, DType::kF32, DType::kF32), 229e12, 1e12);        // FP32
}

// One GEMM on `tiny` over host-made bytes; returns C's bytes.
std::vector<uint8_t> run_gemm(Device& dev, mme::Descriptor d, const std::vector<uint8_t>& a,
                              const std::vector<uint8_t>& b, const std::vector<uint8_t>& bias = {},
                              const std::vector<uint8_t>& r = {}, bool r_is_c = false) {
  Stream& s = dev.default_stream();
  const uint64_t c_bytes = uint64_t{d.batch} * d.m * d.n * dtype_size(static_cast<DType>(d.out_dtype));
  auto da = take(dev.allocate(a.size())), db = take(dev.allocate(b.size())), dc = take(dev.allocate(c_bytes));
  EXPECT_TRUE(dev.copy_to_device(da.address, a.data(), a.size()).ok());
  EXPECT_TRUE(dev.copy_to_device(db.address, b.data(), b.size()).ok());
  d.a_addr = da.address, d.b_addr = db.address, d.c_addr = dc.address;
  DeviceBuffer dbias, dr;
  if (!bias.empty()) {
    dbias = take(dev.allocate(bias.size()));
    EXPECT_TRUE(dev.copy_to_device(dbias.address, bias.data(), bias.size()).ok());
    d.flags |= mme::kHasBias, d.bias_addr = dbias.address;
  }
  if (!r.empty()) {
    d.flags |= mme::kHasResidual;
    if (r_is_c) {  // in place: C holds R before the job
      EXPECT_TRUE(dev.copy_to_device(dc.address, r.data(), r.size()).ok());
      d.r_addr = dc.address;
    } else {
      dr = take(dev.allocate(r.size()));
      EXPECT_TRUE(dev.copy_to_device(dr.address, r.data(), r.size()).ok());
      d.r_addr = dr.address;
    }
  }
  testing::launch_descriptor(dev, s, d);
  std::vector<uint8_t> out(c_bytes);
  EXPECT_TRUE(dev.copy_to_host(out.data(), dc.address, out.size()).ok());
  return out;
}

template <typename T>
std::vector<uint8_t> bytes_of(const std::vector<T>& v) {
  std::vector<uint8_t> out(v.size() * sizeof(T));
  std::memcpy(out.data(), v.data(), out.size());
  return out;
}

std::vector<float> floats_of(const std::vector<uint8_t>& bytes) {
  std::vector<float> out(bytes.size() / 4);
  std::memcpy(out.data(), bytes.data(), bytes.size());
  return out;
}

TEST(MmeTf32, InputsAreRoundedToTenMantissaBitsBeforeTheMultiply) {
  auto dev = testing::open_device();
  // C (4 x 1) = A (4 x 1) * B (1 x 1): each output is a * b, exact in fp32.
  const float tiny_bit = std::ldexp(1.0f, -12), tie = std::ldexp(1.0f, -11);
  const std::vector<float> a = {1 + tiny_bit, 1 + 3 * tie, -(1 + tie), 3.0f};
  const std::vector<float> b = {1 + tie};  // a tie: to even, 1
  auto d = gemm_descriptor(4, 1, 1, DType::kF32, DType::kF32, DType::kF32);
  const auto full = floats_of(run_gemm(*dev, d, bytes_of(a), bytes_of(b)));
  d.flags = mme::kTf32;
  const auto rounded = floats_of(run_gemm(*dev, d, bytes_of(a), bytes_of(b)));
  const std::vector<float> want = {1.0f, 1 + std::ldexp(1.0f, -9), -1.0f, 3.0f};
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(rounded[i], want[i]) << i;
    EXPECT_EQ(rounded[i], round_to_tf32(a[i]) * round_to_tf32(b[0])) << i;
    EXPECT_EQ(full[i], a[i] * b[0]) << i;  // without the flag: full fp32
  }
}

// f32 operands are read where they lie in device memory (no copy): TF32's
// rounding happens in a copy, never in the operands' memory.
TEST(MmeTf32, TheOperandsInDeviceMemoryAreNotRounded) {
  auto dev = testing::open_device();
  const float tiny_bit = std::ldexp(1.0f, -12);
  const std::vector<float> a(64 * 64, 1 + tiny_bit), b(64 * 64, 1 + 3 * tiny_bit);
  auto da = take(dev->allocate(a.size() * 4)), db = take(dev->allocate(b.size() * 4)), dc = take(dev->allocate(64 * 64 * 4));
  ASSERT_TRUE(dev->copy_to_device(da.address, a.data(), a.size() * 4).ok());
  ASSERT_TRUE(dev->copy_to_device(db.address, b.data(), b.size() * 4).ok());
  auto d = gemm_descriptor(64, 64, 64, DType::kF32, DType::kF32, DType::kF32);
  d.a_addr = da.address, d.b_addr = db.address, d.c_addr = dc.address;
  d.flags = mme::kTf32;
  testing::launch_descriptor(*dev, dev->default_stream(), d);
  std::vector<float> a_back(a.size()), b_back(b.size()), c(64 * 64);
  ASSERT_TRUE(dev->copy_to_host(a_back.data(), da.address, a_back.size() * 4).ok());
  ASSERT_TRUE(dev->copy_to_host(b_back.data(), db.address, b_back.size() * 4).ok());
  ASSERT_TRUE(dev->copy_to_host(c.data(), dc.address, c.size() * 4).ok());
  EXPECT_EQ(a_back, a);
  EXPECT_EQ(b_back, b);
  EXPECT_EQ(c.front(), 64 * round_to_tf32(a[0]) * round_to_tf32(b[0]));  // 1 and 1 + 2^-10: the products rounded
  EXPECT_NE(c.front(), 64 * a[0] * b[0]);
}

TEST(MmeF16, OutputsRoundToNearestEvenWithOverflowSubnormalsAndNan) {
  auto dev = testing::open_device();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> a = {65504.0f, 65519.0f, 65520.0f, -70000.0f, 1e-8f,         3e-8f,
                                1e-5f,    -1e-5f,   0.1f,     1.0f + std::ldexp(1.0f, -11), nan};
  const std::vector<uint16_t> want = {0x7bff, 0x7bff, 0x7c00, 0xfc00, 0x0000, 0x0001,
                                      0x00a8, 0x80a8, 0x2e66, 0x3c00, 0};
  ASSERT_EQ(f16::from_float(1e-5f).bits, 0x00a8);  // a subnormal half: 168 * 2^-24
  auto d = gemm_descriptor(static_cast<uint32_t>(a.size()), 1, 1, DType::kF32, DType::kF32, DType::kF16);
  const auto out = run_gemm(*dev, d, bytes_of(a), bytes_of(std::vector<float>{1.0f}));  // C = A * 1
  for (std::size_t i = 0; i < a.size(); ++i) {
    uint16_t got = 0;
    std::memcpy(&got, out.data() + 2 * i, 2);
    if (std::isnan(a[i])) {
      EXPECT_TRUE(std::isnan(to_float(f16::from_bits(got)))) << std::hex << got;
    } else {
      EXPECT_EQ(got, want[i]) << i << ": " << a[i];
    }
  }
}

TEST(MmeF16, InputsWidenExactlySubnormalsIncluded) {
  auto dev = testing::open_device();
  // Halves 2^-24 (the smallest subnormal), 1023 * 2^-24, 65504, -2^-14; times 2^10 in fp32.
  const std::vector<uint16_t> a = {0x0001, 0x03ff, 0x7bff, 0x8400};
  auto d = gemm_descriptor(4, 1, 1, DType::kF16, DType::kF32, DType::kF32);
  const auto out = floats_of(run_gemm(*dev, d, bytes_of(a), bytes_of(std::vector<float>{1024.0f})));
  EXPECT_EQ(out, (std::vector<float>{std::ldexp(1.0f, -14), std::ldexp(1023.0f, -14), 65504.0f * 1024,
                                     -std::ldexp(1.0f, -4)}));
}

TEST(MmeEpilogue, TheResidualIsAddedAfterTheActivation) {
  auto dev = testing::open_device();
  auto d = gemm_descriptor(2, 1, 1, DType::kF32, DType::kF32, DType::kF32);
  d.activation = static_cast<uint8_t>(mme::Activation::RELU);
  // relu(-2 + 0.5) + 1 = 1 (adding R before the activation would give 0); relu(3 + 0.5) + 1 = 4.5.
  const auto out = floats_of(run_gemm(*dev, d, bytes_of(std::vector<float>{-2, 3}), bytes_of(std::vector<float>{1}),
                                      bytes_of(std::vector<float>{0.5f}), bytes_of(std::vector<float>{1, 1})));
  EXPECT_EQ(out, (std::vector<float>{1.0f, 4.5f}));
}

TEST(MmeEpilogue, AResidualInPlaceReadsTheOldOutput) {
  auto dev = testing::open_device();
  auto d = gemm_descriptor(2, 2, 2, DType::kF32, DType::kF32, DType::kBF16, 2);  // two batches
  d.r_dtype = static_cast<uint8_t>(DType::kBF16);
  const std::vector<float> a = {1, 2, 3, 4, 5, 6, 7, 8}, b = {1, 0, 0, 1, 2, 0, 0, 2};  // B = I, then 2I
  std::vector<uint8_t> r(8 * 2);
  for (int i = 0; i < 8; ++i) testing::store_element(static_cast<float>(10 * i), DType::kBF16, r.data() + 2 * i);
  const auto out = run_gemm(*dev, d, bytes_of(a), bytes_of(b), {}, r, /*r_is_c=*/true);
  const float want[] = {1, 12, 23, 34, 50, 62, 74, 86};  // A * B + the old C
  for (int i = 0; i < 8; ++i) EXPECT_EQ(testing::load_element(DType::kBF16, out.data() + 2 * i), want[i]) << i;
}

TEST(MmeEpilogue, AnF32ResidualInPlaceReadsTheOldOutput) {
  // An f32 result may be computed where it lies in device memory: not when
  // the residual is C itself.
  auto dev = testing::open_device();
  auto d = gemm_descriptor(2, 2, 2, DType::kF32, DType::kF32, DType::kF32, 2);
  const std::vector<float> a = {1, 2, 3, 4, 5, 6, 7, 8}, b = {1, 0, 0, 1, 2, 0, 0, 2}, r = {0, 10, 20, 30, 40, 50, 60, 70};
  const auto out = floats_of(run_gemm(*dev, d, bytes_of(a), bytes_of(b), {}, bytes_of(r), /*r_is_c=*/true));
  EXPECT_EQ(out, (std::vector<float>{1, 12, 23, 34, 50, 62, 74, 86}));  // A * B + the old C
}

TEST(MmeInPlace, AGemmWritingOverItsOwnInputReadsItWhole) {
  // C (8 x 512) at A's address (8 x 512): the k loop runs in blocks, so a
  // result written where it lies before A is read whole would feed partial
  // sums back in. The values must be those of the same GEMM into its own C.
  auto dev = testing::open_device();
  constexpr uint32_t m = 8, k = 512, n = 512;
  std::vector<float> a(m * k), b(k * n);
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i % 13) - 6.0f;
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<float>((i * 7) % 5) - 2.0f;
  const auto d = gemm_descriptor(m, k, n, DType::kF32, DType::kF32, DType::kF32);
  const auto apart = floats_of(run_gemm(*dev, d, bytes_of(a), bytes_of(b)));
  Stream& s = dev->default_stream();
  auto da = take(dev->allocate(a.size() * 4)), db = take(dev->allocate(b.size() * 4));
  ASSERT_TRUE(dev->copy_to_device(da.address, a.data(), a.size() * 4).ok());
  ASSERT_TRUE(dev->copy_to_device(db.address, b.data(), b.size() * 4).ok());
  auto over = d;
  over.a_addr = over.c_addr = da.address, over.b_addr = db.address;
  testing::launch_descriptor(*dev, s, over);
  std::vector<float> c(m * n);
  ASSERT_TRUE(dev->copy_to_host(c.data(), da.address, c.size() * 4).ok());
  EXPECT_EQ(c, apart);
  // Integer-valued operands: the host's exact products.
  for (uint32_t i = 0; i < m; i += 3) {
    for (uint32_t j = 0; j < n; j += 17) {
      double want = 0;
      for (uint32_t p = 0; p < k; ++p) want += static_cast<double>(a[i * k + p]) * b[p * n + j];
      ASSERT_EQ(c[i * n + j], want) << i << ", " << j;
    }
  }
}

TEST(MmeEpilogue, ExactGeluIsNotTheTanhApproximation) {
  auto dev = testing::open_device();
  const std::vector<float> x = {-3.0f, -1.0f, -0.5f, 0.0f, 0.7f, 2.0f, 5.0f};
  auto d = gemm_descriptor(static_cast<uint32_t>(x.size()), 1, 1, DType::kF32, DType::kF32, DType::kF32);
  d.activation = static_cast<uint8_t>(mme::Activation::GELU);
  const auto exact = floats_of(run_gemm(*dev, d, bytes_of(x), bytes_of(std::vector<float>{1})));
  d.activation = static_cast<uint8_t>(mme::Activation::GELU_TANH);
  const auto approx = floats_of(run_gemm(*dev, d, bytes_of(x), bytes_of(std::vector<float>{1})));
  bool differ = false;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double v = x[i];
    EXPECT_NEAR(exact[i], 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))), 2e-6) << v;
    EXPECT_NEAR(approx[i], 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v))), 2e-6) << v;
    differ = differ || std::abs(exact[i] - approx[i]) > 1e-5;
  }
  EXPECT_TRUE(differ);
}

// R is an operand like the others: recorded as a binding, its extent is the
// whole of R's span, checked at submission; bound, it is resolved on the device.
TEST(MmeEpilogue, TheResidualMayBeABindingCheckedOverItsSpan) {
  auto dev = testing::open_device();
  const uint32_t m = 4, k = 3, n = 5;
  auto d = gemm_descriptor(m, k, n, DType::kF32, DType::kF32, DType::kF32);
  d.flags = mme::kHasResidual;
  d.r_dtype = static_cast<uint8_t>(DType::kF16);
  d.a_addr = packets::bound_address(0, 0), d.b_addr = packets::bound_address(1, 0);
  d.c_addr = packets::bound_address(2, 0), d.r_addr = packets::bound_address(3, 0);
  CommandBuffer cb;
  cb.launch_mme(d);
  bool found = false;
  for (const auto& use : cb.binding_uses()) {
    if (use.slot != 3) continue;
    found = true;
    EXPECT_EQ(use.extent, m * n * 2u);
  }
  EXPECT_TRUE(found);
  std::vector<float> a(m * k, 1.0f), b(k * n, 2.0f);
  std::vector<uint8_t> r(m * n * 2);
  for (uint32_t i = 0; i < m * n; ++i) testing::store_element(0.5f * i, DType::kF16, r.data() + 2 * i);
  auto da = take(dev->allocate(a.size() * 4)), db = take(dev->allocate(b.size() * 4));
  auto dc = take(dev->allocate(m * n * 4)), dr = take(dev->allocate(r.size()));
  ASSERT_OK(dev->copy_to_device(da.address, a.data(), a.size() * 4));
  ASSERT_OK(dev->copy_to_device(db.address, b.data(), b.size() * 4));
  ASSERT_OK(dev->copy_to_device(dr.address, r.data(), r.size()));
  Stream& s = dev->default_stream();
  BindingTable short_r;
  short_r.bind(0, da).bind(1, db).bind(2, dc).bind_range(3, dr.address, r.size() - 2);
  const auto rejected = s.submit(cb, short_r);
  ASSERT_FALSE(rejected.ok());
  EXPECT_NE(rejected.status().message().find("touches " + std::to_string(r.size()) + " bytes"), std::string::npos)
      << rejected.status().to_string();
  BindingTable t;
  t.bind(0, da).bind(1, db).bind(2, dc).bind(3, dr);
  ASSERT_OK(s.wait(take(s.submit(cb, t))));
  const auto c = read_back(*dev, dc.address, m * n, DType::kF32);
  for (uint32_t i = 0; i < m * n; ++i) EXPECT_EQ(c[i], 6.0f + 0.5f * i) << i;  // 3 * 1 * 2 + R
}

}  // namespace
}  // namespace kiln::driver
