// The fused attention kernels' cases: one key block of the online softmax
// (first block and later ones, with and without an additive mask broadcast
// over heads, causal tiles on and off the diagonal, long rows whose vectors
// are visible, across the diagonal or hidden, key blocks that are not a
// multiple of the vector width, negative scales) and the final division.
#include "kernel_table.h"

namespace kiln::kernels::test {

void add_sdpa_cases(std::vector<KernelCase>& cases) {
  for (DType d : {DType::kF32, DType::kBF16, DType::kF16}) {
    const auto add = [&](std::string label, std::vector<int64_t> s, bool first, bool mask, std::vector<int64_t> ints,
                         float scale) {
      std::vector<int64_t> rows = s, ml = s;
      ml[0] = 2;
      const int64_t dv = 72;
      std::vector<int64_t> o = s;
      o[0] = dv;
      std::vector<TensorSpec> in = {T(s, d, -6, 6)};
      if (mask) {
        std::vector<int64_t> m = s;
        if (m.size() > 2) m[2] = 1;  // one mask for every head
        in.push_back(T(m, d, -2, 0));
      }
      if (!first) {
        in.push_back(T(ml, DType::kF32, 0.5, 3));
        in.push_back(T(o, DType::kF32, -2, 2));
      }
      ints.insert(ints.begin(), {first ? 1 : 0, mask ? 1 : 0});
      cases.push_back(make_case("sdpa_softmax_step", std::move(label), d, std::move(in), T(s, d), ints, {scale}, true));
      cases.back().extra_outs.push_back(T(ml, DType::kF32));
      if (!first) cases.back().extra_outs.push_back(T(o, DType::kF32));
    };
    add("first_100x7x3", {100, 7, 3}, true, false, {0, 0, 0}, 0.125f);
    add("next_mask_130x5x2x2", {130, 5, 2, 2}, false, true, {0, 0, 0}, 0.3f);
    add("first_causal_diag_64x64", {64, 64, 2}, true, false, {1, 64, 64}, 0.5f);
    add("next_causal_edge_77x40", {77, 40, 3}, false, true, {1, 40, 20}, 0.2f);
    // Long rows: vectors wholly visible, across the diagonal and wholly hidden,
    // without a mask (the max pass over the raw scores) and with one.
    add("first_causal_long_300x24x2", {300, 24, 2}, true, false, {1, 120, 0}, 0.125f);
    add("next_causal_long_mask_260x8x2", {260, 8, 2}, false, true, {1, 250, 0}, 0.25f);
    add("next_long_520x3x2", {520, 3, 2}, false, false, {0, 0, 0}, 0.09f);
    // A negative scale: the raw scores' min gives the max.
    add("first_negative_scale_200x6", {200, 6, 2}, true, false, {0, 0, 0}, -0.4f);
    add("next_causal_negative_scale_150x5", {150, 5, 2}, false, false, {1, 60, 20}, -0.3f);
    cases.push_back(make_case("sdpa_finalize", "72x9x4", d, {T({72, 9, 4}, DType::kF32, -5, 5),
                                                              T({2, 9, 4}, DType::kF32, 0.5, 4)},
                              T({72, 9, 4}, d), {}, {}, true));
  }
}

}  // namespace kiln::kernels::test
