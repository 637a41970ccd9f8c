#include "kiln/kernels/kernel_plugin.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstring>

namespace kiln::kernels {
namespace {

using EntryFn = int (*)(uint32_t, KernelRegistry*, char*, size_t);
constexpr const char* kEntryName = "kiln_kernel_plugin_register";

void copy_message(const std::string& m, char* error, size_t error_size) {
  if (error == nullptr || error_size == 0) return;
  const size_t n = std::min(m.size(), error_size - 1);
  std::memcpy(error, m.data(), n);
  error[n] = '\0';
}

}  // namespace

int plugin_register_into(uint32_t api_version, KernelRegistry* target, char* error, size_t error_size) {
  if (api_version != kKernelPluginApiVersion) {
    copy_message("kernel plugin API version " + std::to_string(kKernelPluginApiVersion) +
                     " does not match the host's " + std::to_string(api_version),
                 error, error_size);
    return 1;
  }
  if (target == nullptr) {
    copy_message("no target registry", error, error_size);
    return 1;
  }
  Status s = global_registration_status();
  if (s.ok()) s = target->add_all_from(global_kernel_registry());
  if (!s.ok()) {
    copy_message(s.to_string(), error, error_size);
    return 1;
  }
  return 0;
}

Result<std::vector<std::string>> load_kernel_plugin(const std::string& path, KernelRegistry& registry) {
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    return not_found("cannot load kernel plugin " + path + ": " + (why ? why : "unknown error"));
  }
  auto entry = reinterpret_cast<EntryFn>(dlsym(handle, kEntryName));
  if (entry == nullptr) {
    dlclose(handle);
    return invalid_argument("kernel plugin " + path + " has no " + kEntryName +
                            " entry point (add KILN_KERNEL_PLUGIN() to one of its sources)");
  }
  const std::vector<std::string> before = registry.names();
  char message[512] = {0};
  if (entry(kKernelPluginApiVersion, &registry, message, sizeof message) != 0) {
    // Kernels added before the error stay registered, so the library stays loaded.
    return invalid_argument("kernel plugin " + path + ": " + message);
  }
  std::vector<std::string> after = registry.names();
  std::vector<std::string> added;
  std::set_difference(after.begin(), after.end(), before.begin(), before.end(), std::back_inserter(added));
  return added;  // the handle is deliberately never closed
}

}  // namespace kiln::kernels
