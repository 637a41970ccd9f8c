// Fuzz target: kernel argument blocks, what a LAUNCH_TPC packet's
// `args_addr` points to, in their wire format (kiln/kernels/kernel_arg_block.h):
// read and decoded by the command processor (check_kernel_arg_block_header,
// decode_kernel_args), validated against the kernel (validate_kernel_launch:
// the kernel's own checks and its index space), then run on the vector cores
// through the MMU.
//
// Input: byte 0 picks the kernel among the built-in library's
// (builtin_kernel_names(), sorted, so a byte means the same kernel on every
// run); byte 1 is the packet's `cores` (0 = all; more than the device has is
// allowed); the rest is the argument block, up to kMaxKernelArgBlockBytes
// (argument_block_from_input).
//
// Beyond "no crash, no sanitizer report, no hang" and the device staying
// usable (FuzzDevice::run), it checks the device against the host's decoder
// over the same bytes:
//   - a block decode_kernel_args rejects faults the launch as a bad
//     descriptor, with the decoder's own message;
//   - a block it accepts re-encodes (encode_kernel_args) to exactly the same
//     bytes (the wire format has one encoding per value), and the launch
//     either runs or fails as bad arguments (the kernel's checks) or a page
//     fault, never as a block the device could not decode.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_device.h"
#include "kiln/kernels/kernel_arg_block.h"
#include "kiln/kernels/kernel_args.h"
#include "kiln/kernels/kernel_registry.h"
#include "kiln/kernels/library.h"

namespace {

using kiln::FaultCause;
using kiln::fuzz::ByteReader;
using kiln::fuzz::FuzzDevice;
namespace kk = kiln::kernels;

// The one place that turns input bytes into the bytes of an argument block:
// the wire format as it is (header, tensors, scalars, padding are all the
// fuzzer's), zero-filled to the largest block a device reads, with the
// address of every tensor the header's count covers relocated into or just
// past the fuzz buffers so that in-range and out-of-range tensors both
// occur. Addresses are opaque to the decoder, so relocating never changes
// whether a block decodes.
std::vector<uint8_t> argument_block_from_input(ByteReader& in, const FuzzDevice& fd) {
  std::vector<uint8_t> block(kk::kMaxKernelArgBlockBytes, 0);
  in.copy(block.data(), block.size());
  const int tensors = std::min<int>(block[offsetof(kk::KernelArgBlockHeader, num_tensors)], kk::kMaxTensorArgs);
  for (int i = 0; i < tensors; ++i) {
    const std::size_t at = sizeof(kk::KernelArgBlockHeader) + static_cast<std::size_t>(i) * sizeof(kk::KernelArgTensor) +
                           offsetof(kk::KernelArgTensor, address);
    uint64_t address = 0;
    std::memcpy(&address, block.data() + at, sizeof address);
    address = fd.relocate(address);
    std::memcpy(block.data() + at, &address, sizeof address);
  }
  return block;
}

void fail(const std::string& what) {
  std::fprintf(stderr, "kernel args fuzz: %s\n", what.c_str());
  std::abort();
}

const std::vector<std::string>& kernel_names() {
  static const std::vector<std::string> names = kk::builtin_kernel_names();
  return names;
}

// The work budget of one launch, in tensor elements (see
// LLVMFuzzerTestOneInput): a few tens of milliseconds of host work. The
// 64 KiB fuzz buffers hold 16 Ki f32 elements each, so a launch over
// distinct elements of them is well inside it.
constexpr int64_t kMaxElements = int64_t{1} << 20;

constexpr std::string_view kBlockError = "kernel argument block: ";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  FuzzDevice& fd = FuzzDevice::get();
  ByteReader in(std::span<const uint8_t>(data, size));
  const std::string& kernel = kernel_names()[in.u8() % kernel_names().size()];
  const uint32_t cores = in.u8();
  const std::vector<uint8_t> block = argument_block_from_input(in, fd);
  std::memcpy(fd.block_data(), block.data(), block.size());

  // What the host's decoder makes of the same bytes.
  const kiln::Result<kk::KernelArgs> decoded = kk::decode_kernel_args(block);
  if (decoded.ok()) {
    const uint32_t total = *kk::check_kernel_arg_block_header(block);
    auto encoded = kk::encode_kernel_args(*decoded);
    if (!encoded.ok()) fail("a decoded block does not encode: " + encoded.status().message());
    if (encoded->size() != total || !std::equal(encoded->begin(), encoded->end(), block.begin())) {
      fail("a decoded block re-encodes to different bytes");
    }
  }

  // The work budget: a valid launch may still be minutes of host work (a
  // reduction over 2^32 elements broadcast from one row by a zero stride),
  // which is slow, not wrong. Such a launch is not run (-1: nor added to the
  // corpus); the decoder checks above still ran on it.
  if (decoded.ok()) {
    int64_t elements = 0;
    for (int i = 0; i < decoded->num_tensors; ++i) elements += decoded->tensors[static_cast<std::size_t>(i)].num_elements();
    if (elements > kMaxElements) return -1;
  }

  kiln::driver::CommandBuffer cb;
  cb.launch_tpc(kk::kernel_id(kernel), fd.block().address, cores);
  auto info = fd.run(cb, {}, {});
  if (!info.ok()) fail("the driver refused a valid LAUNCH_TPC packet: " + info.status().message());
  const auto& f = info->fault;
  if (!decoded.ok()) {
    if (!f || f->cause != FaultCause::kInvalidDescriptor || f->detail != decoded.status().message()) {
      fail("the device did not fault on a block the decoder rejects (" + decoded.status().message() +
           "): " + (f ? f->describe() : "no fault"));
    }
  } else if (f) {
    if (f->cause != FaultCause::kInvalidDescriptor && f->cause != FaultCause::kPageFault) {
      fail("a kernel launch faulted as neither bad arguments nor a page fault: " + f->describe());
    }
    if (f->detail.starts_with(kBlockError)) fail("the device rejected a block the decoder accepts: " + f->describe());
  }
  return 0;
}
