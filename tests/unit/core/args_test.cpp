#include "shardd/core/args.h"

#include <gtest/gtest.h>

namespace shardd::args {
namespace {

using json = nlohmann::json;

const Schema kSchema = {str("zone", 1, 8), optional(integer("limit", 1, 50)),
                        optional(boolean("open")), optional(one_of("kind", {"a", "b"})),
                        optional(array("ids", 3))};

std::string error_of(const json& d) {
  Status st = check(d, kSchema);
  EXPECT_FALSE(st.ok()) << d.dump();
  EXPECT_EQ(st.code(), ErrorCode::kBadRequest);
  return st.message();
}

TEST(ArgsTest, AcceptsWhatTheSchemaDeclares) {
  EXPECT_TRUE(check({{"zone", "eu-1"}}, kSchema).ok());
  EXPECT_TRUE(check({{"zone", "中国"},
                     {"limit", 50},
                     {"open", true},
                     {"kind", "b"},
                     {"ids", {1, 2}},
                     {"extra", "ignored"}},
                    kSchema)
                  .ok());
  EXPECT_FALSE(check({{"zone", "x"}, {"limit", nullptr}}, kSchema).ok()) << "null is not absent";
}

TEST(ArgsTest, EveryBreakNamesTheField) {
  EXPECT_EQ(error_of(json::object()), "missing field 'zone'");
  EXPECT_EQ(error_of({{"zone", nullptr}}), "'zone' must be a string");
  EXPECT_EQ(error_of({{"zone", 5}}), "'zone' must be a string");
  EXPECT_EQ(error_of({{"zone", ""}}), "'zone' must be 1-8 characters");
  EXPECT_EQ(error_of({{"zone", std::string(100000, 'x')}}), "'zone' must be 1-8 characters");
  EXPECT_EQ(error_of({{"zone", "\xff"}}), "'zone' is not valid UTF-8");
  EXPECT_EQ(error_of({{"zone", "x"}, {"limit", "5"}}), "'limit' must be an integer in [1, 50]");
  EXPECT_EQ(error_of({{"zone", "x"}, {"limit", 1.5}}), "'limit' must be an integer in [1, 50]");
  EXPECT_EQ(error_of({{"zone", "x"}, {"limit", -3}}), "'limit' must be an integer in [1, 50]");
  EXPECT_EQ(error_of({{"zone", "x"}, {"limit", UINT64_MAX}}),
            "'limit' must be an integer in [1, 50]");
  EXPECT_EQ(error_of({{"zone", "x"}, {"open", 1}}), "'open' must be true or false");
  EXPECT_EQ(error_of({{"zone", "x"}, {"kind", "c"}}), "'kind' must be one of: a, b");
  EXPECT_EQ(error_of({{"zone", "x"}, {"ids", {1, 2, 3, 4}}}), "'ids' must have at most 3 elements");
  EXPECT_EQ(error_of(json::array()), "arguments must be an object");
}

TEST(ArgsTest, LengthCountsCharactersNotBytes) {
  EXPECT_TRUE(check({{"zone", "😀😀😀😀😀😀😀😀"}}, kSchema).ok());  // 8 characters, 32 bytes
  EXPECT_FALSE(check({{"zone", "😀😀😀😀😀😀😀😀😀"}}, kSchema).ok());
}

TEST(ArgsTest, ReadersNeverThrow) {
  json d = {{"zone", "x"}, {"limit", 7}, {"weird", {{"a", 1}}}};
  EXPECT_EQ(str(d, "zone"), "x");
  EXPECT_EQ(str(d, "limit"), "");  // wrong type reads as the default
  EXPECT_EQ(int_or(d, "limit", 1), 7);
  EXPECT_EQ(int_or(d, "zone", 9), 9);
  EXPECT_EQ(int_or(json::array(), "x", 3), 3);
  EXPECT_FALSE(bool_or(d, "weird", false));
  EXPECT_TRUE(has(d, "zone"));
  EXPECT_FALSE(has(d, "missing"));
}

TEST(ArgsTest, DescribeListsEveryField) {
  json j = describe(kSchema);
  ASSERT_EQ(j.size(), kSchema.size());
  EXPECT_EQ(
      j[0],
      (json{{"name", "zone"}, {"type", "string"}, {"required", true}, {"min", 1}, {"max", 8}}));
  EXPECT_EQ(j[3]["choices"], (json{"a", "b"}));
}

}  // namespace
}  // namespace shardd::args
