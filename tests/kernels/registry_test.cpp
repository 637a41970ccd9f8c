// The kernel registry: lookup by name and by stable id, duplicate and invalid
// registrations, concurrent lookups, static registration with
// KILN_REGISTER_KERNEL, and kernels from a plugin shared library.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include "kiln/kernels/kernel_api.h"

namespace kiln::kernels {
namespace {

void noop_run(KernelContext&) {}
void other_run(KernelContext& ctx) { ctx.count(OpClass::kScalarAlu); }
IndexSpace one_point(const KernelArgs&) { return IndexSpace{}; }

KernelDef def(const std::string& name, KernelFn run = noop_run) {
  return KernelDef{name, run, one_point, nullptr, name + "()", 0};
}

}  // namespace
}  // namespace kiln::kernels

// At namespace scope, as a kernel author would.
KILN_REGISTER_KERNEL("test_static_kernel", kiln::kernels::noop_run, kiln::kernels::one_point, nullptr,
                     "test_static_kernel()");

namespace kiln::kernels {
namespace {

TEST(KernelRegistry, IdIsFnv1aOfTheName) {
  EXPECT_EQ(kernel_id(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(kernel_id("a"), 0xaf63dc4c8601ec8cull);
  static_assert(kernel_id("add") == kernel_id("add"));
  EXPECT_NE(kernel_id("add"), kernel_id("sub"));
}

TEST(KernelRegistry, LookupByNameAndById) {
  KernelRegistry r;
  ASSERT_TRUE(r.add(def("alpha")).ok());
  ASSERT_TRUE(r.add(def("beta")).ok());
  const KernelDef* a = r.find("alpha");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->id, kernel_id("alpha"));
  EXPECT_EQ(r.find(kernel_id("alpha")), a);
  EXPECT_EQ(r.lookup("beta").value()->name, "beta");
  EXPECT_EQ(r.lookup(kernel_id("beta")).value()->name, "beta");
  EXPECT_EQ(r.find("gamma"), nullptr);
  EXPECT_EQ(r.lookup("gamma").status().code(), ErrorCode::kNotFound);
  EXPECT_NE(r.lookup("gamma").status().message().find("gamma"), std::string::npos);
  EXPECT_EQ(r.lookup(uint64_t{42}).status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(r.names(), (std::vector<std::string>{"alpha", "beta"}));
  EXPECT_EQ(r.size(), 2u);
}

TEST(KernelRegistry, DuplicateRegistrationIsAnError) {
  KernelRegistry r;
  ASSERT_TRUE(r.add(def("alpha")).ok());
  const Status dup = r.add(def("alpha", other_run));
  EXPECT_EQ(dup.code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(dup.message().find("already registered"), std::string::npos);
  EXPECT_TRUE(r.add(def("alpha")).ok());  // the very same definition again: no-op
  EXPECT_EQ(r.size(), 1u);
  EXPECT_EQ(r.find("alpha")->run, &noop_run);
}

TEST(KernelRegistry, RejectsMalformedDefinitions) {
  KernelRegistry r;
  EXPECT_EQ(r.add(def("")).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.add(def("has space")).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.add(KernelDef{"no_run", nullptr, one_point, nullptr, "", 0}).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.add(KernelDef{"no_space", noop_run, nullptr, nullptr, "", 0}).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.size(), 0u);
}

TEST(KernelRegistry, ConcurrentLookupsWhileAdding) {
  KernelRegistry r;
  ASSERT_TRUE(r.add(def("k0")).ok());
  std::atomic<int> misses{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        if (r.find("k0") == nullptr || r.find(kernel_id("k0")) == nullptr) misses.fetch_add(1);
      }
    });
  }
  for (int i = 1; i < 200; ++i) {
    std::string name = "k";
    name += std::to_string(i);
    ASSERT_TRUE(r.add(def(name)).ok());
  }
  for (auto& th : readers) th.join();
  EXPECT_EQ(misses.load(), 0);
  EXPECT_EQ(r.size(), 200u);
}

TEST(KernelRegistry, StaticInitializerRegistration) {
  EXPECT_TRUE(global_registration_status().ok()) << global_registration_status().to_string();
  const KernelDef* k = global_kernel_registry().find("test_static_kernel");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->signature, "test_static_kernel()");
  // A second static registration of the same name with another kernel is kept
  // as an error, not thrown or crashed on.
  EXPECT_TRUE(register_kernel_at_startup(def("test_static_kernel", other_run)));
  EXPECT_EQ(global_registration_status().code(), ErrorCode::kFailedPrecondition);
}

TEST(KernelPlugin, LoadsKernelsFromASharedLibrary) {
  KernelRegistry r;
  auto names = load_kernel_plugin(KILN_TEST_KERNEL_PLUGIN, r);
  ASSERT_TRUE(names.ok()) << names.status().to_string();
  ASSERT_NE(std::find(names->begin(), names->end(), "test_plugin_scale"), names->end());
  ASSERT_NE(r.find(kernel_id("test_plugin_scale")), nullptr);

  std::vector<float> in(100), out(100);
  for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<float>(i);
  HostMemoryPort port;
  port.add_region(std::span<float>(in));
  port.add_region(std::span<float>(out));
  KernelArgs args;
  args.add_tensor(TensorDesc::contiguous(reinterpret_cast<uint64_t>(in.data()), DType::kF32, {100}));
  args.add_tensor(TensorDesc::contiguous(reinterpret_cast<uint64_t>(out.data()), DType::kF32, {100}));
  auto run = run_kernel_on_host(r, "test_plugin_scale", args, port, 2);
  ASSERT_TRUE(run.ok()) << run.status().to_string();
  EXPECT_EQ(out[99], 198.0f);
  EXPECT_EQ(run->total.count(OpClass::kVectorAlu), 2u);

  // Loading it again adds nothing and is not an error.
  auto again = load_kernel_plugin(KILN_TEST_KERNEL_PLUGIN, r);
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  EXPECT_TRUE(again->empty());
}

TEST(KernelPlugin, ReportsMissingFilesAndEntryPoints) {
  KernelRegistry r;
  EXPECT_EQ(load_kernel_plugin("/nonexistent/libnothing.so", r).status().code(), ErrorCode::kNotFound);
  const auto no_entry = load_kernel_plugin("libm.so.6", r);
  EXPECT_EQ(no_entry.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(no_entry.status().message().find("kiln_kernel_plugin_register"), std::string::npos);
}

}  // namespace
}  // namespace kiln::kernels
