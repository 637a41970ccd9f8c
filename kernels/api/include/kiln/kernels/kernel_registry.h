// KernelRegistry: kernels by name and by a stable 64-bit id.
//
// A kernel is a plain function run once per slice, plus two functions of its
// arguments: the index space it runs over and a validation that names what is
// wrong with a launch (called once per launch, before any slice runs, so
// kernels themselves need not re-check). The id is FNV-1a-64 of the name: the
// same in every process and build, so command buffers can carry it.
//
// Two ways in:
//  - explicitly: registry.add(def) -- the built-in library does this in
//    register_builtin_kernels(), because self-registering objects in a static
//    library are dropped by the linker when nothing references them;
//  - from a static initializer: KILN_REGISTER_KERNEL(...) at namespace scope
//    adds to global_kernel_registry() when the enclosing shared library (or
//    executable) is loaded. Errors there (a duplicate) cannot be returned, so
//    they are kept and reported by global_registration_status().
//
// Thread-safety: add/lookup/names may be called from any threads at once
// (reader-writer lock). A KernelDef pointer stays valid for the registry's
// lifetime; kernels are never removed.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "kiln/common/status.h"
#include "kiln/kernels/index_space.h"
#include "kiln/kernels/kernel_args.h"
#include "kiln/kernels/kernel_context.h"

namespace kiln::kernels {

using KernelFn = void (*)(KernelContext& ctx);
using IndexSpaceFn = IndexSpace (*)(const KernelArgs& args);
using ValidateFn = Status (*)(const KernelArgs& args);

struct KernelDef {
  std::string name;            // unique; [A-Za-z0-9_.]+
  KernelFn run = nullptr;
  IndexSpaceFn index_space = nullptr;
  ValidateFn validate = nullptr;  // may be null: every argument list is accepted
  std::string signature;       // for humans: "add(a: T, b: T, out: T), T in {f32, bf16}"
  uint64_t id = 0;             // set by KernelRegistry::add
  // True when the instructions it issues or the bytes it moves depend on the
  // values of its tensors (not only their shapes): timing-only runs then
  // execute every launch instead of reusing a known cost.
  bool cost_depends_on_data = false;
};

// FNV-1a, 64 bit.
constexpr uint64_t kernel_id(std::string_view name) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (char ch : name) {
    h ^= static_cast<uint8_t>(ch);
    h *= 0x100000001b3ull;
  }
  return h;
}

class KernelRegistry {
 public:
  KernelRegistry() = default;
  KernelRegistry(const KernelRegistry&) = delete;
  KernelRegistry& operator=(const KernelRegistry&) = delete;

  // Fails with kInvalidArgument for an empty/ill-formed name or a null run or
  // index_space function, and kFailedPrecondition ("already registered") for a
  // name that is taken or whose id collides with another name's. Adding the
  // very same definition again (same name and functions) is a no-op.
  Status add(KernelDef def);
  // Adds every kernel of `other` (same rules; stops at the first error).
  Status add_all_from(const KernelRegistry& other);

  // nullptr when absent.
  const KernelDef* find(std::string_view name) const;
  const KernelDef* find(uint64_t id) const;
  // kNotFound naming the kernel when absent.
  Result<const KernelDef*> lookup(std::string_view name) const;
  Result<const KernelDef*> lookup(uint64_t id) const;

  std::vector<std::string> names() const;  // sorted
  size_t size() const;

 private:
  mutable std::shared_mutex mu_;
  std::map<std::string, std::unique_ptr<KernelDef>, std::less<>> by_name_;
  std::unordered_map<uint64_t, const KernelDef*> by_id_;
};

// The process-wide registry static initializers add to (one per copy of
// kiln_kernel_api: a plugin that links its own copy has its own; see
// kernel_plugin.h for how its kernels reach the host).
KernelRegistry& global_kernel_registry();
// OK, or the first error a KILN_REGISTER_KERNEL hit (with the count of others).
Status global_registration_status();
// Used by KILN_REGISTER_KERNEL; returns true so it can initialise a static.
bool register_kernel_at_startup(KernelDef def);

}  // namespace kiln::kernels

// At namespace scope in a .cpp of a shared library or executable:
//   KILN_REGISTER_KERNEL("bias_gelu", bias_gelu_run, bias_gelu_space, bias_gelu_validate,
//                        "bias_gelu(x: T, bias: T, out: T)");
#define KILN_REGISTER_KERNEL(name, run, index_space, validate, signature)                   \
  [[maybe_unused]] static const bool KILN_CONCAT(kiln_kernel_registered_, __LINE__) =       \
      ::kiln::kernels::register_kernel_at_startup(                                          \
          ::kiln::kernels::KernelDef{(name), (run), (index_space), (validate), (signature), 0})
