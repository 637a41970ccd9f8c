// pad's launch validation with hostile pads: an argument block may hold any
// int64, and validation must reject what no tensor can be without computing
// an overflowing out.dims (found by fuzz/kernel_args_fuzz.cpp; the input is
// fuzz/corpus/kernel_args/found_pad_overflow).
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "kiln/kernels/host_runner.h"
#include "kiln/kernels/kernel_registry.h"
#include "kiln/kernels/library.h"

namespace kiln::kernels {
namespace {

const KernelDef& pad_kernel() {
  static const KernelRegistry* registry = [] {
    auto* r = new KernelRegistry();
    EXPECT_TRUE(register_builtin_kernels(*r).ok());
    return r;
  }();
  const KernelDef* def = registry->find("pad");
  EXPECT_NE(def, nullptr);
  return *def;
}

// pad of an f32 {8, 4} tensor into `out_dims` with ints {before0, before1, after0, after1}.
Status validate(std::initializer_list<int64_t> out_dims, std::initializer_list<int64_t> pads) {
  KernelArgs args;
  args.add_tensor(TensorDesc::contiguous(0x1000, DType::kF32, {8, 4}));
  args.add_tensor(TensorDesc::contiguous(0x100000, DType::kF32, out_dims));
  for (int64_t p : pads) args.add_int(p);
  return validate_kernel_launch(pad_kernel(), args);
}

TEST(Pad, PadsThatOverflowAreRejected) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  // What the fuzzer found: before + after past INT64_MAX (undefined behaviour
  // before the fix; UBSan aborts the sanitizer build).
  for (auto pads : {std::initializer_list<int64_t>{5497853135688826889, 0, 5497853135693827148, 0},
                    std::initializer_list<int64_t>{kMax, 0, 0, 0}, std::initializer_list<int64_t>{0, kMin, 0, kMin},
                    std::initializer_list<int64_t>{kMax, kMax, kMax, kMax}}) {
    const Status s = validate({8, 4}, pads);
    EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument) << s.to_string();
    EXPECT_NE(s.message().find("exceed 2^48"), std::string::npos) << s.to_string();
  }
  // Pads that cancel to a valid shape, but each beyond what a dim can have.
  const Status cancel = validate({8, 4}, {int64_t{1} << 62, 0, -(int64_t{1} << 62), 0});
  EXPECT_NE(cancel.message().find("exceed 2^48"), std::string::npos) << cancel.to_string();
}

TEST(Pad, PadsUpToTheCeilingAreChecked) {
  constexpr int64_t kLimit = kMaxTensorElements;
  // At the ceiling the sum is computed and compared with out's dims.
  const Status big = validate({8, 4}, {kLimit, 0, -kLimit, 0});
  EXPECT_TRUE(big.ok()) << big.to_string();  // pad 2^48 before, crop 2^48 after: all constant
  const Status crop = validate({8, 4}, {-kLimit, 0, 0, 0});
  EXPECT_EQ(crop.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(crop.message().find("crop more than"), std::string::npos) << crop.to_string();
  EXPECT_TRUE(validate({10, 7}, {1, 2, 1, 1}).ok());
}

}  // namespace
}  // namespace kiln::kernels
