// Kernel tests a developer ships next to a kernel: how to build a launch for
// a problem shape, and a host reference for what the outputs must hold.
// `kiln kernel run --lib X.so --kernel NAME --shape ...` (and the GoogleTest
// helper) use them to run the kernel on the simulated TPC and check it.
//
//   Status make_case(std::span<const int64_t> shape, KernelTestCase& c) {
//     c.add_input(DType::kF32, {shape[0], shape[1]});  // x
//     c.add_input(DType::kF32, {shape[0]});            // bias
//     c.add_output(DType::kF32, {shape[0], shape[1]}); // out
//     return {};
//   }
//   void reference(KernelTestCase& c) { ... c.tensors[2].values[i] = ...; }
//   KILN_REGISTER_KERNEL_TEST("bias_gelu", make_case, reference, /*rtol=*/1e-5, /*atol=*/1e-6);
//
// Tensor values are fp32 on the host (bf16/f16 tensors hold values their
// dtype can represent, i32/i64 whole numbers, bool 0 or 1); the runner
// converts them to the tensor's dtype on the device (so an i64 value is exact
// only up to 2^24).
// Thread-safety: registration happens at load time; definitions are immutable.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <vector>

#include "kiln/common/status.h"
#include "kiln/kernels/kernel_args.h"
#include "kiln/kernels/tensor.h"

namespace kiln::kernels {

struct HostTensor {
  DType dtype = DType::kF32;
  std::vector<int64_t> dims;  // innermost first, as in TensorDesc
  bool is_output = false;
  std::vector<float> values;  // dense, dims[0] fastest

  int64_t num_elements() const;
};

struct KernelTestCase {
  DType dtype = DType::kF32;        // element type the runner asks for (--dtype); make_case may ignore it
  std::vector<HostTensor> tensors;  // in kernel argument order
  KernelArgs scalars;               // ints and floats; its tensors are ignored

  HostTensor& add_input(DType type, std::initializer_list<int64_t> dims);
  HostTensor& add_output(DType type, std::initializer_list<int64_t> dims);
};

struct KernelTestDef {
  std::string kernel;
  // Builds the tensors (shapes, dtypes, roles) and scalars for `shape`.
  Status (*make_case)(std::span<const int64_t> shape, KernelTestCase& c) = nullptr;
  // Fills the values of the output tensors from the inputs.
  void (*reference)(KernelTestCase& c) = nullptr;
  double rtol = 1e-5;  // |got - want| <= atol + rtol * |want| for every element
  double atol = 1e-6;
};

// The tests registered in this binary (or shared library) so far.
std::vector<KernelTestDef>& global_kernel_tests();
bool register_kernel_test_at_startup(KernelTestDef def);

// Loads the kernel tests of a plugin library (its kernels are loaded with
// load_kernel_plugin). Errors name the path.
Result<std::vector<KernelTestDef>> load_kernel_plugin_tests(const std::string& path);

}  // namespace kiln::kernels

#define KILN_REGISTER_KERNEL_TEST(kernel, make_case, reference, rtol, atol)                    \
  [[maybe_unused]] static const bool KILN_CONCAT(kiln_kernel_test_registered_, __LINE__) =    \
      ::kiln::kernels::register_kernel_test_at_startup(                                       \
          ::kiln::kernels::KernelTestDef{(kernel), (make_case), (reference), (rtol), (atol)})
