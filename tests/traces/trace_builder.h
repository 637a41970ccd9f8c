// Hand-built traces for the analysis and report tests.
#pragma once

#include <cstdint>
#include <string>

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

}  // namespace kiln::traces::testing
