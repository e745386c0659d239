#include "shardd/core/error_code.h"

#include <fstream>
#include <gtest/gtest.h>
#include <sstream>

#include "shardd/core/status.h"

namespace shardd {
namespace {

TEST(ErrorCodeTest, NamesRoundTrip) {
  for (size_t i = 1; i < static_cast<size_t>(ErrorCode::kCount_); ++i) {
    auto code = static_cast<ErrorCode>(i);
    auto name = error_code_name(code);
    ASSERT_FALSE(name.empty());
    EXPECT_EQ(error_code_from_name(name), code) << name;
  }
  EXPECT_EQ(error_code_from_name("NOT_A_CODE"), std::nullopt);
}

TEST(ErrorCodeTest, RetryableCodes) {
  EXPECT_TRUE(error_code_retryable(ErrorCode::kRateLimited));
  EXPECT_TRUE(error_code_retryable(ErrorCode::kUnavailable));
  EXPECT_FALSE(error_code_retryable(ErrorCode::kBadRequest));
  EXPECT_FALSE(error_code_retryable(ErrorCode::kUnknownOp));
}

TEST(ErrorCodeTest, EveryCodeIsDocumentedInProtocolMd) {
  std::ifstream in(std::string(SHARDD_SOURCE_DIR) + "/docs/protocol.md");
  ASSERT_TRUE(in) << "docs/protocol.md missing";
  std::stringstream ss;
  ss << in.rdbuf();
  std::string doc = ss.str();
  for (size_t i = 1; i < static_cast<size_t>(ErrorCode::kCount_); ++i) {
    std::string row = "| `" + std::string(error_code_name(static_cast<ErrorCode>(i))) + "`";
    EXPECT_NE(doc.find(row), std::string::npos) << "not in the error table: " << row;
  }
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
