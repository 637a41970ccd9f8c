// `kiln kernel`: develop vector-core kernels without hardware.
//   kiln kernel list [--lib X.so]
//   kiln kernel run --lib X.so --kernel NAME --shape D0,D1,... [--config C] [--dtype f32|bf16]
//                   [--cores N] [--seed S]
// `run` loads the plugin into the simulated device, builds the case from the
// plugin's KILN_REGISTER_KERNEL_TEST, runs the kernel on the simulated TPC,
// compares with the plugin's reference and reports pass/fail, cycles, slot
// utilisation, bytes and whether compute or memory bounds it.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "commands.h"
#include "numbers.h"
#include "kiln/driver/kernel_check.h"
#include "kiln/kernels/kernel_plugin.h"
#include "kiln/kernels/library.h"

namespace kiln::tools {
namespace {

void print_kernel_usage(std::FILE* out) {
  std::fprintf(out,
               "usage: kiln kernel list [--lib X.so]\n"
               "       kiln kernel run --lib X.so --kernel NAME --shape D0,D1,... [--config NAME|PATH]\n"
               "                       [--dtype f32|bf16] [--cores N] [--seed S]\n"
               "  Shapes list dims innermost first (dim 0 is the vector dimension).\n"
               "  run exits 0 on PASS, 1 on FAIL or error.\n");
}

int kernel_failed(const Status& s) { return command_failed("kernel", s.to_string()); }

// 1 to 5 dims, each a positive whole number, separated by single commas.
bool parse_shape(const std::string& text, std::vector<int64_t>* out) {
  out->clear();
  std::size_t at = 0;
  while (true) {
    const std::size_t comma = text.find(',', at);
    uint64_t dim = 0;
    if (!parse_whole(text.substr(at, comma == std::string::npos ? std::string::npos : comma - at), 1, INT64_MAX, &dim)) {
      return false;
    }
    out->push_back(static_cast<int64_t>(dim));
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return out->size() <= 5;
}

}  // namespace

int run_kernel(const Args& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    print_kernel_usage(args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  const std::string verb = args[0];
  std::string lib, kernel, config = "gaudi2";
  std::vector<int64_t> shape;
  driver::KernelCheckOptions check;
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    const bool has = i + 1 < args.size();
    if (a == "--lib" && has) lib = args[++i];
    else if (a == "--kernel" && has) kernel = args[++i];
    else if (a == "--config" && has) config = args[++i];
    else if (a == "--shape" && has) {
      if (!parse_shape(args[++i], &shape)) {
        return command_failed("kernel", "--shape must be 1 to 5 positive whole numbers separated by commas, not '" + args[i] + "'", 2);
      }
    } else if (a == "--dtype" && has) {
      const std::string t = args[++i];
      if (t != "f32" && t != "bf16") return print_kernel_usage(stderr), 2;
      check.dtype = t == "bf16" ? DType::kBF16 : DType::kF32;
    } else if (a == "--cores" && has) {
      uint64_t n = 0;
      if (!parse_whole(args[++i], 0, UINT32_MAX, &n)) {
        return command_failed("kernel", "--cores must be a count (0: every core), not '" + args[i] + "'", 2);
      }
      check.cores = static_cast<uint32_t>(n);
    } else if (a == "--seed" && has) {
      uint64_t n = 0;
      if (!parse_whole(args[++i], 0, UINT32_MAX, &n)) {
        return command_failed("kernel", "--seed must be a non-negative integer, not '" + args[i] + "'", 2);
      }
      check.seed = static_cast<uint32_t>(n);
    } else {
      command_failed("kernel", "unexpected argument '" + a + "'");
      print_kernel_usage(stderr);
      return 2;
    }
  }

  kernels::KernelRegistry registry;
  if (Status s = kernels::register_builtin_kernels(registry); !s.ok()) return kernel_failed(s);
  std::vector<kernels::KernelTestDef> tests;
  if (!lib.empty()) {
    auto added = kernels::load_kernel_plugin(lib, registry);
    if (!added.ok()) return kernel_failed(added.status());
    auto loaded = kernels::load_kernel_plugin_tests(lib);
    if (!loaded.ok()) return kernel_failed(loaded.status());
    tests = std::move(loaded).value();
  }

  if (verb == "list") {
    for (const std::string& name : registry.names()) {
      bool tested = false;
      for (const auto& t : tests) tested |= t.kernel == name;
      auto def = registry.lookup(name);
      std::printf("%-14s %s%s\n", name.c_str(), def.ok() ? (*def)->signature.c_str() : "",
                  tested ? "   [has a test]" : "");
    }
    return 0;
  }
  if (verb != "run" || kernel.empty() || shape.empty()) {
    print_kernel_usage(stderr);
    return 2;
  }
  const kernels::KernelTestDef* test = nullptr;
  for (const auto& t : tests) {
    if (t.kernel == kernel) test = &t;
  }
  if (!test) {
    return kernel_failed(not_found("no kernel test for '" + kernel + "'" +
                          (lib.empty() ? " (tests come from plugins: pass --lib)"
                                       : " in '" + lib + "' (register one with KILN_REGISTER_KERNEL_TEST)")));
  }
  driver::DeviceOptions options;
  options.trace_host_calls = false;
  if (!lib.empty()) options.kernel_paths.push_back(lib);
  auto device = driver::Device::open(config, options);
  if (!device.ok()) return kernel_failed(device.status());
  check.host_registry = &registry;
  auto report = driver::check_kernel_on_device(**device, *test, shape, check);
  if (!report.ok()) return kernel_failed(report.status());
  std::printf("%s", report->summary().c_str());
  return report->passed ? 0 : 1;
}

}  // namespace kiln::tools
