// The kernel table's resize cases: every mode combination (linear with each
// coordinate transformation; nearest with each transformation and each
// nearest mode) on an upsample and a downsample by non-integer factors and an
// integer upsample, plus output size 1, explicit scales and the defaults.
// Nearest copies values, so it is held exact; linear to the dtype's tolerance.
#include <string>
#include <vector>

#include "kernel_table.h"

namespace kiln::kernels::test {
namespace {

const char* const kCoords[] = {"half_pixel", "align_corners", "asymmetric", "pytorch_half_pixel"};
const char* const kNearest[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};

struct Shapes {
  const char* label;
  std::vector<int64_t> in, out;
};

}  // namespace

void add_resize(std::vector<KernelCase>& cases, DType d) {
  // {C, W, H, N}: C not a multiple of the vector width; W 5 -> 11 (x2.2), H 3
  // -> 7 (x2.33); W 9 -> 4, H 8 -> 3; W 2 -> 4, H 3 -> 6 (exactly x2: ties
  // of half_pixel and aligned taps of asymmetric).
  const Shapes shapes[] = {{"up_70x5x3x2", {70, 5, 3, 2}, {70, 11, 7, 2}},
                           {"down_67x9x8", {67, 9, 8, 1}, {67, 4, 3, 1}},
                           {"x2_130x2x3", {130, 2, 3, 1}, {130, 4, 6, 1}}};
  for (const Shapes& s : shapes) {
    for (int64_t coord = 0; coord < 4; ++coord) {
      std::string label = std::string("linear_") + kCoords[coord] + "_" + s.label;
      cases.push_back(make_case("resize", label, d, {T(s.in, d)}, T(s.out, d), {1, coord}));
      for (int64_t nearest = 0; nearest < 4; ++nearest) {
        label = std::string("nearest_") + kCoords[coord] + "_" + kNearest[nearest] + "_" + s.label;
        cases.push_back(make_case("resize", label, d, {T(s.in, d)}, T(s.out, d), {0, coord, nearest}, {}, false, true));
      }
    }
  }
  // To one pixel: align_corners and pytorch_half_pixel read pixel 0,
  // half_pixel the centre.
  for (int64_t coord = 0; coord < 4; ++coord) {
    std::string label = std::string("linear_") + kCoords[coord] + "_to1_70x6x5";
    cases.push_back(make_case("resize", label, d, {T({70, 6, 5, 1}, d)}, T({70, 1, 1, 1}, d), {1, coord}));
    label = std::string("nearest_") + kCoords[coord] + "_to1_70x6x5";
    cases.push_back(make_case("resize", label, d, {T({70, 6, 5, 1}, d)}, T({70, 1, 1, 1}, d), {0, coord}, {}, false,
                              true));
  }
  // Explicit scales (ONNX `scales`): W 5 x1.5 -> 7, H 4 x0.75 -> 3; the
  // coordinates divide by the scale, not by 7 / 5 and 3 / 4.
  for (int64_t coord : {0, 2, 3}) {
    std::string label = std::string("linear_scales_") + kCoords[coord] + "_70x5x4x2";
    cases.push_back(make_case("resize", label, d, {T({70, 5, 4, 2}, d)}, T({70, 7, 3, 2}, d), {1, coord}, {1.5f, 0.75f}));
    for (int64_t nearest = 0; nearest < 4; ++nearest) {
      label = std::string("nearest_scales_") + kCoords[coord] + "_" + kNearest[nearest] + "_70x5x4x2";
      cases.push_back(make_case("resize", label, d, {T({70, 5, 4, 2}, d)}, T({70, 7, 3, 2}, d), {0, coord, nearest},
                                {1.5f, 0.75f}, false, true));
    }
  }
  // No ints: nearest, half_pixel, round_prefer_floor.
  cases.push_back(make_case("resize", "defaults_70x5x3", d, {T({70, 5, 3, 1}, d)}, T({70, 8, 2, 1}, d), {}, {}, false,
                            true));
}

}  // namespace kiln::kernels::test
