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
  auto flow = std::make_shared<Flow>();
  if (bytes == 0 || resources.empty()) {
    flow->done = true;
    flow->finished_at_ps = sc_time_stamp().value();
    return flow;
  }
  flow->resources = resources;
  flow->remaining_bytes = static_cast<double>(bytes);
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
  // Progressive filling: repeatedly find the resource whose remaining
  // capacity split among its unfixed flows is smallest, fix those flows at
  // that share, and subtract it from every resource they cross.
  std::vector<double> capacity(resources_.size());
  for (std::size_t r = 0; r < resources_.size(); ++r) capacity[r] = resources_[r].bytes_per_ps;
  std::vector<Flow*> unfixed;
  for (auto& f : flows_) {
    f->rate = 0;
    unfixed.push_back(f.get());
  }
  while (!unfixed.empty()) {
    std::vector<int> users(resources_.size(), 0);
    for (Flow* f : unfixed) {
      for (int r : f->resources) ++users[r];
    }
    int bottleneck = -1;
    double share = std::numeric_limits<double>::infinity();
    for (std::size_t r = 0; r < resources_.size(); ++r) {
      if (users[r] == 0) continue;
      const double s = capacity[r] / users[r];
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
        for (int r : f->resources) capacity[r] = std::max(0.0, capacity[r] - share);
      } else {
        still_unfixed.push_back(f);
      }
    }
    unfixed.swap(still_unfixed);
  }
}

}  // namespace kiln::sim
