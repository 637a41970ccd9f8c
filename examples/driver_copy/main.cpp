// Driver example: moves a buffer host -> HBM -> HBM -> host across two
// hardware queues that order themselves on the device (a job-completion
// signal on a timeline sync object and one WAIT per dependency, no host
// round trip between the steps). The three steps are recorded once, with
// bindings, and submitted twice with different binding tables. It checks
// every byte and prints the host's calls and the device's jobs on one
// simulated timeline, then writes the trace.
//
//   driver_copy [--config gaudi2] [--bytes 67108864] [--trace kiln_trace]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "kiln/driver/device.h"
#include "kiln/proto/trace.pb.h"
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

// Binding slots of the recorded buffers.
enum Slot : uint32_t { kHostIn, kHostOut, kA, kB, kTimeline };

// One run's timeline: host calls and the DMA jobs of the copies, by start.
void print_timeline(const std::vector<kiln::traces::TraceEvent>& events, uint64_t from_ps) {
  std::vector<const kiln::traces::TraceEvent*> rows;
  for (const auto& e : events) {
    if (e.start_ps < from_ps) continue;
    const bool host = e.clock == kiln::traces::TraceClock::kHostSimulated;
    const bool job = e.clock == kiln::traces::TraceClock::kDeviceSimulated &&
                     (e.track.rfind("DMA", 0) == 0 || e.name == "sync wait");
    if (host || job) rows.push_back(&e);
  }
  std::stable_sort(rows.begin(), rows.end(), [](auto* x, auto* y) { return x->start_ps < y->start_ps; });
  std::printf("  %12s %12s  %-6s %s\n", "start (us)", "end (us)", "where", "what");
  for (const auto* e : rows) {
    std::string what = e->name;
    if (e->bytes > 0 && e->track.rfind("DMA", 0) == 0) {
      const double ns = static_cast<double>(e->end_ps - e->start_ps) / 1000.0;
      char buf[64];
      std::snprintf(buf, sizeof buf, " %.1f GB/s", static_cast<double>(e->bytes) / ns);
      what += buf;
    }
    if (e->queue >= 0) what += " (queue " + std::to_string(e->queue) + ")";
    std::printf("  %12.3f %12.3f  %-6s %s\n", e->start_ps / 1e6, e->end_ps / 1e6, e->track.c_str(), what.c_str());
  }
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

  auto a = dev.allocate(n);
  auto b = dev.allocate(n);
  auto q1 = dev.create_stream();
  auto q2 = dev.create_stream();
  auto timeline = dev.allocate_sync_object();
  for (const Status& s : {a.status(), b.status(), q1.status(), q2.status(), timeline.status()}) {
    if (!s.ok()) return fail(s, "setup");
  }
  Stream& s1 = **q1;
  Stream& s2 = **q2;

  // Recorded once. Queue 1: host -> A, signalling the timeline when that
  // copy is done. Queue 2: wait for it, A -> B, signal. Queue 1 again: wait
  // for the move, B -> host. Each is labelled with the model op it stands
  // for, so `kiln trace summary` can say where each one's time went.
  CommandBuffer upload, move, download;
  upload.label({"upload"});
  move.label({"move"});
  download.label({"download"});
  upload.copy(bound(kA), bound(kHostIn), n).signal_when_done(bound_sync(kTimeline));
  move.wait_sync(bound_sync(kTimeline), 1).copy(bound(kB), bound(kA), n).signal_when_done(bound_sync(kTimeline));
  download.wait_sync(bound_sync(kTimeline), 2).copy(bound(kHostOut), bound(kB), n);

  std::printf("%s: %llu bytes host -> HBM -> HBM -> host, recorded once, submitted twice\n",
              dev.properties().name.c_str(), static_cast<unsigned long long>(n));
  uint32_t base = 0;
  for (int run = 1; run <= 2; ++run) {
    auto host_in = dev.allocate_host(n);
    auto host_out = dev.allocate_host(n);
    if (!host_in.ok() || !host_out.ok()) return fail(host_in.ok() ? host_out.status() : host_in.status(), "allocate_host");
    auto* in = static_cast<uint8_t*>(host_in->data);
    for (uint64_t i = 0; i < n; ++i) in[i] = static_cast<uint8_t>(i * 131 + (i >> 11) + run);

    BindingTable t;
    t.bind(kHostIn, *host_in).bind(kHostOut, *host_out).bind(kA, *a).bind(kB, *b).bind_sync(kTimeline, *timeline, base);
    const uint64_t from_ps = static_cast<uint64_t>(dev.now_ns() * 1000.0);
    // All three go in at once; the device orders them.
    for (auto [stream, cb] : {std::pair{&s1, &upload}, std::pair{&s2, &move}, std::pair{&s1, &download}}) {
      if (auto seq = stream->submit(*cb, t); !seq.ok()) return fail(seq.status(), "submit");
    }
    if (Status s = dev.synchronize(); !s.ok()) return fail(s, "synchronize");
    base += 2;  // each run signals the timeline twice
    if (std::memcmp(host_in->data, host_out->data, n) != 0) {
      std::fprintf(stderr, "driver_copy: bytes differ after run %d\n", run);
      return 1;
    }
    std::printf("\nrun %d: bytes verified; host and device on one simulated timeline:\n", run);
    print_timeline(dev.trace()->events(), from_ps);
    (void)dev.free_host(*host_in);
    (void)dev.free_host(*host_out);
  }
  std::printf("\nsimulated time: %.3f us (the host thread's clock)\n", dev.now_ns() / 1000.0);

  const std::string pb = opt.trace + ".pb";
  const std::string json = opt.trace + ".json";
  const auto trace = dev.trace_proto();
  if (Status s = kiln::traces::write_trace_file(pb, trace); !s.ok()) return fail(s, "write trace");
  if (Status s = kiln::traces::write_chrome_json(json, trace); !s.ok()) return fail(s, "write trace");
  std::printf("trace: %s (%d events); Chrome JSON for ui.perfetto.dev: %s\n", pb.c_str(), trace.events_size(),
              json.c_str());
  return 0;
}
