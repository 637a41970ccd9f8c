// The one place the simulator includes SystemC. kiln_sim compiles with
// SC_CPLUSPLUS=201703L (Debian's SystemC 2.3.4 is a C++17 build) and with
// dynamic processes enabled, because every engine process is sc_spawn'ed.
#pragma once

#ifndef SC_INCLUDE_DYNAMIC_PROCESSES
#define SC_INCLUDE_DYNAMIC_PROCESSES
#endif
#include <systemc>

#include <cstdint>

namespace kiln::sim {

// The simulation's time resolution is one picosecond.
inline uint64_t to_ps(const sc_core::sc_time& t) { return t.value(); }
inline sc_core::sc_time from_ps(uint64_t ps) {
  return sc_core::sc_time::from_value(ps);
}
// Rounds a duration in nanoseconds (from a cost model) to whole picoseconds.
inline sc_core::sc_time from_ns(double ns) {
  return from_ps(static_cast<uint64_t>(ns * 1000.0 + 0.5));
}

}  // namespace kiln::sim
