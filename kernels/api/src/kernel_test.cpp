#include "kiln/kernels/kernel_test.h"

#include <dlfcn.h>

#include "kiln/kernels/kernel_plugin.h"

namespace kiln::kernels {

namespace {
HostTensor make_tensor(DType dtype, std::initializer_list<int64_t> dims, bool output) {
  HostTensor t;
  t.dtype = dtype;
  t.dims.assign(dims.begin(), dims.end());
  t.is_output = output;
  t.values.assign(static_cast<std::size_t>(t.num_elements()), 0.0f);
  return t;
}
}  // namespace

int64_t HostTensor::num_elements() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

HostTensor& KernelTestCase::add_input(DType type, std::initializer_list<int64_t> dims) {
  tensors.push_back(make_tensor(type, dims, false));
  return tensors.back();
}

HostTensor& KernelTestCase::add_output(DType type, std::initializer_list<int64_t> dims) {
  tensors.push_back(make_tensor(type, dims, true));
  return tensors.back();
}

std::vector<KernelTestDef>& global_kernel_tests() {
  static std::vector<KernelTestDef> tests;
  return tests;
}

bool register_kernel_test_at_startup(KernelTestDef def) {
  global_kernel_tests().push_back(std::move(def));
  return true;
}

Result<std::vector<KernelTestDef>> load_kernel_plugin_tests(const std::string& path) {
  // The library stays loaded: the definitions point at its functions.
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) return not_found("cannot load kernel plugin '" + path + "': " + dlerror());
  using Entry = const std::vector<KernelTestDef>* (*)(uint32_t);
  auto entry = reinterpret_cast<Entry>(dlsym(handle, "kiln_kernel_plugin_tests"));
  if (!entry) {
    return invalid_argument("kernel plugin '" + path + "' has no kernel tests (no KILN_KERNEL_PLUGIN() entry point)");
  }
  const auto* tests = entry(kKernelPluginApiVersion);
  if (!tests) return invalid_argument("kernel plugin '" + path + "' was built against another kernel API version");
  return *tests;
}

}  // namespace kiln::kernels
