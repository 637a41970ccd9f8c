// RNN and GRU lowerings against host references where ONNX's node tests do
// not reach: a bidirectional RNN with sequence_lens masking, and a GRU with
// linear_before_reset.
// ONNX headers live in /usr/include, a system directory: their warnings stay out of -Werror.
#include <onnx/onnx_pb.h>

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "kiln/frontend/onnx_model.h"
#include "kiln/runtime/ops.h"
#include "onnx_builder.h"

namespace kiln::frontend {
namespace {

namespace fs = std::filesystem;
using namespace testing;

std::vector<float> values(std::size_t n, float scale, int salt) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = scale * static_cast<float>(static_cast<int>((i * 7919 + static_cast<std::size_t>(salt) * 104729) % 17) - 8);
  return v;
}

float sigmoid(float v) { return 1.0f / (1.0f + std::exp(-v)); }

TEST(Recurrent, BidirectionalRnnWithSequenceLengths) {
  const int64_t T = 3, B = 2, I = 2, H = 2, D = 2;
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(17);
  auto* g = m.mutable_graph();
  g->set_name("g");
  add_io(g->add_input(), "X", onnx::TensorProto::FLOAT, {T, B, I});
  add_io(g->add_input(), "W", onnx::TensorProto::FLOAT, {D, H, I});
  add_io(g->add_input(), "R", onnx::TensorProto::FLOAT, {D, H, H});
  add_io(g->add_input(), "B", onnx::TensorProto::FLOAT, {D, 2 * H});
  add_io(g->add_input(), "lens", onnx::TensorProto::INT32, {B});
  add_io(g->add_output(), "Y", onnx::TensorProto::FLOAT, {T, D, B, H});
  add_io(g->add_output(), "Y_h", onnx::TensorProto::FLOAT, {D, B, H});
  auto* n = g->add_node();
  n->set_op_type("RNN");
  n->set_name("rnn");
  for (const char* i : {"X", "W", "R", "B", "lens"}) n->add_input(i);
  n->add_output("Y");
  n->add_output("Y_h");
  auto* a = n->add_attribute();
  a->set_name("hidden_size");
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(H);
  a = n->add_attribute();
  a->set_name("direction");
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s("bidirectional");
  auto model = OnnxModel::load(save("recurrent", m, "rnn.onnx"));
  ASSERT_TRUE(model.ok()) << model.status().to_string();

  const auto x = values(static_cast<std::size_t>(T * B * I), 0.25f, 1), w = values(static_cast<std::size_t>(D * H * I), 0.2f, 2),
             r = values(static_cast<std::size_t>(D * H * H), 0.15f, 3), bias = values(static_cast<std::size_t>(D * 2 * H), 0.1f, 4);
  const std::vector<int32_t> lens = {3, 1};
  auto rt = runtime::Runtime::open("tiny").value();
  std::vector<runtime::Tensor> ins = {rt->from_host(x, {T, B, I}).value(), rt->from_host(w, {D, H, I}).value(),
                                      rt->from_host(r, {D, H, H}).value(), rt->from_host(bias, {D, 2 * H}).value(),
                                      rt->from_host(lens, {B}).value()};
  auto outs = (*model)->run(*rt, ins);
  ASSERT_TRUE(outs.ok()) << outs.status().to_string();
  auto y = (*outs)[0].to_host<float>().value();
  auto y_h = (*outs)[1].to_host<float>().value();

  // Host reference: H_t = tanh(x W^T + h R^T + Wb + Rb); a batch past its length keeps h and outputs 0.
  std::vector<float> want_y(static_cast<std::size_t>(T * D * B * H), 0.0f), want_h(static_cast<std::size_t>(D * B * H));
  for (int64_t d = 0; d < D; ++d)
    for (int64_t b = 0; b < B; ++b) {
      std::vector<float> h(static_cast<std::size_t>(H), 0.0f);
      for (int64_t k = 0; k < T; ++k) {
        const int64_t t = d == 0 ? k : T - 1 - k;
        if (t >= lens[static_cast<std::size_t>(b)]) continue;
        std::vector<float> next(static_cast<std::size_t>(H));
        for (int64_t j = 0; j < H; ++j) {
          float s = bias[static_cast<std::size_t>(d * 2 * H + j)] + bias[static_cast<std::size_t>(d * 2 * H + H + j)];
          for (int64_t i = 0; i < I; ++i) s += x[static_cast<std::size_t>((t * B + b) * I + i)] * w[static_cast<std::size_t>((d * H + j) * I + i)];
          for (int64_t i = 0; i < H; ++i) s += h[static_cast<std::size_t>(i)] * r[static_cast<std::size_t>((d * H + j) * H + i)];
          next[static_cast<std::size_t>(j)] = std::tanh(s);
        }
        h = next;
        for (int64_t j = 0; j < H; ++j) want_y[static_cast<std::size_t>(((t * D + d) * B + b) * H + j)] = h[static_cast<std::size_t>(j)];
      }
      for (int64_t j = 0; j < H; ++j) want_h[static_cast<std::size_t>((d * B + b) * H + j)] = h[static_cast<std::size_t>(j)];
    }
  ASSERT_EQ(y.size(), want_y.size());
  for (std::size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(y[i], want_y[i], 1e-4) << "Y at " << i;
  for (std::size_t i = 0; i < y_h.size(); ++i) EXPECT_NEAR(y_h[i], want_h[i], 1e-4) << "Y_h at " << i;
}

TEST(Recurrent, GruLinearBeforeReset) {
  const int64_t T = 2, B = 1, I = 3, H = 2;
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(17);
  auto* g = m.mutable_graph();
  g->set_name("g");
  add_io(g->add_input(), "X", onnx::TensorProto::FLOAT, {T, B, I});
  add_io(g->add_input(), "W", onnx::TensorProto::FLOAT, {1, 3 * H, I});
  add_io(g->add_input(), "R", onnx::TensorProto::FLOAT, {1, 3 * H, H});
  add_io(g->add_input(), "B", onnx::TensorProto::FLOAT, {1, 6 * H});
  add_io(g->add_output(), "Y_h", onnx::TensorProto::FLOAT, {1, B, H});
  auto* n = g->add_node();
  n->set_op_type("GRU");
  n->set_name("gru");
  for (const char* i : {"X", "W", "R", "B"}) n->add_input(i);
  n->add_output("");
  n->add_output("Y_h");
  auto* a = n->add_attribute();
  a->set_name("hidden_size");
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(H);
  a = n->add_attribute();
  a->set_name("linear_before_reset");
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(1);
  auto model = OnnxModel::load(save("recurrent", m, "gru.onnx"));
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  const auto x = values(static_cast<std::size_t>(T * B * I), 0.3f, 5), w = values(static_cast<std::size_t>(3 * H * I), 0.2f, 6),
             r = values(static_cast<std::size_t>(3 * H * H), 0.25f, 7), bias = values(static_cast<std::size_t>(6 * H), 0.1f, 8);
  auto rt = runtime::Runtime::open("tiny").value();
  std::vector<runtime::Tensor> ins = {rt->from_host(x, {T, B, I}).value(), rt->from_host(w, {1, 3 * H, I}).value(),
                                      rt->from_host(r, {1, 3 * H, H}).value(), rt->from_host(bias, {1, 6 * H}).value()};
  auto outs = (*model)->run(*rt, ins);
  ASSERT_TRUE(outs.ok()) << outs.status().to_string();
  auto got = (*outs)[0].to_host<float>().value();

  // z, r, h gates; h~ = tanh(x Wh + r (h Rh + Rbh) + Wbh); h' = (1 - z) h~ + z h.
  std::vector<float> h(static_cast<std::size_t>(H), 0.0f);
  auto gate = [&](int which, int64_t j, int64_t t, const std::vector<float>& hv, bool with_rec) {
    float xs = bias[static_cast<std::size_t>(which * H + j)], rs = bias[static_cast<std::size_t>(3 * H + which * H + j)];
    for (int64_t i = 0; i < I; ++i) xs += x[static_cast<std::size_t>(t * I + i)] * w[static_cast<std::size_t>((which * H + j) * I + i)];
    for (int64_t i = 0; i < H; ++i) rs += hv[static_cast<std::size_t>(i)] * r[static_cast<std::size_t>((which * H + j) * H + i)];
    return std::pair<float, float>{xs, with_rec ? rs : 0.0f};
  };
  for (int64_t t = 0; t < T; ++t) {
    std::vector<float> next(static_cast<std::size_t>(H));
    for (int64_t j = 0; j < H; ++j) {
      auto [zx, zr] = gate(0, j, t, h, true);
      auto [rx, rr] = gate(1, j, t, h, true);
      auto [hx, hr] = gate(2, j, t, h, true);
      const float z = sigmoid(zx + zr), rg = sigmoid(rx + rr);
      const float cand = std::tanh(hx + rg * hr);
      next[static_cast<std::size_t>(j)] = (1 - z) * cand + z * h[static_cast<std::size_t>(j)];
    }
    h = next;
  }
  ASSERT_EQ(got.size(), h.size());
  for (std::size_t i = 0; i < h.size(); ++i) EXPECT_NEAR(got[i], h[i], 1e-4) << "Y_h at " << i;
}

}  // namespace
}  // namespace kiln::frontend
