// swish_demo: uses the custom op example.swish (from the plugin
// libswish_op.so, found on the kernel search path) and a composition
// registered here, example.dense_swish = swish(linear(x, w, b)) -- one MME job
// and the plugin's TPC kernel -- in eager and in lazy mode, and checks every
// value against a host computation in double precision.
//
//   swish_demo [plugin.so] [device config]     exit 0 when every check passes
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "kiln/runtime/custom_op.h"
#include "kiln/runtime/ops.h"
#include "kiln/runtime/runtime.h"

using namespace kiln::runtime;

namespace {

constexpr int64_t kRows = 16, kIn = 32, kOut = 48;

std::vector<float> random_values(std::size_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(g);
  return v;
}

double host_swish(double x, double beta) { return x / (1 + std::exp(-beta * x)); }

// x [rows, in] . w[out, in]^T + b, then swish: the host's reference.
std::vector<double> host_dense_swish(const std::vector<float>& x, const std::vector<float>& w,
                                     const std::vector<float>& b, double beta) {
  std::vector<double> y(static_cast<std::size_t>(kRows * kOut));
  for (int64_t r = 0; r < kRows; ++r) {
    for (int64_t o = 0; o < kOut; ++o) {
      double acc = b[static_cast<std::size_t>(o)];
      for (int64_t i = 0; i < kIn; ++i) acc += double(x[static_cast<std::size_t>(r * kIn + i)]) * w[static_cast<std::size_t>(o * kIn + i)];
      y[static_cast<std::size_t>(r * kOut + o)] = host_swish(acc, beta);
    }
  }
  return y;
}

// Registers example.dense_swish: a composition of runtime ops, including the
// plugin's op. Inference says what the composition must return.
kiln::Status register_dense_swish() {
  CustomOpDef def;
  def.schema.name = "example.dense_swish";
  def.schema.inputs = {{"x", {kiln::DType::kF32}}, {"w", {kiln::DType::kF32}}, {"b", {kiln::DType::kF32}}};
  def.schema.attrs = {{"beta", AttrType::kFloat, AttrValue{1.0}}};
  def.infer = [](const std::vector<TensorMeta>& in, const AttrMap&, std::vector<TensorMeta>& out) -> kiln::Status {
    if (in[0].shape.size() != 2 || in[1].shape.size() != 2 || in[0].shape[1] != in[1].shape[1] ||
        in[2].shape != Shape{in[1].shape[0]}) {
      return kiln::invalid_argument("want x [n, k], w [m, k], b [m]; got " + to_string(in[0].shape) + ", " +
                                    to_string(in[1].shape) + ", " + to_string(in[2].shape));
    }
    out = {TensorMeta{Shape{in[0].shape[0], in[1].shape[0]}, in[0].dtype}};
    return kiln::Status::ok_status();
  };
  def.compose = [](const std::vector<Tensor>& in, const AttrMap& attrs) -> kiln::Result<std::vector<Tensor>> {
    KILN_ASSIGN_OR_RETURN(Tensor y, linear(in[0], in[1], in[2]));
    return call_custom_op("example.swish", {y}, {{"beta", attrs.at("beta")}});
  };
  def.fusable = true;
  return register_custom_op(std::move(def));
}

// Largest |got - want| / (atol + rtol |want|): <= 1 passes.
double worst(const std::vector<float>& got, const std::vector<double>& want, double atol, double rtol) {
  double w = 0;
  for (std::size_t i = 0; i < want.size(); ++i) w = std::max(w, std::fabs(got[i] - want[i]) / (atol + rtol * std::fabs(want[i])));
  return w;
}

bool check(const char* what, const kiln::Result<std::vector<float>>& got, const std::vector<double>& want, double atol,
           double rtol) {
  if (!got.ok()) {
    std::printf("  %-30s FAILED: %s\n", what, got.status().to_string().c_str());
    return false;
  }
  const double w = worst(*got, want, atol, rtol);
  std::printf("  %-30s y[0..2] = %+.6f %+.6f %+.6f (host %+.6f %+.6f %+.6f)  %s\n", what, (*got)[0], (*got)[1],
              (*got)[2], want[0], want[1], want[2], w <= 1 ? "ok" : "MISMATCH");
  return w <= 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string plugin = argc > 1 ? argv[1] : SWISH_PLUGIN;
  const std::string config = argc > 2 ? argv[2] : SWISH_DEVICE_CONFIG;
  RuntimeOptions options;
  options.device.kernel_paths = {plugin};  // the device loads the kernel, the runtime the op
  auto rt = Runtime::open(config, options);
  if (!rt.ok()) {
    std::fprintf(stderr, "%s\n", rt.status().to_string().c_str());
    return 1;
  }
  if (const kiln::Status s = register_dense_swish(); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.to_string().c_str());
    return 1;
  }
  const std::vector<float> x = random_values(kRows * kIn, 1, -2, 2), w = random_values(kOut * kIn, 2, -0.3f, 0.3f),
                           b = random_values(kOut, 3, -0.5f, 0.5f);
  std::vector<double> want_swish(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) want_swish[i] = host_swish(x[i], 1.5);
  const std::vector<double> want_dense = host_dense_swish(x, w, b, 1.0);

  bool ok = true;
  for (Mode mode : {Mode::kEager, Mode::kLazy}) {
    ModeScope scope(**rt, mode);
    std::printf("%s mode\n", mode == Mode::kEager ? "eager" : "lazy");
    Tensor tx = (*rt)->from_host<float>(x, {kRows, kIn}).value();
    Tensor tw = (*rt)->from_host<float>(w, {kOut, kIn}).value();
    Tensor tb = (*rt)->from_host<float>(b, {kOut}).value();
    auto swish = call_custom_op("example.swish", {tx}, {{"beta", 1.5}});
    auto dense = call_custom_op("example.dense_swish", {tx, tw, tb});  // beta: its default, 1.0
    if (!swish.ok() || !dense.ok()) {
      std::printf("  FAILED: %s\n", (!swish.ok() ? swish : dense).status().to_string().c_str());
      return 1;
    }
    if (mode == Mode::kLazy) (void)(*rt)->mark_step();  // both ops compile into one recipe and launch
    // fp32: the kernel's sigmoid and the GEMM's fp32 accumulation are within
    // a few ulps of double; 1e-5 relative leaves room for both.
    ok = check("example.swish(x, beta=1.5)", (*swish)[0].to_host<float>(), want_swish, 1e-6, 1e-5) && ok;
    ok = check("example.dense_swish(x, w, b)", (*dense)[0].to_host<float>(), want_dense, 1e-6, 1e-5) && ok;
    // bf16 in, bf16 out: the kernel rounds once on store (2^-8 relative), the input rounding adds as much.
    Tensor xh = cast(tx, kiln::DType::kBF16).value();
    auto half = call_custom_op("example.swish", {xh}, {{"beta", 1.5}});
    if (!half.ok()) {
      std::printf("  FAILED: %s\n", half.status().to_string().c_str());
      return 1;
    }
    ok = check("example.swish(bf16 x)", cast((*half)[0], kiln::DType::kF32).value().to_host<float>(), want_swish, 1e-2,
               1.0 / 64) && ok;
  }
  // Captured: both ops recorded once into a graph, then replayed over new
  // inputs written in place (a custom op is an ordinary graph node).
  {
    std::printf("captured graph\n");
    Tensor tx = (*rt)->from_host<float>(x, {kRows, kIn}).value();
    Tensor tw = (*rt)->from_host<float>(w, {kOut, kIn}).value();
    Tensor tb = (*rt)->from_host<float>(b, {kOut}).value();
    if (!(*rt)->capture_begin().ok()) return 1;
    auto swish = call_custom_op("example.swish", {tx}, {{"beta", 1.5}});
    auto dense = call_custom_op("example.dense_swish", {tx, tw, tb});
    auto graph = (*rt)->capture_end();
    if (!swish.ok() || !dense.ok() || !graph.ok()) {
      std::printf("  FAILED: %s\n", (!swish.ok() ? swish.status() : !dense.ok() ? dense.status() : graph.status())
                                        .to_string().c_str());
      return 1;
    }
    for (int replay = 0; replay < 2; ++replay) {
      // Each replay reads the input as it is then.
      const std::vector<float> xr = random_values(kRows * kIn, 10 + static_cast<uint32_t>(replay), -2, 2);
      if (!(*rt)->copy_from_host(tx, xr.data(), xr.size() * sizeof(float)).ok() || !graph->replay().ok()) return 1;
      std::vector<double> want_r(xr.size());
      for (std::size_t i = 0; i < xr.size(); ++i) want_r[i] = host_swish(xr[i], 1.5);
      const std::string label = "replay " + std::to_string(replay + 1) + ": example.swish";
      ok = check(label.c_str(), (*swish)[0].to_host<float>(), want_r, 1e-6, 1e-5) && ok;
      ok = check("  example.dense_swish", (*dense)[0].to_host<float>(), host_dense_swish(xr, w, b, 1.0), 1e-6, 1e-5) &&
           ok;
    }
  }
  const RuntimeStats stats = (*rt)->stats();
  std::printf("%llu ops eager, %llu recorded lazily, %llu compilations\n",
              static_cast<unsigned long long>(stats.ops_eager), static_cast<unsigned long long>(stats.ops_recorded),
              static_cast<unsigned long long>(stats.compilations));
  std::printf("%s\n", ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}
