// Status / Result<T> and the early-return macros.
#include "kiln/common/status.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace kiln {
namespace {

TEST(StatusTest, DefaultIsOk) {
  const Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), ErrorCode::kOk);
  EXPECT_EQ(s.to_string(), "OK");
  EXPECT_TRUE(Status::ok_status().ok());
}

TEST(StatusTest, ErrorCarriesCodeAndMessage) {
  const Status s = not_found("device config 'x' not found");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), ErrorCode::kNotFound);
  EXPECT_EQ(s.message(), "device config 'x' not found");
  EXPECT_EQ(s.to_string(), "NOT_FOUND: device config 'x' not found");
}

TEST(StatusTest, HelpersMapToCodes) {
  EXPECT_EQ(invalid_argument("m").code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(out_of_memory("m").code(), ErrorCode::kOutOfMemory);
  EXPECT_EQ(out_of_range("m").code(), ErrorCode::kOutOfRange);
  EXPECT_EQ(resource_exhausted("m").code(), ErrorCode::kResourceExhausted);
  EXPECT_EQ(failed_precondition("m").code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(device_fault("m").code(), ErrorCode::kDeviceFault);
  EXPECT_EQ(timeout_error("m").code(), ErrorCode::kTimeout);
  EXPECT_EQ(unimplemented("m").code(), ErrorCode::kUnimplemented);
  EXPECT_EQ(internal_error("m").code(), ErrorCode::kInternal);
}

TEST(StatusTest, EveryCodeHasAName) {
  for (int c = int(ErrorCode::kOk); c <= int(ErrorCode::kInternal); ++c) {
    EXPECT_NE(error_code_name(ErrorCode(c)), "UNKNOWN") << c;
  }
  EXPECT_EQ(error_code_name(ErrorCode::kInvalidArgument), "INVALID_ARGUMENT");
}

TEST(StatusTest, WithContextPrefixesErrorsOnly) {
  const Status s = invalid_argument("bad field").with_context("while loading x");
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "while loading x: bad field");
  EXPECT_TRUE(Status().with_context("ctx").ok());
  EXPECT_EQ(Status().with_context("ctx").message(), "");
}

TEST(ResultTest, HoldsValue) {
  Result<int> r = 42;
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(static_cast<bool>(r));
  EXPECT_EQ(*r, 42);
  EXPECT_EQ(r.value(), 42);
  EXPECT_TRUE(r.status().ok());
}

TEST(ResultTest, HoldsError) {
  const Result<std::string> r = timeout_error("wait ran out");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kTimeout);
  EXPECT_EQ(r.status().message(), "wait ran out");
}

TEST(ResultTest, MoveOnlyValue) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(7);
  ASSERT_TRUE(r.ok());
  std::unique_ptr<int> p = std::move(r).value();
  EXPECT_EQ(*p, 7);
}

TEST(ResultTest, ArrowReachesMembers) {
  const Result<std::string> r = std::string("abc");
  EXPECT_EQ(r->size(), 3u);
}

Status fails_if(bool fail) {
  if (fail) return out_of_range("index 9 >= 4");
  return Status::ok_status();
}

Status chain(bool fail, bool* reached_end) {
  KILN_RETURN_IF_ERROR(fails_if(fail));
  *reached_end = true;
  return Status::ok_status();
}

TEST(MacrosTest, ReturnIfErrorPropagates) {
  bool reached = false;
  const Status s = chain(true, &reached);
  EXPECT_EQ(s.code(), ErrorCode::kOutOfRange);
  EXPECT_FALSE(reached);
  EXPECT_TRUE(chain(false, &reached).ok());
  EXPECT_TRUE(reached);
}

Result<int> half(int v) {
  if (v % 2 != 0) return invalid_argument("odd: " + std::to_string(v));
  return v / 2;
}

Result<int> quarter(int v) {
  KILN_ASSIGN_OR_RETURN(const int h, half(v));
  KILN_ASSIGN_OR_RETURN(const int q, half(h));  // two uses in one scope must not clash
  return q;
}

TEST(MacrosTest, AssignOrReturn) {
  const Result<int> ok = quarter(12);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 3);
  const Result<int> bad = quarter(6);  // 6 -> 3 -> odd
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(), "odd: 3");
}

}  // namespace
}  // namespace kiln
