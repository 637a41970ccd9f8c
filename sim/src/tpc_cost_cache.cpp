#include "tpc_cost_cache.h"

#include <cstring>

#include "device_impl.h"
#include "tpc_engine.h"

namespace kiln::sim {

namespace {

template <typename T>
void put(std::string& key, const T& value) {
  key.append(reinterpret_cast<const char*>(&value), sizeof value);
}

}  // namespace

std::optional<std::string> TpcCostCache::key(DeviceImpl& device, const TpcJob& job, int cores) {
  if (device.options.functional || job.kernel->cost_depends_on_data) return std::nullopt;
  std::string key;
  const kernels::KernelArgs& a = job.args;
  put(key, job.kernel->id);
  put(key, cores);
  put(key, a.num_tensors);
  put(key, a.num_ints);
  put(key, a.num_floats);
  for (int i = 0; i < a.num_ints; ++i) put(key, a.ints[static_cast<std::size_t>(i)]);
  for (int i = 0; i < a.num_floats; ++i) put(key, a.floats[static_cast<std::size_t>(i)]);  // bitwise
  for (int i = 0; i < a.num_tensors; ++i) {
    const kernels::TensorDesc& t = a.tensors[static_cast<std::size_t>(i)];
    put(key, t.dtype);
    put(key, t.rank);
    put(key, t.dims);
    put(key, t.strides);
    // Where its bytes live decides which memories carry its traffic; the
    // address itself does not matter.
    const kernels::TensorSpan span = kernels::tensor_span(t);
    if (span.bytes == 0) continue;
    std::vector<Segment> segments;
    uint64_t fault = 0;
    if (!device.mmu.translate(job.context, t.address - span.before, span.bytes, &segments, &fault)) {
      return std::nullopt;  // it will fault when it runs
    }
    put(key, segments.size());
    for (const Segment& s : segments) {
      put(key, s.kind);
      put(key, s.size);
    }
  }
  return key;
}

}  // namespace kiln::sim
