#include "fuzz_device.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kiln/common/packets.h"

// The Fuzz build type's flags (-O1, CMakeLists.txt) once never reached the
// compiler, and the fuzzers and the sanitizer tests ran unoptimised, several
// times slower, without anything failing: now the build does.
#if !defined(__OPTIMIZE__)
#error "the Fuzz build type's -O1 did not reach the compiler: see CMAKE_CXX_FLAGS_FUZZ in CMakeLists.txt"
#endif

namespace kiln::fuzz {

using driver::BindingTable;
using driver::CommandBuffer;
using driver::SubmissionInfo;
using driver::SubmitOptions;

FuzzDevice& FuzzDevice::get() {
  // Never destroyed: closing a device at process exit, after libFuzzer has
  // decided to exit, would only add a place to fail that no input reached.
  static FuzzDevice* device = [] {
    auto* d = new FuzzDevice();
    d->open();
    return d;
  }();
  return *device;
}

void FuzzDevice::die(const std::string& what) {
  std::fprintf(stderr, "kiln fuzz: %s\n", what.c_str());
  std::abort();  // libFuzzer saves the input that led here
}

void FuzzDevice::open() {
  // No host-call events, and the device's own trace is cleared after every
  // input: a million inputs must not grow memory.
  driver::DeviceOptions options;
  options.trace_host_calls = false;
  auto dev = driver::Device::open("tiny", options);
  if (!dev.ok()) die("cannot open the tiny device: " + dev.status().message());
  device_ = std::move(*dev);
  auto s = device_->create_stream();
  if (!s.ok()) die("cannot create a stream: " + s.status().message());
  stream_ = *s;

  auto take = [](auto result, const char* what) {
    if (!result.ok()) die(std::string("cannot allocate the ") + what + ": " + result.status().message());
    return *result;
  };
  const auto hbm = take(device_->allocate(kBufferBytes, MemoryKind::kHbm), "HBM buffer");
  const auto sram = take(device_->allocate(kBufferBytes, MemoryKind::kSram), "SRAM buffer");
  const auto host = take(device_->allocate_host(kBufferBytes), "host buffer");
  const auto block = take(device_->allocate_host(kBufferBytes), "block buffer");
  hbm_ = {hbm.address, hbm.size};
  sram_ = {sram.address, sram.size};
  host_ = {host.address, host.size};
  block_ = {block.address, block.size};
  block_data_ = static_cast<uint8_t*>(block.data);
  if (!device_->memset(hbm.address, 0, hbm.size).ok() || !device_->memset(sram.address, 0, sram.size).ok()) {
    die("cannot clear the fuzz buffers");
  }
  check_device_ = take(device_->allocate(4096, MemoryKind::kHbm), "check buffer");
  check_src_ = take(device_->allocate_host(4096), "check source");
  check_dst_ = take(device_->allocate_host(4096), "check destination");
  check_usable();
}

uint64_t FuzzDevice::relocate(uint64_t raw) const {
  if (packets::is_bound_address(raw)) return raw;
  const Region* r = nullptr;
  switch ((raw >> 61) & 3) {
    case 0: r = &hbm_; break;
    case 1: r = &host_; break;
    case 2: r = &sram_; break;
    default: return raw;
  }
  return r->address + (raw & ((uint64_t{1} << 61) - 1)) % (2 * r->size);
}

BindingTable FuzzDevice::read_bindings(ByteReader& in) const {
  BindingTable table;
  const unsigned slots = in.u8() % 5;
  for (unsigned slot = 0; slot < slots; ++slot) {
    const uint8_t kind = in.u8(), region = in.u8();
    const uint16_t offset = in.u16();
    const uint32_t value = in.u32();
    switch (kind % 3) {
      case 0: break;  // left empty
      case 1: {
        // A range starting inside a fuzz buffer (or, for region 3, at an
        // address nothing maps) that may run past its end.
        const Region* regions[] = {&hbm_, &host_, &sram_};
        const uint64_t start = region % 4 == 3 ? uint64_t{offset} << 32 : regions[region % 4]->address + offset;
        table.bind_range(slot, start, value);
        break;
      }
      default: table.bind_sync(slot, offset, value); break;
    }
  }
  return table;
}

Result<SubmissionInfo> FuzzDevice::run(const CommandBuffer& cb, const BindingTable& bindings,
                                       const SubmitOptions& options) {
  ++inputs_;
  Result<SubmissionInfo> result = invalid_argument("not submitted");
  auto seq = stream_->submit(cb, bindings, options);
  if (!seq.ok()) {
    // Refusing a submission is the driver's right; a refusal after a fatal
    // fault is not, since no input may cause one.
    if (seq.status().code() == ErrorCode::kFailedPrecondition && device_->fatal_fault()) {
      die("the device needs a reset after " + device_->fatal_fault()->describe());
    }
    result = seq.status();
  } else {
    const Status waited = stream_->wait(*seq, kWaitTimeout);
    if (waited.code() == ErrorCode::kTimeout) die("an input wedged the device: " + waited.message());
    if (device_->fatal_fault()) die("an input made the device need a reset: " + device_->fatal_fault()->describe());
    result = stream_->info(*seq);
    if (!result.ok()) die("no record of a retired submission: " + result.status().message());
  }
  device_->trace()->clear();
  if (inputs_ % kCheckEvery == 0) check_usable();
  return result;
}

void FuzzDevice::check_usable() {
  // A monitor an earlier input armed may still fire and write 4 bytes
  // anywhere mapped, the check buffers included; one-shot monitors cannot do
  // that to every attempt, so a broken device is one that fails them all.
  std::string last;
  for (int attempt = 0; attempt < 3; ++attempt) {
    ++check_round_;
    auto* src = static_cast<uint8_t*>(check_src_.data);
    for (uint64_t i = 0; i < check_src_.size; ++i) src[i] = static_cast<uint8_t>(i * 31 + check_round_);
    std::memset(check_dst_.data, 0, check_dst_.size);
    CommandBuffer cb;
    // Restores the watchdog period an input may have changed (privileged
    // WREG32), then copies host -> HBM -> host on the inputs' own queue.
    cb.write_register(packets::kRegWatchdogNs, 0)
        .copy(check_device_.address, check_src_.address, check_src_.size)
        .copy(check_dst_.address, check_device_.address, check_src_.size);
    auto seq = stream_->submit(cb, SubmitOptions{.privileged = true});
    if (!seq.ok()) die("health check refused: " + seq.status().message());
    const Status waited = stream_->wait(*seq, kWaitTimeout);
    if (waited.code() == ErrorCode::kTimeout) die("health check: the device is wedged: " + waited.message());
    if (waited.ok() && std::memcmp(check_src_.data, check_dst_.data, check_src_.size) == 0) {
      device_->trace()->clear();
      return;
    }
    last = waited.ok() ? "the copied bytes differ" : waited.message();
  }
  die("health check failed three times: " + last);
}

}  // namespace kiln::fuzz
