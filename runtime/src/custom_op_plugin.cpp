// Custom ops from shared libraries on the kernel search path
// (KILN_CUSTOM_OP_PLUGIN in kiln/runtime/custom_op.h).
#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <sstream>

#include "kiln/runtime/custom_op.h"

namespace kiln::runtime {

namespace {

using VersionFn = uint32_t (*)();
using RegisterFn = void (*)(CustomOpRegistrar*);
constexpr const char* kVersionEntry = "kiln_custom_op_plugin_api_version";
constexpr const char* kRegisterEntry = "kiln_custom_op_plugin_register";

// Adds to the process-wide registry, remembering what was added and the
// first refusal (a plugin may ignore add()'s result).
class HostRegistrar final : public CustomOpRegistrar {
 public:
  Status add(CustomOpDef def) override {
    const std::string name = def.schema.name;
    Status s = register_custom_op(std::move(def));
    if (s.ok()) added.push_back(name);
    else if (first_error.ok()) first_error = s;
    return s;
  }
  std::vector<std::string> added;
  Status first_error;
};

// Plugins loaded so far (by canonical path) and the ops each added: a
// library is loaded once per process, whatever runtimes open.
std::mutex loaded_mu;
std::map<std::string, std::vector<std::string>>& loaded() {
  static auto* m = new std::map<std::string, std::vector<std::string>>();
  return *m;
}

std::string canonical(const std::string& path) {
  std::error_code ec;
  const auto c = std::filesystem::weakly_canonical(path, ec);
  return ec ? path : c.string();
}

// Loads `path` if it has custom ops; `optional`: a library without the
// entry points is a kernel-only plugin and adds nothing.
Result<std::vector<std::string>> load(const std::string& path, bool optional) {
  const std::string key = canonical(path);
  std::lock_guard lock(loaded_mu);
  if (const auto it = loaded().find(key); it != loaded().end()) return it->second;
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    return not_found("cannot load custom-op plugin " + path + ": " + (why ? why : "unknown error"));
  }
  auto version = reinterpret_cast<VersionFn>(dlsym(handle, kVersionEntry));
  auto entry = reinterpret_cast<RegisterFn>(dlsym(handle, kRegisterEntry));
  if (version == nullptr || entry == nullptr) {
    dlclose(handle);
    if (optional) return std::vector<std::string>{};
    return invalid_argument("custom-op plugin " + path + " has no " + kVersionEntry + "/" + kRegisterEntry +
                            " entry points (add KILN_CUSTOM_OP_PLUGIN(...) to one of its sources)");
  }
  // Checked before anything else is called: a plugin of another version may
  // lay out CustomOpDef differently.
  const uint32_t theirs = version();
  if (theirs != kCustomOpPluginApiVersion) {
    dlclose(handle);
    return invalid_argument("custom-op plugin " + path + " was built for custom-op plugin API version " +
                            std::to_string(theirs) + "; this Kiln runtime has version " +
                            std::to_string(kCustomOpPluginApiVersion) + " (rebuild the plugin against it)");
  }
  HostRegistrar registrar;
  entry(&registrar);
  // The library stays loaded from here on: the registry holds its functions.
  loaded().emplace(key, registrar.added);
  if (!registrar.first_error.ok()) {
    return registrar.first_error.with_context("custom-op plugin " + path);
  }
  return registrar.added;
}

}  // namespace

Result<std::vector<std::string>> load_custom_op_plugin(const std::string& path) { return load(path, false); }

Result<std::vector<std::string>> load_custom_op_plugins(const std::vector<std::string>& given) {
  // The simulator's search path (sim/src/device.cpp), in its order.
  std::vector<std::string> paths = given;
  if (const char* env = std::getenv("KILN_KERNEL_PATH")) {
    std::stringstream list(env);
    for (std::string item; std::getline(list, item, ':');) {
      if (!item.empty()) paths.push_back(item);
    }
  }
  std::vector<std::string> added;
  for (const std::string& path : paths) {
    std::vector<std::string> libraries;
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      for (const auto& entry : std::filesystem::directory_iterator(path, ec)) {
        if (entry.path().extension() == ".so") libraries.push_back(entry.path().string());
      }
      std::sort(libraries.begin(), libraries.end());
    } else {
      libraries.push_back(path);
    }
    for (const std::string& lib : libraries) {
      KILN_ASSIGN_OR_RETURN(auto names, load(lib, true));
      added.insert(added.end(), names.begin(), names.end());
    }
  }
  return added;
}

}  // namespace kiln::runtime
