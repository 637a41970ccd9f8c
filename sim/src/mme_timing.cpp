#include "mme_timing.h"

#include <algorithm>

namespace kiln::sim {

namespace {
uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }
}  // namespace

MmeTiming mme_timing(const proto::MmeConfig& config, const GemmShape& shape, uint32_t using_engines) {
  const uint64_t rows = config.array_rows();
  const uint64_t cols = config.array_cols();
  const uint64_t all = std::max<uint64_t>(1, config.count());
  const uint64_t engines = using_engines == 0 ? all : std::min<uint64_t>(using_engines, all);
  MmeTiming t;
  t.folds = shape.batch * ceil_div(shape.k, rows) * ceil_div(shape.n, cols);
  t.mac_bound_cycles = static_cast<double>(shape.batch) * static_cast<double>(shape.m) *
                       static_cast<double>(shape.n) * static_cast<double>(shape.k) /
                       static_cast<double>(rows * cols * engines);
  for (uint64_t e = 0; e < engines; ++e) {
    const uint64_t folds = t.folds / engines + (e < t.folds % engines ? 1 : 0);
    uint64_t cycles = 0;
    if (folds > 0 && shape.m > 0) {
      const uint64_t fill = ceil_div(rows, std::max<uint64_t>(1, config.fill_rows_per_cycle()));
      if (config.dataflow() == proto::WEIGHT_STATIONARY_SERIAL) {
        cycles = folds * (fill + rows + cols + shape.m - 2) - 1;
      } else {
        cycles = folds * std::max(shape.m, fill) + fill + rows + cols - 3;
      }
    }
    t.engine_folds.push_back(folds);
    t.engine_cycles.push_back(cycles);
    t.cycles = std::max(t.cycles, cycles);
  }
  return t;
}

}  // namespace kiln::sim
