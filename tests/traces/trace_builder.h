// Hand-built traces for the analysis and report tests.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kiln/proto/trace.pb.h"

namespace kiln::traces::testing {

constexpr uint64_t kUs = 1'000'000;  // picoseconds per microsecond

// Appends one event from start_us to end_us.
inline void add(proto::Trace& t, const std::string& track, const std::string& name, uint64_t start_us,
                uint64_t end_us, uint64_t bytes = 0, uint64_t flops = 0,
                proto::TraceClock clock = proto::DEVICE_SIMULATED) {
  proto::TraceEvent* e = t.add_events();
  e->set_track(track);
  e->set_name(name);
  e->set_start_ps(start_us * kUs);
  e->set_end_ps(end_us * kUs);
  e->set_bytes(bytes);
  e->set_flops(flops);
  e->set_clock(clock);
}

// What an event carries for the dependency analyses.
struct Links {
  uint64_t id = 0;
  std::vector<uint64_t> waits_for;
  std::vector<std::string> ops;
  uint64_t job = 0;
};

// Appends one event from start_us to end_us with an id, what it waited for,
// its ops and its job.
inline proto::TraceEvent* add_linked(proto::Trace& t, const std::string& track, const std::string& name,
                                     uint64_t start_us, uint64_t end_us, const Links& links,
                                     proto::TraceClock clock = proto::DEVICE_SIMULATED) {
  add(t, track, name, start_us, end_us, 0, 0, clock);
  proto::TraceEvent* e = t.mutable_events(t.events_size() - 1);
  e->set_id(links.id);
  e->set_job(links.job);
  for (uint64_t w : links.waits_for) e->add_waits_for(w);
  for (const std::string& op : links.ops) e->add_ops(op);
  return e;
}

}  // namespace kiln::traces::testing
