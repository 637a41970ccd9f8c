#include "memory_plan.h"

#include <algorithm>
#include <numeric>

namespace kiln::runtime {

namespace {
uint64_t aligned(uint64_t bytes) { return workspace_aligned(bytes); }
}  // namespace

MemoryPlan plan_memory(const std::vector<PlannedValue>& values) {
  MemoryPlan plan;
  plan.offset.assign(values.size(), 0);
  plan.reuses.assign(values.size(), {});
  std::vector<int> order(values.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return values[a].first < values[b].first; });

  struct Placed {
    int value;
    uint64_t begin, end;
  };
  std::vector<Placed> live;   // by offset
  std::vector<Placed> dead;   // everything that ever lived, for reuse records
  for (int v : order) {
    const PlannedValue& pv = values[static_cast<std::size_t>(v)];
    plan.sum_of_values += aligned(pv.bytes);
    // Values whose last reader comes before this value is written are dead;
    // their bytes are free (a value written and read by the same job is not).
    std::erase_if(live, [&](const Placed& p) { return values[static_cast<std::size_t>(p.value)].last < pv.first; });
    std::sort(live.begin(), live.end(), [](const Placed& a, const Placed& b) { return a.begin < b.begin; });
    const uint64_t need = aligned(pv.bytes);
    uint64_t at = 0;
    for (const Placed& p : live) {
      if (p.begin >= at + need) break;
      at = std::max(at, p.end);
    }
    plan.offset[static_cast<std::size_t>(v)] = at;
    for (const Placed& d : dead) {
      if (d.begin < at + need && at < d.end) plan.reuses[static_cast<std::size_t>(v)].push_back(d.value);
    }
    const Placed placed{v, at, at + need};
    live.push_back(placed);
    dead.push_back(placed);
    plan.size = std::max(plan.size, at + need);
  }
  return plan;
}

}  // namespace kiln::runtime
