// Config overrides: "path=value" reaches the named field with the field's
// type, the result is validated, and every mistake is named.
#include "kiln/common/config_overrides.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace kiln {
namespace {

using ::testing::HasSubstr;

DeviceConfig gaudi2() {
  Result<DeviceConfig> c = load_device_config(std::string(KILN_TEST_CONFIG_DIR) + "/gaudi2.textproto");
  EXPECT_TRUE(c.ok()) << c.status().message();
  return c.ok() ? *c : DeviceConfig{};
}

std::string error_of(const std::vector<std::string>& overrides) {
  DeviceConfig c = gaudi2();
  const Status s = apply_config_overrides(c, overrides);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  return s.message();
}

TEST(ConfigOverrides, SetFieldsOfEveryKindAtAnyDepth) {
  DeviceConfig c = gaudi2();
  ASSERT_TRUE(apply_config_overrides(c, {"hbm.bandwidth_gb_per_s=3000", "mme.array_rows=512", "mme.array_cols=0x200",
                                         "mme.dataflow=WEIGHT_STATIONARY_SERIAL",
                                         "tpc.instruction_costs.vector_alu.issue_cycles=2", "description=what if"})
                  .ok());
  EXPECT_DOUBLE_EQ(c.hbm().bandwidth_gb_per_s(), 3000.0);
  EXPECT_EQ(c.mme().array_rows(), 512u);
  EXPECT_EQ(c.mme().array_cols(), 512u);
  EXPECT_EQ(c.mme().dataflow(), proto::WEIGHT_STATIONARY_SERIAL);
  EXPECT_EQ(c.tpc().instruction_costs().vector_alu().issue_cycles(), 2u);
  EXPECT_EQ(c.description(), "what if");
  // Untouched fields keep the file's values; derived figures follow.
  EXPECT_EQ(c.mme().count(), 2u);
  EXPECT_DOUBLE_EQ(peak_matrix_flops(c), 2.0 * 512 * 512 * 2 * c.mme().clock_mhz() * 1e6);
  // Later overrides win.
  ASSERT_TRUE(apply_config_overrides(c, {"mme.count=1", "mme.count=4"}).ok());
  EXPECT_EQ(c.mme().count(), 4u);
  // Decimal unless 0x: a leading zero is not octal.
  ASSERT_TRUE(apply_config_overrides(c, {"mme.count=08"}).ok());
  EXPECT_EQ(c.mme().count(), 8u);
  // None is fine.
  EXPECT_TRUE(apply_config_overrides(c, {}).ok());
}

TEST(ConfigOverrides, MistakesAreNamed) {
  EXPECT_THAT(error_of({"hbm.bandwidth"}), HasSubstr("'hbm.bandwidth' is not path=value"));
  EXPECT_THAT(error_of({"=3"}), HasSubstr("is not path=value"));
  EXPECT_THAT(error_of({"hbm.bandwith_gb_per_s=1"}),
              HasSubstr("'hbm' has no field 'bandwith_gb_per_s' (fields: capacity_mib, bandwidth_gb_per_s"));
  EXPECT_THAT(error_of({"hmb.capacity_mib=1"}), HasSubstr("the device config has no field 'hmb'"));
  EXPECT_THAT(error_of({"mme.array_rows=big"}), HasSubstr("'big' is not an unsigned 32-bit integer"));
  EXPECT_THAT(error_of({"mme.array_rows=-1"}), HasSubstr("'-1' is not an unsigned 32-bit integer"));
  EXPECT_THAT(error_of({"mme.array_rows=4294967296"}), HasSubstr("is not an unsigned 32-bit integer"));
  EXPECT_THAT(error_of({"hbm.bandwidth_gb_per_s=fast"}), HasSubstr("'fast' is not a finite number"));
  EXPECT_THAT(error_of({"hbm.bandwidth_gb_per_s=nan"}), HasSubstr("is not a finite number"));
  EXPECT_THAT(error_of({"mme.dataflow=OUTPUT_STATIONARY_MAGIC"}),
              HasSubstr("is not one of DATAFLOW_UNSPECIFIED, WEIGHT_STATIONARY_SERIAL"));
  EXPECT_THAT(error_of({"hbm=3"}), HasSubstr("names a message, not a value (name one of its fields: capacity_mib"));
  EXPECT_THAT(error_of({"mme.count.x=3"}), HasSubstr("'mme.count' is a value, it has no fields"));
  // Parsed but invalid: the validator names the overrides as the origin.
  const std::string invalid = error_of({"mme.count=0"});
  EXPECT_THAT(invalid, HasSubstr("gaudi2 with mme.count=0"));
  EXPECT_THAT(invalid, HasSubstr("field 'mme.count' must be > 0 (got 0)"));
}

TEST(ConfigOverrides, SweepsExpandToOneOverridePerValue) {
  Result<std::vector<std::string>> s = expand_config_sweep("mme.array_rows=128,256,512");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, (std::vector<std::string>{"mme.array_rows=128", "mme.array_rows=256", "mme.array_rows=512"}));
  EXPECT_EQ(*expand_config_sweep("hbm.bandwidth_gb_per_s=1000"),
            (std::vector<std::string>{"hbm.bandwidth_gb_per_s=1000"}));
  for (const char* bad : {"mme.array_rows", "mme.array_rows=", "=1,2", "mme.array_rows=1,,2", "mme.array_rows=1,"}) {
    EXPECT_FALSE(expand_config_sweep(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace kiln
