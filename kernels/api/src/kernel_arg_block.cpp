#include "kiln/kernels/kernel_arg_block.h"

#include <cstring>
#include <string>

#include "kiln/common/format.h"

namespace kiln::kernels {
namespace {

Status bad(const std::string& what) { return invalid_argument("kernel argument block: " + what); }

// Checks one tensor descriptor as read from the wire and converts it.
Status decode_tensor(const KernelArgTensor& w, int index, TensorDesc* out) {
  const std::string name = "tensor " + std::to_string(index) + " ";
  if (!is_valid_dtype(w.dtype)) return bad(name + "dtype is " + std::to_string(w.dtype) + ", not a dtype");
  if (w.rank > kMaxDims) return bad(name + "rank is " + std::to_string(w.rank) + ", outside 0..5");
  if (w.reserved0 != 0 || w.reserved1 != 0) return bad(name + "reserved bytes are not zero");
  TensorDesc t;
  t.address = w.address;  // never interpreted here: bit 63 may mark a binding
  t.dtype = static_cast<DType>(w.dtype);
  t.rank = w.rank;
  for (int d = 0; d < kMaxDims; ++d) {
    const int64_t n = w.dims[d];
    if (n < 0) return bad(name + "dims[" + std::to_string(d) + "] is " + std::to_string(n));
    if (d >= t.rank && n != 1) {
      return bad(name + "dims[" + std::to_string(d) + "] is " + std::to_string(n) + " beyond rank " +
                 std::to_string(t.rank) + " (must be 1)");
    }
    t.dims[d] = n;
    t.strides[d] = w.strides[d];
  }
  if (const std::string problem = tensor_extent_problem(t); !problem.empty()) return bad(name + problem);
  // Whatever else a tensor needs is validate_tensor's: one definition, and a
  // decoded block passes it.
  if (Status s = validate_tensor(t, "tensor " + std::to_string(index)); !s.ok()) return bad(s.message());
  *out = t;
  return Status::ok_status();
}

template <typename T>
T load(std::span<const uint8_t> bytes, std::size_t offset) {
  T v;
  std::memcpy(&v, bytes.data() + offset, sizeof v);
  return v;
}

}  // namespace

Result<uint32_t> check_kernel_arg_block_header(std::span<const uint8_t> bytes) {
  if (bytes.size() < sizeof(KernelArgBlockHeader)) {
    return bad(std::to_string(bytes.size()) + " bytes, shorter than its 16-byte header");
  }
  const auto h = load<KernelArgBlockHeader>(bytes, 0);
  if (h.magic != kKernelArgBlockMagic) return bad("magic is " + hex(h.magic) + ", not 'KARG'");
  if (h.version != kKernelArgBlockVersion) {
    return bad("version is " + std::to_string(h.version) + "; this device reads version " +
               std::to_string(kKernelArgBlockVersion));
  }
  if (h.header_bytes != sizeof(KernelArgBlockHeader)) {
    return bad("header_bytes is " + std::to_string(h.header_bytes) + ", not 16");
  }
  if (h.reserved != 0) return bad("reserved byte is not zero");
  if (h.num_tensors > kMaxTensorArgs) {
    return bad("num_tensors is " + std::to_string(h.num_tensors) + ", more than " + std::to_string(kMaxTensorArgs));
  }
  if (h.num_ints > kMaxIntArgs) {
    return bad("num_ints is " + std::to_string(h.num_ints) + ", more than " + std::to_string(kMaxIntArgs));
  }
  if (h.num_floats > kMaxFloatArgs) {
    return bad("num_floats is " + std::to_string(h.num_floats) + ", more than " + std::to_string(kMaxFloatArgs));
  }
  const uint32_t need = kernel_arg_block_size(h.num_tensors, h.num_ints, h.num_floats);
  if (h.total_bytes != need) {
    return bad("total_bytes is " + std::to_string(h.total_bytes) + ", but " + std::to_string(h.num_tensors) +
               " tensors, " + std::to_string(h.num_ints) + " ints and " + std::to_string(h.num_floats) +
               " floats take " + std::to_string(need));
  }
  return need;  // <= kMaxKernelArgBlockBytes: the counts are bounded
}

Result<KernelArgs> decode_kernel_args(std::span<const uint8_t> bytes) {
  KILN_ASSIGN_OR_RETURN(const uint32_t total, check_kernel_arg_block_header(bytes));
  if (bytes.size() < total) {
    return bad("total_bytes is " + std::to_string(total) + ", but only " + std::to_string(bytes.size()) +
               " bytes were given");
  }
  const auto h = load<KernelArgBlockHeader>(bytes, 0);
  KernelArgs args;  // built field by field: nothing in it comes from raw bytes unchecked
  std::size_t at = sizeof(KernelArgBlockHeader);
  for (int i = 0; i < h.num_tensors; ++i, at += sizeof(KernelArgTensor)) {
    KILN_RETURN_IF_ERROR(decode_tensor(load<KernelArgTensor>(bytes, at), i, &args.tensors[static_cast<size_t>(i)]));
  }
  args.num_tensors = h.num_tensors;
  for (int i = 0; i < h.num_ints; ++i, at += 8) args.ints[static_cast<size_t>(i)] = load<int64_t>(bytes, at);
  args.num_ints = h.num_ints;
  for (int i = 0; i < h.num_floats; ++i, at += 4) args.floats[static_cast<size_t>(i)] = load<float>(bytes, at);
  args.num_floats = h.num_floats;
  for (; at < total; ++at) {
    if (bytes[at] != 0) return bad("padding byte at offset " + std::to_string(at) + " is not zero");
  }
  return args;
}

Result<std::vector<uint8_t>> encode_kernel_args(const KernelArgs& args) {
  if (args.overflowed || args.num_tensors < 0 || args.num_tensors > kMaxTensorArgs || args.num_ints < 0 ||
      args.num_ints > kMaxIntArgs || args.num_floats < 0 || args.num_floats > kMaxFloatArgs) {
    return bad("too many arguments (at most " + std::to_string(kMaxTensorArgs) + " tensors, " +
               std::to_string(kMaxIntArgs) + " ints, " + std::to_string(kMaxFloatArgs) + " floats)");
  }
  const auto tensors = static_cast<uint32_t>(args.num_tensors);
  const auto ints = static_cast<uint32_t>(args.num_ints);
  const auto floats = static_cast<uint32_t>(args.num_floats);
  std::vector<uint8_t> out(kernel_arg_block_size(tensors, ints, floats), 0);
  KernelArgBlockHeader h{};
  h.magic = kKernelArgBlockMagic;
  h.version = kKernelArgBlockVersion;
  h.header_bytes = sizeof(KernelArgBlockHeader);
  h.total_bytes = static_cast<uint32_t>(out.size());
  h.num_tensors = static_cast<uint8_t>(tensors);
  h.num_ints = static_cast<uint8_t>(ints);
  h.num_floats = static_cast<uint8_t>(floats);
  std::memcpy(out.data(), &h, sizeof h);
  std::size_t at = sizeof h;
  for (uint32_t i = 0; i < tensors; ++i, at += sizeof(KernelArgTensor)) {
    const TensorDesc& t = args.tensors[i];
    if (t.rank < 0 || t.rank > kMaxDims) {
      return bad("tensor " + std::to_string(i) + " rank is " + std::to_string(t.rank) + ", outside 0..5");
    }
    KernelArgTensor w{};
    w.address = t.address;
    w.dtype = static_cast<uint8_t>(t.dtype);
    w.rank = static_cast<uint8_t>(t.rank);
    for (int d = 0; d < kMaxDims; ++d) {
      w.dims[d] = t.dims[static_cast<size_t>(d)];
      w.strides[d] = t.strides[static_cast<size_t>(d)];
    }
    std::memcpy(out.data() + at, &w, sizeof w);
  }
  for (uint32_t i = 0; i < ints; ++i, at += 8) std::memcpy(out.data() + at, &args.ints[i], 8);
  for (uint32_t i = 0; i < floats; ++i, at += 4) std::memcpy(out.data() + at, &args.floats[i], 4);
  // The host hears now what the device would fault on, in the same words.
  KILN_RETURN_IF_ERROR(decode_kernel_args(out).status());
  return out;
}

}  // namespace kiln::kernels
