// The HTTP fallback transport (/rt/ on the WebSocket port) against the real
// binary: open, send, long poll and server-sent events, replay after a broken
// stream, the resume grace after polling stops, limits and bad requests.

#include <signal.h>

#include "it_common.h"

namespace shardd::test {
namespace {

constexpr const char* kToken = "admin-secret";

ShardOptions rt_shard(std::vector<std::string> extra = {}) {
  ShardOptions o;
  o.overrides = {"auth.scrypt_n=1024", std::string("admin.token=") + kToken};
  for (auto& e : extra) o.overrides.push_back(std::move(e));
  return o;
}

std::string auth_header(const RtClient& c) {
  return "Bearer " + c.secret();
}

std::string err_code(const HttpResponse& r) {
  json j = json::parse(r.body, nullptr, false);
  return j.is_object() && j["err"].is_object() ? j["err"].value("code", "") : "";
}

void announce(const Shard& s, int64_t account, const std::string& prefix, int n) {
  for (int i = 0; i < n; ++i) {
    auto r =
        http_request("POST", s.admin_port(), "/admin/announce",
                     json{{"account_id", account}, {"text", prefix + std::to_string(i)}}.dump(),
                     {{"Authorization", std::string("Bearer ") + kToken}});
    ASSERT_EQ(r.status, 200) << r.body;
  }
}

// Registers and logs in `user` on `c`; returns the login answer's d.
json sign_in(RtClient& c, const std::string& user) {
  auto reg = c.request("auth.register", {{"username", user}, {"password", "correct-horse"}});
  EXPECT_TRUE(IsOk(reg));
  auto li = c.request("auth.login", {{"username", user}, {"password", "correct-horse"}});
  EXPECT_TRUE(IsOk(li));
  return li ? (*li)["d"] : json::object();
}

TEST(HttpTransport, OpenAnswersTheHelloAndCountsAsAConnection) {
  Shard s(rt_shard());
  s.start();
  RtClient c;
  ASSERT_TRUE(c.open(s.ws_port())) << c.open_response().status << " " << c.open_response().body;
  EXPECT_EQ(c.hello().value("transport", ""), "http");
  EXPECT_GT(c.hello().value("session", 0), 0);
  EXPECT_GT(c.hello().value("heartbeat_ms", 0), 0);
  EXPECT_EQ(c.last_event(), 1u);
  EXPECT_EQ(c.id().size(), 43u);
  EXPECT_EQ(c.secret().size(), 43u);
  EXPECT_EQ(c.open_response().header("Cache-Control"), "no-store");
  EXPECT_EQ(scrape(s.admin_port(), R"(shardd_connections{transport="http"})"), 1);
  auto pong = c.request("sys.ping", {{"t", 7}});
  ASSERT_TRUE(IsOk(pong));
  EXPECT_EQ((*pong)["d"]["t"], 7);
  EXPECT_GE(scrape(s.admin_port(), R"(shardd_frames_in_total{transport="http"})").value_or(0), 1);
}

TEST(HttpTransport, RegisterLoginAndZoneOverLongPoll) {
  Shard s(rt_shard());
  s.start();
  RtClient c;
  ASSERT_TRUE(c.open(s.ws_port(), RtClient::Mode::kPoll));
  json li = sign_in(c, "polly");
  EXPECT_FALSE(li.value("token", "").empty());
  ASSERT_TRUE(IsOk(c.request("zone.select", {{"zone", "main"}})));
  EXPECT_TRUE(eventually(
      [&] { return scrape(s.admin_port(), R"(shardd_zone_population{zone="main"})") == 1; },
      Ms(3000)));
  // Requests before login are gated as on every transport.
  RtClient anon;
  ASSERT_TRUE(anon.open(s.ws_port()));
  EXPECT_TRUE(IsError(anon.request("zone.select", {{"zone", "main"}}), "UNAUTHORIZED"));
}

TEST(HttpTransport, RegisterLoginAndZoneOverEventStream) {
  Shard s(rt_shard());
  s.start();
  RtClient c;
  ASSERT_TRUE(c.open(s.ws_port(), RtClient::Mode::kStream));
  json li = sign_in(c, "streamy");
  ASSERT_TRUE(IsOk(c.request("zone.select", {{"zone", "main"}})));
  announce(s, li.value("account_id", int64_t{0}), "hi-", 2);
  auto p = c.recv_push("sys.notice");
  ASSERT_TRUE(p);
  EXPECT_EQ((*p)["d"]["text"], "hi-0");
  EXPECT_GT((*p)["seq"].get<uint64_t>(), 0u);
}

TEST(HttpTransport, ABatchSendAnswersEveryRequest) {
  Shard s(rt_shard());
  s.start();
  RtClient c;
  ASSERT_TRUE(c.open(s.ws_port()));
  json batch = json::array();
  for (int i = 1; i <= 3; ++i)
    batch.push_back({{"op", "sys.ping"}, {"rid", 100 + i}, {"d", {{"t", i}}}});
  auto r = c.send_body(batch.dump());
  ASSERT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(json::parse(r.body)["accepted"], 3);
  for (int i = 1; i <= 3; ++i) {
    auto resp = c.recv_response(100 + i);
    ASSERT_TRUE(IsOk(resp));
    EXPECT_EQ((*resp)["d"]["t"], i);
  }
  // A malformed member is answered by the gateway like any malformed message.
  ASSERT_EQ(c.send_body(R"([{"op":"sys.ping","rid":9}, 42])").status, 202);
  EXPECT_TRUE(IsOk(c.recv_response(9)));
  auto err = c.recv();
  ASSERT_TRUE(err);
  EXPECT_TRUE((*err)["rid"].is_null()) << err->dump();
  EXPECT_EQ((*err)["err"]["code"], "BAD_REQUEST");
}

TEST(HttpTransport, AStreamThatBrokeResumesFromItsLastEventId) {
  Shard s(rt_shard());
  s.start();
  RtClient c;
  ASSERT_TRUE(c.open(s.ws_port(), RtClient::Mode::kStream));
  json li = sign_in(c, "gappy");
  const int64_t account = li.value("account_id", int64_t{0});
  announce(s, account, "a-", 3);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(c.recv_push("sys.notice"));
  const uint64_t seen = c.last_event();
  c.drop_stream();
  // Sent while no stream is attached: held by the transport.
  announce(s, account, "b-", 4);
  ASSERT_EQ(c.open_stream(seen), 200);
  std::vector<std::string> texts;
  while (texts.size() < 4) {
    auto p = c.recv_push("sys.notice", Ms(3000));
    ASSERT_TRUE(p) << "got " << texts.size();
    texts.push_back((*p)["d"]["text"]);
  }
  EXPECT_EQ(texts, (std::vector<std::string>{"b-0", "b-1", "b-2", "b-3"}));
  EXPECT_EQ(c.last_event(), seen + 4);
  // The stream works on: a request and its answer.
  EXPECT_TRUE(IsOk(c.request("sys.ping")));
  // A stream whose Last-Event-ID was never sent is refused.
  ASSERT_EQ(c.open_stream(c.last_event() + 50), 200);
  EXPECT_FALSE(c.recv(Ms(1000)));
  EXPECT_EQ(c.stream_end(), "BAD_REQUEST");
}

TEST(HttpTransport, PollingThatStopsDropsTheTransportIntoTheResumeGrace) {
  Shard s(rt_shard({"http.idle_expiry_ms=1000"}));
  s.start();
  RtClient c;
  ASSERT_TRUE(c.open(s.ws_port()));
  json li = sign_in(c, "sleepy");
  const int64_t account = li.value("account_id", int64_t{0});
  const std::string resume = li.value("resume_token", "");
  ASSERT_TRUE(IsOk(c.request("zone.select", {{"zone", "main"}})));
  announce(s, account, "seen-", 2);
  uint64_t last_seq = 0;
  for (int i = 0; i < 2; ++i) {
    auto p = c.recv_push("sys.notice");
    ASSERT_TRUE(p);
    last_seq = (*p)["seq"];
  }
  // No more polls: after http.idle_expiry_ms the transport is gone and the
  // session waits for a resume, still in its zone.
  ASSERT_TRUE(eventually(
      [&] { return scrape(s.admin_port(), "shardd_sessions_in_grace").value_or(0) >= 1; },
      Ms(6000)));
  EXPECT_EQ(scrape(s.admin_port(), R"(shardd_zone_population{zone="main"})"), 1);
  EXPECT_EQ(scrape(s.admin_port(), R"(shardd_connections{transport="http"})"), 0);
  EXPECT_EQ(c.poll_once(c.last_event(), Ms(3000)).status, 404);
  announce(s, account, "away-", 3);

  RtClient again;
  ASSERT_TRUE(again.open(s.ws_port()));
  auto r = again.request("sys.resume", {{"resume_token", resume}, {"last_seq", last_seq}});
  ASSERT_TRUE(IsOk(r));
  EXPECT_EQ((*r)["d"]["replayed"], 3);
  EXPECT_FALSE((*r)["d"]["resync"].get<bool>());
  for (int i = 0; i < 3; ++i) {
    auto p = again.recv_push("sys.notice");
    ASSERT_TRUE(p);
    EXPECT_EQ((*p)["d"]["text"], "away-" + std::to_string(i));
    EXPECT_EQ((*p)["seq"], last_seq + 1 + i);
  }
}

TEST(HttpTransport, LimitsAreEnforced) {
  Shard s(rt_shard({"http.max_body_bytes=1024", "http.max_batch=2", "http.max_sessions_per_ip=2",
                    "http.poll_wait_ms=300"}));
  s.start();
  RtClient a, b, c;
  ASSERT_TRUE(a.open(s.ws_port()));
  ASSERT_TRUE(b.open(s.ws_port()));
  EXPECT_FALSE(c.open(s.ws_port()));
  EXPECT_EQ(c.open_response().status, 429);
  EXPECT_EQ(err_code(c.open_response()), "TOO_MANY_CONNECTIONS");

  auto big = a.send_body(
      json{{"op", "sys.ping"}, {"rid", 1}, {"d", {{"t", std::string(2000, 'x')}}}}.dump());
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(err_code(big), "TOO_LARGE");
  auto many = a.send_body(
      R"([{"op":"sys.ping","rid":1},{"op":"sys.ping","rid":2},{"op":"sys.ping","rid":3}])");
  EXPECT_EQ(many.status, 413);
  EXPECT_NE(many.body.find("http.max_batch"), std::string::npos) << many.body;
  auto junk = a.send_body("{not json");
  EXPECT_EQ(junk.status, 400);
  EXPECT_EQ(err_code(junk), "BAD_REQUEST");
  EXPECT_EQ(a.send_body("[]").status, 400);

  // A poll with nothing to send waits http.poll_wait_ms, then answers no events.
  auto first = a.poll_once(a.last_event());  // anything still queued
  auto t0 = Clock::now();
  auto empty = a.poll_once(a.last_event());
  const auto waited = elapsed_ms(t0);
  ASSERT_EQ(empty.status, 200) << empty.body;
  EXPECT_EQ(json::parse(empty.body)["events"].size(), 0u);
  EXPECT_GE(waited, 250);
  EXPECT_LT(waited, 5000);
  (void)first;

  // Closing one makes room for another.
  EXPECT_EQ(b.close_transport().status, 200);
  EXPECT_TRUE(eventually([&] { return c.open(s.ws_port()); }, Ms(3000), Ms(100)));
}

TEST(HttpTransport, UnknownIdsWrongSecretsAndBadRequests) {
  Shard s(rt_shard());
  s.start();
  RtClient c;
  ASSERT_TRUE(c.open(s.ws_port()));
  const uint16_t port = s.ws_port();
  const std::string ok_auth = auth_header(c);
  auto unknown = http_get(port, "/rt/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/events?poll=1",
                          {{"Authorization", ok_auth}});
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(err_code(unknown), "SESSION_EXPIRED");
  auto wrong = http_get(port, "/rt/" + c.id() + "/events?poll=1",
                        {{"Authorization", "Bearer " + std::string(43, 'x')}});
  EXPECT_EQ(wrong.status, 403);
  EXPECT_EQ(err_code(wrong), "UNAUTHORIZED");
  EXPECT_EQ(http_get(port, "/rt/" + c.id() + "/events?poll=1").status, 403);  // no secret
  EXPECT_EQ(http_get(port, "/rt/" + c.id() + "/send", {{"Authorization", ok_auth}}).status, 405);
  EXPECT_EQ(http_get(port, "/rt/open").status, 405);
  EXPECT_EQ(http_get(port, "/rt/nope").status, 404);
  EXPECT_EQ(http_get(port, "/rt/" + c.id() + "/other", {{"Authorization", ok_auth}}).status, 404);
  EXPECT_EQ(http_get(port, "/rt/../etc/events").status, 404);
  auto nan =
      http_get(port, "/rt/" + c.id() + "/events?poll=1&last=x1", {{"Authorization", ok_auth}});
  EXPECT_EQ(nan.status, 400);
  auto ahead = c.poll_once(99);
  EXPECT_EQ(ahead.status, 400);
  EXPECT_EQ(err_code(ahead), "BAD_REQUEST");
  // The transport survived all of that.
  EXPECT_TRUE(IsOk(c.request("sys.ping")));
  // Closed: gone for good.
  EXPECT_EQ(c.close_transport().status, 200);
  EXPECT_TRUE(eventually(
      [&] { return scrape(s.admin_port(), R"(shardd_connections{transport="http"})") == 0; },
      Ms(3000)));
  EXPECT_EQ(c.poll_once(c.last_event(), Ms(3000)).status, 404);
}

TEST(HttpTransport, EventsForgottenBeyondTheReplayWindowAnswer410) {
  Shard s(rt_shard({"http.replay_bytes=1024"}));
  s.start();
  RtClient c;
  ASSERT_TRUE(c.open(s.ws_port()));
  json li = sign_in(c, "forgetful");
  const uint64_t base = c.last_event();
  announce(s, li.value("account_id", int64_t{0}), std::string(60, 'n') + "-", 30);
  // Read them all without acknowledging (every poll says `base`).
  uint64_t through = base;
  ASSERT_TRUE(eventually(
      [&] {
        auto r = c.poll_once(base, Ms(3000));
        if (r.status != 200) return false;
        through = json::parse(r.body)["last_event"];
        return through >= base + 30;
      },
      Ms(5000), Ms(50)));
  // More than http.replay_bytes of them were delivered and not acknowledged:
  // the oldest are forgotten, so a client that asks for them again is told
  // to start over (new transport + sys.resume).
  auto r = c.poll_once(base, Ms(3000));
  EXPECT_EQ(r.status, 410) << r.body;
  EXPECT_EQ(err_code(r), "SESSION_EXPIRED");
  EXPECT_TRUE(eventually(
      [&] { return scrape(s.admin_port(), "shardd_sessions_in_grace").value_or(0) >= 1; },
      Ms(3000)));
}

// Closes a transport opened by a raw POST /rt/open (the server then need not
// wait for it at shutdown).
void close_opened(uint16_t port, const HttpResponse& open) {
  json j = json::parse(open.body, nullptr, false);
  if (!j.is_object() || !j.contains("transport")) return;
  http_request("POST", port, "/rt/" + j["transport"].get<std::string>() + "/close", "",
               {{"Authorization", "Bearer " + j["secret"].get<std::string>()}});
}

TEST(HttpTransport, CrossOriginNeedsTheAllowList) {
  Shard s(rt_shard({"ws.allowed_origins=https://game.example"}));
  s.start();
  auto pre =
      http_request("OPTIONS", s.ws_port(), "/rt/open", "",
                   {{"Origin", "https://game.example"}, {"Access-Control-Request-Method", "POST"}});
  EXPECT_EQ(pre.status, 204);
  EXPECT_EQ(pre.header("Access-Control-Allow-Origin"), "https://game.example");
  EXPECT_NE(pre.header("Access-Control-Allow-Headers").find("Last-Event-ID"), std::string::npos);
  auto open =
      http_request("POST", s.ws_port(), "/rt/open", "", {{"Origin", "https://game.example"}});
  EXPECT_EQ(open.status, 200);
  EXPECT_EQ(open.header("Access-Control-Allow-Origin"), "https://game.example");
  auto evil =
      http_request("POST", s.ws_port(), "/rt/open", "", {{"Origin", "https://evil.example"}});
  EXPECT_EQ(evil.status, 403);
  EXPECT_EQ(err_code(evil), "FORBIDDEN");
  // The page's own origin needs no allow-list entry.
  auto self = http_request("POST", s.ws_port(), "/rt/open", "",
                           {{"Origin", "http://127.0.0.1:" + std::to_string(s.ws_port())}});
  EXPECT_EQ(self.status, 200);
  close_opened(s.ws_port(), open);
  close_opened(s.ws_port(), self);
}

TEST(HttpTransport, ShutdownReachesAnAttachedStream) {
  Shard s(rt_shard());
  s.start();
  RtClient c;
  ASSERT_TRUE(c.open(s.ws_port(), RtClient::Mode::kStream));
  ASSERT_TRUE(IsOk(c.request("sys.ping")));
  s.signal(SIGTERM);
  auto bye = c.recv_push("sys.shutdown", Ms(5000));
  ASSERT_TRUE(bye);
  EXPECT_GT((*bye)["d"].value("reconnect_after_ms", 0), 0);
  EXPECT_EQ(s.wait_exit(Ms(10000)), 0);
}

TEST(HttpTransport, DisabledMeansNotFound) {
  Shard s(rt_shard({"http.enabled=false"}));
  s.start();
  auto r = http_request("POST", s.ws_port(), "/rt/open", "");
  EXPECT_EQ(r.status, 405);  // /rt/ is then just an unknown path (GET/HEAD only)
  EXPECT_EQ(http_get(s.ws_port(), "/rt/open").status, 404);
}

}  // namespace
}  // namespace shardd::test
