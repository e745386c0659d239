#include "shardd/net/codec/message.h"

#include <gtest/gtest.h>

namespace shardd::net {
namespace {

using json = nlohmann::json;

std::string msgpack(const json& j) {
  auto v = json::to_msgpack(j);
  return std::string(v.begin(), v.end());
}

std::string flat(const OutFrame& f) {
  return f.flat();
}

TEST(DecodeRequestTest, ValidJsonAndMsgpack) {
  Request r;
  ASSERT_TRUE(
      decode_request(R"({"op":"chat.send","rid":7,"d":{"text":"hi"}})", Encoding::kJson, &r).ok());
  EXPECT_EQ(r.op, "chat.send");
  EXPECT_EQ(r.rid, 7u);
  EXPECT_EQ(r.d["text"], "hi");

  Request m;
  ASSERT_TRUE(decode_request(msgpack({{"op", "sys.ping"}, {"rid", 9}, {"d", {{"t", 1}}}}),
                             Encoding::kMsgpack, &m)
                  .ok());
  EXPECT_EQ(m.op, "sys.ping");
  EXPECT_EQ(m.rid, 9u);
  EXPECT_EQ(m.d["t"], 1);
}

TEST(DecodeRequestTest, MissingOrNullDBecomesEmptyObject) {
  Request r;
  ASSERT_TRUE(decode_request(R"({"op":"a","rid":0})", Encoding::kJson, &r).ok());
  EXPECT_TRUE(r.d.is_object());
  EXPECT_TRUE(r.d.empty());
  ASSERT_TRUE(decode_request(R"({"op":"a","rid":1,"d":null})", Encoding::kJson, &r).ok());
  EXPECT_TRUE(r.d.is_object());
}

TEST(DecodeRequestTest, UnknownTopLevelKeysAreIgnored) {
  Request r;
  EXPECT_TRUE(decode_request(R"({"op":"a","rid":1,"v":2})", Encoding::kJson, &r).ok());
  // Even when they nest and hold envelope-looking keys.
  ASSERT_TRUE(decode_request(R"({"x":{"op":"evil","rid":9,"d":[1]},"op":"a","y":[{"rid":5}],)"
                             R"("rid":1,"d":{"k":1}})",
                             Encoding::kJson, &r)
                  .ok());
  EXPECT_EQ(r.op, "a");
  EXPECT_EQ(r.rid, 1u);
  EXPECT_EQ(r.d, json({{"k", 1}}));
}

TEST(DecodeRequestTest, DIsBuiltExactlyAsAFullParseWouldBuildIt) {
  const std::string d =
      R"({"s":"t\u00e9xt","n":-3,"u":18446744073709551615,"f":1.5,"b":true,"z":null,)"
      R"("a":[1,[2,[3,{"deep":[{}]}]],[],{}],"o":{"op":"x","rid":2,"d":{"d":{}}},"e":{}})";
  Request r;
  ASSERT_TRUE(decode_request(R"({"rid":4,"d":)" + d + R"(,"op":"a.b"})", Encoding::kJson, &r).ok());
  EXPECT_EQ(r.d, json::parse(d));
  EXPECT_EQ(r.d.dump(), json::parse(d).dump());
  Request m;
  ASSERT_TRUE(decode_request(msgpack({{"op", "a.b"}, {"rid", 4}, {"d", json::parse(d)}}),
                             Encoding::kMsgpack, &m)
                  .ok());
  EXPECT_EQ(m.d, json::parse(d));
}

TEST(DecodeRequestTest, RepeatedKeysTheLastOneWins) {
  Request r;
  ASSERT_TRUE(decode_request(R"({"op":"a","rid":1,"d":{"v":1},"op":"b","rid":2,"d":{"v":2}})",
                             Encoding::kJson, &r)
                  .ok());
  EXPECT_EQ(r.op, "b");
  EXPECT_EQ(r.rid, 2u);
  EXPECT_EQ(r.d, json({{"v", 2}}));
  EXPECT_FALSE(decode_request(R"({"op":"a","rid":1,"d":{},"d":[1]})", Encoding::kJson, &r).ok());
  EXPECT_FALSE(decode_request(R"({"op":"a","rid":1,"op":5})", Encoding::kJson, &r).ok());
  Status st = decode_request(R"({"op":"a","rid":1,"rid":"x"})", Encoding::kJson, &r);
  EXPECT_NE(st.message().find("'rid'"), std::string::npos);
  EXPECT_FALSE(r.rid);
}

TEST(DecodeRequestTest, ARequestObjectIsReusedWithoutLeftovers) {
  Request r;
  ASSERT_TRUE(
      decode_request(R"({"op":"chat.send","rid":1,"d":{"text":"x"}})", Encoding::kJson, &r).ok());
  ASSERT_TRUE(decode_request(R"({"op":"a","rid":2})", Encoding::kJson, &r).ok());
  EXPECT_EQ(r.op, "a");
  EXPECT_EQ(r.d, json::object());
  EXPECT_FALSE(decode_request(R"({"op":"a","rid":3,"d":{"x":[)", Encoding::kJson, &r).ok());
  EXPECT_FALSE(r.rid);  // nothing of a malformed message is trusted
  ASSERT_TRUE(decode_request(R"({"op":"b","rid":4,"d":{"y":2}})", Encoding::kJson, &r).ok());
  EXPECT_EQ(r.d, json({{"y", 2}}));
}

struct BadCase {
  const char* name;
  std::string input;
  Encoding enc;
  const char* fragment;
  bool rid_known;
};

class MalformedTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(MalformedTest, IsBadRequestWithoutThrowing) {
  const BadCase& c = GetParam();
  Request r;
  Status st = decode_request(c.input, c.enc, &r);
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(st.code(), ErrorCode::kBadRequest);
  EXPECT_NE(st.message().find(c.fragment), std::string::npos) << st.message();
  EXPECT_EQ(r.rid.has_value(), c.rid_known);
  // Our words only: no library internals, nothing of the input echoed.
  EXPECT_EQ(st.message().find("exception"), std::string::npos) << st.message();
  EXPECT_EQ(st.message().find("parse_error"), std::string::npos) << st.message();
  EXPECT_LT(st.message().size(), 80u) << st.message();
}

// Envelope (depth 1) + d (depth 2) + `depth` nested arrays.
std::string deep_json(int depth) {
  return R"({"op":"a","rid":3,"d":{"x":)" + std::string(static_cast<size_t>(depth), '[') +
         std::string(static_cast<size_t>(depth), ']') + "}}";
}

std::string deep_msgpack(int depth) {
  // {"op":"a","rid":3,"d":[[[...]]]}, the nesting as fixarray(1) headers
  std::string s = msgpack({{"op", "a"}, {"rid", 3}});
  s[0] = static_cast<char>(0x83);
  s += "\xa1"
       "d";
  s += std::string(static_cast<size_t>(depth), '\x91');
  s += '\xc0';
  return s;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, MalformedTest,
    ::testing::Values(
        BadCase{"empty", "", Encoding::kJson, "not valid JSON", false},
        BadCase{"garbage", "{bad", Encoding::kJson, "not valid JSON", false},
        BadCase{"truncated", R"({"op":"a","rid":1)", Encoding::kJson, "not valid JSON", false},
        BadCase{"trailing", R"({"op":"a","rid":1} x)", Encoding::kJson, "not valid JSON", false},
        BadCase{"array", R"([1,2])", Encoding::kJson, "must be an object", false},
        BadCase{"string", R"("op")", Encoding::kJson, "must be an object", false},
        BadCase{"no_op", R"({"rid":1})", Encoding::kJson, "'op'", true},
        BadCase{"op_number", R"({"op":5,"rid":1})", Encoding::kJson, "'op'", true},
        BadCase{"op_upper", R"({"op":"Chat.Send","rid":1})", Encoding::kJson, "'op'", true},
        BadCase{"op_empty", R"({"op":"","rid":1})", Encoding::kJson, "'op'", true},
        BadCase{"op_long", R"({"op":")" + std::string(65, 'a') + R"(","rid":1})", Encoding::kJson,
                "'op'", true},
        BadCase{"no_rid", R"({"op":"a"})", Encoding::kJson, "'rid'", false},
        BadCase{"rid_negative", R"({"op":"a","rid":-1})", Encoding::kJson, "'rid'", false},
        BadCase{"rid_float", R"({"op":"a","rid":1.5})", Encoding::kJson, "'rid'", false},
        BadCase{"rid_string", R"({"op":"a","rid":"1"})", Encoding::kJson, "'rid'", false},
        BadCase{"rid_too_big", R"({"op":"a","rid":9007199254740992})", Encoding::kJson, "'rid'",
                false},
        BadCase{"d_array", R"({"op":"a","rid":2,"d":[1]})", Encoding::kJson, "'d'", true},
        BadCase{"d_string", R"({"op":"a","rid":2,"d":"x"})", Encoding::kJson, "'d'", true},
        BadCase{"bad_utf8", "{\"op\":\"a\",\"rid\":1,\"d\":{\"x\":\"\xff\"}}", Encoding::kJson,
                "not valid JSON", false},
        BadCase{"deep_json", deep_json(100000), Encoding::kJson, "nesting", false},
        BadCase{"deep_msgpack", deep_msgpack(100000), Encoding::kMsgpack, "nesting", false},
        BadCase{"msgpack_garbage", std::string("\xc1\xc1", 2), Encoding::kMsgpack,
                "not valid MessagePack", false},
        BadCase{"msgpack_truncated", std::string("\x83\xa2op", 4), Encoding::kMsgpack,
                "not valid MessagePack", false},
        BadCase{"msgpack_huge_len", std::string("\xdd\xff\xff\xff\xff", 5), Encoding::kMsgpack,
                "not valid MessagePack", false},
        BadCase{"msgpack_binary",
                std::string("\x83\xa2op\xa1"
                            "a\xa3rid\x01\xa1"
                            "d\xc4\x01x",
                            16),
                Encoding::kMsgpack, "binary", false},
        BadCase{"msgpack_array", std::string("\x92\x01\x02", 3), Encoding::kMsgpack,
                "must be an object", false},
        // {"op":"a","rid":1,"d":{"x":"\xff"}}: strings must be UTF-8 in MessagePack too.
        BadCase{"msgpack_bad_utf8_value",
                std::string("\x83\xa2op\xa1"
                            "a\xa3rid\x01\xa1"
                            "d\x81\xa1x\xa1\xff",
                            18),
                Encoding::kMsgpack, "UTF-8", true},
        BadCase{"msgpack_bad_utf8_key",
                std::string("\x83\xa2op\xa1"
                            "a\xa3rid\x01\xa1"
                            "d\x81\xa1\xc0\xc0",
                            17),
                Encoding::kMsgpack, "UTF-8", true},
        // An integer beyond 64 bits would come back rounded: refused, rid known.
        BadCase{"huge_integer", R"({"op":"a","rid":4,"d":{"t":123456789012345678901234567890}})",
                Encoding::kJson, "64 bits", true},
        BadCase{"huge_negative", R"({"op":"a","rid":4,"d":{"t":-123456789012345678901234567890}})",
                Encoding::kJson, "64 bits", true}),
    [](const ::testing::TestParamInfo<BadCase>& param_info) {
      return std::string(param_info.param.name);
    });

// nlohmann's reader takes a NUL byte for the end of the text: without the
// check, anything after it was ignored (found by fuzz_rt_body's invariant).
TEST(DecodeRequestTest, ANulByteIsNotJson) {
  Request r;
  Status st = decode_request(std::string(R"({"op":"sys.ping","rid":1})"
                                         "\0garbage",
                                         33),
                             Encoding::kJson, &r);
  EXPECT_EQ(st.code(), ErrorCode::kBadRequest);
  EXPECT_FALSE(r.rid.has_value());
}

TEST(DecodeRequestTest, NestingUpToTheLimitIsAccepted) {
  Request r;
  EXPECT_TRUE(decode_request(deep_json(kMaxNestingDepth - 2), Encoding::kJson, &r).ok());
  EXPECT_FALSE(decode_request(deep_json(kMaxNestingDepth - 1), Encoding::kJson, &r).ok());
}

TEST(EncodeTest, OkRoundTripsInBothEncodings) {
  for (Encoding e : {Encoding::kJson, Encoding::kMsgpack}) {
    OutFrame f;
    encode_ok(e, 42, {{"x", 1}, {"s", "é"}}, &f);
    EXPECT_EQ(f.encoding, e);
    json j = decode_any(flat(f), e);
    ASSERT_FALSE(j.is_discarded());
    EXPECT_EQ(j["rid"], 42);
    EXPECT_EQ(j["ok"], true);
    EXPECT_EQ(j["d"]["x"], 1);
    EXPECT_EQ(j["d"]["s"], "é");
  }
}

TEST(EncodeTest, EveryRidWidthEncodesAsTheLibraryWouldInMsgpack) {
  for (uint64_t rid :
       {uint64_t{0}, uint64_t{127}, uint64_t{128}, uint64_t{255}, uint64_t{256}, uint64_t{65535},
        uint64_t{65536}, uint64_t{0xffffffff}, uint64_t{0x100000000}, kMaxRid}) {
    OutFrame f;
    encode_ok(Encoding::kMsgpack, rid, json::object(), &f);
    std::string expected = std::string("\x83\xa3rid") + msgpack(json(rid)) +
                           "\xa2ok\xc3\xa1"
                           "d\x80";
    EXPECT_EQ(flat(f), expected) << rid;  // the integer exactly as nlohmann encodes it
    OutFrame p;
    encode_push(Encoding::kMsgpack, "a.b", rid, json::object(), &p);
    EXPECT_EQ(decode_any(flat(p), Encoding::kMsgpack)["seq"], rid);
  }
}

TEST(EncodeTest, ErrorCarriesCodeMessageAndExtras) {
  json extra = {{"retry_after_ms", 250}};
  for (Encoding e : {Encoding::kJson, Encoding::kMsgpack}) {
    OutFrame f;
    encode_error(e, std::nullopt, ErrorCode::kRateLimited, "slow down", &extra, &f);
    json j = decode_any(flat(f), e);
    EXPECT_TRUE(j["rid"].is_null());
    EXPECT_EQ(j["ok"], false);
    EXPECT_EQ(j["err"]["code"], "RATE_LIMITED");
    EXPECT_EQ(j["err"]["msg"], "slow down");
    EXPECT_EQ(j["err"]["retry_after_ms"], 250);
  }
}

TEST(EncodeTest, InvalidUtf8FromMsgpackIsReplacedInJson) {
  // MessagePack strings are not UTF-8-checked on input; echoing one as JSON
  // must not throw.
  OutFrame f;
  encode_ok(Encoding::kJson, 1, {{"s", std::string("a\xff", 2)}}, &f);
  json j = decode_any(flat(f), Encoding::kJson);
  ASSERT_FALSE(j.is_discarded());
  EXPECT_EQ(j["d"]["s"], "a\xEF\xBF\xBD");
}

TEST(EncodeTest, PushAndSharedPushAreIdentical) {
  json d = {{"text", "hello"}, {"n", 3}};
  for (Encoding e : {Encoding::kJson, Encoding::kMsgpack}) {
    for (uint64_t seq : {1ull, 200ull, 70000ull, 5000000000ull}) {
      OutFrame a;
      encode_push(e, "chat.msg", seq, d, &a);
      auto body = std::make_shared<std::string>();
      encode_value(e, d, body.get());
      OutFrame b;
      encode_push_shared(e, "chat.msg", seq, body, &b);
      EXPECT_EQ(flat(a), flat(b));
      EXPECT_EQ(a.size(), b.size());
      json j = decode_any(flat(b), e);
      ASSERT_FALSE(j.is_discarded());
      EXPECT_EQ(j["op"], "chat.msg");
      EXPECT_EQ(j["seq"], seq);
      EXPECT_EQ(j["d"], d);
    }
  }
}

TEST(EncodeTest, LongOpNamesUseStr8InMsgpack) {
  std::string op(40, 'a');
  OutFrame f;
  encode_push(Encoding::kMsgpack, op, 1, json::object(), &f);
  json j = decode_any(flat(f), Encoding::kMsgpack);
  EXPECT_EQ(j["op"], op);
}

TEST(OutFrameTest, PrefixHoldsAHeadAndWhatIsPrependedInFrontOfIt) {
  OutFrame f;
  ASSERT_TRUE(f.set_head("HEAD"));
  f.bytes = "-bytes-";
  f.shared = std::make_shared<const std::string>("shared");
  f.tail = "}";
  f.prepend("123456789");  // a TCP header: fits in the room in front
  EXPECT_EQ(f.prefix(), "123456789HEAD");
  EXPECT_TRUE(f.bytes == "-bytes-");  // nothing moved out of the frame's own storage
  EXPECT_EQ(f.flat(), "123456789HEAD-bytes-shared}");
  EXPECT_EQ(f.size(), f.flat().size());
  OutFrame copy = f;  // as the replay buffer keeps it
  EXPECT_EQ(copy.flat(), f.flat());

  // More than the room in front: everything moves into bytes, in order.
  f.prepend(std::string(OutFrame::kFrontRoom, 'p'));
  EXPECT_EQ(f.prefix(), "");
  EXPECT_EQ(f.flat(), std::string(OutFrame::kFrontRoom, 'p') + "123456789HEAD-bytes-shared}");

  OutFrame none;
  none.prepend("hdr");
  none.bytes = "x";
  EXPECT_EQ(none.flat(), "hdrx");
}

TEST(OutFrameTest, HeadsTooLongForTheFrameGoToBytes) {
  OutFrame f;
  EXPECT_FALSE(f.set_head(std::string(OutFrame::kInlineBytes, 'h')));
  EXPECT_EQ(f.prefix(), "");
  // A shared push with the longest op name still encodes the same message.
  std::string op(kMaxOpLength, 'o');
  json d = {{"k", 1}};
  for (Encoding e : {Encoding::kJson, Encoding::kMsgpack}) {
    OutFrame a;
    encode_push(e, op, kMaxRid, d, &a);
    auto body = std::make_shared<std::string>();
    encode_value(e, d, body.get());
    OutFrame b;
    encode_push_shared(e, op, kMaxRid, body, &b);
    EXPECT_EQ(a.flat(), b.flat());
    EXPECT_FALSE(b.bytes.empty());  // the head did not fit inline
    OutFrame c;
    encode_push_shared(e, "chat.msg", 7, body, &c);
    EXPECT_TRUE(c.bytes.empty());  // a usual head does
    EXPECT_EQ(decode_any(c.flat(), e)["d"], d);
  }
}

TEST(OpNameTest, Validation) {
  EXPECT_TRUE(valid_op_name("sys.ping"));
  EXPECT_TRUE(valid_op_name("a_b.c9"));
  EXPECT_FALSE(valid_op_name(""));
  EXPECT_FALSE(valid_op_name("Sys.ping"));
  EXPECT_FALSE(valid_op_name("sys ping"));
  EXPECT_FALSE(valid_op_name("sys\"ping"));
  EXPECT_FALSE(valid_op_name(std::string(65, 'a')));
}

}  // namespace
}  // namespace shardd::net
