// Driver example: moves a buffer host -> HBM -> HBM -> host across two
// hardware queues that order themselves through the sync manager (no host
// round trip between the steps), checks every byte, and prints the simulated
// time and bandwidth of each transfer and the trace files it wrote.
//
//   driver_copy [--config gaudi2] [--bytes 67108864] [--trace kiln_trace]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "kiln/driver/device.h"
#include "kiln/traces/trace_io.h"

namespace {

using kiln::Status;
using namespace kiln::driver;

int fail(const Status& s, const char* what) {
  std::fprintf(stderr, "driver_copy: %s: %s\n", what, s.to_string().c_str());
  return 1;
}

struct Options {
  std::string config = "gaudi2";
  uint64_t bytes = 64ull << 20;
  std::string trace = "kiln_trace";
};

bool parse(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return false;
    if (a == "--config") o->config = argv[++i];
    else if (a == "--bytes") o->bytes = std::strtoull(argv[++i], nullptr, 0);
    else if (a == "--trace") o->trace = argv[++i];
    else return false;
  }
  return o->bytes > 0;
}

// The DMA job of one submission, from the device trace.
const kiln::traces::TraceEvent* job_of(const std::vector<kiln::traces::TraceEvent>& events, const Stream& s,
                                       uint64_t seq) {
  for (const auto& e : events) {
    if (e.track.rfind("DMA", 0) == 0 && e.queue == static_cast<int32_t>(s.queue()) && e.sequence == seq) return &e;
  }
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  if (!parse(argc, argv, &opt)) {
    std::fprintf(stderr, "usage: driver_copy [--config NAME|PATH] [--bytes N] [--trace PREFIX]\n");
    return 2;
  }
  auto opened = Device::open(opt.config);
  if (!opened.ok()) return fail(opened.status(), "open");
  Device& dev = **opened;
  const uint64_t n = opt.bytes;

  auto host_in = dev.allocate_host(n);
  auto host_out = dev.allocate_host(n);
  auto a = dev.allocate(n);
  auto b = dev.allocate(n);
  for (const Status& s : {host_in.status(), host_out.status(), a.status(), b.status()}) {
    if (!s.ok()) return fail(s, "allocate");
  }
  auto* in = static_cast<uint8_t*>(host_in->data);
  for (uint64_t i = 0; i < n; ++i) in[i] = static_cast<uint8_t>(i * 131 + (i >> 11));

  auto q1 = dev.create_stream();
  auto q2 = dev.create_stream();
  auto up_done = dev.allocate_sync_object();
  auto moved = dev.allocate_sync_object();
  auto m1 = dev.allocate_monitor();
  auto m2 = dev.allocate_monitor();
  for (const Status& s : {q1.status(), q2.status(), up_done.status(), moved.status(), m1.status(), m2.status()}) {
    if (!s.ok()) return fail(s, "setup");
  }
  Stream& s1 = **q1;
  Stream& s2 = **q2;

  // Queue 1: host -> A, then tell the sync manager.
  CommandBuffer upload;
  upload.copy(a->address, host_in->address, n).signal(*up_done, kiln::packets::SyncOp::ADD, 1);
  // Queue 2: wait (monitor -> fence) for the upload, copy A -> B, signal.
  CommandBuffer move;
  move.arm_monitor(*m1, *up_done, 1, s2.queue(), 1).fence(1, 1).copy(b->address, a->address, n)
      .signal(*moved, kiln::packets::SyncOp::ADD, 1);
  // Queue 1 again: wait for the move, then B -> host.
  CommandBuffer download;
  download.arm_monitor(*m2, *moved, 1, s1.queue(), 1).fence(1, 1).copy(host_out->address, b->address, n);

  // All three go in at once; the device orders them.
  auto seq_up = s1.submit(upload);
  auto seq_move = s2.submit(move);
  auto seq_down = s1.submit(download);
  for (const Status& s : {seq_up.status(), seq_move.status(), seq_down.status()}) {
    if (!s.ok()) return fail(s, "submit");
  }
  if (Status s = dev.synchronize(); !s.ok()) return fail(s, "synchronize");

  if (std::memcmp(host_in->data, host_out->data, n) != 0) {
    std::fprintf(stderr, "driver_copy: bytes differ after the round trip\n");
    return 1;
  }

  const auto events = dev.trace()->events();
  std::printf("%s: %llu bytes host -> HBM -> HBM -> host, bytes verified\n", dev.properties().name.c_str(),
              static_cast<unsigned long long>(n));
  std::printf("%-14s %-6s %12s %12s %14s\n", "transfer", "queue", "start (us)", "time (us)", "bandwidth");
  struct Row { const char* name; const Stream* stream; uint64_t seq; };
  const Row rows[] = {{"host -> HBM", &s1, *seq_up}, {"HBM -> HBM", &s2, *seq_move}, {"HBM -> host", &s1, *seq_down}};
  for (const Row& r : rows) {
    const auto* e = job_of(events, *r.stream, r.seq);
    if (!e) return fail(kiln::internal_error("no DMA job in the trace"), r.name);
    const double ns = (e->end_ps - e->start_ps) / 1000.0;
    std::printf("%-14s %-6u %12.3f %12.3f %9.1f GB/s\n", r.name, r.stream->queue(), e->start_ps / 1e6, ns / 1000.0,
                static_cast<double>(n) / ns);
  }
  std::printf("simulated time: %.3f us\n", dev.now_ns() / 1000.0);

  const std::string pb = opt.trace + ".pb";
  const std::string json = opt.trace + ".json";
  const auto trace = dev.trace_proto();
  if (Status s = kiln::traces::write_trace_file(pb, trace); !s.ok()) return fail(s, "write trace");
  if (Status s = kiln::traces::write_chrome_json(json, trace); !s.ok()) return fail(s, "write trace");
  std::printf("trace: %s (%zu events); Chrome JSON for ui.perfetto.dev: %s\n", pb.c_str(), events.size(), json.c_str());
  return 0;
}
