// Kernel argument blocks (kiln/kernels/kernel_arg_block.h): the wire layout
// round-trips every field, and any bytes a device could read -- hostile,
// truncated, random -- decode to a checked KernelArgs or to an error naming
// the field, never to a crash or an unchecked value.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kiln/kernels/index_space.h"
#include "kiln/kernels/kernel_arg_block.h"

namespace kiln::kernels {
namespace {

constexpr uint64_t kBindingAddress = 0x8000'0003'0000'0040ull;  // bit 63: a slot + offset binding

KernelArgs sample() {
  KernelArgs a;
  a.add_tensor(TensorDesc::contiguous(0x1000, DType::kF32, {3, 4}))
      .add_tensor(TensorDesc::contiguous(kBindingAddress, DType::kBF16, {5}))
      .add_tensor(TensorDesc::contiguous(0x2000, DType::kI32, {7, 1, 2}).sliced_view(0, 6, 3, -2));
  a.add_int(-7).add_int(std::numeric_limits<int64_t>::max());
  a.add_float(1.5f).add_float(-0.0f).add_float(std::numeric_limits<float>::quiet_NaN());
  return a;
}

std::size_t tensor_at(int i) { return sizeof(KernelArgBlockHeader) + static_cast<std::size_t>(i) * sizeof(KernelArgTensor); }

template <typename T>
void poke(std::vector<uint8_t>& bytes, std::size_t at, T value) {
  std::memcpy(bytes.data() + at, &value, sizeof value);
}

std::string decode_error(const std::vector<uint8_t>& bytes) {
  const Result<KernelArgs> r = decode_kernel_args(bytes);
  EXPECT_FALSE(r.ok());
  return r.ok() ? std::string() : r.status().message();
}

TEST(KernelArgBlock, LayoutIsFixed) {
  EXPECT_EQ(kernel_arg_block_size(0, 0, 0), 16u);
  EXPECT_EQ(kernel_arg_block_size(3, 2, 3), 16u + 3 * 96 + 2 * 8 + 3 * 4 + 4);  // padded to 8
  const std::vector<uint8_t> block = encode_kernel_args(sample()).value();
  ASSERT_EQ(block.size(), kernel_arg_block_size(3, 2, 3));
  EXPECT_EQ(std::string(block.begin(), block.begin() + 4), "KARG");
  KernelArgBlockHeader h;
  std::memcpy(&h, block.data(), sizeof h);
  EXPECT_EQ(h.version, 1);
  EXPECT_EQ(h.header_bytes, 16);
  EXPECT_EQ(h.total_bytes, block.size());
  EXPECT_EQ(h.num_tensors, 3);
  EXPECT_EQ(h.num_ints, 2);
  EXPECT_EQ(h.num_floats, 3);
  uint64_t address = 0;
  std::memcpy(&address, block.data() + tensor_at(1), 8);
  EXPECT_EQ(address, kBindingAddress);
  int64_t first_int = 0;
  std::memcpy(&first_int, block.data() + tensor_at(3), 8);
  EXPECT_EQ(first_int, -7);
}

TEST(KernelArgBlock, CarriesEveryDtype) {
  KernelArgs in;
  for (DType d : {DType::kF32, DType::kBF16, DType::kI32, DType::kF16, DType::kI64, DType::kBool}) {
    in.add_tensor(TensorDesc::contiguous(0x1000, d, {3, 2}));
  }
  const Result<KernelArgs> out = decode_kernel_args(encode_kernel_args(in).value());
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  for (int i = 0; i < in.num_tensors; ++i) EXPECT_EQ(out->tensors[i].dtype, in.tensors[i].dtype) << i;
}

TEST(KernelArgBlock, RoundTripsEveryFieldAndCarriesAddressesUnchanged) {
  const KernelArgs in = sample();
  const KernelArgs out = decode_kernel_args(encode_kernel_args(in).value()).value();
  ASSERT_EQ(out.num_tensors, in.num_tensors);
  for (int i = 0; i < in.num_tensors; ++i) {
    const TensorDesc &a = in.tensors[i], &b = out.tensors[i];
    EXPECT_EQ(a.address, b.address) << i;
    EXPECT_EQ(a.dtype, b.dtype) << i;
    EXPECT_EQ(a.rank, b.rank) << i;
    EXPECT_EQ(a.dims, b.dims) << i;
    EXPECT_EQ(a.strides, b.strides) << i;
  }
  EXPECT_EQ(out.tensors[1].address, kBindingAddress);
  ASSERT_EQ(out.num_ints, 2);
  EXPECT_EQ(out.ints[0], -7);
  EXPECT_EQ(out.ints[1], std::numeric_limits<int64_t>::max());
  ASSERT_EQ(out.num_floats, 3);
  EXPECT_EQ(std::memcmp(out.floats.data(), in.floats.data(), 3 * sizeof(float)), 0);  // -0 and NaN bit for bit
  EXPECT_FALSE(out.overflowed);
}

TEST(KernelArgBlock, EncoderRefusesOverflowedArguments) {
  KernelArgs many;
  for (int i = 0; i <= kMaxTensorArgs; ++i) many.add_tensor(TensorDesc::contiguous(0x1000, DType::kF32, {1}));
  EXPECT_NE(encode_kernel_args(many).status().message().find("too many arguments"), std::string::npos);
  KernelArgs by_hand;
  by_hand.num_ints = kMaxIntArgs + 1;
  EXPECT_FALSE(encode_kernel_args(by_hand).ok());
  by_hand.num_ints = -1;
  EXPECT_FALSE(encode_kernel_args(by_hand).ok());
}

TEST(KernelArgBlock, EncoderRejectsWhatTheDeviceWouldInTheSameWords) {
  KernelArgs a;
  TensorDesc t = TensorDesc::contiguous(0x1000, DType::kF32, {4, 4});
  t.dims[1] = -5;
  a.add_tensor(t);
  EXPECT_EQ(encode_kernel_args(a).status().message(), "kernel argument block: tensor 0 dims[1] is -5");
  a.tensors[0].rank = 99;
  EXPECT_NE(encode_kernel_args(a).status().message().find("tensor 0 rank is 99"), std::string::npos);
}

struct Hostile {
  const char* name;
  std::function<void(std::vector<uint8_t>&)> mutate;
  const char* message;  // a substring of the error
};

TEST(KernelArgBlock, HostileBlocksAreRejectedNamingTheField) {
  const Hostile cases[] = {
      {"magic", [](auto& b) { b[0] = 'X'; }, "magic is 0x47524158, not 'KARG'"},
      {"version", [](auto& b) { poke<uint16_t>(b, 4, 2); }, "version is 2; this device reads version 1"},
      {"header size", [](auto& b) { poke<uint16_t>(b, 6, 24); }, "header_bytes is 24, not 16"},
      {"huge total", [](auto& b) { poke<uint32_t>(b, 8, 0xffffffffu); }, "total_bytes is 4294967295, but"},
      {"total off by 8", [](auto& b) { poke<uint32_t>(b, 8, static_cast<uint32_t>(b.size() - 8)); }, "total_bytes is"},
      {"tensors", [](auto& b) { b[12] = 9; }, "num_tensors is 9, more than 8"},
      {"ints", [](auto& b) { b[13] = 17; }, "num_ints is 17, more than 16"},
      {"floats", [](auto& b) { b[14] = 255; }, "num_floats is 255, more than 8"},
      {"header reserved", [](auto& b) { b[15] = 1; }, "reserved byte is not zero"},
      {"short", [](auto& b) { b.resize(10); }, "10 bytes, shorter than its 16-byte header"},
      {"truncated", [](auto& b) { b.resize(100); }, "but only 100 bytes were given"},
      {"dims", [](auto& b) { b[tensor_at(2) + 9] = 4; poke<int64_t>(b, tensor_at(2) + 16 + 3 * 8, -5); },
       "kernel argument block: tensor 2 dims[3] is -5"},
      {"dtype", [](auto& b) { b[tensor_at(1) + 8] = 0x7f; }, "tensor 1 dtype is 127, not a dtype"},
      {"dtype after bool", [](auto& b) { b[tensor_at(1) + 8] = 6; }, "tensor 1 dtype is 6, not a dtype"},
      {"rank", [](auto& b) { b[tensor_at(0) + 9] = 6; }, "tensor 0 rank is 6, outside 0..5"},
      {"tensor reserved", [](auto& b) { b[tensor_at(0) + 13] = 1; }, "tensor 0 reserved bytes are not zero"},
      {"beyond rank", [](auto& b) { poke<int64_t>(b, tensor_at(0) + 16 + 4 * 8, 7); },
       "tensor 0 dims[4] is 7 beyond rank 2 (must be 1)"},
      {"elements", [](auto& b) {
         b[tensor_at(0) + 9] = 3;
         for (int d = 0; d < 3; ++d) poke<int64_t>(b, tensor_at(0) + 16 + 8 * d, int64_t{1} << 20);
       },
       "tensor 0 dims[2] is 1048576: the tensor would have more than 2^48 elements"},
      {"min stride", [](auto& b) { poke<int64_t>(b, tensor_at(0) + 56 + 8, std::numeric_limits<int64_t>::min()); },
       "tensor 0 strides[1] is -9223372036854775808"},
      {"span", [](auto& b) { poke<int64_t>(b, tensor_at(0) + 56, int64_t{1} << 62); },
       "tensor 0 strides[0] is 4611686018427387904: with dims[0] = 3 the tensor would span more than 2^48 bytes"},
      {"padding", [](auto& b) { b.back() = 1; }, "padding byte at offset"},
  };
  const std::vector<uint8_t> valid = encode_kernel_args(sample()).value();
  for (const Hostile& c : cases) {
    std::vector<uint8_t> block = valid;
    c.mutate(block);
    const std::string error = decode_error(block);
    EXPECT_NE(error.find(c.message), std::string::npos) << c.name << ": " << error;
    EXPECT_EQ(error.rfind("kernel argument block: ", 0), 0u) << c.name << ": " << error;
  }
}

TEST(KernelArgBlock, HeaderCheckTellsHowMuchToRead) {
  const std::vector<uint8_t> block = encode_kernel_args(sample()).value();
  const std::vector<uint8_t> header(block.begin(), block.begin() + 16);
  EXPECT_EQ(check_kernel_arg_block_header(header).value(), block.size());
  KernelArgs full;
  for (int i = 0; i < kMaxTensorArgs; ++i) full.add_tensor(TensorDesc::contiguous(0, DType::kF32, {1}));
  for (int i = 0; i < kMaxIntArgs; ++i) full.add_int(i);
  for (int i = 0; i < kMaxFloatArgs; ++i) full.add_float(1.0f);
  EXPECT_EQ(encode_kernel_args(full).value().size(), kMaxKernelArgBlockBytes);
}

TEST(KernelArgBlock, HostValidationAppliesTheSameCeilings) {
  TensorDesc t = TensorDesc::contiguous(0, DType::kF32, {3, 3});
  t.strides[1] = std::numeric_limits<int64_t>::max();
  const Status s = validate_tensor(t, "tensor argument 0");
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.message().find("strides[1]"), std::string::npos) << s.message();
  IndexSpace space;
  space.rank = 2;
  space.size = {int64_t{1} << 30, int64_t{1} << 30, 1, 1, 1};
  EXPECT_NE(validate_index_space(space).message().find("more than 2^48 points"), std::string::npos);
}

// Whatever the bytes, decoding returns; what it accepts is fully checked.
TEST(KernelArgBlock, RandomBytesNeverGetThroughUnchecked) {
  const std::vector<uint8_t> valid = encode_kernel_args(sample()).value();
  std::mt19937_64 rng(7);
  int accepted = 0;
  for (int iteration = 0; iteration < 20000; ++iteration) {
    std::vector<uint8_t> block = valid;
    if (iteration % 4 == 0) {
      // Fully random after a plausible header.
      block.resize(rng() % (kMaxKernelArgBlockBytes + 64));
      for (auto& byte : block) byte = static_cast<uint8_t>(rng());
      if (block.size() >= 16) std::memcpy(block.data(), valid.data(), 16);
    } else {
      for (int flips = 1 + static_cast<int>(rng() % 4); flips > 0; --flips) {
        block[rng() % block.size()] = static_cast<uint8_t>(rng());
      }
    }
    const Result<KernelArgs> r = decode_kernel_args(block);
    if (!r.ok()) continue;
    ++accepted;
    for (int i = 0; i < r->num_tensors; ++i) {
      ASSERT_TRUE(validate_tensor(r->tensors[i], "decoded").ok()) << iteration;
      ASSERT_LE(r->tensors[i].num_elements(), kMaxTensorElements);
    }
    ASSERT_TRUE(encode_kernel_args(*r).ok()) << iteration;
  }
  EXPECT_GT(accepted, 0);  // some mutations (of addresses, scalars) stay valid
}

}  // namespace
}  // namespace kiln::kernels
