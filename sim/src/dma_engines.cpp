#include "dma_engines.h"

#include <algorithm>
#include <cstdio>

#include "device_impl.h"

namespace kiln::sim {

using namespace sc_core;

DmaEngines::DmaEngines(DeviceImpl& device) : device_(device) {}

void DmaEngines::start() {
  for (uint32_t i = 0; i < device_.config.dma().engines(); ++i) {
    device_.spawn("dma" + std::to_string(i), [this, i] {
      jobs_.serve(device_, "DMA" + std::to_string(i), [&](const DmaJob& job) { return execute(static_cast<int>(i), job); });
    });
  }
}

void DmaEngines::enqueue(DmaJob job) { jobs_.push(std::move(job)); }

std::optional<FaultRecord> DmaEngines::execute(int index, const DmaJob& job) {
  const std::string engine = "DMA" + std::to_string(index);
  const uint64_t start_ps = device_.now_ps();
  wait(from_ns(device_.config.dma().setup_latency_ns()));

  std::vector<Segment> dst;
  std::vector<Segment> src;
  uint64_t fault_address = 0;
  bool ok = device_.mmu.translate(job.context, job.dst, job.size, &dst, &fault_address);
  if (ok && !job.memset) ok = device_.mmu.translate(job.context, job.src, job.size, &src, &fault_address);
  if (!ok) {
    char detail[160];
    std::snprintf(detail, sizeof detail, "%s of %llu bytes from 0x%llx to 0x%llx touches unmapped address 0x%llx",
                  job.memset ? "memset" : "copy", static_cast<unsigned long long>(job.size),
                  static_cast<unsigned long long>(job.src), static_cast<unsigned long long>(job.dst),
                  static_cast<unsigned long long>(fault_address));
    FaultRecord fault{FaultCause::kPageFault, engine, job.queue, job.sequence, job.packet_offset,
                      fault_address, device_.now_ps(), detail};
    device_.record_job(job.trace, {.track = engine, .queue = static_cast<int32_t>(job.queue), .name = "page fault",
                                   .start_ps = start_ps, .end_ps = device_.now_ps(), .sequence = job.sequence,
                                   .detail = fault.describe()});
    return fault;
  }

  // The source's bytes are read from its memories and the destination's
  // written to theirs (traffic.h); the first byte arrives after the slowest
  // of their latencies.
  Traffic traffic;
  traffic.read(src);
  traffic.write(dst);
  if (job.size > 0) {
    wait(from_ns(device_.first_byte_latency_ns(traffic)));
    BandwidthModel::wait_for(device_.start_traffic(traffic));
  }

  if (device_.options.functional) {
    if (job.memset) {
      device_.fill(dst, job.pattern);
    } else {
      device_.copy(dst, src);
    }
  }
  char detail[96];
  std::snprintf(detail, sizeof detail, "0x%llx -> 0x%llx", static_cast<unsigned long long>(job.src),
                static_cast<unsigned long long>(job.dst));
  device_.record_job(job.trace, {.track = engine, .queue = static_cast<int32_t>(job.queue),
                                 .name = job.memset ? "memset" : "copy", .start_ps = start_ps,
                                 .end_ps = device_.now_ps(), .bytes = job.size, .sequence = job.sequence,
                                 .detail = job.memset ? "" : detail,
                                 .hbm_bytes = traffic.read_bytes(MemoryKind::kHbm) + traffic.written_bytes(MemoryKind::kHbm)});
  return std::nullopt;
}

}  // namespace kiln::sim
