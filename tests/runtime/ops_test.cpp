// Every op of the runtime, in eager and in lazy mode, against a host
// reference (host_reference.h). Tolerances: fp32 results within 1e-5
// relative + 1e-5 absolute for elementwise ops and 1e-4 for those that sum
// (matmul, conv, reductions, norms); transcendental kernels within 2e-5.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "host_reference.h"

namespace kiln::runtime::testing {
namespace {

class Ops : public ::testing::TestWithParam<Mode> {
 protected:
  void SetUp() override {
    RuntimeOptions o;
    o.mode = GetParam();
    rt_ = take(Runtime::open("tiny", o));
  }
  Runtime& rt() { return *rt_; }
  std::unique_ptr<Runtime> rt_;
};


TEST_P(Ops, BinaryOpsBroadcastLikeNumpy) {
  const HostTensor a = host_random({3, 1, 4}, 1, 0.5, 2), b = host_random({5, 1}, 2, 0.5, 2);
  const Shape out{3, 5, 4};
  struct Case {
    const char* name;
    Result<Tensor> (*op)(const Tensor&, const Tensor&);
    double (*ref)(double, double);
  };
  const Case cases[] = {
      {"add", add, [](double x, double y) { return x + y; }},
      {"sub", sub, [](double x, double y) { return x - y; }},
      {"mul", mul, [](double x, double y) { return x * y; }},
      {"div", div, [](double x, double y) { return x / y; }},
      {"maximum", maximum, [](double x, double y) { return std::max(x, y); }},
      {"minimum", minimum, [](double x, double y) { return std::min(x, y); }},
      {"pow", pow, [](double x, double y) { return std::pow(x, y); }},
  };
  Tensor ta = upload(rt(), a), tb = upload(rt(), b);
  for (const Case& c : cases) {
    const HostTensor got = download(take(c.op(ta, tb)));
    const HostTensor want = host_map({&a, &b}, out, [&](const auto& v) { return c.ref(v[0], v[1]); });
    expect_close(got, want, 1e-5, 2e-5, c.name);
  }
}

TEST_P(Ops, UnaryOpsMatchTheirDefinitions) {
  const HostTensor x = host_random({4, 33}, 3, -3, 3);
  const HostTensor pos = host_random({4, 33}, 4, 0.1, 4);
  struct Case {
    const char* name;
    std::function<Result<Tensor>(const Tensor&)> op;
    std::function<double(double)> ref;
    bool positive = false;
  };
  const std::vector<Case> cases = {
      {"neg", [](const Tensor& t) { return neg(t); }, [](double v) { return -v; }},
      {"abs", [](const Tensor& t) { return abs(t); }, [](double v) { return std::abs(v); }},
      {"exp", [](const Tensor& t) { return exp(t); }, [](double v) { return std::exp(v); }},
      {"log", [](const Tensor& t) { return log(t); }, [](double v) { return std::log(v); }, true},
      {"sqrt", [](const Tensor& t) { return sqrt(t); }, [](double v) { return std::sqrt(v); }, true},
      {"rsqrt", [](const Tensor& t) { return rsqrt(t); }, [](double v) { return 1 / std::sqrt(v); }, true},
      {"reciprocal", [](const Tensor& t) { return reciprocal(t); }, [](double v) { return 1 / v; }, true},
      {"relu", [](const Tensor& t) { return relu(t); }, [](double v) { return std::max(v, 0.0); }},
      {"sigmoid", [](const Tensor& t) { return sigmoid(t); }, sigmoid_ref},
      {"tanh", [](const Tensor& t) { return tanh(t); }, [](double v) { return std::tanh(v); }},
      {"silu", [](const Tensor& t) { return silu(t); }, [](double v) { return v * sigmoid_ref(v); }},
      {"gelu", [](const Tensor& t) { return gelu(t); }, gelu_erf},
      {"gelu_tanh", [](const Tensor& t) { return gelu(t, true); }, gelu_tanh},
      {"leaky_relu", [](const Tensor& t) { return leaky_relu(t, 0.1); }, [](double v) { return v > 0 ? v : 0.1 * v; }},
      {"clamp", [](const Tensor& t) { return clamp(t, -0.5, 1.25); },
       [](double v) { return std::min(std::max(v, -0.5), 1.25); }},
      {"elu", [](const Tensor& t) { return elu(t, 0.7); }, [](double v) { return v > 0 ? v : 0.7 * (std::exp(v) - 1); }},
      {"hardswish", [](const Tensor& t) { return hardswish(t); },
       [](double v) { return v * std::max(0.0, std::min(1.0, v / 6 + 0.5)); }},
      {"hardsigmoid", [](const Tensor& t) { return hardsigmoid(t); },
       [](double v) { return std::max(0.0, std::min(1.0, 0.2 * v + 0.5)); }},
      {"softplus", [](const Tensor& t) { return softplus(t); }, [](double v) { return std::log1p(std::exp(v)); }},
  };
  Tensor tx = upload(rt(), x), tpos = upload(rt(), pos);
  for (const Case& c : cases) {
    const HostTensor& in = c.positive ? pos : x;
    const HostTensor got = download(take(c.op(c.positive ? tpos : tx)));
    expect_close(got, host_map({&in}, in.shape, [&](const auto& v) { return c.ref(v[0]); }), 2e-5, 2e-5, c.name);
  }
}

TEST_P(Ops, WhereScalarsAndCastsRound) {
  const HostTensor cond = host_random({2, 5}, 5, -1, 1), a = host_random({2, 5}, 6), b = host_random({5}, 7);
  HostTensor cond01 = cond;
  for (double& v : cond01.v) v = v > 0 ? 1 : 0;
  const HostTensor got = download(take(where(upload(rt(), cond01), upload(rt(), a), upload(rt(), b))));
  expect_close(got, host_map({&cond01, &a, &b}, {2, 5}, [](const auto& v) { return v[0] != 0 ? v[1] : v[2]; }), 0, 0,
               "where");
  const HostTensor plus = download(take(add(take(mul(upload(rt(), a), 3.0)), -0.5)));
  expect_close(plus, host_map({&a}, a.shape, [](const auto& v) { return v[0] * 3 - 0.5; }), 1e-6, 1e-6, "scalars");
  const HostTensor bf = download(take(cast(upload(rt(), a), DType::kBF16)));
  expect_close(bf, rounded(DType::kBF16, a), 0, 0, "cast to bf16");
}

TEST_P(Ops, ComparisonsGiveBoolsAndWhereSelectsByThem) {
  // Ties on purpose: half the values repeat, so eq/le/ge differ from lt/gt.
  HostTensor a = host_random({3, 1, 4}, 11), b = host_random({5, 4}, 12);
  for (int64_t i = 0; i < a.size(); i += 2) a[i] = b[i % b.size()];
  const Shape out{3, 5, 4};
  struct Case {
    const char* name;
    Result<Tensor> (*op)(const Tensor&, const Tensor&);
    bool (*ref)(double, double);
  };
  const Case cases[] = {
      {"eq", eq, [](double x, double y) { return x == y; }}, {"ne", ne, [](double x, double y) { return x != y; }},
      {"lt", lt, [](double x, double y) { return x < y; }},  {"le", le, [](double x, double y) { return x <= y; }},
      {"gt", gt, [](double x, double y) { return x > y; }},  {"ge", ge, [](double x, double y) { return x >= y; }},
  };
  Tensor ta = upload(rt(), a), tb = upload(rt(), b);
  const HostTensor yes = host_random({3, 5, 4}, 13), no = host_random({4}, 14);
  Tensor tyes = upload(rt(), yes), tno = upload(rt(), no);
  for (const Case& c : cases) {
    const Tensor mask = take(c.op(ta, tb));
    EXPECT_EQ(mask.dtype(), DType::kBool) << c.name;
    const HostTensor want = host_map({&a, &b}, out, [&](const auto& v) { return c.ref(v[0], v[1]) ? 1.0 : 0.0; });
    expect_close(download(mask), want, 0, 0, c.name);
    // A bool condition selects between values of another dtype.
    expect_close(download(take(where(mask, tyes, tno))),
                 host_map({&want, &yes, &no}, out, [](const auto& v) { return v[0] != 0 ? v[1] : v[2]; }), 0, 0,
                 std::string("where by ") + c.name);
  }
  // Integers compare exactly.
  const Tensor i = take(rt().arange(6, DType::kI32)), three = take(rt().full({}, 3, DType::kI32));
  expect_close(download(take(lt(i, three))), HostTensor{{6}, {1, 1, 1, 0, 0, 0}}, 0, 0, "i32 lt");
  // Both sides must share a dtype; a float condition must be the values' dtype.
  const Result<Tensor> mixed = lt(i, ta);
  ASSERT_FALSE(mixed.ok());
  EXPECT_NE(mixed.status().message().find("lt: dtypes differ"), std::string::npos) << mixed.status().to_string();
  EXPECT_FALSE(where(take(cast(ta, DType::kBF16)), tyes, tno).ok());
}

TEST_P(Ops, MatmulBatchedBroadcastTransposedAndLinear) {
  const HostTensor a = host_random({2, 3, 7, 9}, 8), b = host_random({3, 9, 5}, 9);
  expect_close(download(take(matmul(upload(rt(), a), upload(rt(), b)))), host_matmul(a, b), 1e-4, 1e-4, "batched");
  // b^T as a view: the compiler copies or reads it in place, either way the values hold.
  const HostTensor bt = host_random({3, 5, 9}, 10);
  Tensor tbt = take(upload(rt(), bt).transpose(-1, -2));
  expect_close(download(take(matmul(upload(rt(), a), tbt))), host_matmul(a, host_transpose_last(bt)), 1e-4, 1e-4,
               "transposed operand");
  const HostTensor x = host_random({4, 6, 16}, 11), w = host_random({12, 16}, 12), bias = host_random({12}, 13);
  HostTensor want = host_matmul(x, host_transpose_last(w));
  want = host_map({&want, &bias}, want.shape, [](const auto& v) { return v[0] + v[1]; });
  expect_close(download(take(linear(upload(rt(), x), upload(rt(), w), upload(rt(), bias)))), want, 1e-4, 1e-4,
               "linear");
}

TEST_P(Ops, Conv2dWithStridePadDilationAndBias) {
  const HostTensor x = host_random({2, 3, 9, 8}, 14), w = host_random({4, 3, 3, 2}, 15), bias = host_random({4}, 16);
  Conv2dOptions o;
  o.stride_h = 2;
  o.pad_h = 1;
  o.pad_w = 2;
  o.dilation_w = 2;
  expect_close(download(take(conv2d(upload(rt(), x), upload(rt(), w), upload(rt(), bias), o))),
               host_conv(x, w, &bias, o), 1e-4, 1e-4, "conv2d");
}

TEST_P(Ops, PoolingMaxAvgAndGlobal) {
  const HostTensor x = host_random({2, 3, 7, 6}, 17);
  Pool2dOptions o;
  o.kernel_h = 3;
  o.kernel_w = 2;
  o.stride_h = 2;
  o.stride_w = 2;
  o.pad_h = 1;
  const int64_t p = (7 + 2 - 3) / 2 + 1, q = (6 - 2) / 2 + 1;
  HostTensor mx = host_zeros({2, 3, p, q}), av = host_zeros({2, 3, p, q});
  for (int64_t nc = 0; nc < 6; ++nc)
    for (int64_t pi = 0; pi < p; ++pi)
      for (int64_t qi = 0; qi < q; ++qi) {
        double best = -INFINITY, sum = 0;
        int count = 0;
        for (int64_t r = 0; r < 3; ++r)
          for (int64_t s = 0; s < 2; ++s) {
            const int64_t hi = pi * 2 - 1 + r, wi = qi * 2 + s;
            if (hi < 0 || hi >= 7 || wi >= 6) continue;
            const double v = x[(nc * 7 + hi) * 6 + wi];
            best = std::max(best, v);
            sum += v;
            ++count;
          }
        mx[(nc * p + pi) * q + qi] = best;
        av[(nc * p + pi) * q + qi] = sum / count;
      }
  Tensor tx = upload(rt(), x);
  expect_close(download(take(max_pool2d(tx, o))), mx, 0, 0, "max_pool2d");
  expect_close(download(take(avg_pool2d(tx, o))), av, 1e-6, 1e-5, "avg_pool2d");
  HostTensor gmax = host_zeros({2, 3, 1, 1}), gavg = host_zeros({2, 3, 1, 1});
  for (int64_t nc = 0; nc < 6; ++nc) {
    double best = -INFINITY, sum = 0;
    for (int64_t i = 0; i < 42; ++i) {
      best = std::max(best, x[nc * 42 + i]);
      sum += x[nc * 42 + i];
    }
    gmax[nc] = best;
    gavg[nc] = sum / 42;
  }
  expect_close(download(take(global_max_pool2d(tx))), gmax, 0, 0, "global_max_pool2d");
  expect_close(download(take(global_avg_pool2d(tx))), gavg, 1e-6, 1e-5, "global_avg_pool2d");
}

TEST_P(Ops, ReductionsOverOneAndSeveralDims) {
  const HostTensor x = host_random({3, 4, 5}, 18);
  Tensor tx = upload(rt(), x);
  auto sum_f = [](const std::vector<double>& g) { return std::accumulate(g.begin(), g.end(), 0.0); };
  auto mean_f = [&](const std::vector<double>& g) { return sum_f(g) / static_cast<double>(g.size()); };
  auto max_f = [](const std::vector<double>& g) { return *std::max_element(g.begin(), g.end()); };
  auto min_f = [](const std::vector<double>& g) { return *std::min_element(g.begin(), g.end()); };
  expect_close(download(take(sum(tx, {-1}))), host_reduce(x, {2}, false, sum_f), 1e-5, 1e-5, "sum -1");
  expect_close(download(take(sum(tx, {0, 2}, true))), host_reduce(x, {0, 2}, true, sum_f), 1e-5, 1e-5, "sum 0,2");
  expect_close(download(take(mean(tx, {1}))), host_reduce(x, {1}, false, mean_f), 1e-5, 1e-5, "mean");
  expect_close(download(take(amax(tx, {0, 1}))), host_reduce(x, {0, 1}, false, max_f), 0, 0, "amax");
  expect_close(download(take(amin(tx, {}))), host_reduce(x, {0, 1, 2}, false, min_f), 0, 0, "amin all");
  auto argmax_f = [](const std::vector<double>& g) {
    return static_cast<double>(std::max_element(g.begin(), g.end()) - g.begin());
  };
  auto argmin_f = [](const std::vector<double>& g) {
    return static_cast<double>(std::min_element(g.begin(), g.end()) - g.begin());
  };
  const auto am = take(take(argmax(tx, 1)).to_host<int32_t>());
  const HostTensor want_max = host_reduce(x, {1}, false, argmax_f);
  ASSERT_EQ(am.size(), want_max.v.size());
  for (std::size_t i = 0; i < am.size(); ++i) EXPECT_EQ(am[i], want_max.v[i]) << "argmax " << i;
  const auto an = take(take(argmin(tx, -1, true)).to_host<int32_t>());
  const HostTensor want_min = host_reduce(x, {2}, true, argmin_f);
  for (std::size_t i = 0; i < an.size(); ++i) EXPECT_EQ(an[i], want_min.v[i]) << "argmin " << i;
}

TEST_P(Ops, SoftmaxAndLogSoftmaxAlongAnyDim) {
  const HostTensor x = host_random({3, 6, 4}, 19, -4, 4);
  Tensor tx = upload(rt(), x);
  expect_close(download(take(softmax(tx, -1))), host_along(x, 2, softmax_line), 1e-6, 2e-5, "softmax -1");
  expect_close(download(take(softmax(tx, 1))), host_along(x, 1, softmax_line), 1e-6, 2e-5, "softmax 1");
  auto log_line = [](std::vector<double> v) {
    v = softmax_line(v);
    for (double& e : v) e = std::log(e);
    return v;
  };
  expect_close(download(take(log_softmax(tx, 0))), host_along(x, 0, log_line), 2e-5, 2e-5, "log_softmax 0");
}

TEST_P(Ops, LayerRmsAndBatchNorm) {
  const HostTensor x = host_random({2, 3, 8}, 20, -2, 2), g = host_random({3, 8}, 21), b = host_random({3, 8}, 22);
  // layer_norm over the last two dims.
  HostTensor ln = x, rms = x;
  for (int64_t row = 0; row < 2; ++row) {
    double mean = 0, sq = 0;
    for (int64_t i = 0; i < 24; ++i) mean += x[row * 24 + i];
    mean /= 24;
    for (int64_t i = 0; i < 24; ++i) sq += (x[row * 24 + i] - mean) * (x[row * 24 + i] - mean);
    const double inv = 1 / std::sqrt(sq / 24 + 1e-5);
    double ms = 0;
    for (int64_t i = 0; i < 24; ++i) ms += x[row * 24 + i] * x[row * 24 + i];
    const double rinv = 1 / std::sqrt(ms / 24 + 1e-6);
    for (int64_t i = 0; i < 24; ++i) {
      ln[row * 24 + i] = (x[row * 24 + i] - mean) * inv * g[i] + b[i];
      rms[row * 24 + i] = x[row * 24 + i] * rinv * g[i];
    }
  }
  Tensor tx = upload(rt(), x), tg = upload(rt(), g), tb = upload(rt(), b);
  expect_close(download(take(layer_norm(tx, 2, tg, tb))), ln, 1e-4, 1e-4, "layer_norm");
  expect_close(download(take(rms_norm(tx, 2, tg))), rms, 1e-4, 1e-4, "rms_norm");

  const HostTensor y = host_random({2, 3, 4, 5}, 23), mean = host_random({3}, 24), var = host_random({3}, 25, 0.5, 2);
  const HostTensor scale = host_random({3}, 26), bias = host_random({3}, 27);
  HostTensor bn = y;
  for (int64_t i = 0; i < y.size(); ++i) {
    const int64_t c = (i / 20) % 3;
    bn[i] = (y[i] - mean[c]) / std::sqrt(var[c] + 1e-5) * scale[c] + bias[c];
  }
  expect_close(download(take(batch_norm(upload(rt(), y), upload(rt(), mean), upload(rt(), var), upload(rt(), scale),
                                        upload(rt(), bias)))),
               bn, 1e-4, 1e-4, "batch_norm");
}

// More tensors than one concat job takes (7): concatenated in steps, as
// DenseNet's concats of every earlier layer's features need.
TEST_P(Ops, ConcatOfManyTensors) {
  std::vector<HostTensor> parts;
  std::vector<Tensor> device;
  for (int i = 0; i < 20; ++i) {
    parts.push_back(host_random({2, 1 + i % 3, 3}, 100 + static_cast<uint64_t>(i)));
    device.push_back(upload(rt(), parts.back()));
  }
  int64_t rows = 0;
  for (const auto& p : parts) rows += p.shape[1];
  HostTensor want = host_zeros({2, rows, 3});
  for (int64_t n = 0; n < 2; ++n) {
    int64_t at = 0;
    for (const auto& p : parts) {
      for (int64_t r = 0; r < p.shape[1]; ++r)
        for (int64_t k = 0; k < 3; ++k) want[(n * rows + at + r) * 3 + k] = p[(n * p.shape[1] + r) * 3 + k];
      at += p.shape[1];
    }
  }
  expect_close(download(take(concat(device, 1))), want, 0, 0, "concat of 20");
}

TEST_P(Ops, ConcatSplitGatherAndEmbedding) {
  const HostTensor a = host_random({2, 3, 4}, 28), b = host_random({2, 1, 4}, 29);
  HostTensor cat = host_zeros({2, 4, 4});
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 4; ++j)
      for (int64_t k = 0; k < 4; ++k)
        cat[(i * 4 + j) * 4 + k] = j < 3 ? a[(i * 3 + j) * 4 + k] : b[i * 4 + k];
  Tensor tcat = take(concat({upload(rt(), a), upload(rt(), b)}, 1));
  expect_close(download(tcat), cat, 0, 0, "concat");
  const auto pieces = take(split(tcat, {3, 1}, 1));
  expect_close(download(take(contiguous(pieces[1]))), b, 0, 0, "split");

  const HostTensor table = host_random({10, 6}, 30);
  const std::vector<int32_t> ids{3, 0, 9, 3, -1, 5};
  Tensor tids = take(rt().from_host(ids, {2, 3}));
  HostTensor want = host_zeros({2, 3, 6});
  for (std::size_t t = 0; t < ids.size(); ++t) {
    const int64_t row = ids[t] < 0 ? ids[t] + 10 : ids[t];
    for (int64_t d = 0; d < 6; ++d) want[static_cast<int64_t>(t) * 6 + d] = table[row * 6 + d];
  }
  expect_close(download(take(embedding(upload(rt(), table), tids))), want, 0, 0, "embedding");
  // index_select along the last dim.
  const std::vector<int32_t> cols{5, 1};
  HostTensor sel = host_zeros({10, 2});
  for (int64_t r = 0; r < 10; ++r) {
    sel[r * 2] = table[r * 6 + 5];
    sel[r * 2 + 1] = table[r * 6 + 1];
  }
  expect_close(download(take(index_select(upload(rt(), table), 1, take(rt().from_host(cols, {2}))))), sel, 0, 0,
               "index_select");
}

TEST_P(Ops, ViewsFeedOpsWithoutChangingValues) {
  const HostTensor x = host_random({4, 6}, 31);
  Tensor tx = upload(rt(), x);
  // A strided slice, a permutation and an expansion into elementwise ops.
  Tensor s = take(take(tx.slice(1, 1, 6, 2)).transpose(0, 1));  // [3, 4]
  HostTensor want = host_zeros({3, 4});
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 4; ++j) want[i * 4 + j] = x[j * 6 + 1 + 2 * i] * 2;
  expect_close(download(take(mul(s, 2.0))), want, 0, 0, "slice + transpose");
  Tensor col = take(take(tx.slice(1, 0, 1)).expand({4, 6}));
  HostTensor sum_want = host_map({&x}, x.shape, [](const auto& v) { return v[0]; });
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = 0; j < 6; ++j) sum_want[i * 6 + j] = x[i * 6 + j] + x[i * 6];
  expect_close(download(take(add(tx, col))), sum_want, 1e-6, 1e-6, "expand");
  Tensor r = take(take(take(tx.reshape({2, 3, 4})).unsqueeze(0)).squeeze(0));
  EXPECT_EQ(to_string(r.shape()), "[2, 3, 4]");
  expect_close(download(take(contiguous(take(tx.permute({1, 0}))))), host_transpose_last(x), 0, 0, "permute");
}

TEST_P(Ops, AttentionIsSoftmaxOfScaledScoresTimesValues) {
  const HostTensor q = host_random({2, 5, 8}, 32), k = host_random({2, 7, 8}, 33), v = host_random({2, 7, 6}, 34);
  HostTensor scores = host_matmul(q, host_transpose_last(k));
  for (double& s : scores.v) s /= std::sqrt(8.0);
  const HostTensor want = host_matmul(host_along(scores, 2, softmax_line), v);
  expect_close(download(take(scaled_dot_product_attention(upload(rt(), q), upload(rt(), k), upload(rt(), v)))), want,
               1e-4, 1e-4, "attention");
}

TEST_P(Ops, FactoriesMakeValuesOnTheDevice) {
  expect_close(download(take(rt().full({2, 3}, 1.5, DType::kF32))), host_map({}, {2, 3}, [](auto&) { return 1.5; }),
               0, 0, "full");
  const auto ar = take(take(rt().arange(7, DType::kI32)).to_host<int32_t>());
  for (int i = 0; i < 7; ++i) EXPECT_EQ(ar[static_cast<std::size_t>(i)], i);
  const HostTensor u1 = download(take(rt().rand_uniform({1000}, DType::kF32, 42, -2, 3)));
  const HostTensor u2 = download(take(rt().rand_uniform({1000}, DType::kF32, 42, -2, 3)));
  expect_close(u1, u2, 0, 0, "same seed, same values");
  double mean = 0;
  for (double x : u1.v) {
    EXPECT_GE(x, -2);
    EXPECT_LT(x, 3);
    mean += x / 1000;
  }
  EXPECT_NEAR(mean, 0.5, 0.15);  // 5 sigma of a uniform(-2, 3) mean over 1000 draws
  const HostTensor nrm = download(take(rt().rand_normal({4000}, DType::kF32, 7, 1, 2)));
  double m = 0, sq = 0;
  for (double x : nrm.v) m += x / 4000;
  for (double x : nrm.v) sq += (x - m) * (x - m) / 4000;
  EXPECT_NEAR(m, 1, 0.16);  // 5 sigma: 5 * 2 / sqrt(4000)
  EXPECT_NEAR(std::sqrt(sq), 2, 0.12);
}

INSTANTIATE_TEST_SUITE_P(Runtime, Ops, ::testing::Values(Mode::kEager, Mode::kLazy),
                         [](const auto& p) { return p.param == Mode::kEager ? "Eager" : "Lazy"; });

}  // namespace
}  // namespace kiln::runtime::testing
