// The HTTP fallback transport's pure helpers: targets, send bodies, formats.

#include "net/rt_http.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace shardd::net {
namespace {

using json = nlohmann::json;

TEST(RtHttp, TargetsNameARouteAndATransport) {
  auto t = parse_rt_target("/rt/open");
  EXPECT_EQ(t.route, RtRoute::kOpen);
  t = parse_rt_target("/rt/Ab-_9/events?poll=1&last=4");
  EXPECT_EQ(t.route, RtRoute::kEvents);
  EXPECT_EQ(t.id, "Ab-_9");
  EXPECT_EQ(t.query, "poll=1&last=4");
  EXPECT_EQ(parse_rt_target("/rt/x/send").route, RtRoute::kSend);
  EXPECT_EQ(parse_rt_target("/rt/x/close").route, RtRoute::kClose);
  for (const char* bad : {"/rt/", "/rt", "/rt//events", "/rt/x/events/", "/rt/x/other",
                          "/rt/a.b/events", "/rt/%41/events", "/rt/../events", "/play/rt/x/send",
                          "/rt/open/x"}) {
    EXPECT_EQ(parse_rt_target(bad).route, RtRoute::kNone) << bad;
  }
  EXPECT_EQ(parse_rt_target("/rt/" + std::string(65, 'a') + "/send").route, RtRoute::kNone);
  EXPECT_EQ(parse_rt_target("/rt/" + std::string(64, 'a') + "/send").route, RtRoute::kSend);
}

TEST(RtHttp, QueryParamsAndEventNumbers) {
  EXPECT_EQ(query_param("a=1&last=25&s=xy", "last"), "25");
  EXPECT_EQ(query_param("a=1&last=25&s=xy", "s"), "xy");
  EXPECT_EQ(query_param("a=1&lastx=2", "last"), "");
  EXPECT_EQ(query_param("poll", "poll"), "");
  uint64_t n = 0;
  EXPECT_TRUE(parse_event_no("0", &n));
  EXPECT_EQ(n, 0u);
  EXPECT_TRUE(parse_event_no("9007199254740991", &n));
  EXPECT_EQ(n, 9007199254740991u);
  for (const char* bad : {"", "-1", "1.0", " 1", "9007199254740992", "12345678901234567", "x"}) {
    EXPECT_FALSE(parse_event_no(bad, &n)) << bad;
  }
}

TEST(RtHttp, ASendBodyIsOneRequestOrABatchKeptVerbatim) {
  std::vector<std::string_view> parts;
  ASSERT_TRUE(split_send_body(R"( {"op":"sys.ping","rid":1} )", 4, 100, &parts).ok());
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0], R"({"op":"sys.ping","rid":1})");
  // Commas and brackets inside strings and nested values do not split; an
  // integer literal stays exactly as sent (the gateway judges its range).
  const std::string batch =
      R"([{"op":"a","d":{"t":"x,]\"}"}} , {"op":"b","d":{"l":[1,[2,3]]}},18446744073709551616])";
  ASSERT_TRUE(split_send_body(batch, 4, 100, &parts).ok());
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0], R"({"op":"a","d":{"t":"x,]\"}"}})");
  EXPECT_EQ(parts[1], R"({"op":"b","d":{"l":[1,[2,3]]}})");
  EXPECT_EQ(parts[2], "18446744073709551616");
}

TEST(RtHttp, ASendBodyOverItsLimitsOrNotJsonIsRefused) {
  std::vector<std::string_view> parts;
  Status st = split_send_body("[1,2,3]", 2, 100, &parts);
  EXPECT_EQ(st.code(), ErrorCode::kTooLarge);
  EXPECT_NE(st.message().find("http.max_batch"), std::string::npos);
  st = split_send_body(R"(["a long string"])", 2, 5, &parts);
  EXPECT_EQ(st.code(), ErrorCode::kTooLarge);
  for (const char* bad : {"", "  ", "[]", "{", "[1,]", "[1 2]", "{\"a\":1}x", "\xff"}) {
    EXPECT_EQ(split_send_body(bad, 8, 100, &parts).code(), ErrorCode::kBadRequest) << bad;
  }
  // Found by fuzz_rt_body: nlohmann's reader ends the text at a NUL byte, so
  // "[1]\0[2]" passed validation and split into two messages.
  for (std::string bad : {std::string("[1]\0[2]", 7), std::string("2\0\x03", 3)}) {
    EXPECT_EQ(split_send_body(bad, 8, 100, &parts).code(), ErrorCode::kBadRequest);
  }
  // Deep nesting costs no stack (the gateway then refuses depth > 32).
  std::string deep = std::string(20000, '[') + std::string(20000, ']');
  ASSERT_TRUE(split_send_body(deep, 8, 100000, &parts).ok());
  EXPECT_EQ(parts.size(), 1u);
}

TEST(RtHttp, EventsAndAnswersHaveTheirDocumentedShape) {
  std::string out;
  append_sse_event(out, 12, R"({"op":"x"})");
  EXPECT_EQ(out, "id: 12\ndata: {\"op\":\"x\"}\n\n");
  out.clear();
  append_sse_event(out, 1, "a\r\nb\rc\nd");
  EXPECT_EQ(out, "id: 1\ndata: a\ndata: b\ndata: c\ndata: d\n\n");

  std::vector<RtEvent> ev{{4, std::make_shared<const std::string>(R"({"rid":1})")},
                          {5, std::make_shared<const std::string>(R"({"op":"p","seq":3})")}};
  auto j = json::parse(poll_body(3, ev));
  EXPECT_EQ(j["last_event"], 5);
  EXPECT_EQ(j["events"].size(), 2u);
  EXPECT_EQ(j["events"][1]["seq"], 3);
  EXPECT_EQ(json::parse(poll_body(9, {})), json::parse(R"({"last_event":9,"events":[]})"));

  RtEvent hello{1, std::make_shared<const std::string>(
                       R"({"op":"sys.hello","seq":0,"d":{"session":7,"transport":"http"}})")};
  auto o = json::parse(open_body("ID", "SECRET", hello));
  EXPECT_EQ(o["transport"], "ID");
  EXPECT_EQ(o["secret"], "SECRET");
  EXPECT_EQ(o["last_event"], 1);
  EXPECT_EQ(o["hello"]["session"], 7);

  auto e = json::parse(rt_error_body(ErrorCode::kTooLarge, "too big \xff"));
  EXPECT_EQ(e["err"]["code"], "TOO_LARGE");
  EXPECT_TRUE(e["err"]["msg"].is_string());
}

}  // namespace
}  // namespace shardd::net
