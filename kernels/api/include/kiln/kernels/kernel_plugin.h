// Kernel plugins: shared libraries of kernels loaded at run time, with no
// rebuild of Kiln.
//
// In the plugin: register kernels with KILN_REGISTER_KERNEL and write
// KILN_KERNEL_PLUGIN() once in one .cpp. That defines the C entry point
// `kiln_kernel_plugin_register`, which hands every kernel the library
// registered to the host's registry. The entry point is needed because a
// plugin linked against the static kiln_kernel_api has its own copy of
// global_kernel_registry(); the entry point works whether or not that copy is
// shared with the host.
//
// In the host: load_kernel_plugin(path, registry). The library is never
// unloaded (the registry keeps pointers to its functions). Host and plugin must
// be built from the same Kiln headers; the entry point checks
// kKernelPluginApiVersion.
//
// Thread-safety: load_kernel_plugin may run concurrently with registry lookups.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kiln/common/status.h"
#include "kiln/kernels/kernel_registry.h"
#include "kiln/kernels/kernel_test.h"

namespace kiln::kernels {

// 2: KernelDef::cost_depends_on_data.
inline constexpr uint32_t kKernelPluginApiVersion = 2;

// Loads the shared library at `path` and adds its kernels to `registry`.
// Returns the names of the kernels it added, sorted (loading the same plugin
// again adds none and is not an error). Errors: kNotFound (the file does not
// load), kInvalidArgument (no entry point, API version mismatch, or the
// registry refused a kernel, e.g. a name taken by another kernel; the message
// says which).
Result<std::vector<std::string>> load_kernel_plugin(const std::string& path, KernelRegistry& registry);

// Implementation of the plugin entry point (runs inside the plugin): returns 0
// and adds this library's kernels to *target, or returns nonzero and writes a
// NUL-terminated message into error[0..error_size).
int plugin_register_into(uint32_t api_version, KernelRegistry* target, char* error,
                         size_t error_size);

}  // namespace kiln::kernels

#define KILN_KERNEL_PLUGIN()                                                              \
  extern "C" __attribute__((visibility("default"))) int kiln_kernel_plugin_register(      \
      uint32_t api_version, ::kiln::kernels::KernelRegistry* target, char* error,         \
      size_t error_size) {                                                                \
    return ::kiln::kernels::plugin_register_into(api_version, target, error, error_size); \
  }                                                                                       \
  extern "C" __attribute__((visibility("default")))                                       \
  const std::vector<::kiln::kernels::KernelTestDef>* kiln_kernel_plugin_tests(            \
      uint32_t api_version) {                                                             \
    return api_version == ::kiln::kernels::kKernelPluginApiVersion                        \
               ? &::kiln::kernels::global_kernel_tests()                                  \
               : nullptr;                                                                 \
  }
