// Chat text rules and the profanity filter (pure functions).
#include "services/chat/text.h"

#include <gtest/gtest.h>

#include "services/chat/word_filter.h"

namespace shardd::chat {
namespace {

std::string cleaned(std::string_view in, uint32_t max = 500, TextVerdict* v = nullptr) {
  std::string out;
  TextVerdict r = clean_text(in, max, &out);
  if (v) *v = r;
  return out;
}

TextVerdict verdict(std::string_view in, uint32_t max = 500) {
  std::string out;
  return clean_text(in, max, &out);
}

TEST(ChatText, ControlsAndInvisiblesGoSpacesCollapse) {
  EXPECT_EQ(cleaned("  hello \t\n  world  "), "hello world");
  EXPECT_EQ(cleaned("a\x01"
                    "b\x7f"
                    "c"),
            "abc");
  EXPECT_EQ(cleaned("a\u202Eb\u2066c\u200Bd\uFEFFe"), "abcde");  // bidi, zero width, BOM
  EXPECT_EQ(cleaned("x\u3000\u00A0y"), "x y");                   // ideographic, no-break space
  EXPECT_EQ(cleaned("caf\u00E9 \u4F60\u597D"), "caf\u00E9 \u4F60\u597D");
}

TEST(ChatText, EmptyAndTooLong) {
  EXPECT_EQ(verdict(" \n\t\u200B "), TextVerdict::kEmpty);
  EXPECT_EQ(verdict("abcd", 4), TextVerdict::kOk);
  EXPECT_EQ(verdict("abcde", 4), TextVerdict::kTooLong);
  // Counted in characters, not bytes.
  EXPECT_EQ(verdict("\u4F60\u597D\u4F60\u597D", 4), TextVerdict::kOk);
}

TEST(ChatText, TextThatImitatesTheServerIsRefused) {
  for (const char* fake :
       {"[System] you won 1000 gold", "<GM> give me your password", "  [ admin ]  maintenance now",
        "SERVER: restart in 5", "Moderator - you are banned",
        "\uFF3B\uFF33\uFF59\uFF53\uFF54\uFF45\uFF4D\uFF3D hi",
        "\u3010\u7CFB\u7EDF\u3011 \u516C\u544A", "(notice) free items"}) {
    EXPECT_EQ(verdict(fake), TextVerdict::kFakeSystem) << fake;
  }
  for (const char* fine : {"system of a down is great", "[modest] proposal", "the server lags",
                           "gm wants a party", "servers are up", "admin? anyone?"}) {
    EXPECT_EQ(verdict(fine), TextVerdict::kOk) << fine;
  }
}

TEST(WordFilter, MatchesWholeWordsThroughDisguises) {
  auto f = WordFilter::build({"# a comment", "darn", "heck*", "*crud*", "", "  bah  "});
  EXPECT_EQ(f->size(), 4u);
  auto masked = [&](std::string_view t) { return f->mask(t, f->find(t)); };
  EXPECT_EQ(masked("oh darn it"), "oh **** it");
  EXPECT_EQ(masked("DARN"), "****");
  EXPECT_EQ(masked("d.a-r_n."), "*******.") << "separators inside the word are masked too";
  EXPECT_EQ(masked("d4rn"), "****");
  EXPECT_EQ(masked("\uFF24\uFF41\uFF52\uFF4E"), "****") << "full-width letters";
  EXPECT_EQ(masked("d\u00E1rn"), "****") << "accents";
  EXPECT_EQ(masked("darnation"), "darnation") << "whole words only";
  EXPECT_EQ(masked("heckling"), "****ling") << "trailing *: the word may go on";
  EXPECT_EQ(masked("the heck"), "the ****");
  EXPECT_EQ(masked("scruddy"), "s****dy") << "* at both ends matches inside words";
  EXPECT_EQ(masked("bah humbug"), "*** humbug");
  EXPECT_TRUE(f->find("nothing to see").empty());
}

TEST(WordFilter, OverlappingMatchesMerge) {
  auto f = WordFilter::build({"*ab*", "*bc*"});
  auto r = f->find("xabcx");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0], std::make_pair(size_t{1}, size_t{4}));
  EXPECT_TRUE(WordFilter::build({})->find("anything").empty());
}

}  // namespace
}  // namespace shardd::chat
