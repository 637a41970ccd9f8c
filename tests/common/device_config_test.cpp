// Device-config loading: the shipped configs, derived peaks, the search path,
// and that every kind of bad config fails with an error naming file and field.
#include "kiln/common/device_config.h"

#include <google/protobuf/text_format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <optional>
#include <string>

namespace kiln {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr const char* kOrigin = "configs/bad.textproto";

// Sets an environment variable for one scope and restores the old value.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// A private temporary directory per test, removed afterwards.
class DeviceConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("kiln_device_config_test_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path write(const std::string& file, const std::string& text) {
    const fs::path p = dir_ / file;
    std::ofstream(p) << text;
    return p;
  }

  // The tiny config as loaded from the source tree: a known-good base to break.
  static DeviceConfig tiny() {
    Result<DeviceConfig> c = load_device_config(std::string(KILN_TEST_CONFIG_DIR) + "/tiny.textproto");
    EXPECT_TRUE(c.ok()) << c.status().to_string();
    return c.ok() ? *c : DeviceConfig();
  }

  // Applies `edit` to a valid config, round-trips it through text format and
  // returns the error parse_device_config reports (empty if it accepted it).
  static std::string error_after(const std::function<void(DeviceConfig&)>& edit) {
    DeviceConfig c = tiny();
    edit(c);
    std::string text;
    EXPECT_TRUE(google::protobuf::TextFormat::PrintToString(c, &text));
    const Result<DeviceConfig> r = parse_device_config(text, kOrigin);
    if (r.ok()) return "";
    EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
    return r.status().message();
  }

  fs::path dir_;
};

// --- the shipped configs ----------------------------------------------------

TEST_F(DeviceConfigTest, ShippedConfigsLoadByName) {
  for (const char* name : {"gaudi2", "gaudi3", "tiny"}) {
    const Result<DeviceConfig> c = load_device_config(name);
    ASSERT_TRUE(c.ok()) << name << ": " << c.status().to_string();
    EXPECT_EQ(c->name(), name);
    EXPECT_TRUE(validate_device_config(*c, name).ok());
  }
}

TEST_F(DeviceConfigTest, ValidationConfigLoadsBySubdirectoryName) {
  const Result<DeviceConfig> c = load_device_config("validation/ws128_serial");
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->name(), "ws128_serial");
  EXPECT_EQ(c->mme().count(), 1u);
  EXPECT_EQ(c->mme().array_rows(), 128u);
  EXPECT_EQ(c->mme().array_cols(), 128u);
  EXPECT_EQ(c->mme().dataflow(), proto::WEIGHT_STATIONARY_SERIAL);
  EXPECT_EQ(c->hbm().latency_ns(), 0.0);  // ideal memory: zero latency is allowed
}

TEST_F(DeviceConfigTest, ShippedConfigsLoadByPath) {
  for (const char* file : {"gaudi2.textproto", "gaudi3.textproto", "tiny.textproto",
                           "validation/ws128_serial.textproto"}) {
    const std::string path = std::string(KILN_TEST_CONFIG_DIR) + "/" + file;
    const Result<std::string> resolved = resolve_device_config_path(path);
    ASSERT_TRUE(resolved.ok()) << resolved.status().to_string();
    EXPECT_EQ(*resolved, path);
    const Result<DeviceConfig> c = load_device_config(path);
    EXPECT_TRUE(c.ok()) << file << ": " << c.status().to_string();
  }
}

TEST_F(DeviceConfigTest, PublicFiguresOfGaudi2) {
  const Result<DeviceConfig> c = load_device_config("gaudi2");
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->mme().count(), 2u);
  EXPECT_EQ(c->tpc().count(), 24u);
  EXPECT_EQ(c->hbm().capacity_mib(), 96u * 1024);
  EXPECT_DOUBLE_EQ(c->hbm().bandwidth_gb_per_s(), 2460);
  EXPECT_EQ(c->sram().capacity_mib(), 48u);
  EXPECT_DOUBLE_EQ(c->host_link().bandwidth_gb_per_s(), 32);  // 64 GB/s both ways
  EXPECT_NEAR(peak_matrix_flops(*c), 432e12, 432e12 * 0.005);
}

TEST_F(DeviceConfigTest, PublicFiguresOfGaudi3) {
  const Result<DeviceConfig> c = load_device_config("gaudi3");
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->mme().count(), 8u);
  EXPECT_EQ(c->tpc().count(), 64u);
  EXPECT_EQ(c->hbm().capacity_mib(), 128u * 1024);
  EXPECT_DOUBLE_EQ(c->hbm().bandwidth_gb_per_s(), 3670);
  EXPECT_EQ(c->sram().capacity_mib(), 96u);
  EXPECT_DOUBLE_EQ(c->sram().bandwidth_gb_per_s(), 12800);
  EXPECT_DOUBLE_EQ(c->host_link().bandwidth_gb_per_s(), 64);  // 128 GB/s both ways
  EXPECT_NEAR(peak_matrix_flops(*c), 1835e12, 1835e12 * 0.005);
  EXPECT_NEAR(peak_vector_flops(*c), 28.7e12, 28.7e12 * 0.005);
}

TEST_F(DeviceConfigTest, PeakFormulas) {
  DeviceConfig c = tiny();
  c.mutable_mme()->set_count(3);
  c.mutable_mme()->set_array_rows(4);
  c.mutable_mme()->set_array_cols(8);
  c.mutable_mme()->set_clock_mhz(500);
  EXPECT_DOUBLE_EQ(peak_matrix_flops(c), 3.0 * 4 * 8 * 2 * 500e6);
  c.mutable_tpc()->set_count(5);
  c.mutable_tpc()->set_vector_width_bytes(64);  // 32 bf16 lanes
  c.mutable_tpc()->set_clock_mhz(2000);
  EXPECT_DOUBLE_EQ(peak_vector_flops(c), 5.0 * 32 * 2 * 2000e6);
}

// --- validation errors name the file and the field ---------------------------

TEST_F(DeviceConfigTest, MissingSubmessage) {
  const std::string e = error_after([](DeviceConfig& c) { c.clear_hbm(); });
  EXPECT_THAT(e, HasSubstr("configs/bad.textproto: field 'hbm' is missing"));
}

TEST_F(DeviceConfigTest, NegativeBandwidth) {
  const std::string e = error_after([](DeviceConfig& c) { c.mutable_hbm()->set_bandwidth_gb_per_s(-5); });
  EXPECT_THAT(e, HasSubstr("configs/bad.textproto: field 'hbm.bandwidth_gb_per_s' must be > 0 (got -5)"));
}

TEST_F(DeviceConfigTest, ZeroCount) {
  const std::string e = error_after([](DeviceConfig& c) { c.mutable_tpc()->set_count(0); });
  EXPECT_THAT(e, HasSubstr("configs/bad.textproto: field 'tpc.count' must be > 0 (got 0)"));
}

TEST_F(DeviceConfigTest, EveryTpcInstructionClassMustBePriced) {
  EXPECT_THAT(error_after([](DeviceConfig& c) { c.mutable_tpc()->clear_instruction_costs(); }),
              HasSubstr("field 'tpc.instruction_costs' is missing"));
  EXPECT_THAT(error_after([](DeviceConfig& c) { c.mutable_tpc()->mutable_instruction_costs()->clear_vector_reduce(); }),
              HasSubstr("field 'tpc.instruction_costs.vector_reduce' is missing"));
  EXPECT_THAT(error_after([](DeviceConfig& c) {
                c.mutable_tpc()->mutable_instruction_costs()->mutable_vector_alu()->set_issue_cycles(0);
              }),
              HasSubstr("field 'tpc.instruction_costs.vector_alu.issue_cycles' must be > 0 (got 0)"));
  EXPECT_THAT(error_after([](DeviceConfig& c) {
                c.mutable_tpc()->mutable_instruction_costs()->mutable_scalar_load()->set_stall_cycles(1u << 20);
              }),
              HasSubstr("field 'tpc.instruction_costs.scalar_load.stall_cycles' must be <= 65536"));
  EXPECT_EQ(error_after([](DeviceConfig& c) {
              c.mutable_tpc()->mutable_instruction_costs()->mutable_vector_load()->set_stall_cycles(0);
            }),
            "");
}

TEST_F(DeviceConfigTest, PageSizeNotPowerOfTwo) {
  const std::string e = error_after([](DeviceConfig& c) { c.mutable_mmu()->set_page_size_kib(48); });
  EXPECT_THAT(e, HasSubstr("configs/bad.textproto: field 'mmu.page_size_kib' must be a power of two (got 48)"));
}

TEST_F(DeviceConfigTest, NonFiniteRejected) {
  const std::string nan = error_after([](DeviceConfig& c) {
    c.mutable_mme()->set_clock_mhz(std::numeric_limits<double>::quiet_NaN());
  });
  EXPECT_THAT(nan, HasSubstr("field 'mme.clock_mhz' must be a finite number"));
  const std::string inf = error_after([](DeviceConfig& c) {
    c.mutable_sram()->set_latency_ns(std::numeric_limits<double>::infinity());
  });
  EXPECT_THAT(inf, HasSubstr("field 'sram.latency_ns' must be a finite number (got inf)"));
}

TEST_F(DeviceConfigTest, NegativeLatencyRejectedZeroAllowed) {
  EXPECT_THAT(error_after([](DeviceConfig& c) { c.mutable_host_link()->set_latency_ns(-1); }),
              HasSubstr("field 'host_link.latency_ns' must be >= 0 (got -1)"));
  EXPECT_EQ(error_after([](DeviceConfig& c) {
              c.mutable_hbm()->set_latency_ns(0);
              c.mutable_sram()->set_latency_ns(0);
              c.mutable_host_link()->set_latency_ns(0);
            }),
            "");
}

TEST_F(DeviceConfigTest, MmeRatesPerInputTypeArePositive) {
  EXPECT_THAT(error_after([](DeviceConfig& c) { c.mutable_mme()->clear_fp32_macs_per_cell_per_cycle(); }),
              HasSubstr("field 'mme.fp32_macs_per_cell_per_cycle' must be > 0 (got 0)"));
  EXPECT_THAT(error_after([](DeviceConfig& c) { c.mutable_mme()->set_tf32_macs_per_cell_per_cycle(-0.5); }),
              HasSubstr("field 'mme.tf32_macs_per_cell_per_cycle' must be > 0 (got -0.5)"));
  EXPECT_THAT(error_after([](DeviceConfig& c) {
                c.mutable_mme()->set_fp16_macs_per_cell_per_cycle(std::numeric_limits<double>::infinity());
              }),
              HasSubstr("field 'mme.fp16_macs_per_cell_per_cycle' must be a finite number"));
}

TEST_F(DeviceConfigTest, MatrixPeakPerInputType) {
  DeviceConfig c = tiny();
  c.mutable_mme()->set_fp16_macs_per_cell_per_cycle(1);
  c.mutable_mme()->set_tf32_macs_per_cell_per_cycle(0.5);
  c.mutable_mme()->set_fp32_macs_per_cell_per_cycle(0.125);
  const proto::MmeConfig& m = c.mme();
  EXPECT_EQ(mme_macs_per_cell_per_cycle(m, DType::kBF16, DType::kBF16), 1.0);  // bf16 is the nominal rate
  EXPECT_EQ(mme_macs_per_cell_per_cycle(m, DType::kF16, DType::kBF16), 1.0);
  EXPECT_EQ(mme_macs_per_cell_per_cycle(m, DType::kF32, DType::kF32), 0.125);
  EXPECT_EQ(mme_macs_per_cell_per_cycle(m, DType::kF32, DType::kF32, /*tf32=*/true), 0.5);
  EXPECT_EQ(mme_macs_per_cell_per_cycle(m, DType::kBF16, DType::kF32), 0.125);  // the slower input
  EXPECT_EQ(mme_macs_per_cell_per_cycle(m, DType::kI32, DType::kBF16), 0.0);   // not an MME type
  EXPECT_DOUBLE_EQ(peak_matrix_flops(c, DType::kBF16, DType::kBF16), peak_matrix_flops(c));
  EXPECT_DOUBLE_EQ(peak_matrix_flops(c, DType::kF32, DType::kF32), peak_matrix_flops(c) / 8);
}

TEST_F(DeviceConfigTest, ConsistencyChecks) {
  EXPECT_THAT(error_after([](DeviceConfig& c) { c.mutable_tpc()->set_vector_width_bytes(6); }),
              HasSubstr("field 'tpc.vector_width_bytes' must be a multiple of 4 (got 6)"));
  EXPECT_THAT(error_after([](DeviceConfig& c) { c.mutable_tpc()->set_vector_width_bytes(96); }),
              HasSubstr("field 'tpc.vector_width_bytes' must be a power of two (got 96)"));
  EXPECT_THAT(error_after([](DeviceConfig& c) { c.mutable_command_processor()->set_queues(65536); }),
              HasSubstr("field 'command_processor.queues' must be <= 65535 (got 65536)"));
  EXPECT_THAT(error_after([](DeviceConfig& c) { c.mutable_command_processor()->set_fence_counters(0); }),
              HasSubstr("field 'command_processor.fence_counters' must be > 0"));
  EXPECT_THAT(error_after([](DeviceConfig& c) { c.mutable_sync_manager()->set_monitors(0); }),
              HasSubstr("field 'sync_manager.monitors' must be > 0"));
  EXPECT_THAT(error_after([](DeviceConfig& c) { c.mutable_mme()->set_dataflow(proto::DATAFLOW_UNSPECIFIED); }),
              HasSubstr("field 'mme.dataflow' must be WEIGHT_STATIONARY_SERIAL or WEIGHT_STATIONARY_PIPELINED"));
  EXPECT_THAT(error_after([](DeviceConfig& c) {
                c.mutable_mmu()->set_page_size_kib(4096);  // 4 MiB pages
                c.mutable_sram()->set_capacity_mib(4);     // one page exactly
              }),
              HasSubstr("field 'sram.capacity_mib' must be larger than mmu.page_size_kib"));
  EXPECT_THAT(error_after([](DeviceConfig& c) { c.clear_name(); }),
              HasSubstr("field 'name' must not be empty"));
}

TEST_F(DeviceConfigTest, ReportsEveryProblemFileFirst) {
  const std::string e = error_after([](DeviceConfig& c) {
    c.mutable_dma()->set_engines(0);
    c.clear_tpc();
  });
  EXPECT_EQ(e.rfind("configs/bad.textproto: field 'dma.engines'", 0), 0u) << e;
  EXPECT_THAT(e, HasSubstr("; field 'tpc' is missing"));
}

// --- parse errors ------------------------------------------------------------

TEST_F(DeviceConfigTest, SyntaxErrorNamesLineAndColumn) {
  const Result<DeviceConfig> r = parse_device_config("name: \"x\"\nhbm {\n  capacity_mib: 12 12\n}\n", kOrigin);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("configs/bad.textproto:3:20: "));
}

TEST_F(DeviceConfigTest, UnknownFieldIsAnError) {
  const Result<DeviceConfig> r = parse_device_config("name: \"x\"\nhbm { bandwith_gb_per_s: 5 }\n", kOrigin);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("configs/bad.textproto:2:"));
  EXPECT_THAT(r.status().message(), HasSubstr("bandwith_gb_per_s"));
}

TEST_F(DeviceConfigTest, LoadFromTempFileNamesThePath) {
  const fs::path bad_syntax = write("broken.textproto", "name: \"broken\"\nclocks {\n  core_mhz 1000\n");
  const Result<DeviceConfig> r = load_device_config(bad_syntax.string());
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr(bad_syntax.string() + ":3:"));

  const fs::path bad_value = write("neg.textproto", "name: \"neg\"\n");  // everything else missing
  const Result<DeviceConfig> r2 = load_device_config(bad_value.string());
  ASSERT_FALSE(r2.ok());
  EXPECT_THAT(r2.status().message(), HasSubstr(bad_value.string() + ": field 'description'"));
  EXPECT_THAT(r2.status().message(), HasSubstr("field 'clocks' is missing"));
}

// --- finding configs -----------------------------------------------------------

TEST_F(DeviceConfigTest, UnknownNameIsNotFoundAndListsTheSearchPath) {
  const ScopedEnv env("KILN_CONFIG_PATH", dir_.string());
  const Result<DeviceConfig> r = load_device_config("no_such_device");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kNotFound);
  EXPECT_THAT(r.status().message(), HasSubstr("device config 'no_such_device' not found"));
  EXPECT_THAT(r.status().message(), HasSubstr(dir_.string()));
  EXPECT_THAT(r.status().message(), HasSubstr(KILN_TEST_CONFIG_DIR));
  EXPECT_THAT(r.status().message(), HasSubstr("gaudi2"));  // lists what is available
}

TEST_F(DeviceConfigTest, MissingAbsolutePathIsNotFound) {
  const Result<std::string> r = resolve_device_config_path((dir_ / "absent.textproto").string());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kNotFound);
  EXPECT_THAT(r.status().message(), HasSubstr("absent.textproto"));
}

TEST_F(DeviceConfigTest, SearchPathOrderAndPrecedence) {
  const fs::path other = dir_ / "other";
  fs::create_directories(other);
  const ScopedEnv env("KILN_CONFIG_PATH", dir_.string() + "::" + other.string() + ":");
  const std::vector<std::string> path = device_config_search_path();
  ASSERT_GE(path.size(), 3u);
  EXPECT_EQ(path[0], dir_.string());
  EXPECT_EQ(path[1], other.string());  // empty entries skipped
  EXPECT_EQ(path.back(), KILN_TEST_CONFIG_DIR);

  // A config in KILN_CONFIG_PATH shadows the shipped one of the same name.
  std::string text;
  DeviceConfig mine = tiny();
  mine.set_description("my tiny");
  ASSERT_TRUE(google::protobuf::TextFormat::PrintToString(mine, &text));
  const fs::path shadow = write("other/tiny.textproto", text);
  const Result<std::string> resolved = resolve_device_config_path("tiny");
  ASSERT_TRUE(resolved.ok()) << resolved.status().to_string();
  EXPECT_EQ(*resolved, shadow.string());
  const Result<DeviceConfig> c = load_device_config("tiny");
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->description(), "my tiny");
}

TEST_F(DeviceConfigTest, SourceDirIsAlwaysSearched) {
  const ScopedEnv env("KILN_CONFIG_PATH", "");
  const Result<std::string> r = resolve_device_config_path("gaudi3");
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(*r, std::string(KILN_TEST_CONFIG_DIR) + "/gaudi3.textproto");
}

}  // namespace
}  // namespace kiln
