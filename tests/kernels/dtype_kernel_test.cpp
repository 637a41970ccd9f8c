// Hostile launches of the dtype kernels: a gather index outside its axis
// (i32 or i64, however large) faults the launch naming the index instead of
// reading whatever lies there, and every argument the new kernels can get
// wrong is refused before any slice runs, with a message naming it.
#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "kiln/kernels/kernel_api.h"
#include "kiln/kernels/library.h"
#include "builtin_registry.h"

namespace kiln::kernels {
namespace {

// gather over data {4, 50} along axis 1 with indices {3} holding `bad` at
// position 2; only the three tensors are mapped, so a wild read would be a
// memory fault, not the out-of-bounds fault the kernel must raise first.
void expect_index_fault(DType index_dtype, int64_t bad, int64_t axis) {
  std::vector<float> data(4 * 50, 1.0f);
  std::vector<uint8_t> idx(3 * dtype_size(index_dtype), 0);
  const int64_t values[3] = {1, -2, bad};
  for (size_t i = 0; i < 3; ++i) {
    if (index_dtype == DType::kI64) std::memcpy(idx.data() + 8 * i, &values[i], 8);
    else { const auto v = static_cast<int32_t>(values[i]); std::memcpy(idx.data() + 4 * i, &v, 4); }
  }
  std::vector<float> out(axis == 1 ? 4 * 3 : 3 * 50, 0.0f);
  HostMemoryPort port;
  port.add_region(data.data(), data.size() * 4, false);
  port.add_region(idx.data(), idx.size(), false);
  port.add_region(out.data(), out.size() * 4, true);
  KernelArgs args;
  args.add_tensor(TensorDesc::contiguous(reinterpret_cast<uint64_t>(data.data()), DType::kF32, {4, 50}));
  args.add_tensor(TensorDesc::contiguous(reinterpret_cast<uint64_t>(idx.data()), index_dtype, {3}));
  args.add_tensor(axis == 1 ? TensorDesc::contiguous(reinterpret_cast<uint64_t>(out.data()), DType::kF32, {4, 3})
                            : TensorDesc::contiguous(reinterpret_cast<uint64_t>(out.data()), DType::kF32, {3, 50}));
  args.add_int(axis);
  auto r = run_kernel_on_host(testing::builtin_registry(), "gather", args, port, 2);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_TRUE(r->fault.has_value()) << "index " << bad << " did not fault";
  EXPECT_EQ(r->fault->cause, KernelFaultCause::kOutOfBounds) << r->fault->describe();
  const int64_t n = axis == 1 ? 50 : 4;
  const std::string want = "gather indices{2} = " + std::to_string(bad) + " is outside -" + std::to_string(n) + ".." +
                           std::to_string(n - 1);
  EXPECT_NE(r->fault->detail.find(want), std::string::npos) << r->fault->detail;
  EXPECT_EQ(r->fault->address, reinterpret_cast<uint64_t>(idx.data()) + 2 * dtype_size(index_dtype));
}

TEST(GatherIndices, OutOfRangeFaultsNamingTheIndex) {
  for (DType d : {DType::kI32, DType::kI64}) {
    for (int64_t axis : {0, 1}) {
      const int64_t n = axis == 1 ? 50 : 4;
      expect_index_fault(d, n, axis);
      expect_index_fault(d, -n - 1, axis);
      expect_index_fault(d, d == DType::kI64 ? std::numeric_limits<int64_t>::min() : std::numeric_limits<int32_t>::min(),
                         axis);
      expect_index_fault(d, d == DType::kI64 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int32_t>::max(),
                         axis);
    }
  }
  expect_index_fault(DType::kI64, int64_t{1} << 40, 1);  // would be 0 if read as i32
}

TEST(DTypeKernels, BadArgumentsAreNamed) {
  struct T {
    DType dtype;
    std::vector<int64_t> dims;
  };
  struct Bad {
    std::string kernel;
    std::vector<T> tensors;
    std::vector<int64_t> ints;
    std::string needle;
  };
  const DType f = DType::kF32, b = DType::kBool, i32 = DType::kI32, i64 = DType::kI64, h = DType::kF16;
  const std::vector<Bad> bad = {
      {"eq", {{f, {5}}, {f, {5}}, {f, {5}}}, {}, "out has dtype f32; expected bool"},
      {"lt", {{f, {5}}, {h, {5}}, {b, {5}}}, {}, "b has dtype f16 but a has f32"},
      {"ge", {{i64, {5}}, {i64, {4}}, {b, {5}}}, {}, "b dims {4} do not broadcast to out dims {5}"},
      {"logical_and", {{b, {5}}, {i32, {5}}, {b, {5}}}, {}, "b has dtype i32; expected bool"},
      {"logical_not", {{b, {5}}, {b, {6}}}, {}, "in has dims {5} but out has {6}"},
      {"where", {{i32, {5}}, {f, {5}}, {f, {5}}, {f, {5}}}, {}, "cond has dtype i32; expected bool or out's dtype f32"},
      {"where", {{b, {5}}, {f, {5}}, {h, {5}}, {f, {5}}}, {}, "b has dtype f16 but out has f32"},
      {"cast", {{f, {5}}, {i64, {6}}}, {}, "in has dims {5} but out has {6}"},
      {"add", {{b, {5}}, {b, {5}}, {b, {5}}}, {}, "out has dtype bool; expected f32, bf16, f16, i32 or i64"},
      {"sin", {{i32, {5}}, {i32, {5}}}, {}, "out has dtype i32; expected f32, bf16 or f16"},
      {"exp", {{i64, {5}}, {i64, {5}}}, {}, "out has dtype i64; expected f32, bf16 or f16"},
      {"neg", {{b, {5}}, {b, {5}}}, {}, "expected f32, bf16, f16, i32 or i64"},
      {"gather", {{f, {5, 3}}, {f, {2}}, {f, {2, 3}}}, {0}, "indices has dtype f32; expected i32 or i64"},
      {"add_layer_norm", {{f, {5, 3}}, {f, {5, 3}}, {f, {5, 3}}}, {}, "got 3"},
      {"add_layer_norm", {{f, {5, 3}}, {f, {5, 3}}, {f, {5}}, {f, {5, 3}}, {f, {5, 3}}}, {}, "got 5"},
      {"add_layer_norm", {{f, {5, 3}}, {f, {4, 3}}, {f, {5, 3}}, {f, {5, 3}}}, {}, "residual dims {4, 3} do not broadcast"},
      {"add_rms_norm", {{f, {5, 3}}, {f, {5, 3}}, {f, {5, 3}}, {f, {5, 2}}}, {}, "sum has dims {5, 2} but x has {5, 3}"},
      {"add_rms_norm", {{f, {5, 3}}, {f, {5, 3}}, {f, {5, 3}}, {h, {5, 3}}}, {}, "sum has dtype f16 but x has f32"},
      {"add_rms_norm", {{f, {5, 3}}, {f, {5, 3}}, {f, {3}}, {f, {5, 3}}, {f, {5, 3}}}, {}, "gamma has dims {3}"},
      {"add_rms_norm", {{f, {5, 3}}, {f, {5, 3}}, {f, {5, 3}}, {f, {5, 3}}}, {3}, "ints[0] = 3 normalised dims"},
      {"add_layer_norm", {{i32, {5}}, {i32, {5}}, {i32, {5}}, {i32, {5}}}, {}, "x has dtype i32; expected f32"},
  };
  for (const Bad& c : bad) {
    KernelArgs args;
    for (const T& t : c.tensors) {
      args.add_tensor(TensorDesc::contiguous(0x1000, t.dtype, std::span<const int64_t>(t.dims.data(), t.dims.size())));
    }
    for (int64_t v : c.ints) args.add_int(v);
    const KernelDef* def = testing::builtin_registry().find(c.kernel);
    ASSERT_NE(def, nullptr) << c.kernel;
    const Status st = validate_kernel_launch(*def, args);
    EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument) << c.kernel << ": " << st.to_string();
    EXPECT_NE(st.message().find(c.needle), std::string::npos) << c.kernel << ": " << st.to_string();
  }
}

}  // namespace
}  // namespace kiln::kernels
