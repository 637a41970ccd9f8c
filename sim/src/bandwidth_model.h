// Fluid model of shared bandwidth.
//
// A resource (HBM, SRAM, one direction of the host link) has a peak rate in
// bytes per picosecond. A flow moves a number of bytes through each of one or
// more resources (a copy within HBM moves its bytes through HBM twice: read
// and written), all of them in proportion, so it ends when the last byte on
// every resource has moved. Its progress is counted in bytes of its heaviest
// resource. While flows overlap, rates are the max-min fair allocation in
// those units: every flow gets an equal share of its tightest resource, and
// capacity a flow cannot use is shared among the others. Rates are recomputed only when a flow starts or
// finishes; between those instants every rate is constant, so a flow's finish
// time is exact. Nothing is stepped cycle by cycle.
//
// Lives on the simulation thread; not thread-safe.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "systemc.h"

namespace kiln::sim {

class BandwidthModel {
 public:
  // Bytes a flow moves through one resource.
  struct Demand {
    int resource = 0;
    uint64_t bytes = 0;
  };

  struct Flow {
    std::vector<int> resources;
    std::vector<double> weights;  // per resource: its bytes / the heaviest resource's bytes
    double remaining_bytes = 0;   // of the heaviest resource
    double rate = 0;  // bytes per picosecond, current allocation
    bool done = false;
    uint64_t finished_at_ps = 0;  // simulated time (absolute) the last byte moved
    sc_core::sc_event finished;
  };
  using FlowPtr = std::shared_ptr<Flow>;

  BandwidthModel();
  ~BandwidthModel();
  BandwidthModel(const BandwidthModel&) = delete;
  BandwidthModel& operator=(const BandwidthModel&) = delete;

  // Registers a resource; returns its index. `gb_per_s` is decimal GB/s.
  int add_resource(std::string name, double gb_per_s);
  const std::string& resource_name(int index) const { return resources_[index].name; }
  int resource_count() const { return static_cast<int>(resources_.size()); }

  // Moves `bytes` through each of `resources`; returns when they have all
  // moved. Must be called from a SystemC thread process.
  void transfer(const std::vector<int>& resources, uint64_t bytes);
  // Starts a flow and returns at once; wait for it with wait_for().
  FlowPtr start(const std::vector<int>& resources, uint64_t bytes);
  // Starts a flow moving each demand's bytes through its resource.
  FlowPtr start(const std::vector<Demand>& demands);
  static void wait_for(const FlowPtr& flow);

  // Number of flows in progress (for tests and utilisation).
  std::size_t active_flows() const { return flows_.size(); }

  // The process that completes flows; spawned by the owning device so that
  // it dies with it.
  void run_arbiter();

 private:
  struct Resource {
    std::string name;
    double bytes_per_ps;
  };

  // Charges elapsed time to every flow, retires finished ones, reallocates
  // rates and re-arms the timer for the next finish.
  void update();
  void reallocate();

  std::vector<Resource> resources_;
  std::list<FlowPtr> flows_;
  sc_core::sc_time last_update_;
  sc_core::sc_event changed_;  // a flow started; rates need recomputing
  sc_core::sc_event timer_;    // the earliest finish among current flows
};

}  // namespace kiln::sim
