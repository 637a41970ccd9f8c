// A set of identical units (vector cores, matrix engines) that jobs hold for
// their duration. A job takes the lowest-numbered free units it asks for;
// jobs get their units in the order they ask (tickets), so one that cannot
// start yet holds back those after it and the schedule is deterministic.
// Jobs on disjoint units run at the same time.
//
// Simulation thread only; acquire() must be called from a SystemC thread
// process, in dispatch order.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "systemc.h"

namespace kiln::sim {

class UnitPool {
 public:
  void resize(std::size_t units) { busy_.assign(units, false); }
  std::size_t size() const { return busy_.size(); }

  // Waits for this caller's turn and `n` free units; returns them, lowest first.
  std::vector<int> acquire(int n) {
    const uint64_t ticket = next_ticket_++;
    const auto free_units = [&] { return static_cast<int>(std::count(busy_.begin(), busy_.end(), false)); };
    while (ticket != serving_ticket_ || free_units() < n) sc_core::wait(changed_);
    std::vector<int> units;
    for (int u = 0; u < static_cast<int>(busy_.size()) && static_cast<int>(units.size()) < n; ++u) {
      if (busy_[static_cast<std::size_t>(u)]) continue;
      busy_[static_cast<std::size_t>(u)] = true;
      units.push_back(u);
    }
    ++serving_ticket_;
    changed_.notify(sc_core::SC_ZERO_TIME);  // the next job may fit in what is left
    return units;
  }

  void release(const std::vector<int>& units) {
    for (int u : units) busy_[static_cast<std::size_t>(u)] = false;
    changed_.notify(sc_core::SC_ZERO_TIME);
  }

 private:
  std::vector<bool> busy_;
  uint64_t next_ticket_ = 0;     // handed to jobs as they ask, in dispatch order
  uint64_t serving_ticket_ = 0;  // the job whose turn it is
  sc_core::sc_event changed_;
};

}  // namespace kiln::sim
