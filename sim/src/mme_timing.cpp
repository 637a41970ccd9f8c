#include "mme_timing.h"

#include <algorithm>
#include <cmath>

#include "integer_math.h"

namespace kiln::sim {

uint64_t mme_stream_cycles(uint64_t m, double rate) {
  if (rate == 1.0) return m;  // bf16: the integer path, bit for bit what it always was
  constexpr double kSaturate = static_cast<double>(uint64_t{1} << 62);
  const double cycles = std::ceil(static_cast<double>(m) / rate);
  return cycles < kSaturate ? static_cast<uint64_t>(cycles) : uint64_t{1} << 62;  // NaN saturates too
}

MmeTiming mme_timing(const proto::MmeConfig& config, const GemmShape& shape, uint32_t using_engines,
                     double rate) {
  const uint64_t rows = config.array_rows();
  const uint64_t cols = config.array_cols();
  const uint64_t all = std::max<uint64_t>(1, config.count());
  const uint64_t engines = using_engines == 0 ? all : std::min<uint64_t>(using_engines, all);
  MmeTiming t;
  t.folds = shape.batch * ceil_div(shape.k, rows) * ceil_div(shape.n, cols);
  t.stream_cycles = mme_stream_cycles(shape.m, rate);
  t.mac_bound_cycles = static_cast<double>(shape.batch) * static_cast<double>(shape.m) *
                       static_cast<double>(shape.n) * static_cast<double>(shape.k) /
                       (static_cast<double>(rows * cols * engines) * rate);
  for (uint64_t e = 0; e < engines; ++e) {
    const uint64_t folds = t.folds / engines + (e < t.folds % engines ? 1 : 0);
    uint64_t cycles = 0;
    if (folds > 0 && shape.m > 0) {
      const uint64_t fill = ceil_div(rows, std::max<uint64_t>(1, config.fill_rows_per_cycle()));
      const uint64_t stream = t.stream_cycles;
      if (config.dataflow() == proto::WEIGHT_STATIONARY_SERIAL) {
        cycles = folds * (fill + rows + cols + stream - 2) - 1;
      } else {
        cycles = folds * std::max(stream, fill) + fill + rows + cols - 3;
      }
    }
    t.engine_folds.push_back(folds);
    t.engine_cycles.push_back(cycles);
    t.cycles = std::max(t.cycles, cycles);
  }
  return t;
}

}  // namespace kiln::sim
