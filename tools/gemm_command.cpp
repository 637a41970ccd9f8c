// `kiln gemm M K N`: the performance architect's quickest question — how long
// does one GEMM take on this device, and what bounds it? Runs the GEMM on the
// simulated MMEs (timing-only unless --values) and reads the answer from the
// device trace.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "commands.h"
#include "numbers.h"
#include "kiln/common/config_overrides.h"
#include "kiln/common/mme_descriptor.h"
#include "kiln/driver/device.h"

namespace kiln::tools {
namespace {

void print_gemm_usage(std::FILE* out) {
  std::fprintf(out,
               "usage: kiln gemm M K N [--config NAME|PATH] [--dtype bf16|fp16|tf32|fp32] [--batch B] [--values]\n"
               "                 [--set PATH=VALUE]... [--sweep PATH=V1,V2,...]\n"
               "  Simulates C (MxN) = A (MxK) * B (KxN) on the device's matrix engines and prints\n"
               "  cycles, time, utilisation and whether compute or memory bounds it.\n"
               "  --dtype is the type of A, B and C (default bf16); tf32 stores fp32 and rounds the\n"
               "  inputs to TF32 (the descriptor's kTf32 flag). Each runs at its configured rate\n"
               "  (mme.*_macs_per_cell_per_cycle), and utilisation is against that type's peak.\n"
               "  --values also computes the results (slow for large shapes).\n"
               "  --set changes one config field (e.g. hbm.bandwidth_gb_per_s=3000, mme.array_rows=512);\n"
               "  --sweep runs the GEMM once per value of one field and prints a row for each.\n");
}

int gemm_failed(const Status& s) { return command_failed("gemm", s.to_string()); }

bool parse_dim(const std::string& text, uint64_t* out) { return parse_whole(text, 1, 0xffffffffull, out); }

struct GemmRequest {
  uint64_t m = 0, k = 0, n = 0, batch = 1;
  DType type = DType::kBF16;  // of A, B and C
  bool tf32 = false;          // f32 inputs rounded to TF32
  bool values = false;
};

// --dtype's names: the storage type, and whether the inputs are TF32.
bool parse_dtype(const std::string& name, GemmRequest* g) {
  if (name == "bf16") g->type = DType::kBF16;
  else if (name == "fp16") g->type = DType::kF16;
  else if (name == "fp32") g->type = DType::kF32;
  else if (name == "tf32") g->type = DType::kF32, g->tf32 = true;
  else return false;
  return true;
}

// What one simulated GEMM took, read from the device trace.
struct GemmResult {
  double ns = 0;              // busiest MME, start to end
  double cycles = 0;          // at the MME clock
  double flops = 0;
  double compute_ns = 0;      // MAC bound
  double memory_ns = 0;       // operand traffic at HBM bandwidth
  double traffic_bytes = 0;
};

Result<GemmResult> simulate_gemm(const DeviceConfig& config, const GemmRequest& g) {
  const uint64_t es = dtype_size(g.type);
  driver::DeviceOptions options;
  options.functional = g.values;
  options.trace_host_calls = false;
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<driver::Device> device, driver::Device::open(config, options));
  driver::Device& dev = *device;
  KILN_ASSIGN_OR_RETURN(driver::DeviceBuffer a, dev.allocate(g.batch * g.m * g.k * es));
  KILN_ASSIGN_OR_RETURN(driver::DeviceBuffer b, dev.allocate(g.batch * g.k * g.n * es));
  KILN_ASSIGN_OR_RETURN(driver::DeviceBuffer c, dev.allocate(g.batch * g.m * g.n * es));
  KILN_ASSIGN_OR_RETURN(driver::HostBuffer desc, dev.allocate_host(sizeof(mme::Descriptor)));
  mme::Descriptor d = mme::gemm_descriptor(static_cast<uint32_t>(g.m), static_cast<uint32_t>(g.k),
                                           static_cast<uint32_t>(g.n), g.type, g.type, g.type,
                                           static_cast<uint32_t>(g.batch));
  d.a_addr = a.address, d.b_addr = b.address, d.c_addr = c.address;
  if (g.tf32) d.flags |= mme::kTf32;
  std::memcpy(desc.data, &d, sizeof d);
  driver::CommandBuffer cb;
  cb.launch_mme(desc.address);
  KILN_ASSIGN_OR_RETURN(uint64_t seq, dev.default_stream().submit(cb));
  KILN_RETURN_IF_ERROR(dev.default_stream().wait(seq));

  uint64_t start_ps = UINT64_MAX, end_ps = 0, traffic = 0, engines = 0;
  for (const auto& e : dev.trace()->events()) {
    if (e.track.rfind("MME", 0) != 0 || e.sequence != seq) continue;
    start_ps = std::min(start_ps, e.start_ps);
    end_ps = std::max(end_ps, e.end_ps);
    traffic += e.bytes;
    ++engines;
  }
  if (engines == 0) return internal_error("the MME job left no trace event");
  GemmResult r;
  r.ns = (end_ps - start_ps) / 1000.0;
  r.cycles = r.ns * config.mme().clock_mhz() / 1e3;
  r.flops = 2.0 * g.batch * g.m * g.n * g.k;
  r.compute_ns = r.flops / peak_matrix_flops(config, g.type, g.type, g.tf32) * 1e9;
  r.memory_ns = traffic / config.hbm().bandwidth_gb_per_s();
  r.traffic_bytes = static_cast<double>(traffic);
  return r;
}

const char* verdict(const GemmResult& r) { return r.memory_ns > r.compute_ns ? "memory" : "compute"; }

}  // namespace

int run_gemm(const Args& args) {
  std::string config_name = "gaudi2";
  std::string dtype = "bf16";
  uint64_t dims[3] = {0, 0, 0};
  GemmRequest g;
  std::vector<std::string> overrides;
  std::optional<std::string> sweep;
  int positional = 0;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    const bool has_value = i + 1 < args.size();
    if (a == "--help" || a == "-h") {
      print_gemm_usage(stdout);
      return 0;
    } else if (a == "--config" && has_value) {
      config_name = args[++i];
    } else if (a == "--dtype" && has_value) {
      dtype = args[++i];
    } else if (a == "--batch" && has_value) {
      if (!parse_dim(args[++i], &g.batch)) return print_gemm_usage(stderr), 2;
    } else if (a == "--set" && has_value) {
      overrides.push_back(args[++i]);
    } else if (a == "--sweep" && has_value && !sweep) {
      sweep = args[++i];
    } else if (a == "--values") {
      g.values = true;
    } else if (positional < 3 && parse_dim(a, &dims[positional])) {
      ++positional;
    } else {
      command_failed("gemm", "unexpected argument '" + a + "'");
      print_gemm_usage(stderr);
      return 2;
    }
  }
  if (positional != 3 || !parse_dtype(dtype, &g)) {
    print_gemm_usage(stderr);
    return 2;
  }
  g.m = dims[0], g.k = dims[1], g.n = dims[2];
  Result<DeviceConfig> loaded = load_device_config(config_name);
  if (!loaded.ok()) return gemm_failed(loaded.status());
  std::string shape = std::to_string(g.m) + "x" + std::to_string(g.k) + "x" + std::to_string(g.n) +
                      (g.batch > 1 ? " x" + std::to_string(g.batch) : "");

  if (sweep) {
    Result<std::vector<std::string>> points = expand_config_sweep(*sweep);
    if (!points.ok()) return gemm_failed(points.status());
    std::printf("gemm %s %s on %s, sweeping %s\n", shape.c_str(), dtype.c_str(), loaded->name().c_str(),
                sweep->substr(0, sweep->find('=')).c_str());
    std::printf("  %-24s %14s %12s %10s %7s %8s\n", "value", "cycles", "time us", "TFLOP/s", "util", "bound");
    for (const std::string& point : *points) {
      DeviceConfig config = *loaded;
      std::vector<std::string> all = overrides;
      all.push_back(point);
      if (Status s = apply_config_overrides(config, all); !s.ok()) return gemm_failed(s);
      Result<GemmResult> r = simulate_gemm(config, g);
      if (!r.ok()) return gemm_failed(r.status());
      std::printf("  %-24s %14.0f %12.3f %10.2f %6.1f%% %8s\n", point.substr(point.find('=') + 1).c_str(), r->cycles,
                  r->ns / 1e3, r->flops / r->ns / 1e3, 100.0 * r->compute_ns / r->ns, verdict(*r));
    }
    return 0;
  }

  DeviceConfig config = *loaded;
  if (Status s = apply_config_overrides(config, overrides); !s.ok()) return gemm_failed(s);
  Result<GemmResult> r = simulate_gemm(config, g);
  if (!r.ok()) return gemm_failed(r.status());
  const double peak = peak_matrix_flops(config, g.type, g.type, g.tf32);
  std::printf("gemm %s %s on %s: %u MME%s, %ux%u, %s\n", shape.c_str(), dtype.c_str(), config.name().c_str(),
              config.mme().count(), config.mme().count() == 1 ? "" : "s", config.mme().array_rows(),
              config.mme().array_cols(), proto::Dataflow_Name(config.mme().dataflow()).c_str());
  for (const std::string& o : overrides) std::printf("  with         %s\n", o.c_str());
  std::printf("  cycles       %.0f at %.0f MHz\n", r->cycles, config.mme().clock_mhz());
  std::printf("  time         %.3f us\n", r->ns / 1e3);
  std::printf("  throughput   %.2f TFLOP/s, %.1f%% of the %.0f TFLOP/s %s peak\n", r->flops / r->ns / 1e3,
              100.0 * r->compute_ns / r->ns, peak / 1e12, dtype.c_str());
  std::printf("  bounds       compute %.3f us, HBM %.3f us (%.1f MB of operand traffic)\n", r->compute_ns / 1e3,
              r->memory_ns / 1e3, r->traffic_bytes / 1e6);
  std::printf("  verdict      %s-bound\n", verdict(*r));
  return 0;
}

}  // namespace kiln::tools
