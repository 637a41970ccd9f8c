// Kernel argument blocks: the wire layout of a launch's arguments in device
// memory, what a LAUNCH_TPC packet's `args_addr` points to. Whoever writes a
// block (the driver's kernel check, the runtime, tests, benches) encodes it
// with encode_kernel_args; the simulator reads it with decode_kernel_args.
// One packed, versioned, static_asserted layout, like mme_descriptor.h, so
// host and device never depend on how a compiler lays out KernelArgs.
//
// Layout, version 1 (little-endian, no padding inside the structs, every
// field at its natural alignment from an 8-byte-aligned block start):
//
//   offset                     bytes           what
//   0                          16              KernelArgBlockHeader
//   16                         96 x tensors    KernelArgTensor, in argument order
//   16 + 96 t                  8 x ints        int64 scalars
//   16 + 96 t + 8 i            4 x floats      IEEE binary32 scalars
//   16 + 96 t + 8 i + 4 f      0 or 4          zero padding to a multiple of 8
//
// `total_bytes` is exactly kernel_arg_block_size(t, i, f); the largest block
// (8 tensors, 16 ints, 8 floats) is kMaxKernelArgBlockBytes = 944 bytes, the
// ceiling a device reads.
//
// Device memory is hostile until checked. decode_kernel_args rejects, naming
// the field ("kernel argument block: tensor 2 dims[3] is -5"): a wrong magic,
// version or header size; a total size that is not what the counts need or
// exceeds the ceiling; counts above the capacities of kernel_args.h; a dtype
// byte that is not a dtype; a rank outside 0..5; a negative dim, a dim other
// than 1 beyond the rank; non-zero reserved or padding bytes; and a tensor
// with more than kMaxTensorElements elements or spanning more than
// kMaxTensorExtentBytes (every product is overflow-checked), so no later
// element count or byte offset computed from a decoded tensor can overflow.
// Addresses are carried through unchanged, whatever their value: bit 63 may
// mark a binding (a slot plus an offset resolved per submission).
//
// Pure functions of their arguments: thread-safe. Errors are Status values
// (kInvalidArgument), never exceptions or crashes, whatever the bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "kiln/common/status.h"
#include "kiln/kernels/kernel_args.h"

namespace kiln::kernels {

inline constexpr uint32_t kKernelArgBlockMagic = 0x4752414b;  // "KARG" in memory order
inline constexpr uint16_t kKernelArgBlockVersion = 1;

#pragma pack(push, 1)
struct KernelArgBlockHeader {
  uint32_t magic;         // kKernelArgBlockMagic
  uint16_t version;       // kKernelArgBlockVersion
  uint16_t header_bytes;  // sizeof(KernelArgBlockHeader)
  uint32_t total_bytes;   // the whole block: kernel_arg_block_size(num_tensors, num_ints, num_floats)
  uint8_t num_tensors;    // <= kMaxTensorArgs
  uint8_t num_ints;       // <= kMaxIntArgs
  uint8_t num_floats;     // <= kMaxFloatArgs
  uint8_t reserved;       // must be zero
};

struct KernelArgTensor {
  uint64_t address;      // device address of element (0,...,0); any value (bit 63: a binding)
  uint8_t dtype;         // DType
  uint8_t rank;          // 0..5
  uint16_t reserved0;    // must be zero
  uint32_t reserved1;    // must be zero (keeps dims 8-byte aligned)
  int64_t dims[kMaxDims];     // >= 0; 1 beyond rank
  int64_t strides[kMaxDims];  // in elements, any sign
};
#pragma pack(pop)

static_assert(sizeof(KernelArgBlockHeader) == 16);
static_assert(sizeof(KernelArgTensor) == 96);
// Packing pins the layout; every field also sits at its natural alignment, so
// an 8-byte-aligned block has aligned fields and no compiler adds padding.
static_assert(offsetof(KernelArgBlockHeader, total_bytes) == 8 && offsetof(KernelArgBlockHeader, num_tensors) == 12);
static_assert(offsetof(KernelArgTensor, dtype) == 8 && offsetof(KernelArgTensor, reserved1) == 12 &&
              offsetof(KernelArgTensor, dims) == 16 && offsetof(KernelArgTensor, strides) == 56);

// Bytes of a block with these counts, padding included.
constexpr uint32_t kernel_arg_block_size(uint32_t tensors, uint32_t ints, uint32_t floats) {
  const uint32_t raw = static_cast<uint32_t>(sizeof(KernelArgBlockHeader)) +
                       tensors * static_cast<uint32_t>(sizeof(KernelArgTensor)) + ints * 8u + floats * 4u;
  return (raw + 7u) / 8u * 8u;
}

// The largest block there is: what a device reads at most for one launch.
inline constexpr uint32_t kMaxKernelArgBlockBytes =
    kernel_arg_block_size(kMaxTensorArgs, kMaxIntArgs, kMaxFloatArgs);
static_assert(kMaxKernelArgBlockBytes == 944);

// The block for `args`. Fails (kInvalidArgument) when the arguments overflowed
// their capacities (an add_* past the end, or counts set out of range) or
// hold something decode_kernel_args would reject, with the same message: a
// host learns at once what the device would fault on.
Result<std::vector<uint8_t>> encode_kernel_args(const KernelArgs& args);

// Checks the fixed header at the start of `bytes` (at least its 16 bytes):
// magic, version, header size, reserved byte, counts within the capacities
// and total_bytes equal to what they need. Returns total_bytes, at most
// kMaxKernelArgBlockBytes: how much a device must read before decoding.
Result<uint32_t> check_kernel_arg_block_header(std::span<const uint8_t> bytes);

// Decodes a whole block (`bytes` may extend past total_bytes; the rest is
// ignored) after every check listed above.
Result<KernelArgs> decode_kernel_args(std::span<const uint8_t> bytes);

}  // namespace kiln::kernels
