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
// usable (FuzzDevice::run), it checks the device against the descriptor
// check it runs (validate_mme_descriptor, sim/src/mme_plan.h, with the
// device's limits), called here on the same descriptor:
//   - a descriptor the check rejects faults the launch as a bad descriptor,
//     with the check's own message (or, recorded in the arena, may be
//     refused by the driver first);
//   - a descriptor it accepts either runs or fails as a page fault (an
//     operand outside memory or its binding) or a binding the driver
//     refuses, never as a bad descriptor or an engine error.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <span>
#include <string>

#include "fuzz_device.h"
#include "kiln/common/device_config.h"
#include "kiln/common/mme_descriptor.h"
#include "mme_plan.h"

namespace {

using kiln::FaultCause;
using kiln::fuzz::ByteReader;
using kiln::fuzz::FuzzDevice;

// The one place that turns input bytes into a descriptor: the layout of
// mme_descriptor.h taken as it is (so magic, op, dtypes, dimensions and
// reserved fields are all the fuzzer's), with the four operand addresses
// relocated into or just past the fuzz buffers so that both in-range and
// out-of-range operands occur (the check never reads addresses, so this
// does not change whether it accepts the descriptor). A new descriptor
// version would change only this function.
kiln::mme::Descriptor descriptor_from_input(ByteReader& in, const FuzzDevice& fd) {
  kiln::mme::Descriptor d;
  in.copy(&d, sizeof d);
  d.a_addr = fd.relocate(d.a_addr);
  d.b_addr = fd.relocate(d.b_addr);
  d.c_addr = fd.relocate(d.c_addr);
  d.bias_addr = fd.relocate(d.bias_addr);
  return d;
}

// The work budget of one input (see LLVMFuzzerTestOneInput): a few tens of
// milliseconds of host work. The 64 KiB fuzz buffers hold 16 Ki f32 elements,
// so any job over distinct elements is well inside it.
constexpr uint64_t kMaxFlops = uint64_t{1} << 25;
constexpr uint64_t kMaxHostBytes = uint64_t{64} << 20;

// The functional model's host work for a job, in flops: each GEMM of the
// batch runs as blocks of up to 64 rows (sim/src/mme_math.cpp) plus a fixed
// cost per GEMM (reading its operands, a BLAS call: a few microseconds, as
// much as 2^12 flops). 3.8 million batches of a 1x1x1 GEMM are only 7.6
// Mflop but took 20 s: a budget on flops alone let them through.
uint64_t host_work(const kiln::sim::GemmShape& g) {
  constexpr uint64_t kBlockRows = 64, kPerGemm = uint64_t{1} << 12;
  const uint64_t rows = (g.m + kBlockRows - 1) / kBlockRows * kBlockRows;
  const uint64_t per_gemm = 2 * rows * g.n * g.k + kPerGemm;  // no overflow where the plan's flops had none
  return per_gemm > kMaxFlops ? per_gemm : per_gemm * g.batch;
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
  // The check the command processor runs, with the same limits (the device's
  // MMEs, functional mode).
  const kiln::sim::MmeLimits limits{&fd.device().config().mme(), true};
  const kiln::Result<kiln::sim::MmePlan> plan = kiln::sim::plan_mme_job(d, limits);
  const std::optional<std::string> invalid = kiln::sim::validate_mme_descriptor(d, limits);
  if (plan.ok() == invalid.has_value()) fail("plan_mme_job and validate_mme_descriptor disagree");
  // The work budget: a valid job within the device's ceilings may still be
  // minutes of host work in functional mode (2^31 batches of a 1x1x1 GEMM
  // with zero batch strides; a padded convolution whose im2col takes 1 GB),
  // which is slow, not wrong. Such a job is not run (-1: nor added to the
  // corpus); the check above still ran on it.
  if (plan.ok() && (host_work(plan->problem.shape) > kMaxFlops || plan->host_bytes > kMaxHostBytes)) return -1;

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
  const auto& f = info->fault;
  if (invalid) {
    if (!f || f->cause != FaultCause::kInvalidDescriptor || f->detail != *invalid) {
      fail("the device did not fault on a descriptor its check rejects (" + *invalid +
           "): " + (f ? f->describe() : "no fault"));
    }
  } else if (f && f->cause != FaultCause::kPageFault) {
    fail("an MME launch of a valid descriptor faulted as other than a page fault: " + f->describe());
  }
  return 0;
}
