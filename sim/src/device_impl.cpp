#include "device_impl.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "command_processor.h"
#include "dma_engines.h"
#include "tbb/parallel_for.h"
#include "mme_engine.h"
#include "tpc_engine.h"
#include "sync_manager.h"

namespace kiln::sim {

using namespace sc_core;

namespace {
uint64_t mib(uint64_t n) { return n << 20; }
// Process names must be unique in the one simulation; devices come and go.
std::atomic<uint64_t> device_counter{0};
}  // namespace

DeviceImpl::DeviceImpl(const DeviceConfig& cfg, std::shared_ptr<traces::TraceRecorder> trace,
                       SimOptions opts)
    : DeviceImpl(cfg, std::move(trace), std::move(opts), device_counter++) {}

DeviceImpl::DeviceImpl(const DeviceConfig& cfg, std::shared_ptr<traces::TraceRecorder> trace,
                       SimOptions opts, uint64_t number)
    : config(cfg),
      options(opts),
      mmu(cfg.mmu().contexts(), static_cast<uint64_t>(cfg.mmu().page_size_kib()) << 10),
      trace_(std::move(trace)),
      name_prefix_("kiln_dev" + std::to_string(number) + "_"),
      epoch_(sc_time_stamp()),
      group_(number + 1),
      hbm_(mib(cfg.hbm().capacity_mib())),
      sram_(mib(cfg.sram().capacity_mib())),
      watchdog_ps_(static_cast<uint64_t>(cfg.command_processor().watchdog_us() * 1e6)) {
  hbm_resource_ = bandwidth.add_resource("HBM", cfg.hbm().bandwidth_gb_per_s());
  sram_resource_ = bandwidth.add_resource("SRAM", cfg.sram().bandwidth_gb_per_s());
  h2d_resource_ = bandwidth.add_resource("host->device", cfg.host_link().bandwidth_gb_per_s());
  d2h_resource_ = bandwidth.add_resource("device->host", cfg.host_link().bandwidth_gb_per_s());
  sync = std::make_unique<SyncManager>(*this);
  dma = std::make_unique<DmaEngines>(*this);
  mme = std::make_unique<MmeEngine>(*this);
  tpc = std::make_unique<TpcEngine>(*this);
  for (uint32_t q = 0; q < cfg.command_processor().queues(); ++q) {
    queues.push_back(std::make_unique<CommandProcessor>(*this, q));
  }
}

DeviceImpl::~DeviceImpl() = default;

void DeviceImpl::start() {
  spawn("bandwidth", [this] { bandwidth.run_arbiter(); });
  spawn("sync_signals", [this] { sync->run(); });
  dma->start();
  mme->start();
  tpc->start();
  for (auto& q : queues) q->start();
}

void DeviceImpl::stop() {
  // SystemC only allows kill() from inside a process, so a short-lived reaper
  // process does it. One delta cycle runs it; the simulation thread drains
  // every delta of the current instant after each step, so no other device
  // has pending work in this delta and simulated time does not move.
  std::vector<sc_process_handle> victims;
  victims.swap(processes_);
  sc_spawn(
      [victims]() mutable {
        for (auto& p : victims) {
          if (!p.terminated()) p.kill();
        }
      },
      (name_prefix_ + "reaper").c_str());
  sc_start(SC_ZERO_TIME);
}

int DeviceImpl::resource_for(MemoryKind kind, bool is_destination) const {
  switch (kind) {
    case MemoryKind::kHbm: return hbm_resource_;
    case MemoryKind::kSram: return sram_resource_;
    case MemoryKind::kHost: return is_destination ? d2h_resource_ : h2d_resource_;
  }
  return hbm_resource_;
}

double DeviceImpl::latency_ns(MemoryKind kind) const {
  switch (kind) {
    case MemoryKind::kHbm: return config.hbm().latency_ns();
    case MemoryKind::kSram: return config.sram().latency_ns();
    case MemoryKind::kHost: return config.host_link().latency_ns();
  }
  return 0;
}

BandwidthModel::FlowPtr DeviceImpl::start_traffic(const Traffic& traffic) {
  std::vector<BandwidthModel::Demand> demands;
  for (MemoryKind kind : {MemoryKind::kHbm, MemoryKind::kSram, MemoryKind::kHost}) {
    // Reads of host memory cross the link towards the device; writes to it
    // cross the other direction. On device memories reads and writes share.
    demands.push_back({resource_for(kind, false), traffic.read_bytes(kind)});
    demands.push_back({resource_for(kind, true), traffic.written_bytes(kind)});
  }
  return bandwidth.start(demands);
}

double DeviceImpl::first_byte_latency_ns(const Traffic& traffic) const {
  double latency = 0;
  for (MemoryKind kind : {MemoryKind::kHbm, MemoryKind::kSram, MemoryKind::kHost}) {
    if (traffic.touches(kind)) latency = std::max(latency, latency_ns(kind));
  }
  return latency;
}

uint64_t DeviceImpl::physical_capacity(MemoryKind kind) const {
  switch (kind) {
    case MemoryKind::kHbm: return hbm_.capacity();
    case MemoryKind::kSram: return sram_.capacity();
    case MemoryKind::kHost: return UINT64_MAX;
  }
  return 0;
}

uint8_t* DeviceImpl::physical_pointer(MemoryKind kind, uint64_t phys, bool for_write, uint64_t* avail) {
  switch (kind) {
    case MemoryKind::kHost:
      *avail = UINT64_MAX;
      return reinterpret_cast<uint8_t*>(static_cast<uintptr_t>(phys));
    case MemoryKind::kHbm:
      *avail = BackingStore::frame_remaining(phys);
      return hbm_.frame_pointer(phys, for_write);
    case MemoryKind::kSram:
      *avail = BackingStore::frame_remaining(phys);
      return sram_.frame_pointer(phys, for_write);
  }
  return nullptr;
}

namespace {

// At or above this size a copy or fill is split over the host workers.
constexpr uint64_t kParallelBytes = 8ull << 20;
// Pieces never exceed a backing-store frame, so that many threads share
// the work (and the first-touch page faults) of one large transfer.
constexpr uint64_t kPieceBytes = BackingStore::kFrameBytes;

struct Piece {
  uint8_t* dst;
  const uint8_t* src;  // for fills: where the pattern continues
  uint64_t size;
};

bool overlaps(const std::vector<Segment>& a, const std::vector<Segment>& b) {
  for (const Segment& x : a) {
    for (const Segment& y : b) {
      if (x.kind == y.kind && x.phys < y.phys + y.size && y.phys < x.phys + x.size) return true;
    }
  }
  return false;
}

uint64_t total_bytes(const std::vector<Segment>& segments) {
  uint64_t n = 0;
  for (const Segment& s : segments) n += s.size;
  return n;
}

}  // namespace

void DeviceImpl::run_in_parallel(std::size_t count, const std::function<void(std::size_t)>& item) {
  // Off the coroutine stack (host_worker.h), spread over the host's cores:
  // a first write to fresh memory faults its pages in on every core at once.
  host_worker.run([&] {
    tbb::parallel_for(std::size_t{0}, count, [&](std::size_t i) { item(i); });
  });
}

void DeviceImpl::copy(const std::vector<Segment>& dst, const std::vector<Segment>& src) {
  // Pointers are taken (and frames allocated) here, on the simulation
  // thread; only the bytes move on the workers.
  std::vector<Piece> pieces;
  std::size_t di = 0, si = 0;
  uint64_t doff = 0, soff = 0;
  while (di < dst.size() && si < src.size()) {
    uint64_t davail = 0, savail = 0;
    uint8_t* d = physical_pointer(dst[di].kind, dst[di].phys + doff, true, &davail);
    const uint8_t* s = physical_pointer(src[si].kind, src[si].phys + soff, false, &savail);
    const uint64_t n = std::min({dst[di].size - doff, src[si].size - soff, davail, savail, kPieceBytes});
    pieces.push_back({d, s, n});
    doff += n;
    soff += n;
    if (doff == dst[di].size) ++di, doff = 0;
    if (soff == src[si].size) ++si, soff = 0;
  }
  auto move = [&](std::size_t i) { std::memmove(pieces[i].dst, pieces[i].src, pieces[i].size); };
  // Overlapping ranges keep their front-to-back order.
  if (total_bytes(dst) < kParallelBytes || overlaps(dst, src)) {
    for (std::size_t i = 0; i < pieces.size(); ++i) move(i);
  } else {
    run_in_parallel(pieces.size(), move);
  }
}

void DeviceImpl::for_each_chunk(const std::vector<Segment>& segments, bool for_write,
                                const std::function<void(uint8_t*, uint64_t)>& fn) {
  for (const Segment& seg : segments) {
    uint64_t off = 0;
    while (off < seg.size) {
      uint64_t avail = 0;
      uint8_t* p = physical_pointer(seg.kind, seg.phys + off, for_write, &avail);
      const uint64_t n = std::min(seg.size - off, avail);
      fn(p, n);
      off += n;
    }
  }
}

BackingStore* DeviceImpl::store(MemoryKind kind) {
  switch (kind) {
    case MemoryKind::kHbm: return &hbm_;
    case MemoryKind::kSram: return &sram_;
    case MemoryKind::kHost: return nullptr;
  }
  return nullptr;
}

void DeviceImpl::fill(const std::vector<Segment>& dst, uint32_t pattern) {
  uint8_t bytes[4];
  std::memcpy(bytes, &pattern, 4);
  const bool uniform = bytes[0] == bytes[1] && bytes[1] == bytes[2] && bytes[2] == bytes[3];
  // The pattern repeated over a block, copied from the phase where each
  // piece starts, so the pattern continues across pieces at memcpy speed.
  constexpr std::size_t kBlock = 4096;
  std::vector<uint8_t> block(uniform ? 0 : kBlock + 4);
  for (std::size_t i = 0; i < block.size(); ++i) block[i] = bytes[i % 4];

  std::vector<Piece> pieces;
  uint64_t position = 0;  // byte index within the whole fill
  for (const Segment& seg : dst) {
    if (pattern == 0 && store(seg.kind)) {
      // Device memory reads as zero where nothing is resident: clearing it
      // releases frames instead of writing (and allocating) them.
      store(seg.kind)->zero(seg.phys, seg.size);
    } else {
      for (uint64_t off = 0; off < seg.size;) {
        uint64_t avail = 0;
        uint8_t* p = physical_pointer(seg.kind, seg.phys + off, true, &avail);
        const uint64_t n = std::min({seg.size - off, avail, kPieceBytes});
        pieces.push_back({p, uniform ? nullptr : block.data() + (position + off) % 4, n});
        off += n;
      }
    }
    position += seg.size;
  }
  auto write = [&](std::size_t i) {
    const Piece& piece = pieces[i];
    if (uniform) {
      std::memset(piece.dst, bytes[0], piece.size);
      return;
    }
    for (uint64_t done = 0; done < piece.size;) {
      const uint64_t len = std::min<uint64_t>(piece.size - done, kBlock);
      // kBlock is a multiple of 4, so every block copy starts in phase.
      std::memcpy(piece.dst + done, piece.src, len);
      done += len;
    }
  };
  uint64_t bytes_written = 0;
  for (const Piece& piece : pieces) bytes_written += piece.size;
  if (bytes_written < kParallelBytes) {
    for (std::size_t i = 0; i < pieces.size(); ++i) write(i);
  } else {
    run_in_parallel(pieces.size(), write);
  }
}

bool DeviceImpl::read_virtual(uint32_t context, uint64_t va, void* dst, uint64_t size, uint64_t* fault_address) {
  std::vector<Segment> segments;
  if (!mmu.translate(context, va, size, &segments, fault_address)) return false;
  auto* out = static_cast<uint8_t*>(dst);
  for_each_chunk(segments, false, [&](uint8_t* p, uint64_t n) {
    std::memcpy(out, p, n);
    out += n;
  });
  return true;
}

uint8_t* DeviceImpl::contiguous_bytes(uint32_t context, uint64_t va, uint64_t size, bool for_write) {
  std::vector<Segment> segments;
  uint64_t fault = 0;
  if (size == 0 || !mmu.translate(context, va, size, &segments, &fault)) return nullptr;
  // Pages mapped back to back in one memory are one run.
  for (std::size_t i = 1; i < segments.size(); ++i) {
    const Segment& prev = segments[i - 1];
    if (segments[i].kind != prev.kind || segments[i].phys != prev.phys + prev.size) return nullptr;
  }
  const Segment& first = segments.front();
  if (first.kind == MemoryKind::kHost) return reinterpret_cast<uint8_t*>(static_cast<uintptr_t>(first.phys));
  BackingStore* memory = store(first.kind);
  if (for_write) {
    for (uint64_t at = first.phys; at < first.phys + size; at += BackingStore::frame_remaining(at)) {
      (void)memory->frame_pointer(at, /*for_write=*/true);  // makes the frame resident
    }
  }
  return memory->resident_range(first.phys, size);
}

uint8_t* DeviceImpl::resident_bytes(uint32_t context, uint64_t va, uint64_t size) {
  return contiguous_bytes(context, va, size, /*for_write=*/false);
}

uint8_t* DeviceImpl::writable_bytes(uint32_t context, uint64_t va, uint64_t size) {
  return contiguous_bytes(context, va, size, /*for_write=*/true);
}

bool DeviceImpl::write_virtual(uint32_t context, uint64_t va, const void* src, uint64_t size,
                               uint64_t* fault_address) {
  std::vector<Segment> segments;
  if (!mmu.translate(context, va, size, &segments, fault_address)) return false;
  const auto* in = static_cast<const uint8_t*>(src);
  for_each_chunk(segments, true, [&](uint8_t* p, uint64_t n) {
    std::memcpy(p, in, n);
    in += n;
  });
  return true;
}

bool DeviceImpl::write_word(uint32_t context, uint64_t va, uint64_t value, uint32_t width,
                            uint64_t* fault_address) {
  return write_virtual(context, va, &value, width, fault_address);  // little-endian: the low `width` bytes
}

std::optional<uint64_t> DeviceImpl::quiet_since_ps() const {
  if (jobs_in_flight_ > 0) return std::nullopt;
  const uint64_t host_abs = SimHost::instance().latest_clock_ps(group_);
  const uint64_t host = host_abs > epoch_.value() ? host_abs - epoch_.value() : 0;
  return std::max(last_progress_ps_, std::min(host, now_ps()));
}

bool DeviceImpl::write_register(uint32_t offset, uint32_t value) {
  if (offset == packets::kRegWatchdogNs) {
    watchdog_ps_ = value == 0 ? static_cast<uint64_t>(config.command_processor().watchdog_us() * 1e6)
                              : static_cast<uint64_t>(value) * 1000;
    return true;
  }
  if (offset >= packets::kRegScratchBase && offset < packets::kRegScratchBase + 4 * packets::kRegScratchCount &&
      offset % 4 == 0) {
    scratch_[(offset - packets::kRegScratchBase) / 4] = value;
    return true;
  }
  return false;
}

}  // namespace kiln::sim
