// Reference of the fused attention kernels (sdpa_softmax_step,
// sdpa_finalize): the online-softmax update written out in double from its
// definition, independently of the kernels' vector code.
#include <cmath>
#include <limits>

#include "reference.h"

namespace kiln::kernels::test {
namespace {

int64_t count(const Shape& d) { return d[0] * d[1] * d[2] * d[3] * d[4]; }

// The dense index of (i, r) — element i of dim 0, row r of dims 1..4 — in a
// tensor with dims d, broadcasting its dims of size 1 (dim 0 never is).
std::size_t index_of(const Shape& d, int64_t i, int64_t row, const Shape& rows_of) {
  int64_t idx = 0, mul = d[0], rest = row;
  for (int k = 1; k < 5; ++k) {
    const int64_t c = rest % rows_of[static_cast<std::size_t>(k)];
    rest /= rows_of[static_cast<std::size_t>(k)];
    idx += (d[static_cast<std::size_t>(k)] == 1 ? 0 : c) * mul;
    mul *= d[static_cast<std::size_t>(k)];
  }
  return static_cast<std::size_t>(idx + i);
}

RefTensor out_like(const OutSpec& o) {
  RefTensor t;
  t.dims = o.dims;
  t.dtype = o.dtype;
  t.v.assign(static_cast<std::size_t>(count(o.dims)), 0.0);
  return t;
}

}  // namespace

std::vector<RefTensor> sdpa_reference(const std::string& k, const std::vector<RefTensor>& in,
                                      const std::vector<OutSpec>& outs, const std::vector<int64_t>& ints,
                                      const std::vector<float>& floats) {
  constexpr double kNegInf = -std::numeric_limits<double>::infinity();
  if (k == "sdpa_finalize") {
    const RefTensor& o = in[0];
    const RefTensor& ml = in[1];
    RefTensor out = out_like(outs[0]);
    const int64_t n = o.dims[0], rows = count(o.dims) / n;
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t i = 0; i < n; ++i) {
        out.v[static_cast<std::size_t>(r * n + i)] = o.v[static_cast<std::size_t>(r * n + i)] / ml.v[static_cast<std::size_t>(r * 2 + 1)];
      }
    }
    return {out};
  }
  const auto at = [&](std::size_t i) { return i < ints.size() ? ints[i] : 0; };
  const bool first = at(0) != 0, has_mask = at(1) != 0, causal = at(2) != 0;
  const int64_t row0 = at(3), col0 = at(4);
  const double scale = floats.empty() ? 1.0 : floats[0];
  const RefTensor& s = in[0];
  const RefTensor* mask = has_mask ? &in[1] : nullptr;
  const std::size_t state = has_mask ? 2 : 1;
  RefTensor p = out_like(outs[0]), ml = out_like(outs[1]);
  RefTensor o;
  if (!first) o = out_like(outs[2]);
  const int64_t n = s.dims[0], rows = count(s.dims) / n;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t q = r % s.dims[1];
    std::vector<double> x(static_cast<std::size_t>(n));
    double mx = kNegInf;
    for (int64_t i = 0; i < n; ++i) {
      double v = s.v[static_cast<std::size_t>(r * n + i)] * scale;
      if (mask) v += mask->v[index_of(mask->dims, i, r, s.dims)];
      if (causal && col0 + i > row0 + q) v = kNegInf;
      x[static_cast<std::size_t>(i)] = v;
      mx = std::max(mx, v);
    }
    const double m_old = first ? kNegInf : in[state].v[static_cast<std::size_t>(r * 2)];
    const double l_old = first ? 0.0 : in[state].v[static_cast<std::size_t>(r * 2 + 1)];
    const double m_new = std::max(m_old, mx);
    const double m_use = m_new == kNegInf ? 0.0 : m_new;
    const double alpha = std::exp(m_old - m_use);
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double e = std::exp(x[static_cast<std::size_t>(i)] - m_use);
      p.v[static_cast<std::size_t>(r * n + i)] = e;
      sum += e;
    }
    ml.v[static_cast<std::size_t>(r * 2)] = m_new;
    ml.v[static_cast<std::size_t>(r * 2 + 1)] = alpha * l_old + sum;
    if (!first) {
      const RefTensor& o_in = in[state + 1];
      const int64_t dv = o_in.dims[0];
      for (int64_t i = 0; i < dv; ++i) {
        o.v[static_cast<std::size_t>(r * dv + i)] = o_in.v[static_cast<std::size_t>(r * dv + i)] * alpha;
      }
    }
  }
  if (first) return {p, ml};
  return {p, ml, o};
}

}  // namespace kiln::kernels::test
