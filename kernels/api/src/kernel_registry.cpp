#include "kiln/kernels/kernel_registry.h"

#include <cstdio>
#include <mutex>

namespace kiln::kernels {
namespace {

bool valid_name(std::string_view name) {
  if (name.empty()) return false;
  for (char ch : name) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                    ch == '_' || ch == '.';
    if (!ok) return false;
  }
  return true;
}

std::string hex_id(uint64_t id) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%016llx", static_cast<unsigned long long>(id));
  return buf;
}

bool same_kernel(const KernelDef& a, const KernelDef& b) {
  return a.name == b.name && a.run == b.run && a.index_space == b.index_space && a.validate == b.validate;
}

struct StartupErrors {
  std::mutex mu;
  std::vector<Status> errors;
};

StartupErrors& startup_errors() {
  static StartupErrors* errors = new StartupErrors();  // never destroyed: used from static init
  return *errors;
}

}  // namespace

Status KernelRegistry::add(KernelDef def) {
  if (!valid_name(def.name)) {
    return invalid_argument("kernel name \"" + def.name + "\" must be non-empty and use only [A-Za-z0-9_.]");
  }
  if (def.run == nullptr || def.index_space == nullptr) {
    return invalid_argument("kernel \"" + def.name + "\" needs a run and an index_space function");
  }
  def.id = kernel_id(def.name);
  std::unique_lock lock(mu_);
  if (auto it = by_name_.find(def.name); it != by_name_.end()) {
    if (same_kernel(*it->second, def)) return Status::ok_status();
    return failed_precondition("kernel \"" + def.name + "\" is already registered");
  }
  if (auto it = by_id_.find(def.id); it != by_id_.end()) {
    return failed_precondition("kernel \"" + def.name + "\" has id " + hex_id(def.id) +
                               ", already registered for kernel \"" + it->second->name + "\"");
  }
  auto owned = std::make_unique<KernelDef>(std::move(def));
  const KernelDef* ptr = owned.get();
  by_id_.emplace(ptr->id, ptr);
  by_name_.emplace(ptr->name, std::move(owned));
  return Status::ok_status();
}

Status KernelRegistry::add_all_from(const KernelRegistry& other) {
  if (&other == this) return Status::ok_status();
  std::vector<KernelDef> defs;
  {
    std::shared_lock lock(other.mu_);
    for (const auto& [name, def] : other.by_name_) defs.push_back(*def);
  }
  for (KernelDef& def : defs) KILN_RETURN_IF_ERROR(add(std::move(def)));
  return Status::ok_status();
}

const KernelDef* KernelRegistry::find(std::string_view name) const {
  std::shared_lock lock(mu_);
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second.get();
}

const KernelDef* KernelRegistry::find(uint64_t id) const {
  std::shared_lock lock(mu_);
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : it->second;
}

Result<const KernelDef*> KernelRegistry::lookup(std::string_view name) const {
  if (const KernelDef* def = find(name)) return def;
  return not_found("no kernel named \"" + std::string(name) + "\" is registered");
}

Result<const KernelDef*> KernelRegistry::lookup(uint64_t id) const {
  if (const KernelDef* def = find(id)) return def;
  return not_found("no kernel with id " + hex_id(id) + " is registered");
}

std::vector<std::string> KernelRegistry::names() const {
  std::shared_lock lock(mu_);
  std::vector<std::string> out;
  out.reserve(by_name_.size());
  for (const auto& entry : by_name_) out.push_back(entry.first);
  return out;
}

size_t KernelRegistry::size() const {
  std::shared_lock lock(mu_);
  return by_name_.size();
}

KernelRegistry& global_kernel_registry() {
  static KernelRegistry* registry = new KernelRegistry();  // never destroyed: used from static init
  return *registry;
}

bool register_kernel_at_startup(KernelDef def) {
  Status s = global_kernel_registry().add(std::move(def));
  if (!s.ok()) {
    StartupErrors& e = startup_errors();
    std::lock_guard lock(e.mu);
    e.errors.push_back(std::move(s));
  }
  return true;
}

Status global_registration_status() {
  StartupErrors& e = startup_errors();
  std::lock_guard lock(e.mu);
  if (e.errors.empty()) return Status::ok_status();
  Status first = e.errors.front();
  if (e.errors.size() == 1) return first.with_context("static kernel registration");
  return first.with_context("static kernel registration (and " + std::to_string(e.errors.size() - 1) +
                            " more errors)");
}

}  // namespace kiln::kernels
