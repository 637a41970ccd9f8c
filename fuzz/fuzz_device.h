// What the device fuzz targets (decoder, MME descriptors, kernel argument
// blocks) share: one long-lived simulated device per process, the memory its
// inputs may address, and a check that the device stays usable.
//
// SystemC elaborates once per process and opening a device costs far more
// than one input, so the device is opened at the first input and never
// closed (process exit reclaims it). Inputs therefore share device state:
// an armed monitor or a sync-object value outlives the input that set it.
// That is the contract the device must keep anyway (a fault ends only its
// own submission); the periodic health check is what holds it to it.
//
// Addresses. A fuzzer rarely guesses a 64-bit device address, so the
// targets pass every address they take from an input through relocate(),
// which lands most of them in or just past one of the fuzz buffers: both
// in-range and out-of-range accesses occur. Bound addresses (bit 63) stay as
// they are and resolve against a binding table read from the input too.
//
// Not thread-safe: libFuzzer runs one input at a time on one thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "kiln/common/fault.h"
#include "kiln/driver/bindings.h"
#include "kiln/driver/command_buffer.h"
#include "kiln/driver/device.h"
#include "kiln/driver/stream.h"
#include "fuzz_input.h"

namespace kiln::fuzz {

// One mapped fuzz buffer.
struct Region {
  uint64_t address = 0;
  uint64_t size = 0;
};

class FuzzDevice {
 public:
  // Bytes of each fuzz buffer: one page of the tiny config, so GEMMs and
  // kernels over them stay small.
  static constexpr uint64_t kBufferBytes = 64 * 1024;
  // Wall time a submission may take before the device counts as wedged.
  static constexpr std::chrono::seconds kWaitTimeout{20};

  // The process's device, opened (config "tiny", functional, no host-call
  // tracing) at the first call. Aborts if it cannot be opened.
  static FuzzDevice& get();

  driver::Device& device() { return *device_; }
  // The stream inputs are submitted on; the health check uses it too, since
  // what must survive a faulting input is the queue that ran it.
  driver::Stream& stream() { return *stream_; }

  // Fuzz buffers: HBM, pinned host memory and SRAM, zeroed at open.
  const Region& hbm() const { return hbm_; }
  const Region& host() const { return host_; }
  const Region& sram() const { return sram_; }
  // Pinned host memory for what a packet points to (a descriptor, an argument
  // block), written by the target before it submits.
  const Region& block() const { return block_; }
  uint8_t* block_data() const { return block_data_; }

  // Bits 61..62 of `raw` pick HBM, host, SRAM or "keep"; the rest is an
  // offset modulo twice the buffer's size, so about half the addresses fall
  // inside it. Bound addresses (bit 63) and "keep" are returned unchanged.
  uint64_t relocate(uint64_t raw) const;

  // A binding table read from the input: a count byte (at most 4 slots),
  // then 8 bytes per slot. Memory slots name a range in or past a fuzz
  // buffer (or anywhere), sync slots any sync object and base.
  driver::BindingTable read_bindings(ByteReader& in) const;

  // Submits `cb` on stream() and waits for it. Returns the submit error if
  // the driver refused it, else the submission's record. Aborts (a finding
  // libFuzzer saves) if the device wedges, needs a reset, or fails the
  // health check, which runs every kCheckEvery inputs.
  Result<driver::SubmissionInfo> run(const driver::CommandBuffer& cb, const driver::BindingTable& bindings,
                                     const driver::SubmitOptions& options);

  // The health check: a known copy host -> HBM -> host on stream() must
  // retire without a fault and move the right bytes. Aborts if it does not.
  void check_usable();

 private:
  static constexpr uint64_t kCheckEvery = 16;
  FuzzDevice() = default;
  void open();
  [[noreturn]] static void die(const std::string& what);

  std::unique_ptr<driver::Device> device_;
  driver::Stream* stream_ = nullptr;
  Region hbm_, host_, sram_, block_;
  uint8_t* block_data_ = nullptr;
  // Health-check buffers, apart from the fuzz buffers (an input can still
  // reach them through a raw address; see check_usable).
  driver::DeviceBuffer check_device_;
  driver::HostBuffer check_src_, check_dst_;
  uint64_t inputs_ = 0;
  uint32_t check_round_ = 0;
};

}  // namespace kiln::fuzz
