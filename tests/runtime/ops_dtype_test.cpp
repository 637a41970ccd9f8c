// Elementwise ops, activations, where, scalars, casts, data movement and
// views in bf16 and fp16, eager and lazy, against host references in double
// from the dtype-rounded inputs. Tolerances: ops_dtype.h.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "ops_dtype.h"

namespace kiln::runtime::testing {
namespace {

class OpsDtypeElementwise : public OpsDtype {};

TEST_P(OpsDtypeElementwise, BinaryOpsBroadcast) {
  const HostTensor a = in(host_random({3, 1, 40}, 1, 0.5, 2)), b = in(host_random({5, 1}, 2, 0.5, 2));
  const HostTensor s = in(host_random({3, 5, 40}, 3, -2, 2));  // signs mixed, same shape as the output
  const Shape out{3, 5, 40};
  struct Case {
    const char* name;
    Result<Tensor> (*op)(const Tensor&, const Tensor&);
    double (*ref)(double, double);
    bool exact;
  };
  const Case cases[] = {
      {"add", add, [](double x, double y) { return x + y; }, false},
      {"sub", sub, [](double x, double y) { return x - y; }, false},
      {"mul", mul, [](double x, double y) { return x * y; }, false},
      {"div", div, [](double x, double y) { return x / y; }, false},
      {"maximum", maximum, [](double x, double y) { return std::max(x, y); }, true},
      {"minimum", minimum, [](double x, double y) { return std::min(x, y); }, true},
      {"pow", pow, [](double x, double y) { return std::pow(x, y); }, false},
  };
  Tensor ta = up(a), tb = up(b), ts = up(s);
  for (const Case& c : cases) {
    const HostTensor want = host_map({&a, &b}, out, [&](const auto& v) { return c.ref(v[0], v[1]); });
    const Tensor got = take(c.op(ta, tb));
    ASSERT_EQ(got.dtype(), dt()) << c.name;
    if (c.exact) expect_exact(got, want, c.name);
    else expect_rel(got, want, c.name);
    if (std::string(c.name) == "pow") continue;  // pow of negative bases: NaN
    // Against a full tensor of mixed signs (sub cancels, max picks either).
    const HostTensor want2 = host_map({&s, &b}, out, [&](const auto& v) { return c.ref(v[0], v[1]); });
    if (c.exact) expect_exact(take(c.op(ts, tb)), want2, std::string(c.name) + " mixed");
    else expect_rel(take(c.op(ts, tb)), want2, std::string(c.name) + " mixed");
  }
}

TEST_P(OpsDtypeElementwise, UnaryOpsAndActivations) {
  const HostTensor x = in(host_random({4, 70}, 3, -3, 3));
  const HostTensor pos = in(host_random({4, 70}, 4, 0.1, 4));
  struct Case {
    const char* name;
    std::function<Result<Tensor>(const Tensor&)> op;
    std::function<double(double)> ref;
    bool positive = false, exact = false;
  };
  const std::vector<Case> cases = {
      {"neg", [](const Tensor& t) { return neg(t); }, [](double v) { return -v; }, false, true},
      {"abs", [](const Tensor& t) { return abs(t); }, [](double v) { return std::abs(v); }, false, true},
      {"exp", [](const Tensor& t) { return exp(t); }, [](double v) { return std::exp(v); }},
      {"log", [](const Tensor& t) { return log(t); }, [](double v) { return std::log(v); }, true},
      {"sqrt", [](const Tensor& t) { return sqrt(t); }, [](double v) { return std::sqrt(v); }, true},
      {"rsqrt", [](const Tensor& t) { return rsqrt(t); }, [](double v) { return 1 / std::sqrt(v); }, true},
      {"reciprocal", [](const Tensor& t) { return reciprocal(t); }, [](double v) { return 1 / v; }, true},
      {"relu", [](const Tensor& t) { return relu(t); }, [](double v) { return std::max(v, 0.0); }, false, true},
      {"sigmoid", [](const Tensor& t) { return sigmoid(t); }, sigmoid_ref},
      {"tanh", [](const Tensor& t) { return tanh(t); }, [](double v) { return std::tanh(v); }},
      {"silu", [](const Tensor& t) { return silu(t); }, [](double v) { return v * sigmoid_ref(v); }},
      {"gelu", [](const Tensor& t) { return gelu(t); }, gelu_erf},
      {"gelu_tanh", [](const Tensor& t) { return gelu(t, true); }, gelu_tanh},
      {"leaky_relu", [](const Tensor& t) { return leaky_relu(t, 0.1); }, [](double v) { return v > 0 ? v : 0.1 * v; }},
      {"clamp", [](const Tensor& t) { return clamp(t, -0.5, 1.25); },
       [](double v) { return std::min(std::max(v, -0.5), 1.25); }, false, true},
      {"elu", [](const Tensor& t) { return elu(t, 0.7); }, [](double v) { return v > 0 ? v : 0.7 * (std::exp(v) - 1); }},
      {"hardswish", [](const Tensor& t) { return hardswish(t); },
       [](double v) { return v * std::max(0.0, std::min(1.0, v / 6 + 0.5)); }},
      {"hardsigmoid", [](const Tensor& t) { return hardsigmoid(t); },
       [](double v) { return std::max(0.0, std::min(1.0, 0.2 * v + 0.5)); }},
      {"softplus", [](const Tensor& t) { return softplus(t); }, [](double v) { return std::log1p(std::exp(v)); }},
  };
  Tensor tx = up(x), tpos = up(pos);
  for (const Case& c : cases) {
    const HostTensor& h = c.positive ? pos : x;
    const HostTensor want = host_map({&h}, h.shape, [&](const auto& v) { return c.ref(v[0]); });
    const Tensor got = take(c.op(c.positive ? tpos : tx));
    ASSERT_EQ(got.dtype(), dt()) << c.name;
    if (c.exact) expect_exact(got, want, c.name);
    else expect_rel(got, want, c.name);
  }
}

// Results past the dtype's range: fp16 rounds them to +-inf (finite values
// at or past 65520, kiln/common/f16.h); bf16 has fp32's range.
TEST_P(OpsDtypeElementwise, ResultsNearTheFp16RangeRoundToInfinity) {
  HostTensor x = host_zeros({8});
  x.v = {9.0, 10.5, 11.0, 11.05, 11.2, 12.0, -12.0, -17.0};  // exp: 8103 ... 162755, 6e-6 (fp16 subnormal), 4e-8
  x = in(x);
  HostTensor want = host_map({&x}, x.shape, [&](const auto& v) { return round_to(dt(), std::exp(v[0])); });
  if (dt() == DType::kF16) {
    EXPECT_TRUE(std::isinf(want[4]) && std::isinf(want[5]) && std::isfinite(want[3]));
  }
  // want is the rounded value: exact equality for the infinities, the usual bound otherwise.
  expect_within(download(take(exp(up(x)))), want, rel_bound(want), "exp near overflow " + name());
  HostTensor big = host_zeros({4});
  big.v = {300, 255.9, -300, 60000};
  big = in(big);
  const HostTensor sq = host_map({&big}, big.shape, [&](const auto& v) { return round_to(dt(), v[0] * v[0]); });
  expect_within(download(take(mul(up(big), up(big)))), sq, rel_bound(sq), "mul near overflow " + name());
  const HostTensor twice = host_map({&big}, big.shape, [&](const auto& v) { return round_to(dt(), v[0] + v[0]); });
  expect_within(download(take(add(up(big), up(big)))), twice, rel_bound(twice), "add near overflow " + name());
  if (dt() == DType::kF16) {
    EXPECT_TRUE(std::isinf(sq[0]) && std::isinf(twice[3]) && std::isfinite(sq[1]));
  }
}

TEST_P(OpsDtypeElementwise, WhereAndScalars) {
  HostTensor cond = host_random({3, 70}, 5, -1, 1);
  for (double& v : cond.v) v = v > 0 ? 1 : 0;
  const HostTensor a = in(host_random({3, 70}, 6)), b = in(host_random({70}, 7));
  const HostTensor want = host_map({&cond, &a, &b}, a.shape, [](const auto& v) { return v[0] != 0 ? v[1] : v[2]; });
  expect_exact(take(where(up(cond), up(a), up(b))), want, "where");
  // The scalar is a rank-0 constant of a's dtype: 0.1 is rounded to it first.
  const double s = round_to(dt(), 0.1), t = round_to(dt(), -0.3);
  const HostTensor m = host_map({&a}, a.shape, [&](const auto& v) { return round_to(dt(), v[0] * s); });
  const HostTensor want2 = host_map({&m}, a.shape, [&](const auto& v) { return v[0] + t; });
  const Tensor scaled = take(mul(up(a), 0.1));
  expect_rel(scaled, m, "mul scalar");
  expect_rel(take(add(scaled, -0.3)), want2, "add scalar after mul scalar");
}

// A host int rounded once to `dtype` (nearest even) from its exact value.
double round_int_to(DType dtype, int64_t v) {
  const int bits = dtype == DType::kBF16 ? 8 : dtype == DType::kF16 ? 11 : 24;
  const long double x = static_cast<long double>(v);
  if (v == 0) return 0;
  int e;
  std::frexp(x, &e);
  const long double q = std::ldexp(1.0L, e - bits);
  return round_to(dtype, static_cast<double>(std::nearbyint(x / q) * q));  // exact in fp32; fp16 overflows to inf
}

TEST_P(OpsDtypeElementwise, CastsBetweenFloatsIntsAndBool) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> v = {0.0f, -0.0f, 1.0f + 0x1p-11f, 2.7f, -2.7f, 0.5f, 1e-6f, 3e-8f, 1e-30f,
                                65504.0f, 65519.0f, 65520.0f, 70000.0f, -1e5f, 1e10f, -1e10f, 3e38f, nan};
  const Shape shape{static_cast<int64_t>(v.size())};
  HostTensor h{shape, std::vector<double>(v.begin(), v.end())};
  const Tensor x = take(cast(take(rt().from_host(v, shape)), dt()));
  const HostTensor hx = in(h);
  expect_exact(x, hx, "cast f32 to dtype");
  for (DType other : {DType::kF32, DType::kBF16, DType::kF16}) {
    if (other == dt()) continue;
    const Tensor y = take(cast(x, other));
    ASSERT_EQ(y.dtype(), other);
    std::string what = "cast to ";
    what += dtype_name(other);
    expect_within(download(y), rounded(other, hx), host_zeros(shape), what + " " + name());
  }
  // To integers: toward zero, NaN to 0, saturating; to bool: != 0 (NaN true).
  const auto i32 = take(take(cast(x, DType::kI32)).to_host<int32_t>());
  const auto i64 = take(take(cast(x, DType::kI64)).to_host<int64_t>());
  const auto b = take(take(cast(x, DType::kBool)).to_host<uint8_t>());
  for (std::size_t i = 0; i < v.size(); ++i) {
    const double t = std::trunc(hx.v[i]);
    const int64_t w32 = std::isnan(t) ? 0 : t >= 2147483647.0 ? INT32_MAX : t <= -2147483648.0 ? INT32_MIN
                                                                                               : static_cast<int64_t>(t);
    const int64_t w64 = std::isnan(t) ? 0 : t >= 0x1p63 ? INT64_MAX : t <= -0x1p63 ? INT64_MIN : static_cast<int64_t>(t);
    EXPECT_EQ(i32[i], w32) << "to i32: " << v[i] << " " << name();
    EXPECT_EQ(i64[i], w64) << "to i64: " << v[i] << " " << name();
    EXPECT_EQ(b[i], hx.v[i] != 0 || std::isnan(hx.v[i]) ? 1 : 0) << "to bool: " << v[i] << " " << name();
  }
  // From integers: rounded once from the exact value (16842753 = 2^24 + 2^16 + 1
  // would round to 2^24 through fp32; once, to 2^24 + 2^17 in bf16).
  const std::vector<int32_t> ints = {0, 1, -1, 7, 257, 259, -300, 2049, 65519, 65520, 16842753, INT32_MAX, INT32_MIN};
  const std::vector<int64_t> longs = {0, -5, 4097, (int64_t{1} << 40) + 1, -(int64_t{1} << 50) - 3, INT64_MAX};
  const std::vector<uint8_t> bools = {0, 1, 1, 0};
  const Shape si{static_cast<int64_t>(ints.size())}, sl{static_cast<int64_t>(longs.size())}, sb{4};
  HostTensor wi = host_zeros(si), wl = host_zeros(sl), wb = host_zeros(sb);
  for (std::size_t i = 0; i < ints.size(); ++i) wi.v[i] = round_int_to(dt(), ints[i]);
  for (std::size_t i = 0; i < longs.size(); ++i) wl.v[i] = round_int_to(dt(), longs[i]);
  for (std::size_t i = 0; i < bools.size(); ++i) wb.v[i] = bools[i];
  expect_exact(take(cast(take(rt().from_host(ints, si)), dt())), wi, "cast from i32");
  const Tensor tl = take(rt().from_host(longs.data(), longs.size() * 8, sl, DType::kI64));
  expect_exact(take(cast(tl, dt())), wl, "cast from i64");
  const Tensor tb = take(rt().from_host(bools.data(), bools.size(), sb, DType::kBool));
  expect_exact(take(cast(tb, dt())), wb, "cast from bool");
}

TEST_P(OpsDtypeElementwise, ConcatSplitGatherAndEmbedding) {
  const HostTensor a = in(host_random({2, 3, 70}, 28)), b = in(host_random({2, 1, 70}, 29));
  HostTensor cat = host_zeros({2, 4, 70});
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 4; ++j)
      for (int64_t k = 0; k < 70; ++k) cat[(i * 4 + j) * 70 + k] = j < 3 ? a[(i * 3 + j) * 70 + k] : b[i * 70 + k];
  const Tensor tcat = take(concat({up(a), up(b)}, 1));
  ASSERT_EQ(tcat.dtype(), dt());
  expect_exact(tcat, cat, "concat");
  const auto pieces = take(split(tcat, {3, 1}, 1));
  expect_exact(take(contiguous(pieces[0])), a, "split 0");
  expect_exact(take(contiguous(pieces[1])), b, "split 1");
  // A split piece straight into an op.
  expect_rel(take(add(pieces[1], up(b))), host_map({&b}, b.shape, [](const auto& v) { return 2 * v[0]; }),
             "split into add");

  const HostTensor table = in(host_random({10, 70}, 30));
  const std::vector<int32_t> ids{3, 0, 9, 3, -1, 5};
  HostTensor want = host_zeros({2, 3, 70});
  for (std::size_t t = 0; t < ids.size(); ++t) {
    const int64_t row = ids[t] < 0 ? ids[t] + 10 : ids[t];
    for (int64_t d = 0; d < 70; ++d) want[static_cast<int64_t>(t) * 70 + d] = table[row * 70 + d];
  }
  const Tensor ttable = up(table);
  expect_exact(take(embedding(ttable, take(rt().from_host(ids, {2, 3})))), want, "embedding");
  const std::vector<int32_t> cols{69, 1, 64};
  HostTensor sel = host_zeros({10, 3});
  for (int64_t r = 0; r < 10; ++r)
    for (int64_t c = 0; c < 3; ++c) sel[r * 3 + c] = table[r * 70 + cols[static_cast<std::size_t>(c)]];
  expect_exact(take(index_select(ttable, 1, take(rt().from_host(cols, {3})))), sel, "index_select");
}

TEST_P(OpsDtypeElementwise, ViewsFeedOps) {
  const HostTensor x = in(host_random({4, 130}, 31));
  const Tensor tx = up(x);
  // A strided slice and a transpose into an elementwise op (x 2: exact).
  const Tensor s = take(take(tx.slice(1, 1, 130, 2)).transpose(0, 1));  // [65, 4]
  HostTensor want = host_zeros({65, 4});
  for (int64_t i = 0; i < 65; ++i)
    for (int64_t j = 0; j < 4; ++j) want[i * 4 + j] = x[j * 130 + 1 + 2 * i] * 2;
  expect_exact(take(mul(s, 2.0)), want, "slice + transpose into mul");
  // An expanded column into add.
  const Tensor col = take(take(tx.slice(1, 0, 1)).expand({4, 130}));
  HostTensor sum_want = x;
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = 0; j < 130; ++j) sum_want[i * 130 + j] = x[i * 130 + j] + x[i * 130];
  expect_rel(take(add(tx, col)), sum_want, "expand into add");
  // A permutation made dense, and a reshape round trip into an activation.
  expect_exact(take(contiguous(take(tx.permute({1, 0})))), host_transpose_last(x), "permute");
  const Tensor r = take(take(take(tx.reshape({2, 2, 130})).unsqueeze(0)).squeeze(0));
  EXPECT_EQ(r.dtype(), dt());
  const HostTensor x3{{2, 2, 130}, x.v};
  expect_rel(take(tanh(r)), host_map({&x3}, x3.shape, [](const auto& v) { return std::tanh(v[0]); }),
             "reshape into tanh");
}

// Dtypes an op does not take fail at the call, naming the op and the dtype.
TEST_P(OpsDtypeElementwise, UnsupportedDtypesAreRefusedByName) {
  const Tensor i = take(rt().from_host(std::vector<int32_t>{1, 2, 3, 4}, {2, 2}));
  const Tensor x = up(host_random({2, 2}, 40));
  const DType other = dt() == DType::kBF16 ? DType::kF16 : DType::kBF16;
  const Tensor y = take(cast(x, other));
  // `what`: the operand as the message should describe it ("i32[2, 2]").
  auto expect_error = [&](const Result<Tensor>& r, const std::string& op, std::string what) {
    ASSERT_FALSE(r.ok()) << op;
    const std::string msg = r.status().to_string();
    EXPECT_NE(msg.find(op + ": "), std::string::npos) << msg;
    if (what.find('[') == std::string::npos) what += "[2, 2]";
    EXPECT_NE(msg.find(what), std::string::npos) << msg;
  };
  expect_error(exp(i), "exp", "i32");
  expect_error(softmax(i, -1), "softmax", "i32");
  expect_error(sum(i, {0}), "sum", "i32");
  expect_error(layer_norm(i, 1, std::nullopt, std::nullopt), "layer_norm", "i32");
  expect_error(matmul(i, i), "matmul", "i32");
  expect_error(conv2d(take(i.reshape({1, 1, 2, 2})), take(i.reshape({1, 1, 2, 2}))), "conv2d", "i32[1, 1, 2, 2]");
  // No implicit promotion between the 16-bit floats.
  expect_error(add(x, y), "add", std::string(dtype_name(other)));
  expect_error(matmul(x, y), "matmul", std::string(dtype_name(dt())));
  expect_error(index_select(x, 0, take(cast(x, dt()))), "index_select", std::string(dtype_name(dt())));
}

INSTANTIATE_TEST_SUITE_P(Runtime, OpsDtypeElementwise, dtype_cases(), dtype_case_name);

}  // namespace
}  // namespace kiln::runtime::testing
