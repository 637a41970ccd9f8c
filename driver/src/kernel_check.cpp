#include "kiln/driver/kernel_check.h"

#include "kiln/common/device_config.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>

#include "kiln/common/bf16.h"
#include "kiln/kernels/f16.h"
#include "kiln/kernels/host_runner.h"
#include "kiln/kernels/kernel_arg_block.h"
#include "kiln/kernels/kernel_args.h"

namespace kiln::driver {

namespace {

using kernels::HostTensor;

uint64_t element_bytes(DType t) { return static_cast<uint64_t>(dtype_size(t)); }

// Device bytes of a host tensor (values rounded to its dtype: nearest even
// for bf16/f16, toward zero for the integers, != 0 for bool).
std::vector<uint8_t> encode(const HostTensor& t) {
  const uint64_t es = element_bytes(t.dtype);
  std::vector<uint8_t> out(t.values.size() * es);
  for (std::size_t i = 0; i < t.values.size(); ++i) {
    uint8_t* at = out.data() + es * i;
    const float x = t.values[i];
    switch (t.dtype) {
      case DType::kF32: std::memcpy(at, &x, 4); break;
      case DType::kBF16: {
        const uint16_t v = to_bf16(x).bits;
        std::memcpy(at, &v, 2);
        break;
      }
      case DType::kF16: {
        const uint16_t v = kernels::to_f16(x).bits;
        std::memcpy(at, &v, 2);
        break;
      }
      case DType::kI32: {
        const auto v = static_cast<int32_t>(x);
        std::memcpy(at, &v, 4);
        break;
      }
      case DType::kI64: {
        const auto v = static_cast<int64_t>(x);
        std::memcpy(at, &v, 8);
        break;
      }
      case DType::kBool: *at = x != 0.0f ? 1 : 0; break;
    }
  }
  return out;
}

void decode(const std::vector<uint8_t>& raw, HostTensor& t) {
  const uint64_t es = element_bytes(t.dtype);
  for (std::size_t i = 0; i < t.values.size(); ++i) {
    const uint8_t* at = raw.data() + es * i;
    float& x = t.values[i];
    switch (t.dtype) {
      case DType::kF32: std::memcpy(&x, at, 4); break;
      case DType::kBF16: {
        bf16 v;
        std::memcpy(&v.bits, at, 2);
        x = to_float(v);
        break;
      }
      case DType::kF16: {
        kernels::f16 v;
        std::memcpy(&v.bits, at, 2);
        x = v.to_float();
        break;
      }
      case DType::kI32: {
        int32_t v;
        std::memcpy(&v, at, 4);
        x = static_cast<float>(v);
        break;
      }
      case DType::kI64: {
        int64_t v;
        std::memcpy(&v, at, 8);
        x = static_cast<float>(v);
        break;
      }
      case DType::kBool: x = *at != 0 ? 1.0f : 0.0f; break;
    }
  }
}

kernels::TensorDesc describe(const HostTensor& t, uint64_t address) {
  return kernels::TensorDesc::contiguous(address, t.dtype, std::span<const int64_t>(t.dims));
}

}  // namespace

std::string KernelCheckReport::summary() const {
  char buf[1024];
  std::snprintf(buf, sizeof buf,
                "%s: %s (%llu elements checked, %llu mismatches, max |error| %.3g)%s%s\n"
                "  cores        %u\n"
                "  time         %.3f us simulated\n"
                "  cycles       %llu (slowest core)\n"
                "  slots        load %.0f%%, store %.0f%%, vector %.0f%%, scalar %.0f%% (slowest core)\n"
                "  bytes        %llu\n"
                "  bounds       compute %.3f us, HBM %.3f us\n"
                "  verdict      %s-bound\n",
                kernel.c_str(), passed ? "PASS" : "FAIL", static_cast<unsigned long long>(elements_checked),
                static_cast<unsigned long long>(mismatches), max_abs_error, first_mismatch.empty() ? "" : "\n  first ",
                first_mismatch.c_str(), cores_used, device_ns / 1e3, static_cast<unsigned long long>(max_core_cycles),
                100 * slot_utilisation[static_cast<int>(kernels::Slot::kLoad)],
                100 * slot_utilisation[static_cast<int>(kernels::Slot::kStore)],
                100 * slot_utilisation[static_cast<int>(kernels::Slot::kVector)],
                100 * slot_utilisation[static_cast<int>(kernels::Slot::kScalar)],
                static_cast<unsigned long long>(bytes_moved), compute_bound_ns / 1e3, memory_bound_ns / 1e3,
                memory_bound ? "memory" : "compute");
  return buf;
}

Result<KernelCheckReport> check_kernel_on_device(Device& device, const kernels::KernelTestDef& test,
                                                 std::span<const int64_t> shape, const KernelCheckOptions& options) {
  if (!test.make_case || !test.reference) return invalid_argument("kernel test '" + test.kernel + "' is incomplete");
  kernels::KernelTestCase c;
  c.dtype = options.dtype;
  KILN_RETURN_IF_ERROR(test.make_case(shape, c).with_context("make_case of '" + test.kernel + "'"));
  std::mt19937 rng(options.seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  // Integers are whole numbers in [-100, 100], bools 0 or 1: uniform [-1, 1)
  // truncated would be almost all zeros.
  std::uniform_int_distribution<int> ints(-100, 100), bits(0, 1);
  for (HostTensor& t : c.tensors) {
    if (t.is_output) continue;
    for (float& v : t.values) {
      switch (t.dtype) {
        case DType::kF32: v = dist(rng); break;
        case DType::kBF16: v = round_to_bf16(dist(rng)); break;
        case DType::kF16: v = kernels::round_to_f16(dist(rng)); break;
        case DType::kI32:
        case DType::kI64: v = static_cast<float>(ints(rng)); break;
        case DType::kBool: v = static_cast<float>(bits(rng)); break;
      }
    }
  }

  // Device buffers, inputs uploaded, arguments in pinned host memory.
  kernels::KernelArgs args = c.scalars;
  args.num_tensors = 0;
  std::vector<DeviceBuffer> buffers;
  for (const HostTensor& t : c.tensors) {
    KILN_ASSIGN_OR_RETURN(DeviceBuffer b, device.allocate(std::max<uint64_t>(1, t.values.size() * element_bytes(t.dtype))));
    if (!t.is_output) {
      const auto bytes = encode(t);
      KILN_RETURN_IF_ERROR(device.copy_to_device(b.address, bytes.data(), bytes.size()));
    }
    args.add_tensor(describe(t, b.address));
    buffers.push_back(b);
  }
  Result<std::vector<uint8_t>> encoded = kernels::encode_kernel_args(args);
  if (!encoded.ok()) return encoded.status().with_context("kernel test '" + test.kernel + "'");
  KILN_ASSIGN_OR_RETURN(HostBuffer block, device.allocate_host(encoded->size()));
  std::memcpy(block.data, encoded->data(), encoded->size());
  CommandBuffer cb;
  cb.launch_tpc(kernels::kernel_id(test.kernel), block.address, options.cores);
  Stream& stream = device.default_stream();
  KILN_ASSIGN_OR_RETURN(uint64_t seq, stream.submit(cb));
  const Status ran = stream.wait(seq);
  (void)device.free_host(block);
  KILN_RETURN_IF_ERROR(ran);

  // Outputs back, reference on the host, element-wise comparison.
  kernels::KernelTestCase want = c;
  test.reference(want);
  KernelCheckReport r;
  r.kernel = test.kernel;
  for (std::size_t i = 0; i < c.tensors.size(); ++i) {
    HostTensor& got = c.tensors[i];
    if (!got.is_output) continue;
    std::vector<uint8_t> raw(got.values.size() * element_bytes(got.dtype));
    KILN_RETURN_IF_ERROR(device.copy_to_host(raw.data(), buffers[i].address, raw.size()));
    decode(raw, got);
    for (std::size_t e = 0; e < got.values.size(); ++e) {
      const double g = got.values[e], w = want.tensors[i].values[e];
      const double err = std::abs(g - w);
      const double tol = test.atol + test.rtol * std::abs(w);
      ++r.elements_checked;
      if (std::isnan(err) ? !(std::isnan(g) && std::isnan(w)) : err > tol) {
        if (r.mismatches++ == 0) {
          char m[160];
          std::snprintf(m, sizeof m, "tensor %zu [%zu]: got %.7g, want %.7g (tolerance %.3g)", i, e, g, w, tol);
          r.first_mismatch = m;
        }
      }
      if (!std::isnan(err)) r.max_abs_error = std::max(r.max_abs_error, err);
    }
  }
  r.passed = r.mismatches == 0 && r.elements_checked > 0;
  for (const DeviceBuffer& b : buffers) (void)device.free(b);

  // Timing from the device trace.
  uint64_t start = UINT64_MAX, end = 0;
  for (const auto& e : device.trace()->events()) {
    if (e.track.rfind("TPC", 0) != 0 || e.sequence != seq || e.queue != static_cast<int32_t>(stream.queue())) continue;
    start = std::min(start, e.start_ps);
    end = std::max(end, e.end_ps);
    r.bytes_moved += e.bytes;
    ++r.cores_used;
  }
  r.device_ns = r.cores_used ? (end - start) / 1000.0 : 0;

  // The per-slot breakdown: the same kernel, arguments and inputs on the
  // host runner (its counters are the device's: both run the same slices
  // with the same cost model).
  std::vector<std::vector<uint8_t>> host_bytes;
  kernels::HostMemoryPort port;
  kernels::KernelArgs host_args = c.scalars;
  host_args.num_tensors = 0;
  for (const HostTensor& t : c.tensors) {
    host_bytes.push_back(encode(t));
    if (host_bytes.back().empty()) host_bytes.back().resize(1);
  }
  for (std::size_t i = 0; i < c.tensors.size(); ++i) {
    port.add_region(host_bytes[i].data(), host_bytes[i].size(), c.tensors[i].is_output);
    host_args.add_tensor(describe(c.tensors[i], reinterpret_cast<uint64_t>(host_bytes[i].data())));
  }
  const auto& tpc = device.config().tpc();
  const kernels::TpcCostModel model(tpc);
  const uint32_t cores = options.cores == 0 ? tpc.count() : std::min(options.cores, tpc.count());
  Result<kernels::KernelRunResult> host = not_found("no host registry given");
  if (options.host_registry) {
    host = kernels::run_kernel_on_host(*options.host_registry, test.kernel, host_args, port, static_cast<int>(cores),
                                       model);
  }
  if (host.ok()) {
    for (const auto& s : host->slices) {
      if (s.cost.cycles >= r.max_core_cycles && !s.slice.empty()) {
        r.max_core_cycles = s.cost.cycles;
        for (int k = 0; k < kernels::kSlotCount; ++k) r.slot_utilisation[k] = s.cost.utilisation(static_cast<kernels::Slot>(k));
      }
    }
  }
  r.compute_bound_ns = model.launch_overhead_ns + model.cycles_to_ns(r.max_core_cycles);
  r.memory_bound_ns = static_cast<double>(r.bytes_moved) / device.config().hbm().bandwidth_gb_per_s();
  r.memory_bound = r.memory_bound_ns > r.compute_bound_ns;
  return r;
}

}  // namespace kiln::driver
