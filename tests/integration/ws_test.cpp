// WebSocket transport: hello, ping, MessagePack, errors, limits on one socket.

#include <chrono>

#include "it_common.h"

namespace shardd::test {
namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<Ms>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TEST(WebSocket, HelloIsTheFirstPush) {
  Shard shard(with_sets({"limits.heartbeat_ms=4000", "limits.max_frame_bytes=32768"}));
  shard.start();
  WsClient c;
  ASSERT_TRUE(c.connect(shard.ws_port())) << c.error();
  auto m = c.recv();
  ASSERT_TRUE(m);
  EXPECT_FALSE(m->binary) << "hello must be a text frame";
  const json& j = m->j;
  ASSERT_TRUE(j.is_object()) << m->data;
  EXPECT_EQ(j.value("op", ""), "sys.hello");
  EXPECT_EQ(j.value("seq", -1), 0) << "connection notices are not replayed: seq 0";
  const json& d = j["d"];
  EXPECT_EQ(d.value("server", ""), "shardd-it");
  EXPECT_EQ(d.value("version", ""), "0.1.0");
  EXPECT_TRUE(d["session"].is_number_unsigned()) << d.dump();
  EXPECT_EQ(d.value("transport", ""), "ws");
  EXPECT_EQ(d.value("heartbeat_ms", 0), 4000);
  EXPECT_EQ(d.value("max_frame", 0), 32768);

  // A second session gets a different id.
  WsClient c2;
  ASSERT_TRUE(c2.connect(shard.ws_port())) << c2.error();
  auto h2 = c2.recv_push("sys.hello");
  ASSERT_TRUE(h2);
  EXPECT_NE((*h2)["d"]["session"], d["session"]);
}

TEST(WebSocket, PingEchoesTAndServerTime) {
  Shard shard;
  shard.start();
  WsClient c;
  connect_ws(c, shard.ws_port());
  auto r = c.request("sys.ping", {{"t", "abc"}});
  ASSERT_TRUE(IsOk(r));
  EXPECT_EQ((*r)["rid"], 1);
  EXPECT_EQ((*r)["d"]["t"], "abc");
  ASSERT_TRUE((*r)["d"]["server_time_ms"].is_number_integer()) << r->dump();
  EXPECT_NEAR(static_cast<double>((*r)["d"]["server_time_ms"].get<int64_t>()),
              static_cast<double>(now_ms()), 60000.0);

  // Any JSON value comes back unchanged; no d at all gives t = null.
  json t = {{"x", {1, 2, 3}}, {"y", "é"}};
  r = c.request("sys.ping", {{"t", t}});
  ASSERT_TRUE(IsOk(r));
  EXPECT_EQ((*r)["d"]["t"], t);
  uint64_t rid = c.next_rid();
  ASSERT_TRUE(c.send_json({{"op", "sys.ping"}, {"rid", rid}}));
  r = c.recv_response(rid);
  ASSERT_TRUE(IsOk(r));
  EXPECT_TRUE((*r)["d"]["t"].is_null()) << r->dump();
}

TEST(WebSocket, MessagePackBinaryPing) {
  Shard shard;
  shard.start();
  WsClient c;
  connect_ws(c, shard.ws_port());
  ASSERT_TRUE(c.send_msgpack({{"op", "sys.ping"}, {"rid", 77}, {"d", {{"t", "mp"}}}}));
  auto m = c.recv();
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->binary) << "a MessagePack request must be answered with a binary frame";
  ASSERT_FALSE(m->j.is_discarded()) << "response is not MessagePack";
  EXPECT_EQ(m->j["rid"], 77);
  EXPECT_EQ(m->j["ok"], true);
  EXPECT_EQ(m->j["d"]["t"], "mp");

  // JSON still works on the same connection.
  EXPECT_TRUE(PingWorks(c));
}

TEST(WebSocket, UnknownOpAnswersUnknownOpAndStaysOpen) {
  Shard shard;
  shard.start();
  WsClient c;
  connect_ws(c, shard.ws_port());
  auto r = c.request("no.such_op", {{"a", 1}});
  ASSERT_TRUE(IsError(r, "UNKNOWN_OP"));
  EXPECT_EQ((*r)["rid"], 1);
  EXPECT_TRUE(PingWorks(c));
  EXPECT_FALSE(c.closed());
}

std::string deep_json(int depth) {
  std::string s = R"({"op":"sys.ping","rid":9,"d":{"t":)";
  for (int i = 0; i < depth; ++i) s += "[";
  for (int i = 0; i < depth; ++i) s += "]";
  return s + "}}";
}

TEST(WebSocket, MalformedMessagesAnswerBadRequestAndConnectionStaysUsable) {
  Shard shard(with_sets({"limits.bad_messages_to_close=50"}));
  shard.start();
  WsClient c;
  connect_ws(c, shard.ws_port());

  struct Case {
    const char* name;
    std::string bytes;
    bool binary;
    json rid;  // expected rid of the error (null when it cannot be read)
  };
  std::vector<Case> cases = {
      {"bad json", R"({"op":"sys.ping","rid":1,)", false, nullptr},
      {"not json at all", "hello there", false, nullptr},
      {"bad msgpack", std::string("\xc1\xc1\xc1", 3), true, nullptr},
      {"truncated msgpack", std::string("\x83\xa2op", 4), true, nullptr},
      {"array envelope", "[1,2,3]", false, nullptr},
      {"string envelope", "\"sys.ping\"", false, nullptr},
      {"missing rid", R"({"op":"sys.ping","d":{}})", false, nullptr},
      {"negative rid", R"({"op":"sys.ping","rid":-4})", false, nullptr},
      {"bad op chars", R"({"op":"Sys.Ping!","rid":5})", false, 5},
      {"op not a string", R"({"op":42,"rid":6})", false, 6},
      {"d not an object", R"({"op":"sys.ping","rid":7,"d":[1]})", false, 7},
      {"deep nesting", deep_json(200), false, nullptr},
  };
  for (const auto& tc : cases) {
    SCOPED_TRACE(tc.name);
    ASSERT_TRUE(tc.binary ? c.send_binary(tc.bytes) : c.send_text(tc.bytes)) << c.error();
    auto m = c.recv();
    ASSERT_TRUE(m) << "no answer (closed: " << c.closed() << ")";
    EXPECT_EQ(m->binary, tc.binary) << "answer must use the request's encoding";
    EXPECT_TRUE(IsError(m->j, "BAD_REQUEST"));
    EXPECT_EQ(m->j["rid"], tc.rid) << m->j.dump();
    ASSERT_TRUE(PingWorks(c));
  }
  EXPECT_FALSE(c.closed());
  auto bad = scrape(shard.admin_port(), "shardd_bad_messages_total");
  ASSERT_TRUE(bad);
  EXPECT_EQ(*bad, static_cast<double>(cases.size()));
}

TEST(WebSocket, RepeatedMalformedMessagesCloseWithProtocolError) {
  Shard shard(with_sets({"limits.bad_messages_to_close=5"}));
  shard.start();
  WsClient c;
  connect_ws(c, shard.ws_port());
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(c.send_text("{nope"));
    auto m = c.recv();
    ASSERT_TRUE(m);
    ASSERT_TRUE(IsError(m->j, "BAD_REQUEST"));
  }
  ASSERT_TRUE(PingWorks(c)) << "4 bad messages must not close the session (limit 5)";
  ASSERT_TRUE(c.send_text("{nope"));
  auto m = c.recv();
  ASSERT_TRUE(m);
  EXPECT_TRUE(IsError(m->j, "BAD_REQUEST"));
  auto close = c.recv_push("sys.close");
  ASSERT_TRUE(close) << "no sys.close push";
  EXPECT_EQ((*close)["d"]["code"], "PROTOCOL_ERROR");
  // The limit-th message closes, and the reason says so.
  EXPECT_EQ((*close)["d"]["msg"],
            "5 malformed messages within 60 s (limits.bad_messages_to_close)");
  ASSERT_TRUE(c.wait_closed(Ms(3000)));
  EXPECT_EQ(c.close_code(), 4002);
  EXPECT_TRUE(FreshClientWorks(shard.ws_port()));
}

TEST(WebSocket, OversizeMessageClosesWith1009AndServerIsUnharmed) {
  Shard shard(with_sets({"limits.max_frame_bytes=4096"}));
  shard.start();
  WsClient bystander;
  connect_ws(bystander, shard.ws_port());

  WsClient c;
  connect_ws(c, shard.ws_port());
  // Exactly at the limit is fine.
  std::string head = R"({"op":"sys.ping","rid":1,"d":{"t":")";
  std::string tail = R"("}})";
  std::string exact = head + std::string(4096 - head.size() - tail.size(), 'a') + tail;
  ASSERT_EQ(exact.size(), 4096u);
  ASSERT_TRUE(c.send_text(exact));
  ASSERT_TRUE(IsOk(c.recv_response(1)));

  std::string big = head + std::string(5000, 'b') + tail;
  // The write itself may be cut short: the server refuses the frame from its
  // header and starts the close handshake before the payload is through.
  c.send_text(big);
  ASSERT_TRUE(c.wait_closed(Ms(3000))) << "oversize message did not close the connection";
  EXPECT_EQ(c.close_code(), 1009);

  EXPECT_TRUE(PingWorks(bystander));
  EXPECT_TRUE(FreshClientWorks(shard.ws_port()));
  auto n = scrape(shard.admin_port(), R"(shardd_too_large_total{transport="ws"})");
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 1.0);
}

TEST(WebSocket, HealthzAndPathsOnTheWsPort) {
  Shard shard;
  shard.start();
  auto r = http_get(shard.ws_port(), "/healthz");
  EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.body, "ok\n");
  EXPECT_EQ(http_get(shard.ws_port(), "/nope").status, 404);
  // Plain GET of the WebSocket path (no upgrade) is not a WebSocket.
  EXPECT_NE(http_get(shard.ws_port(), "/ws").status, 200);

  WsClient wrong;
  WsOptions o;
  o.path = "/not-ws";
  EXPECT_FALSE(wrong.connect(shard.ws_port(), o));
  EXPECT_EQ(wrong.http_status(), 404);
  EXPECT_TRUE(FreshClientWorks(shard.ws_port()));
}

TEST(WebSocket, OriginAllowList) {
  ShardOptions opts;
  opts.config_toml =
      "[server]\nname = \"shardd-it\"\n[ws]\nallowed_origins = [\"https://game.example\", "
      "\"http://localhost:8080\"]\n";
  Shard shard(opts);
  shard.start();

  WsOptions ok;
  ok.origin = "https://game.example";
  WsClient a;
  connect_ws(a, shard.ws_port(), ok);
  EXPECT_TRUE(PingWorks(a));

  WsOptions evil;
  evil.origin = "https://evil.example";
  WsClient b;
  EXPECT_FALSE(b.connect(shard.ws_port(), evil));
  EXPECT_EQ(b.http_status(), 403) << b.error();

  // Prefix tricks are not a match.
  WsOptions tricky;
  tricky.origin = "https://game.example.evil.example";
  WsClient t;
  EXPECT_FALSE(t.connect(shard.ws_port(), tricky));
  EXPECT_EQ(t.http_status(), 403);

  // Native clients send no Origin: allowed.
  WsClient native;
  connect_ws(native, shard.ws_port());
  EXPECT_TRUE(PingWorks(native));
}

TEST(WebSocket, PermessageDeflate) {
  Shard shard(with_sets({"ws.permessage_deflate=true"}));
  shard.start();
  WsOptions o;
  o.permessage_deflate = true;
  WsClient c;
  connect_ws(c, shard.ws_port(), o);
  EXPECT_NE(c.response_header("Sec-WebSocket-Extensions").find("permessage-deflate"),
            std::string::npos)
      << "server did not accept permessage-deflate";
  std::string t(20000, 'z');
  auto r = c.request("sys.ping", {{"t", t}});
  ASSERT_TRUE(IsOk(r));
  EXPECT_EQ((*r)["d"]["t"], t);
  // Compressed on the wire: the server received far fewer bytes than the text.
  auto in = scrape(shard.admin_port(), R"(shardd_bytes_in_total{transport="ws"})");
  ASSERT_TRUE(in);
  EXPECT_GT(*in, 0.0);

  Shard plain;
  plain.start();
  WsClient p;
  connect_ws(p, plain.ws_port(), o);
  EXPECT_EQ(p.response_header("Sec-WebSocket-Extensions"), "")
      << "deflate negotiated although ws.permessage_deflate is off";
  EXPECT_TRUE(PingWorks(p));
}

TEST(WebSocket, RateLimitAnswersRateLimitedThenCloses) {
  Shard shard(with_sets(
      {"limits.rate_per_sec=2", "limits.rate_burst=5", "limits.rate_strikes_to_close=4"}));
  shard.start();
  WsClient c;
  connect_ws(c, shard.ws_port());
  // The burst passes.
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(IsOk(c.request("sys.ping", {{"t", i}}))) << i;
  // The next one is refused, with a hint when to retry.
  auto r = c.request("sys.ping");
  ASSERT_TRUE(IsError(r, "RATE_LIMITED"));
  EXPECT_EQ((*r)["rid"], 6) << "RATE_LIMITED must name the request";
  ASSERT_TRUE((*r)["err"]["retry_after_ms"].is_number()) << r->dump();
  int64_t retry = (*r)["err"]["retry_after_ms"].get<int64_t>();
  EXPECT_GT(retry, 0);
  EXPECT_LE(retry, 1000);
  // Waiting as told works.
  std::this_thread::sleep_for(Ms(retry + 50));
  EXPECT_TRUE(IsOk(c.request("sys.ping")));
  EXPECT_FALSE(c.closed());

  // Sustained abuse: strikes 2..4 close the session.
  for (int i = 0; i < 20 && !c.closed(); ++i) {
    uint64_t rid = c.next_rid();
    if (!c.send_json({{"op", "sys.ping"}, {"rid", rid}})) break;
  }
  auto close = c.recv_push("sys.close", Ms(3000));
  ASSERT_TRUE(close) << "no sys.close after sustained rate abuse";
  EXPECT_EQ((*close)["d"]["code"], "RATE_LIMITED");
  EXPECT_EQ((*close)["d"]["msg"],
            "4 messages refused by the rate limit within 10 s (limits.rate_strikes_to_close)");
  ASSERT_TRUE(c.wait_closed(Ms(3000)));
  EXPECT_EQ(c.close_code(), 4001);
  auto n = scrape(shard.admin_port(), "shardd_rate_limited_total");
  ASSERT_TRUE(n);
  EXPECT_GE(*n, 4.0);
  EXPECT_TRUE(FreshClientWorks(shard.ws_port())) << "other sessions must not be rate limited";
}

TEST(WebSocket, HeartbeatTimeoutClosesSilentClient) {
  Shard shard(with_sets({"limits.heartbeat_ms=500", "limits.heartbeat_misses=2"}));
  shard.start();
  // An active client (a ping every 100 ms, well inside the 1 s window even
  // on a loaded machine) survives well past the idle timeout.
  WsClient active;
  connect_ws(active, shard.ws_port());
  auto start = Clock::now();
  while (elapsed_ms(start) < 2000) {
    std::this_thread::sleep_for(Ms(100));
    ASSERT_TRUE(PingWorks(active)) << "active client dropped after " << elapsed_ms(start) << " ms";
  }
  // A silent one is told why and closed after heartbeat_ms * heartbeat_misses
  // (the upper bound tells it from the default, 15 s).
  WsClient silent;
  start = Clock::now();
  connect_ws(silent, shard.ws_port());
  auto close = silent.recv_push("sys.close", Ms(5000));
  auto took = elapsed_ms(start);
  ASSERT_TRUE(close) << "silent client got no sys.close";
  EXPECT_EQ((*close)["d"]["code"], "HEARTBEAT_TIMEOUT");
  EXPECT_GE(took, 900) << "closed before heartbeat_ms * heartbeat_misses";
  EXPECT_LE(took, 5000);
  ASSERT_TRUE(silent.wait_closed(Ms(3000)));
  EXPECT_EQ(silent.close_code(), 4000);
}

// RFC 6455 section 7.4: a close frame with a code outside the valid ranges
// fails the connection with 1002 instead of being echoed.
TEST(WebSocket, InvalidCloseCodesAreAnswered1002) {
  Shard shard;
  shard.start();
  for (int code : {5000, 14540, 65535}) {
    WsClient c;
    connect_ws(c, shard.ws_port());
    EXPECT_EQ(c.close_with_code(static_cast<uint16_t>(code)), 1002) << code;
  }
  for (int code : {1000, 3000, 4999}) {
    WsClient c;
    connect_ws(c, shard.ws_port());
    EXPECT_EQ(c.close_with_code(static_cast<uint16_t>(code)), code) << "valid code " << code;
  }
  EXPECT_TRUE(FreshClientWorks(shard.ws_port()));
}

// Integers are echoed exactly; a literal too big for 64 bits is refused
// instead of coming back as a rounded double.
TEST(WebSocket, PingEchoesIntegersExactly) {
  Shard shard;
  shard.start();
  WsClient c;
  connect_ws(c, shard.ws_port());
  ASSERT_TRUE(c.send_text(R"({"op":"sys.ping","rid":1,"d":{"t":18446744073709551615}})"));
  auto r = c.recv();
  ASSERT_TRUE(r);
  EXPECT_NE(r->data.find(R"("t":18446744073709551615)"), std::string::npos) << r->data;
  ASSERT_TRUE(c.send_text(R"({"op":"sys.ping","rid":2,"d":{"t":-9223372036854775808}})"));
  r = c.recv();
  ASSERT_TRUE(r);
  EXPECT_NE(r->data.find(R"("t":-9223372036854775808)"), std::string::npos) << r->data;
  ASSERT_TRUE(c.send_text(R"({"op":"sys.ping","rid":3,"d":{"t":123456789012345678901234567890}})"));
  r = c.recv();
  ASSERT_TRUE(r);
  EXPECT_TRUE(IsError(r->j, "BAD_REQUEST")) << r->data;
  EXPECT_EQ(r->j["rid"], 3);
  EXPECT_EQ(r->j["err"]["msg"], "integers must fit in 64 bits");
}

// MessagePack strings are checked as UTF-8, as JSON text is.
TEST(WebSocket, MessagePackStringsMustBeUtf8) {
  Shard shard;
  shard.start();
  WsClient c;
  connect_ws(c, shard.ws_port());
  // {"op":"sys.ping","rid":1,"d":{"t":"\xff"}}
  std::string bad(
      "\x83\xa2op\xa8sys.ping\xa3rid\x01\xa1"
      "d\x81\xa1t\xa1\xff",
      25);
  ASSERT_TRUE(c.send_binary(bad));
  auto r = c.recv();
  ASSERT_TRUE(r);
  ASSERT_TRUE(r->binary);
  EXPECT_TRUE(IsError(r->j, "BAD_REQUEST")) << r->j.dump();
  EXPECT_NE(r->j["err"]["msg"].get<std::string>().find("UTF-8"), std::string::npos);
  EXPECT_TRUE(PingWorks(c));
}

// Error messages are shardd's own words, short, and quote client input only
// as a bounded, sanitized prefix.
TEST(WebSocket, ErrorMessagesLeakNoInternalsAndEchoNoUnboundedInput) {
  Shard shard(with_sets({"auth.scrypt_n=1024"}));
  shard.start();
  WsClient c;
  connect_ws(c, shard.ws_port());
  ASSERT_TRUE(c.send_text("{oops"));
  auto r = c.recv();
  ASSERT_TRUE(r);
  std::string msg = r->j["err"]["msg"];
  EXPECT_EQ(msg.find("json.exception"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("oops"), std::string::npos) << msg;
  ASSERT_TRUE(
      IsOk(c.request("auth.register", {{"username", "quoter"}, {"password", "pass-word-1"}})));
  ASSERT_TRUE(IsOk(c.request("auth.login", {{"username", "quoter"}, {"password", "pass-word-1"}})));
  auto huge = c.request("zone.select", {{"zone", std::string(10000, 'z')}});
  ASSERT_TRUE(IsError(huge, "BAD_REQUEST"));
  EXPECT_LT((*huge)["err"]["msg"].get<std::string>().size(), 100u) << huge->dump();
  auto unknown =
      c.request("zone.select", {{"zone", "no-such-zone-\u202e-" + std::string(40, 'q')}});
  ASSERT_TRUE(IsError(unknown, "NOT_FOUND"));
  std::string m = (*unknown)["err"]["msg"];
  EXPECT_LT(m.size(), 200u) << m;
  EXPECT_EQ(m.find("\u202e"), std::string::npos) << "control characters are replaced";
}

}  // namespace
}  // namespace shardd::test
