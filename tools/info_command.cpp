// `kiln info`: prints a device description in units people quote (GB, TB/s,
// TFLOP/s), with the figures derived from the config (peak FLOP/s, both-ways
// host bandwidth) next to the ones stored in it.
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "commands.h"
#include "kiln/common/config_overrides.h"
#include "kiln/common/device_config.h"

namespace kiln::tools {
namespace {

constexpr const char* kDefaultConfig = "gaudi2";

void print_info_usage(std::FILE* out) {
  std::fprintf(out,
               "usage: kiln info [--config NAME|PATH] [--set PATH=VALUE]...\n"
               "  NAME is looked up as NAME.textproto in $KILN_CONFIG_PATH, then the\n"
               "  installed and source configs/ directories (default: %s).\n"
               "  --set changes one field first (e.g. mme.array_rows=512): the derived figures follow.\n",
               kDefaultConfig);
}

std::string format(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

// Capacity in the JEDEC convention vendors print (GB = GiB, MB = MiB), so that
// 98304 MiB reads "96 GB" as on the datasheet.
std::string format_capacity(uint64_t mib) {
  if (mib >= 1024) return format("%.4g GB", double(mib) / 1024.0);
  return std::to_string(mib) + " MB";
}

// Decimal bandwidth: "2.46 TB/s" from 1000 GB/s up, "64 GB/s" below.
std::string format_bandwidth(double gb_per_s) {
  if (gb_per_s >= 1000) return format("%.2f TB/s", gb_per_s / 1000.0);
  return format("%g GB/s", gb_per_s);
}

// "432 TFLOP/s", "28.7 TFLOP/s"; tiny devices in GFLOP/s rather than "0.5 TFLOP/s".
std::string format_flops(double flops) {
  const double tera = flops / 1e12;
  if (tera >= 100) return format("%.0f TFLOP/s", tera);
  if (tera >= 1) return format("%.1f TFLOP/s", tera);
  return format("%.0f GFLOP/s", flops / 1e9);
}

// "1 matrix engine", "2 matrix engines".
std::string count(uint64_t n, const char* noun) {
  return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
}

std::string format_ns(double ns) { return format("%g ns", ns); }
std::string format_mhz(double mhz) { return format("%g MHz", mhz); }

void print_memory(const char* label, const proto::MemoryConfig& m) {
  std::printf("%-10s%s, %s, latency %s\n", label, format_capacity(m.capacity_mib()).c_str(),
              format_bandwidth(m.bandwidth_gb_per_s()).c_str(), format_ns(m.latency_ns()).c_str());
}

void print_config(const DeviceConfig& c, const std::string& path) {
  const auto& cp = c.command_processor();
  const auto& sm = c.sync_manager();
  const auto& mme = c.mme();
  const auto& tpc = c.tpc();
  const auto& link = c.host_link();

  std::printf("%s: %s\n", c.name().c_str(), c.description().c_str());
  std::printf("%-10s%s\n\n", "config", path.c_str());

  std::printf("%-10s%s core (command processors, sync manager, DMA control)\n", "clocks",
              format_mhz(c.clocks().core_mhz()).c_str());
  std::printf("%-10s%s, one command processor each; %u cycles/packet, submit latency %s,\n"
              "%-10s%s per queue, watchdog %g us\n",
              "commands", count(cp.queues(), "queue").c_str(), cp.packet_cycles(),
              format_ns(cp.submit_latency_ns()).c_str(), "", count(cp.fence_counters(), "fence counter").c_str(),
              cp.watchdog_us());
  std::printf("%-10s%s, %s, message latency %s\n", "sync", count(sm.sync_objects(), "sync object").c_str(),
              count(sm.monitors(), "monitor").c_str(), format_ns(sm.message_latency_ns()).c_str());
  std::printf("%-10s%s, setup latency %s\n", "DMA", count(c.dma().engines(), "engine").c_str(),
              format_ns(c.dma().setup_latency_ns()).c_str());
  std::printf("%-10s%u KiB pages, %s\n", "MMU", c.mmu().page_size_kib(),
              count(c.mmu().contexts(), "context").c_str());
  std::printf("%-10s%s, %ux%u array at %s, %s, weights fill %u row%s/cycle\n", "MME",
              count(mme.count(), "matrix engine").c_str(), mme.array_rows(), mme.array_cols(),
              format_mhz(mme.clock_mhz()).c_str(), proto::Dataflow_Name(mme.dataflow()).c_str(),
              mme.fill_rows_per_cycle(), mme.fill_rows_per_cycle() == 1 ? "" : "s");
  std::printf("%-10sMACs per cell per cycle: bf16 1, fp16 %g, tf32 %g, fp32 %g\n", "",
              mme.fp16_macs_per_cell_per_cycle(), mme.tf32_macs_per_cell_per_cycle(),
              mme.fp32_macs_per_cell_per_cycle());
  std::printf("%-10s%s, %u-byte vectors (%u bf16 lanes) at %s, %u KiB local memory each\n",
              "TPC", count(tpc.count(), "vector core").c_str(), tpc.vector_width_bytes(), tpc.vector_width_bytes() / 2,
              format_mhz(tpc.clock_mhz()).c_str(), tpc.local_memory_kib());
  print_memory("HBM", c.hbm());
  print_memory("SRAM", c.sram());
  std::printf("%-10s%s, %s per direction (%s both ways), latency %s\n", "host link", link.kind().c_str(),
              format_bandwidth(link.bandwidth_gb_per_s()).c_str(),
              format_bandwidth(2 * link.bandwidth_gb_per_s()).c_str(), format_ns(link.latency_ns()).c_str());
  std::printf("\n%-10smatrix %s (MME), vector %s (TPC)\n", "peak bf16",
              format_flops(peak_matrix_flops(c)).c_str(), format_flops(peak_vector_flops(c)).c_str());
  std::printf("%-10smatrix fp16 %s, tf32 %s, fp32 %s (MME)\n", "peak",
              format_flops(peak_matrix_flops(c, DType::kF16, DType::kF16)).c_str(),
              format_flops(peak_matrix_flops(c, DType::kF32, DType::kF32, /*tf32=*/true)).c_str(),
              format_flops(peak_matrix_flops(c, DType::kF32, DType::kF32)).c_str());
}

}  // namespace

int run_info(const Args& args) {
  std::string config = kDefaultConfig;
  std::vector<std::string> overrides;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (arg == "--help" || arg == "-h") {
      print_info_usage(stdout);
      return 0;
    }
    if (arg == "--config") {
      if (i + 1 >= args.size()) {
        command_failed("info", "--config needs a value");
        print_info_usage(stderr);
        return 2;
      }
      config = args[++i];
    } else if (arg == "--set" && i + 1 < args.size()) {
      overrides.push_back(args[++i]);
    } else if (arg.starts_with("--config=")) {
      config = std::string(arg.substr(std::string_view("--config=").size()));
    } else {
      command_failed("info", "unknown argument '" + args[i] + "'");
      print_info_usage(stderr);
      return 2;
    }
  }

  // Resolved once here so the summary can say which file it describes.
  const Result<std::string> path = resolve_device_config_path(config);
  if (!path.ok()) return command_failed("info", path.status().message());
  Result<DeviceConfig> loaded = load_device_config(*path);
  if (!loaded.ok()) return command_failed("info", loaded.status().message());
  if (Status s = apply_config_overrides(*loaded, overrides); !s.ok()) return command_failed("info", s.message());
  std::string source = *path;
  for (const std::string& o : overrides) source += " --set " + o;
  print_config(*loaded, source);
  return 0;
}

}  // namespace kiln::tools
