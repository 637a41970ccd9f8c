// Fuzz target: MME descriptors (kiln::mme::Descriptor) launched on the
// device: the command processor's descriptor validation, operand spans and
// bindings, then the matrix engine's timing, translation and values.
//
// Input: byte 0 (bit 0: record the descriptor in the command buffer's arena,
// launch_mme(const Descriptor&), instead of writing it to pinned host memory
// and launching its address); the descriptor's bytes
// (descriptor_from_input); a binding table for bound operand addresses
// (FuzzDevice::read_bindings).
//
// Beyond "no crash, no sanitizer report, no hang" and the device staying
// usable (FuzzDevice::run), it checks that a descriptor the device rejects
// is rejected as a descriptor, a page fault or a binding the driver refuses,
// never as something else.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <span>
#include <string>

#include "fuzz_device.h"
#include "kiln/common/mme_descriptor.h"

namespace {

using kiln::FaultCause;
using kiln::fuzz::ByteReader;
using kiln::fuzz::FuzzDevice;
using kiln::fuzz::unfiltered;

// The one place that turns input bytes into a descriptor: the layout of
// mme_descriptor.h taken as it is (so magic, op, dtypes, dimensions and
// reserved fields are all the fuzzer's), with the four operand addresses
// relocated into or just past the fuzz buffers so that both in-range and
// out-of-range operands occur. A versioned wire format would change only
// this function.
kiln::mme::Descriptor descriptor_from_input(ByteReader& in, const FuzzDevice& fd) {
  kiln::mme::Descriptor d;
  in.copy(&d, sizeof d);
  d.a_addr = fd.relocate(d.a_addr);
  d.b_addr = fd.relocate(d.b_addr);
  d.c_addr = fd.relocate(d.c_addr);
  d.bias_addr = fd.relocate(d.bias_addr);
  return d;
}

// Known-unhardened paths, skipped unless KILN_FUZZ_UNFILTERED=1. The MME
// computes spans, traffic, FLOPs and host buffers from descriptor fields
// with unchecked products (conv_out_extent multiplies dilation by the filter
// size in signed 64 bits) and sizes its host buffers by them; the MME
// descriptor hardening (overflow-checked plans within ceilings) replaces
// that. Until it is merged, a descriptor is run only if conv_out_extent
// cannot overflow and its work (multiply-accumulates, im2col elements) stays
// within a budget, which also bounds its host buffers: a zero-stride GEMM of
// 2^31 batches, or a padded convolution whose im2col takes 1 GB, fit in the
// 64 KiB fuzz buffers but run for minutes (fuzz/known/mme/). Remove the
// filter once the hardening is in main and the unfiltered run reaches 10^6
// inputs.
std::optional<std::string> known_unhardened(const kiln::mme::Descriptor& d) {
  constexpr uint64_t kBudget = uint64_t{1} << 24;  // multiply-accumulates, and im2col elements
  uint64_t work = 1;
  bool ok = true;
  const auto mul = [&](uint64_t x) { ok = ok && !__builtin_mul_overflow(work, x, &work) && work <= kBudget; };
  if (d.op == static_cast<uint8_t>(kiln::mme::Op::GEMM)) {
    for (uint64_t x : {uint64_t{d.batch}, uint64_t{d.m}, uint64_t{d.n}, uint64_t{d.k}}) mul(x);
    return ok ? std::nullopt : std::optional<std::string>("GEMM work");
  }
  // conv_out_extent: int64 dilation * (filter - 1).
  if (uint64_t{d.dilation_h} * d.conv_r >= (uint64_t{1} << 62) || uint64_t{d.dilation_w} * d.conv_s >= (uint64_t{1} << 62)) {
    return "conv_out_extent overflow";
  }
  const uint64_t p = kiln::mme::conv_out_extent(d.conv_h, d.pad_h, d.dilation_h, d.conv_r, d.stride_h);
  const uint64_t q = kiln::mme::conv_out_extent(d.conv_w, d.pad_w, d.dilation_w, d.conv_s, d.stride_w);
  for (uint64_t x : {uint64_t{d.conv_n}, p, q, uint64_t{d.conv_c}, uint64_t{d.conv_r}, uint64_t{d.conv_s}}) mul(x);
  mul(d.conv_k);  // the GEMM; the im2col buffer is the product before it
  return ok ? std::nullopt : std::optional<std::string>("conv work");
}

void fail(const std::string& what) {
  std::fprintf(stderr, "mme fuzz: %s\n", what.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  FuzzDevice& fd = FuzzDevice::get();
  ByteReader in(std::span<const uint8_t>(data, size));
  const bool in_arena = in.u8() & 1;
  const kiln::mme::Descriptor d = descriptor_from_input(in, fd);
  const kiln::driver::BindingTable bindings = fd.read_bindings(in);
  if (!unfiltered() && known_unhardened(d)) return -1;  // -1: not added to the corpus

  kiln::driver::CommandBuffer cb;
  if (in_arena) {
    cb.launch_mme(d);
  } else {
    std::memcpy(fd.block_data(), &d, sizeof d);
    cb.launch_mme(fd.block().address);
  }
  auto info = fd.run(cb, bindings, {});
  if (!info.ok()) {
    // Only the arena path records operand extents the driver checks.
    if (!in_arena) fail("the driver refused a valid LAUNCH_MME packet: " + info.status().message());
    return 0;
  }
  if (const auto& f = info->fault) {
    if (f->cause != FaultCause::kInvalidDescriptor && f->cause != FaultCause::kPageFault) {
      fail("an MME launch faulted as neither a descriptor nor a page fault: " + f->describe());
    }
  }
  return 0;
}
