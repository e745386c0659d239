#include "shardd/core/utf8.h"

#include <gtest/gtest.h>

namespace shardd::utf8 {
namespace {

TEST(Utf8Test, ValidAcceptsWellFormedText) {
  EXPECT_TRUE(valid(""));
  EXPECT_TRUE(valid("plain ascii"));
  EXPECT_TRUE(valid("é 中 😀"));
  EXPECT_TRUE(valid("\xF4\x8F\xBF\xBF"));  // U+10FFFF
}

TEST(Utf8Test, ValidRejectsMalformedText) {
  EXPECT_FALSE(valid("\xff"));
  EXPECT_FALSE(valid("\xC3"));              // truncated
  EXPECT_FALSE(valid("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(valid("\xE0\x80\xAF"));      // overlong
  EXPECT_FALSE(valid("\xED\xA0\x80"));      // surrogate U+D800
  EXPECT_FALSE(valid("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(valid("ok\x80"));            // stray continuation byte
}

TEST(Utf8Test, LengthCountsCodePoints) {
  EXPECT_EQ(length("abc"), 3u);
  EXPECT_EQ(length("😀😀😀"), 3u);
  EXPECT_EQ(length(std::string(100, 'x')), 100u);
  std::string e100;
  for (int i = 0; i < 100; ++i) e100 += "é";
  EXPECT_EQ(length(e100), 100u);
}

TEST(Utf8Test, QuoteIsShortAndSafe) {
  EXPECT_EQ(quote("mars"), "mars");
  std::string q = quote(std::string(10000, 'z'));
  EXPECT_EQ(length(q), 33u);  // 32 characters and the ellipsis
  EXPECT_LE(q.size(), 4u * 32 + 3);
  EXPECT_TRUE(valid(quote("bad \xff bytes \xC3")));
  EXPECT_EQ(quote("a\nb\x1b[31mc"),
            "a\xEF\xBF\xBD"
            "b\xEF\xBF\xBD[31mc");
  EXPECT_EQ(quote("\xE2\x80\xAE"
                  "evil"),
            "\xEF\xBF\xBD"
            "evil");  // right-to-left override
}

}  // namespace
}  // namespace shardd::utf8
