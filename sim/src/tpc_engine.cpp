#include "tpc_engine.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "device_impl.h"
#include "kiln/common/format.h"
#include "kiln/kernels/host_runner.h"
#include "kiln/kernels/index_space.h"
#include "tbb/parallel_for.h"
#include "tpc_cost_cache.h"

namespace kiln::sim {

using namespace sc_core;

namespace {

// One core's kernel memory accesses at device virtual addresses of one
// context, and what they moved through each memory (traffic.h). In
// timing-only mode reads see zeros and writes are dropped (after the address
// is checked), so counters, traffic and faults stay real while no bytes move.
class DeviceMemoryPort final : public kernels::MemoryPort {
 public:
  DeviceMemoryPort(DeviceImpl& device, uint32_t context) : device_(device), context_(context) {}

  bool read(uint64_t addr, void* dst, uint64_t n) override {
    if (const Window* w = find(addr, n)) {
      traffic_.read(w->kind, n);
      if (!device_.options.functional) std::memset(dst, 0, n);
      else std::memcpy(dst, w->host + (addr - w->va), n);
      return true;
    }
    uint64_t fault = 0;
    if (!device_.mmu.translate(context_, addr, n, &segments_, &fault)) return false;
    traffic_.read(segments_);
    if (!device_.options.functional) {
      std::memset(dst, 0, n);
    } else {
      auto* out = static_cast<uint8_t*>(dst);
      device_.for_each_chunk(segments_, false, [&](uint8_t* p, uint64_t len) {
        std::memcpy(out, p, len);
        out += len;
      });
    }
    remember(addr, false);
    return true;
  }

  // A gather whose first and last elements lie in one window has every
  // element there (a window is one contiguous mapped range): one lookup and
  // plain copies, not a virtual call and a lookup per element.
  bool read_strided(uint64_t addr, int64_t step_bytes, int count, uint64_t element_bytes, void* dst) override {
    if (count <= 0) return true;
    const uint64_t last = addr + static_cast<uint64_t>(static_cast<int64_t>(count - 1) * step_bytes);
    const Window* w = find(std::min(addr, last), std::max(addr, last) - std::min(addr, last) + element_bytes);
    if (w == nullptr) {
      return MemoryPort::read_strided(addr, step_bytes, count, element_bytes, dst);
    }
    const uint64_t bytes = static_cast<uint64_t>(count) * element_bytes;
    traffic_.read(w->kind, bytes);
    auto* out = static_cast<uint8_t*>(dst);
    if (!device_.options.functional) {
      std::memset(out, 0, bytes);
      return true;
    }
    const uint8_t* at = w->host + (addr - w->va);
    for (int i = 0; i < count; ++i, at += step_bytes) std::memcpy(out + static_cast<uint64_t>(i) * element_bytes, at, element_bytes);
    return true;
  }

  bool write(uint64_t addr, const void* src, uint64_t n) override {
    if (const Window* w = find(addr, n)) {
      traffic_.write(w->kind, n);
      if (device_.options.functional) std::memcpy(w->host + (addr - w->va), src, n);
      return true;
    }
    uint64_t fault = 0;
    if (!device_.mmu.translate(context_, addr, n, &segments_, &fault)) return false;
    traffic_.write(segments_);
    if (device_.options.functional) {
      const auto* in = static_cast<const uint8_t*>(src);
      device_.for_each_chunk(segments_, true, [&](uint8_t* p, uint64_t len) {
        std::memcpy(p, in, len);
        in += len;
      });
    }
    remember(addr, true);
    return true;
  }

  const Traffic& traffic() const { return traffic_; }

 private:
  // A range of virtual addresses known to be mapped to one memory and, in
  // functional mode, to one resident host block: a kernel's vector loads
  // and stores then cost a compare and a memcpy, not an MMU walk and a
  // frame lookup under their locks each. Kept for one launch (the port's
  // life), like a core's TLB; frames stay put for a job's length
  // (backing_store.h).
  struct Window {
    uint64_t va = 0, end = 0;  // [va, end)
    MemoryKind kind = MemoryKind::kHbm;
    uint8_t* host = nullptr;  // the bytes at `va` (functional mode)
  };
  static constexpr int kWindows = 4;  // a kernel streams a few tensors at once

  const Window* find(uint64_t addr, uint64_t n) const {
    for (const Window& w : windows_) {
      if (addr >= w.va && addr < w.end && n <= w.end - addr) return &w;
    }
    return nullptr;
  }

  // The largest window around `addr` after a successful access: its mapping
  // (in functional mode on device memory, the part of it in resident frames).
  void remember(uint64_t addr, bool wrote) {
    uint64_t start = 0;
    Segment m{};
    if (!device_.mmu.mapping_at(context_, addr, &start, &m)) return;
    Window w{start, start + m.size, m.kind, nullptr};
    if (BackingStore* store = device_.store(m.kind)) {
      if (device_.options.functional) {
        // The run of resident frames around `addr` within the mapping: one
        // host range (backing_store.h), so a gather across a tensor of
        // several frames stays in one window. A read of a frame nobody
        // wrote sees zeros without making it resident; such a range is not
        // kept (its first write makes it resident).
        const uint64_t at = m.phys + (addr - start);
        if (wrote) store->frame_pointer(at, true);
        const auto [lo, hi] = store->resident_run(at, m.phys, m.phys + m.size);
        if (lo == hi) return;
        w.va = start + (lo - m.phys);
        w.end = start + (hi - m.phys);
        w.host = store->resident_pointer(lo);
      }
    } else {
      w.host = reinterpret_cast<uint8_t*>(static_cast<uintptr_t>(m.phys));
    }
    windows_[next_window_] = w;
    next_window_ = (next_window_ + 1) % kWindows;
  }

  DeviceImpl& device_;
  const uint32_t context_;
  std::vector<Segment> segments_;  // reused: one core's accesses come from one thread
  Window windows_[kWindows];
  int next_window_ = 0;
  Traffic traffic_;
};

}  // namespace

TpcEngine::TpcEngine(DeviceImpl& device) : device_(device) {}

void TpcEngine::start() {
  cores_.resize(device_.config.tpc().count());
  // One process per core: as many launches as could ever hold cores at once.
  for (uint32_t i = 0; i < device_.config.tpc().count(); ++i) {
    device_.spawn("tpc_launch" + std::to_string(i),
                  [this] { jobs_.serve(device_, "TPC", [this](const TpcJob& job) { return execute(job); }); });
  }
}

void TpcEngine::enqueue(TpcJob job) { jobs_.push(std::move(job)); }

std::optional<FaultRecord> TpcEngine::execute(const TpcJob& job) {
  const auto& cfg = device_.config.tpc();
  const kernels::TpcCostModel model(cfg);
  const int cores = static_cast<int>(job.cores == 0 ? cfg.count() : std::min(job.cores, cfg.count()));
  const std::vector<kernels::IndexSlice> slices = kernels::split_index_space(job.space, cores);
  const std::vector<int> assigned = cores_.acquire(cores);

  // Values and counters: every slice at once on the host, in zero simulated
  // time. Slices write disjoint outputs, so the thread count changes nothing.
  // They run on TBB's threads from the host worker, never on this process's
  // coroutine stack (host_worker.h). A kernel that throws faults its own
  // slice (run_kernel_slice); anything else thrown fails the launch here,
  // where the cores can still be given back.
  std::vector<kernels::SliceResult> results(slices.size());
  std::vector<Traffic> traffic(slices.size());
  const std::optional<std::string> cache_key = TpcCostCache::key(device_, job, cores);
  const TpcCostCache::Entry* known = cache_key ? cost_cache_.find(*cache_key) : nullptr;
  if (known) {
    results = known->slices;
    traffic = known->traffic;
  } else {
    std::vector<DeviceMemoryPort> ports(slices.size(), DeviceMemoryPort(device_, job.context));
    std::string failure;
    try {
      device_.host_worker.run([&] {
        tbb::parallel_for(std::size_t{0}, slices.size(), [&](std::size_t i) {
          results[i] = kernels::run_kernel_slice(*job.kernel, job.args, slices[i], ports[i], model);
        });
      });
    } catch (const std::exception& e) {
      failure = e.what();
    } catch (...) {
      failure = "an exception that is not a std::exception";
    }
    if (!failure.empty()) {
      cores_.release(assigned);
      return FaultRecord{FaultCause::kEngineError, "TPC", job.queue, job.sequence, job.packet_offset, 0,
                         device_.now_ps(), "kernel '" + job.kernel->name + "' threw: " + failure};
    }
    for (std::size_t i = 0; i < ports.size(); ++i) traffic[i] = ports[i].traffic();
    const bool faulted = std::any_of(results.begin(), results.end(), [](const auto& r) { return r.fault.has_value(); });
    if (cache_key && !faulted) cost_cache_.store(*cache_key, {results, traffic});
  }

  // Timing: each core's bytes through the memories it read and wrote.
  Traffic all;
  for (const Traffic& t : traffic) all += t;
  const uint64_t start_ps = device_.now_ps();
  std::vector<uint64_t> compute_end(results.size());
  for (std::size_t i = 0; i < results.size(); ++i) {
    compute_end[i] = start_ps + to_ps(from_ns(model.launch_overhead_ns + model.cycles_to_ns(results[i].cost.cycles)));
  }
  wait(from_ns(device_.first_byte_latency_ns(all)));
  std::vector<BandwidthModel::FlowPtr> flows;
  for (const Traffic& t : traffic) flows.push_back(device_.start_traffic(t));
  uint64_t end_ps = start_ps;
  std::vector<uint64_t> core_end(results.size());
  const uint64_t epoch_ps = sc_time_stamp().value() - device_.now_ps();
  for (std::size_t i = 0; i < results.size(); ++i) {
    BandwidthModel::wait_for(flows[i]);
    core_end[i] = std::max(compute_end[i], flows[i]->finished_at_ps - epoch_ps);
    end_ps = std::max(end_ps, core_end[i]);
  }
  if (end_ps > device_.now_ps()) wait(from_ps(end_ps - device_.now_ps()));
  cores_.release(assigned);

  std::optional<FaultRecord> fault;
  for (std::size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    if (r.slice.empty()) continue;
    const std::string engine = "TPC" + std::to_string(assigned[i]);
    if (r.fault && !fault) {
      const bool threw = r.fault->cause == kernels::KernelFaultCause::kException;
      const std::string what = threw ? "' " + r.fault->detail : "': " + r.fault->describe();
      fault = FaultRecord{threw ? FaultCause::kEngineError : FaultCause::kPageFault, engine, job.queue, job.sequence,
                          job.packet_offset, r.fault->address, device_.now_ps(), "kernel '" + job.kernel->name + what};
    }
    // FLOPs are reported as vector lane operations: every vector-slot
    // instruction on its 64 fp32 lanes. An upper bound — moves and selects
    // count too — but what the core's vector datapath did.
    uint64_t lane_ops = 0;
    for (int c = 0; c < kernels::kOpClassCount; ++c) {
      if (kernels::slot_of(static_cast<kernels::OpClass>(c)) == kernels::Slot::kVector) lane_ops += r.counters.ops[c];
    }
    lane_ops *= kernels::kF32Lanes;
    device_.record_job(job.trace, {.track = engine, .queue = static_cast<int32_t>(job.queue),
                                   .name = job.kernel->name, .start_ps = start_ps, .end_ps = core_end[i],
                                   .bytes = r.counters.bytes_loaded + r.counters.bytes_stored, .flops = lane_ops,
                                   .sequence = job.sequence,
                                   .detail = std::to_string(r.cost.cycles) + " cycles, busiest slot " +
                                             std::string(kernels::slot_name(r.cost.busiest_slot)) +
                                             (known ? " (cost reused)" : ""),
                                   .hbm_bytes = traffic[i].read_bytes(MemoryKind::kHbm) +
                                                traffic[i].written_bytes(MemoryKind::kHbm)});
  }
  return fault;
}

}  // namespace kiln::sim
