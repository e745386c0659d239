#include "shardd/core/error_code.h"

#include <fstream>
#include <gtest/gtest.h>
#include <sstream>

#include "shardd/core/status.h"

namespace shardd {
namespace {

// A module's code, defined the way services define theirs.
constexpr ErrorDef kWidgetJammedDef{"WIDGET_JAMMED", true, "a test code"};
constexpr ErrorCode kWidgetJammed{kWidgetJammedDef};
constexpr ErrorDef kFakeBadRequestDef{"BAD_REQUEST", false, "a clash"};

TEST(ErrorCodeTest, CoreTableNamesAreUniqueAndFound) {
  ErrorTable t;
  for (ErrorCode c : core_error_codes()) {
    ASSERT_FALSE(c.name().empty());
    EXPECT_EQ(t.find(c.name()), c) << c.name();
  }
  EXPECT_EQ(t.find("NOT_A_CODE"), std::nullopt);
}

TEST(ErrorCodeTest, ModulesAddCodesButCannotReuseAName) {
  ErrorTable t;
  EXPECT_TRUE(t.add("widget", kWidgetJammed));
  EXPECT_TRUE(t.add("widget", kWidgetJammed));  // the same code again is fine
  EXPECT_EQ(t.find("WIDGET_JAMMED"), kWidgetJammed);
  EXPECT_EQ(t.entries().back().module, "widget");
  EXPECT_FALSE(t.add("widget", ErrorCode(kFakeBadRequestDef)));
  EXPECT_EQ(t.find("BAD_REQUEST"), ErrorCode::kBadRequest);
  EXPECT_TRUE(kWidgetJammed.retryable());
  EXPECT_EQ(Status(kWidgetJammed, "stuck").to_string(), "WIDGET_JAMMED: stuck");
}

TEST(ErrorCodeTest, RetryableCodes) {
  EXPECT_TRUE(error_code_retryable(ErrorCode::kRateLimited));
  EXPECT_TRUE(error_code_retryable(ErrorCode::kUnavailable));
  EXPECT_FALSE(error_code_retryable(ErrorCode::kBadRequest));
  EXPECT_FALSE(error_code_retryable(ErrorCode::kUnknownOp));
}

TEST(StatusTest, OkAndError) {
  EXPECT_TRUE(Status().ok());
  Status s = Status::BadRequest("nope");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), ErrorCode::kBadRequest);
  EXPECT_EQ(s.to_string(), "BAD_REQUEST: nope");
}

}  // namespace
}  // namespace shardd
