// 3-D convolution (no ONNX node test covers plain 3-D Conv) against a host
// reference: strides, asymmetric pads, dilation, group and bias together.
// ONNX headers live in /usr/include, a system directory: their warnings stay out of -Werror.
#include <onnx/onnx_pb.h>

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "kiln/frontend/onnx_model.h"
#include "onnx_builder.h"

namespace kiln::frontend {
namespace {

namespace fs = std::filesystem;
using namespace testing;

std::vector<float> values(std::size_t n, float scale) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = scale * static_cast<float>(static_cast<int>((i * 7919) % 23) - 11);
  return v;
}

TEST(Conv3d, MatchesAHostReference) {
  const int64_t n = 1, c = 4, d = 5, h = 6, w = 5, k = 4, g = 2, kd = 2, kh = 3, kw = 2;
  const int64_t sd = 2, sh = 1, sw = 2, dd = 1, dh = 2, dw = 1;
  const int64_t pd0 = 1, ph0 = 2, pw0 = 0, pd1 = 0, ph1 = 1, pw1 = 1;
  const int64_t od = (d + pd0 + pd1 - ((kd - 1) * dd + 1)) / sd + 1, oh = (h + ph0 + ph1 - ((kh - 1) * dh + 1)) / sh + 1,
                ow = (w + pw0 + pw1 - ((kw - 1) * dw + 1)) / sw + 1;
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(17);
  auto* gr = m.mutable_graph();
  gr->set_name("g");
  add_io(gr->add_input(), "x", onnx::TensorProto::FLOAT, {n, c, d, h, w});
  add_io(gr->add_input(), "w", onnx::TensorProto::FLOAT, {k, c / g, kd, kh, kw});
  add_io(gr->add_input(), "b", onnx::TensorProto::FLOAT, {k});
  add_io(gr->add_output(), "y", onnx::TensorProto::FLOAT, {n, k, od, oh, ow});
  auto* conv = gr->add_node();
  conv->set_op_type("Conv");
  conv->set_name("conv3d");
  for (const char* i : {"x", "w", "b"}) conv->add_input(i);
  conv->add_output("y");
  set_ints(conv, "strides", {sd, sh, sw});
  set_ints(conv, "dilations", {dd, dh, dw});
  set_ints(conv, "pads", {pd0, ph0, pw0, pd1, ph1, pw1});
  auto* group = conv->add_attribute();
  group->set_name("group");
  group->set_type(onnx::AttributeProto::INT);
  group->set_i(g);
  const fs::path dir = testing::scratch_dir() / "conv";
  fs::create_directories(dir);
  std::ofstream(dir / "conv3d.onnx", std::ios::binary) << m.SerializeAsString();

  auto model = OnnxModel::load((dir / "conv3d.onnx").string());
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  auto rt = runtime::Runtime::open("tiny").value();
  const auto xs = values(static_cast<std::size_t>(n * c * d * h * w), 0.25f);
  const auto ws = values(static_cast<std::size_t>(k * (c / g) * kd * kh * kw), 0.125f);
  const auto bs = values(static_cast<std::size_t>(k), 0.5f);
  auto x = rt->from_host(xs, {n, c, d, h, w}).value();
  auto wt = rt->from_host(ws, {k, c / g, kd, kh, kw}).value();
  auto b = rt->from_host(bs, {k}).value();
  auto outs = (*model)->run(*rt, {x, wt, b});
  ASSERT_TRUE(outs.ok()) << outs.status().to_string();
  auto got = (*outs)[0].to_host<float>();
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  ASSERT_EQ(got->size(), static_cast<std::size_t>(n * k * od * oh * ow));

  std::size_t at = 0;
  for (int64_t ko = 0; ko < k; ++ko)
    for (int64_t zo = 0; zo < od; ++zo)
      for (int64_t yo = 0; yo < oh; ++yo)
        for (int64_t xo = 0; xo < ow; ++xo, ++at) {
          double sum = bs[static_cast<std::size_t>(ko)];
          const int64_t gi = ko / (k / g);
          for (int64_t ci = 0; ci < c / g; ++ci)
            for (int64_t a = 0; a < kd; ++a)
              for (int64_t p = 0; p < kh; ++p)
                for (int64_t q = 0; q < kw; ++q) {
                  const int64_t zi = zo * sd + a * dd - pd0, yi = yo * sh + p * dh - ph0, xi = xo * sw + q * dw - pw0;
                  if (zi < 0 || zi >= d || yi < 0 || yi >= h || xi < 0 || xi >= w) continue;
                  const int64_t cin = gi * (c / g) + ci;
                  sum += static_cast<double>(xs[static_cast<std::size_t>((((cin * d) + zi) * h + yi) * w + xi)]) *
                         ws[static_cast<std::size_t>((((ko * (c / g) + ci) * kd + a) * kh + p) * kw + q)];
                }
          EXPECT_NEAR((*got)[at], sum, 1e-3 + 1e-3 * std::abs(sum)) << "at flat index " << at;
        }
}

}  // namespace
}  // namespace kiln::frontend
