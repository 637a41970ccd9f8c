// `kiln gemm M K N`: the performance architect's quickest question — how long
// does one GEMM take on this device, and what bounds it? Runs the GEMM on the
// simulated MMEs (timing-only unless --values) and reads the answer from the
// device trace.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "commands.h"
#include "kiln/common/mme_descriptor.h"
#include "kiln/driver/device.h"

namespace kiln::tools {
namespace {

void print_gemm_usage(std::FILE* out) {
  std::fprintf(out,
               "usage: kiln gemm M K N [--config NAME|PATH] [--dtype bf16|fp32] [--batch B] [--values]\n"
               "  Simulates C (MxN) = A (MxK) * B (KxN) on the device's matrix engines and prints\n"
               "  cycles, time, utilisation and whether compute or memory bounds it.\n"
               "  --values also computes the results (slow for large shapes).\n");
}

int fail(const Status& s) {
  std::fprintf(stderr, "kiln gemm: %s\n", s.to_string().c_str());
  return 1;
}

bool parse_dim(const std::string& text, uint64_t* out) {
  char* end = nullptr;
  const unsigned long long v = std::strtoull(text.c_str(), &end, 10);
  if (end == text.c_str() || *end != '\0' || v == 0 || v > 0xffffffffull) return false;
  *out = v;
  return true;
}

}  // namespace

int run_gemm(const Args& args) {
  std::string config = "gaudi2";
  std::string dtype = "bf16";
  uint64_t dims[3] = {0, 0, 0};
  uint64_t batch = 1;
  bool values = false;
  int positional = 0;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    const bool has_value = i + 1 < args.size();
    if (a == "--help" || a == "-h") {
      print_gemm_usage(stdout);
      return 0;
    } else if (a == "--config" && has_value) {
      config = args[++i];
    } else if (a == "--dtype" && has_value) {
      dtype = args[++i];
    } else if (a == "--batch" && has_value) {
      if (!parse_dim(args[++i], &batch)) return print_gemm_usage(stderr), 2;
    } else if (a == "--values") {
      values = true;
    } else if (positional < 3 && parse_dim(a, &dims[positional])) {
      ++positional;
    } else {
      std::fprintf(stderr, "kiln gemm: unexpected argument '%s'\n", a.c_str());
      print_gemm_usage(stderr);
      return 2;
    }
  }
  if (positional != 3 || (dtype != "bf16" && dtype != "fp32")) {
    print_gemm_usage(stderr);
    return 2;
  }
  const uint64_t m = dims[0], k = dims[1], n = dims[2];
  const auto type = dtype == "bf16" ? mme::DType::BF16 : mme::DType::FP32;
  const uint64_t es = mme::dtype_bytes(type);

  driver::DeviceOptions options;
  options.functional = values;
  options.trace_host_calls = false;
  auto opened = driver::Device::open(config, options);
  if (!opened.ok()) return fail(opened.status());
  driver::Device& dev = **opened;
  auto a = dev.allocate(batch * m * k * es);
  auto b = dev.allocate(batch * k * n * es);
  auto c = dev.allocate(batch * m * n * es);
  auto desc = dev.allocate_host(sizeof(mme::Descriptor));
  for (const Status& s : {a.status(), b.status(), c.status(), desc.status()}) {
    if (!s.ok()) return fail(s);
  }
  mme::Descriptor d{};
  d.magic = mme::kDescriptorMagic;
  d.op = static_cast<uint8_t>(mme::Op::GEMM);
  d.a_dtype = d.b_dtype = d.out_dtype = static_cast<uint8_t>(type);
  d.batch = static_cast<uint32_t>(batch);
  d.m = static_cast<uint32_t>(m), d.n = static_cast<uint32_t>(n), d.k = static_cast<uint32_t>(k);
  d.lda = k, d.ldb = n, d.ldc = n;
  d.batch_stride_a = m * k, d.batch_stride_b = k * n, d.batch_stride_c = m * n;
  d.a_addr = a->address, d.b_addr = b->address, d.c_addr = c->address;
  std::memcpy(desc->data, &d, sizeof d);
  driver::CommandBuffer cb;
  cb.launch_mme(desc->address);
  auto seq = dev.default_stream().submit(cb);
  if (!seq.ok()) return fail(seq.status());
  if (Status s = dev.default_stream().wait(*seq); !s.ok()) return fail(s);

  uint64_t start_ps = UINT64_MAX, end_ps = 0, traffic = 0, engines = 0;
  for (const auto& e : dev.trace()->events()) {
    if (e.track.rfind("MME", 0) != 0 || e.sequence != *seq) continue;
    start_ps = std::min(start_ps, e.start_ps);
    end_ps = std::max(end_ps, e.end_ps);
    traffic += e.bytes;
    ++engines;
  }
  if (engines == 0) return fail(internal_error("the MME job left no trace event"));
  const auto& cfg = dev.config();
  const double ns = (end_ps - start_ps) / 1000.0;
  const double flops = 2.0 * batch * m * n * k;
  const double peak = dev.properties().peak_matrix_flops;
  const double compute_ns = flops / peak * 1e9;
  const double memory_ns = traffic / cfg.hbm().bandwidth_gb_per_s();
  std::printf("gemm %llux%llux%llu%s %s on %s: %u MME%s, %ux%u, %s\n", static_cast<unsigned long long>(m),
              static_cast<unsigned long long>(k), static_cast<unsigned long long>(n),
              batch > 1 ? (" x" + std::to_string(batch)).c_str() : "", dtype.c_str(), cfg.name().c_str(),
              cfg.mme().count(), cfg.mme().count() == 1 ? "" : "s", cfg.mme().array_rows(), cfg.mme().array_cols(),
              proto::Dataflow_Name(cfg.mme().dataflow()).c_str());
  std::printf("  cycles       %.0f at %.0f MHz\n", ns * cfg.mme().clock_mhz() / 1e3, cfg.mme().clock_mhz());
  std::printf("  time         %.3f us\n", ns / 1e3);
  std::printf("  throughput   %.2f TFLOP/s, %.1f%% of the %.0f TFLOP/s peak\n", flops / ns / 1e3,
              100.0 * compute_ns / ns, peak / 1e12);
  std::printf("  bounds       compute %.3f us, HBM %.3f us (%.1f MB of operand traffic)\n", compute_ns / 1e3,
              memory_ns / 1e3, traffic / 1e6);
  std::printf("  verdict      %s-bound\n", memory_ns > compute_ns ? "memory" : "compute");
  return 0;
}

}  // namespace kiln::tools
