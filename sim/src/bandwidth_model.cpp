#include "bandwidth_model.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace kiln::sim {

using namespace sc_core;

BandwidthModel::BandwidthModel() : last_update_(sc_time_stamp()) {}
BandwidthModel::~BandwidthModel() = default;

int BandwidthModel::add_resource(std::string name, double gb_per_s) {
  // 1 GB/s = 1e9 bytes / 1e12 ps = 1e-3 bytes per ps.
  resources_.push_back({std::move(name), gb_per_s * 1e-3});
  return static_cast<int>(resources_.size()) - 1;
}

void BandwidthModel::transfer(const std::vector<int>& resources, uint64_t bytes) { wait_for(start(resources, bytes)); }

BandwidthModel::FlowPtr BandwidthModel::start(const std::vector<int>& resources, uint64_t bytes) {
  std::vector<Demand> demands;
  for (int r : resources) demands.push_back({r, bytes});
  return start(demands);
}

BandwidthModel::FlowPtr BandwidthModel::start(const std::vector<Demand>& demands) {
  auto flow = std::make_shared<Flow>();
  // Demands on the same resource add up.
  std::vector<std::pair<int, uint64_t>> merged;
  for (const Demand& d : demands) {
    if (d.bytes == 0) continue;
    auto it = std::find_if(merged.begin(), merged.end(), [&](const auto& m) { return m.first == d.resource; });
    if (it == merged.end()) {
      merged.emplace_back(d.resource, d.bytes);
    } else {
      it->second += d.bytes;
    }
  }
  uint64_t heaviest = 0;
  for (const auto& m : merged) heaviest = std::max(heaviest, m.second);
  if (heaviest == 0) {
    flow->done = true;
    flow->finished_at_ps = sc_time_stamp().value();
    return flow;
  }
  for (const auto& m : merged) {
    flow->resources.push_back(m.first);
    flow->weights.push_back(static_cast<double>(m.second) / static_cast<double>(heaviest));
  }
  flow->remaining_bytes = static_cast<double>(heaviest);
  // Charge the flows already running up to now at their old rates before the
  // newcomer changes the allocation.
  update();
  flows_.push_back(flow);
  reallocate();
  changed_.notify(SC_ZERO_TIME);
  return flow;
}

void BandwidthModel::wait_for(const FlowPtr& flow) {
  while (!flow->done) wait(flow->finished);
}

void BandwidthModel::run_arbiter() {
  for (;;) {
    wait(timer_ | changed_);
    update();
  }
}

void BandwidthModel::update() {
  const sc_time now = sc_time_stamp();
  const double elapsed_ps = static_cast<double>((now - last_update_).value());
  last_update_ = now;
  bool retired = false;
  for (auto it = flows_.begin(); it != flows_.end();) {
    Flow& f = **it;
    f.remaining_bytes -= f.rate * elapsed_ps;
    // Finish times are rounded up to whole picoseconds, so a flow may end a
    // fraction of a byte early or late; anything within one picosecond of
    // transfer counts as done.
    if (f.remaining_bytes <= std::max(f.rate, 1e-9)) {
      f.done = true;
      f.finished_at_ps = now.value();
      f.finished.notify(SC_ZERO_TIME);
      it = flows_.erase(it);
      retired = true;
    } else {
      ++it;
    }
  }
  if (retired) reallocate();
  // Re-arm for the earliest finish under the current rates.
  timer_.cancel();
  double earliest_ps = std::numeric_limits<double>::infinity();
  for (const auto& f : flows_) {
    if (f->rate > 0) earliest_ps = std::min(earliest_ps, f->remaining_bytes / f->rate);
  }
  if (std::isfinite(earliest_ps)) {
    timer_.notify(sc_time::from_value(static_cast<uint64_t>(std::ceil(earliest_ps))));
  }
}

void BandwidthModel::reallocate() {
  // Weighted progressive filling: repeatedly find the resource whose
  // remaining capacity, divided by the weights of the unfixed flows crossing
  // it, is smallest; fix those flows at that rate, and subtract rate x weight
  // from every resource they cross.
  std::vector<double> capacity(resources_.size());
  for (std::size_t r = 0; r < resources_.size(); ++r) capacity[r] = resources_[r].bytes_per_ps;
  std::vector<Flow*> unfixed;
  for (auto& f : flows_) {
    f->rate = 0;
    unfixed.push_back(f.get());
  }
  while (!unfixed.empty()) {
    std::vector<double> load(resources_.size(), 0.0);
    for (Flow* f : unfixed) {
      for (std::size_t i = 0; i < f->resources.size(); ++i) load[f->resources[i]] += f->weights[i];
    }
    int bottleneck = -1;
    double share = std::numeric_limits<double>::infinity();
    for (std::size_t r = 0; r < resources_.size(); ++r) {
      if (load[r] <= 0) continue;
      const double s = capacity[r] / load[r];
      if (s < share) {
        share = s;
        bottleneck = static_cast<int>(r);
      }
    }
    std::vector<Flow*> still_unfixed;
    for (Flow* f : unfixed) {
      const bool crosses = std::find(f->resources.begin(), f->resources.end(), bottleneck) !=
                           f->resources.end();
      if (crosses) {
        f->rate = share;
        for (std::size_t i = 0; i < f->resources.size(); ++i) {
          double& c = capacity[f->resources[i]];
          c = std::max(0.0, c - share * f->weights[i]);
        }
      } else {
        still_unfixed.push_back(f);
      }
    }
    unfixed.swap(still_unfixed);
  }
}

}  // namespace kiln::sim
