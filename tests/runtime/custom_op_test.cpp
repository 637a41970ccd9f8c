// Custom operators (kiln/runtime/custom_op.h): a kernel op and a composition
// registered in-process, an op from a plugin on the kernel search path, each
// in eager and lazy mode against a host reference; the cache key; the
// fusable flag; and the errors, which name the op.
#include "kiln/runtime/custom_op.h"

#include <gtest/gtest.h>

#include <cmath>

#include "blocks.h"

#ifndef KILN_TEST_CUSTOM_OP_PLUGIN
#error "KILN_TEST_CUSTOM_OP_PLUGIN must name the test plugin (CMakeLists.txt sets it)"
#endif

namespace kiln::runtime::testing {
namespace {

Status same_shape(const std::vector<TensorMeta>& in, const AttrMap&, std::vector<TensorMeta>& out) {
  out = {in[0]};
  return {};
}

// test.leaky(x; slope: float = 0.01): the library's leaky_relu kernel, its
// slope the attribute (the default scalar mapping: attributes in order).
void register_leaky() {
  static const bool done = [] {
    CustomOpDef def;
    def.schema.name = "test.leaky";
    def.schema.inputs = {{"x", {DType::kF32, DType::kBF16}}};
    def.schema.attrs = {{"slope", AttrType::kFloat, AttrValue{0.01}}};
    def.infer = same_shape;
    def.kernel.kernel = "leaky_relu";
    EXPECT_TRUE(register_custom_op(std::move(def)).ok());
    return true;
  }();
  (void)done;
}

// test.dense_gelu(x, w, b; scale: float) = gelu(linear(x, w, b)) * scale: a
// composition of an MME job and TPC work; `fusable` as given.
void register_dense_gelu(const std::string& name, bool fusable) {
  CustomOpDef def;
  def.schema.name = name;
  def.schema.inputs = {{"x", {DType::kF32}}, {"w", {DType::kF32}}, {"b", {DType::kF32}}};
  def.schema.attrs = {{"scale", AttrType::kFloat, std::nullopt}};
  def.infer = [](const std::vector<TensorMeta>& in, const AttrMap&, std::vector<TensorMeta>& out) -> Status {
    if (in[0].shape.size() != 2 || in[1].shape.size() != 2 || in[0].shape[1] != in[1].shape[1]) {
      return invalid_argument("x [n, k] and w [m, k] do not match: " + to_string(in[0].shape) + ", " +
                              to_string(in[1].shape));
    }
    out = {TensorMeta{Shape{in[0].shape[0], in[1].shape[0]}, in[0].dtype}};
    return {};
  };
  def.compose = [](const std::vector<Tensor>& in, const AttrMap& attrs) -> Result<std::vector<Tensor>> {
    KILN_ASSIGN_OR_RETURN(Tensor y, linear(in[0], in[1], in[2]));
    KILN_ASSIGN_OR_RETURN(y, gelu(y));
    KILN_ASSIGN_OR_RETURN(y, mul(y, std::get<double>(attrs.at("scale"))));
    return std::vector<Tensor>{y};
  };
  def.fusable = fusable;
  ASSERT_TRUE(register_custom_op(std::move(def)).ok());
}

HostTensor host_leaky(HostTensor x, double slope) {
  for (double& v : x.v) v = v > 0 ? v : slope * v;
  return x;
}

std::unique_ptr<Runtime> open_runtime(Mode mode, std::vector<std::string> kernel_paths = {}) {
  RuntimeOptions o;
  o.mode = mode;
  o.device.kernel_paths = std::move(kernel_paths);
  return take(Runtime::open("tiny", o));
}

class CustomOpModes : public ::testing::TestWithParam<Mode> {};

TEST_P(CustomOpModes, KernelOpMatchesTheHostInBothDtypes) {
  register_leaky();
  auto rt = open_runtime(GetParam());
  const HostTensor x = host_random({6, 70}, 3, -2, 2);
  for (DType dtype : {DType::kF32, DType::kBF16}) {
    Tensor tx = upload(*rt, x, dtype);
    Tensor y = take(call_custom_op("test.leaky", {tx}, {{"slope", 0.2}}))[0];
    Tensor d = take(call_custom_op("test.leaky", {tx}))[0];  // the default slope
    EXPECT_EQ(y.dtype(), dtype);
    // The kernel computes in fp32 and rounds once to the dtype.
    const double rtol = dtype == DType::kF32 ? 1e-6 : unit_roundoff(dtype);
    expect_close(download(y), rounded(dtype, host_leaky(rounded(dtype, x), 0.2)), 0, rtol, "slope 0.2");
    expect_close(download(d), rounded(dtype, host_leaky(rounded(dtype, x), 0.01)), 0, rtol, "default slope");
  }
}

TEST_P(CustomOpModes, CompositionOfMmeAndTpcJobsMatchesTheHost) {
  static const bool registered = (register_dense_gelu("test.dense_gelu", true), true);
  (void)registered;
  auto rt = open_runtime(GetParam());
  const HostTensor x = host_random({8, 16}, 1), w = host_random({12, 16}, 2), b = host_random({12}, 3);
  Tensor y = take(call_custom_op("test.dense_gelu", {upload(*rt, x), upload(*rt, w), upload(*rt, b)},
                                 {{"scale", 0.5}}))[0];
  HostTensor want = h_unary(h_linear(x, w, b), h_gelu);
  for (double& v : want.v) v *= 0.5;
  // fp32 with fp32 accumulation over 16 terms and an erf-based gelu.
  expect_close(download(y), want, 1e-5, 1e-5, "dense_gelu");
}

TEST_P(CustomOpModes, PluginOpFromTheKernelSearchPath) {
  auto rt = open_runtime(GetParam(), {KILN_TEST_CUSTOM_OP_PLUGIN});
  const std::vector<std::string> names = custom_op_names();
  ASSERT_NE(std::find(names.begin(), names.end(), "test.scaled_silu"), names.end());
  const HostTensor x = host_random({3, 5, 130}, 7, -4, 4);
  for (DType dtype : {DType::kF32, DType::kBF16}) {
    Tensor y = take(call_custom_op("test.scaled_silu", {upload(*rt, x, dtype)}, {{"beta", 1.5}}))[0];
    HostTensor want = rounded(dtype, x);
    for (double& v : want.v) v = v / (1 + std::exp(-1.5 * v));
    // fp32: the kernel's sigmoid is within a few ulps; bf16: one rounding on store.
    const double rtol = dtype == DType::kF32 ? 1e-5 : 2 * unit_roundoff(dtype);
    expect_close(download(y), rounded(dtype, want), 1e-6, rtol, "scaled_silu");
  }
  // A second runtime finds the plugin loaded already.
  auto again = open_runtime(GetParam(), {KILN_TEST_CUSTOM_OP_PLUGIN});
  EXPECT_TRUE(call_custom_op("test.scaled_silu", {upload(*again, x)}).ok());
}

std::string mode_name(const ::testing::TestParamInfo<Mode>& p) { return p.param == Mode::kEager ? "Eager" : "Lazy"; }

INSTANTIATE_TEST_SUITE_P(Modes, CustomOpModes, ::testing::Values(Mode::kEager, Mode::kLazy), mode_name);

// Lazy: the op and its attributes are part of the recipe's key.
TEST(CustomOp, AttributeValuesKeyTheRecipeCache) {
  register_leaky();
  auto rt = open_runtime(Mode::kLazy);
  const HostTensor x = host_random({4, 64}, 5, -1, 1);
  Tensor tx = upload(*rt, x);
  ASSERT_TRUE(rt->synchronize().ok());
  auto step = [&](double slope) {
    Tensor y = take(call_custom_op("test.leaky", {tx}, {{"slope", slope}}))[0];
    EXPECT_TRUE(rt->mark_step().ok());
    expect_close(download(y), host_leaky(x, slope), 0, 1e-6, "slope " + std::to_string(slope));
  };
  step(0.1);
  const uint64_t compiled = rt->stats().compilations;
  step(0.3);
  EXPECT_EQ(rt->stats().compilations, compiled + 1) << "another slope is another recipe";
  step(0.1);
  EXPECT_EQ(rt->stats().compilations, compiled + 1) << "the first slope's recipe is found again";
}

// fusable = false: the composition's ops fuse among themselves (the GEMM's
// bias and gelu epilogue) but not with the ops around the call.
TEST(CustomOp, NonFusableCompositionIsAFusionBarrier) {
  static const bool registered =
      (register_dense_gelu("test.dense_gelu_fusable", true), register_dense_gelu("test.dense_gelu_barrier", false), true);
  (void)registered;
  const HostTensor x = host_random({8, 16}, 1), w = host_random({12, 16}, 2), b = host_random({12}, 3);
  auto jobs = [&](const char* op) {
    auto rt = open_runtime(Mode::kLazy);
    Tensor y = take(call_custom_op(op, {upload(*rt, x), upload(*rt, w), upload(*rt, b)}, {{"scale", 2.0}}))[0];
    y = take(add(take(relu(y)), 1.0));  // elementwise work after the op
    EXPECT_TRUE(rt->synchronize().ok());
    HostTensor want = h_unary(h_linear(x, w, b), h_gelu);
    for (double& v : want.v) v = std::max(2 * v, 0.0) + 1;
    expect_close(download(y), want, 1e-5, 1e-5, op);
    const RuntimeStats s = rt->stats();
    EXPECT_NE(s.last_compile_log.find("fuse_epilogue"), std::string::npos) << s.last_compile_log;
    return s.last_step_jobs;
  };
  const uint64_t fused = jobs("test.dense_gelu_fusable");
  const uint64_t barrier = jobs("test.dense_gelu_barrier");
  // Fusable: GEMM + gelu, then scale, relu and the add in one kernel.
  // Barrier: the scale stays its own kernel, apart from relu and the add.
  EXPECT_EQ(barrier, fused + 1);
}

TEST(CustomOp, RegistrationErrorsNameTheOp) {
  CustomOpDef no_infer;
  no_infer.schema.name = "test.no_infer";
  no_infer.kernel.kernel = "relu";
  Status s = register_custom_op(no_infer);
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.message().find("custom op 'test.no_infer'"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("inference"), std::string::npos) << s.message();

  CustomOpDef both;
  both.schema.name = "test.both";
  both.infer = same_shape;
  both.kernel.kernel = "relu";
  both.compose = [](const std::vector<Tensor>& in, const AttrMap&) -> Result<std::vector<Tensor>> { return in; };
  EXPECT_EQ(register_custom_op(both).code(), ErrorCode::kInvalidArgument);

  CustomOpDef bad_default;
  bad_default.schema.name = "test.bad_default";
  bad_default.schema.attrs = {{"n", AttrType::kInt, AttrValue{1.5}}};
  bad_default.infer = same_shape;
  bad_default.kernel.kernel = "relu";
  s = register_custom_op(bad_default);
  EXPECT_NE(s.message().find("default of attribute 'n'"), std::string::npos) << s.message();

  register_leaky();
  CustomOpDef dup;
  dup.schema.name = "test.leaky";
  dup.infer = same_shape;
  dup.kernel.kernel = "relu";
  s = register_custom_op(dup);
  EXPECT_EQ(s.code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("'test.leaky' is already registered"), std::string::npos) << s.message();
}

TEST(CustomOp, SchemaMismatchesNameTheOpAndRecordNothing) {
  register_leaky();
  auto rt = open_runtime(Mode::kLazy);
  Tensor x = upload(*rt, host_random({2, 3}, 1));
  Tensor i = take(rt->arange(6, DType::kI32));
  ASSERT_TRUE(rt->synchronize().ok());
  const uint64_t recorded = rt->stats().ops_recorded;
  auto message = [](const Result<std::vector<Tensor>>& r) { return r.ok() ? std::string("ok") : r.status().message(); };

  auto r = call_custom_op("test.leaky", {x, x});
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(message(r), "custom op 'test.leaky': takes 1 inputs (x), got 2");
  r = call_custom_op("test.leaky", {i});
  EXPECT_EQ(message(r), "custom op 'test.leaky': input 0 (x) must be f32 or bf16, got " + i.describe());
  r = call_custom_op("test.leaky", {x}, {{"slop", 0.1}});
  EXPECT_EQ(message(r), "custom op 'test.leaky': unknown attribute 'slop' (it has: slope)");
  r = call_custom_op("test.leaky", {x}, {{"slope", int64_t{1}}});
  EXPECT_EQ(message(r), "custom op 'test.leaky': attribute 'slope' must be a float, got an int");
  r = call_custom_op("test.leaky", {Tensor{}});
  EXPECT_EQ(message(r), "custom op 'test.leaky': input 0 (x) is undefined");
  r = call_custom_op("test.nobody", {x});
  EXPECT_EQ(r.status().code(), ErrorCode::kNotFound);
  EXPECT_NE(message(r).find("custom op 'test.nobody' is not registered"), std::string::npos) << message(r);
  EXPECT_EQ(rt->stats().ops_recorded, recorded);
}

TEST(CustomOp, InferenceAndCompositionErrorsNameTheOp) {
  static const bool registered = (register_dense_gelu("test.dense_gelu_errors", true), [] {
    CustomOpDef liar;  // its composition returns something else than inference says
    liar.schema.name = "test.liar";
    liar.schema.inputs = {{"x", {}}};
    liar.infer = same_shape;
    liar.compose = [](const std::vector<Tensor>& in, const AttrMap&) -> Result<std::vector<Tensor>> {
      KILN_ASSIGN_OR_RETURN(Tensor y, in[0].reshape({-1}));
      return std::vector<Tensor>{y};
    };
    EXPECT_TRUE(register_custom_op(std::move(liar)).ok());
    return true;
  }());
  (void)registered;
  auto rt = open_runtime(Mode::kEager);
  Tensor x = upload(*rt, host_random({2, 3}, 1)), w = upload(*rt, host_random({4, 5}, 2));
  Tensor b = upload(*rt, host_random({4}, 3));
  auto r = call_custom_op("test.dense_gelu_errors", {x, w, b}, {{"scale", 1.0}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "custom op 'test.dense_gelu_errors': shape inference: x [n, k] and w [m, k] do not match: [2, 3], [4, 5]");
  r = call_custom_op("test.dense_gelu_errors", {x, w, b});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "custom op 'test.dense_gelu_errors': attribute 'scale' is required and was not given");
  r = call_custom_op("test.liar", {x});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("custom op 'test.liar': the composition returned f32[6] for output 0, "
                                      "inference says f32[2, 3]"),
            std::string::npos)
      << r.status().message();
}

// A kernel that fails its launch: the device fault names the op.
TEST(CustomOp, AKernelThatFailsItsLaunchNamesTheOp) {
  static const bool registered = [] {
    CustomOpDef def;  // relu's kernel given two inputs: its validation refuses the launch
    def.schema.name = "test.bad_launch";
    def.schema.inputs = {{"a", {}}, {"b", {}}};
    def.infer = same_shape;
    def.kernel.kernel = "relu";
    EXPECT_TRUE(register_custom_op(std::move(def)).ok());
    return true;
  }();
  (void)registered;
  auto rt = open_runtime(Mode::kLazy);
  Tensor x = upload(*rt, host_random({2, 64}, 1));
  Tensor y = take(call_custom_op("test.bad_launch", {x, x}))[0];
  const Status s = rt->synchronize();
  ASSERT_EQ(s.code(), ErrorCode::kDeviceFault) << s.to_string();
  EXPECT_NE(s.message().find("op 'test.bad_launch'"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("TPC queue"), std::string::npos) << s.message();
  EXPECT_FALSE(y.to_host<float>().ok());
  // The runtime goes on.
  register_leaky();
  Tensor z = take(call_custom_op("test.leaky", {x}))[0];
  EXPECT_TRUE(z.to_host<float>().ok());
}

// A kernel the device does not have (no plugin brought it).
TEST(CustomOp, AKernelNotLoadedNamesTheOp) {
  static const bool registered = [] {
    CustomOpDef def;
    def.schema.name = "test.no_kernel";
    def.schema.inputs = {{"x", {}}};
    def.infer = same_shape;
    def.kernel.kernel = "no_such_kernel";
    EXPECT_TRUE(register_custom_op(std::move(def)).ok());
    return true;
  }();
  (void)registered;
  for (Mode mode : {Mode::kEager, Mode::kLazy}) {
    auto rt = open_runtime(mode);
    Tensor x = upload(*rt, host_random({2, 64}, 1));
    auto y = call_custom_op("test.no_kernel", {x});
    Status s = y.ok() ? rt->synchronize() : y.status();
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find("test.no_kernel"), std::string::npos) << s.to_string();
  }
}

TEST(CustomOp, PluginOfAnotherApiVersionIsRefusedNamingBoth) {
  auto r = load_custom_op_plugin(KILN_TEST_CUSTOM_OP_PLUGIN_FUTURE);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("custom-op plugin API version 999; this Kiln runtime has version " +
                                      std::to_string(kCustomOpPluginApiVersion)),
            std::string::npos)
      << r.status().message();
  auto missing = load_custom_op_plugin("/nonexistent/libnothing.so");
  EXPECT_EQ(missing.status().code(), ErrorCode::kNotFound);
}

}  // namespace
}  // namespace kiln::runtime::testing
