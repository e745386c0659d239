// Accounts, login, zones and resumable sessions against the real binary, over
// WebSocket and TCP. This executable runs twice (see CMakeLists.txt): with
// SQLite + memory cache, and with SHARDD_TEST_BACKEND=mysql against a private
// MariaDB + Redis started once for the whole run.

#include <algorithm>
#include <map>

#include "it_common.h"
#include "shardd_test/db_env.h"

namespace shardd::test {
namespace {

// MariaDB and Redis, started once for the whole executable (MySQL backend only).
test::DbServersEnv* const g_servers = test::DbServersEnv::install();

constexpr const char* kToken = "admin-secret";

// A shardd with the account service on the selected storage backend (a fresh
// database per test) and cheap password hashing unless told otherwise.
ShardOptions account_shard(std::vector<std::string> extra = {}, std::string toml = "") {
  ShardOptions o;
  if (!toml.empty()) o.config_toml = toml;
  o.overrides = {"auth.scrypt_n=1024", std::string("admin.token=") + kToken};
  for (auto& b : g_servers->backend_overrides("acct")) o.overrides.push_back(std::move(b));
  for (auto& e : extra) o.overrides.push_back(std::move(e));
  return o;
}

HttpResponse admin_post(const Shard& s, const std::string& path, const json& body) {
  return test::admin_post(s.admin_port(), kToken, path, body);
}

template <class Client>
std::optional<json> register_user(Client& c, const std::string& user,
                                  const std::string& pw = "correct-horse") {
  return c.request("auth.register", {{"username", user}, {"password", pw}});
}

template <class Client>
std::optional<json> login(Client& c, const std::string& user,
                          const std::string& pw = "correct-horse") {
  return c.request("auth.login", {{"username", user}, {"password", pw}});
}

TEST(Accounts, RegisterLoginZonesLogoutOverWebSocket) {
  Shard s(account_shard());
  s.start();
  WsClient c;
  connect_ws(c, s.ws_port());
  auto reg = register_user(c, "Alice_1");
  ASSERT_TRUE(IsOk(reg));
  EXPECT_GT((*reg)["d"]["account_id"].get<int64_t>(), 0);
  EXPECT_EQ((*reg)["d"]["username"], "Alice_1");

  EXPECT_TRUE(IsError(c.request("zone.list"), "UNAUTHORIZED"));
  auto li = login(c, "alice_1");  // names are case-insensitive
  ASSERT_TRUE(IsOk(li));
  const json& d = (*li)["d"];
  EXPECT_EQ(d["account_id"], (*reg)["d"]["account_id"]);
  EXPECT_EQ(d["username"], "Alice_1");
  EXPECT_EQ(d["token"].get<std::string>().size(), 43u);
  EXPECT_EQ(d["resume_token"].get<std::string>().size(), 43u);
  EXPECT_TRUE(d["last_zone"].is_null());
  ASSERT_EQ(d["zones"].size(), 1u);
  EXPECT_EQ(d["zones"][0]["id"], "main");

  auto sel = c.request("zone.select", {{"zone", "main"}});
  ASSERT_TRUE(IsOk(sel));
  EXPECT_EQ((*sel)["d"]["population"], 1);
  auto list = c.request("zone.list");
  ASSERT_TRUE(IsOk(list));
  EXPECT_EQ((*list)["d"]["zones"][0]["population"], 1);

  ASSERT_TRUE(IsOk(c.request("auth.logout")));
  EXPECT_TRUE(IsError(c.request("zone.list"), "UNAUTHORIZED"));
  EXPECT_TRUE(PingWorks(c));  // the connection stays, logged out

  // Logging in again (same connection) remembers the zone.
  auto again = login(c, "ALICE_1");
  ASSERT_TRUE(IsOk(again));
  EXPECT_EQ((*again)["d"]["last_zone"], "main");
  EXPECT_EQ((*again)["d"]["zones"][0]["population"], 0);  // left it at logout
  EXPECT_EQ(scrape(s.admin_port(), R"(shardd_logins_total{result="ok"})"), 2);
}

TEST(Accounts, RegistrationRules) {
  Shard s(account_shard());
  s.start();
  WsClient c;
  connect_ws(c, s.ws_port());
  ASSERT_TRUE(IsOk(register_user(c, "bob")));
  EXPECT_TRUE(IsError(register_user(c, "BOB"), "USERNAME_TAKEN"));
  for (const char* bad :
       {"ab", "this_name_is_way_too_long_", "has space", "dash-name", "émile", ""}) {
    EXPECT_TRUE(IsError(register_user(c, bad), "INVALID_USERNAME")) << bad;
  }
  EXPECT_TRUE(IsError(register_user(c, "carol", "short"), "WEAK_PASSWORD"));
  EXPECT_TRUE(IsError(register_user(c, "carol", std::string(129, 'x')), "WEAK_PASSWORD"));
  EXPECT_TRUE(IsOk(register_user(c, "carol", std::string(128, 'x'))));
  EXPECT_TRUE(IsError(c.request("auth.register", {{"username", 5}}), "BAD_REQUEST"));
}

TEST(Accounts, LoginOverTcpWithMessagePack) {
  Shard s(account_shard());
  s.start();
  TcpClient c;
  connect_tcp(c, s.tcp_port());
  auto reg = c.request("auth.register", {{"username", "tcp_user"}, {"password", "p4ssword!"}},
                       /*msgpack=*/true);
  ASSERT_TRUE(IsOk(reg));
  auto li = c.request("auth.login", {{"username", "tcp_user"}, {"password", "p4ssword!"}}, true);
  ASSERT_TRUE(IsOk(li));
  EXPECT_TRUE(IsOk(c.request("zone.list", json::object(), true)));
}

TEST(Accounts, WrongUserAndWrongPasswordLookTheSame) {
  // Real hashing cost here (scrypt N=16384) so the timing is meaningful.
  Shard s(account_shard({"auth.scrypt_n=16384", "auth.account_attempts_per_min=100",
                         "auth.ip_attempts_per_min=100"}));
  s.start();
  WsClient c;
  connect_ws(c, s.ws_port());
  ASSERT_TRUE(IsOk(register_user(c, "dave")));
  // Interleaved samples in A-B-B-A order, so drift in machine load (another
  // test, a sanitizer's background thread) falls on both sides alike; the
  // medians are compared with a tolerance relative to the hashing cost, which
  // holds at any speed. Skipping the hash for an unknown user would make the
  // medians differ by nearly 100 %.
  std::vector<double> wrong_user, wrong_pw;
  auto ms_since = [](Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  };
  auto sample_user = [&](int i) {
    auto t0 = Clock::now();
    auto a = login(c, "nobody_" + std::to_string(i));
    wrong_user.push_back(ms_since(t0));
    return a;
  };
  auto sample_pw = [&](int i) {
    auto t0 = Clock::now();
    auto b = login(c, "dave", "wrong-password-" + std::to_string(i));
    wrong_pw.push_back(ms_since(t0));
    return b;
  };
  for (int i = 0; i < 8; ++i) {
    std::optional<json> a, b;
    if (i % 2 == 0) {
      a = sample_user(i);
      b = sample_pw(i);
    } else {
      b = sample_pw(i);
      a = sample_user(i);
    }
    ASSERT_TRUE(IsError(a, "BAD_CREDENTIALS"));
    ASSERT_TRUE(IsError(b, "BAD_CREDENTIALS"));
    EXPECT_EQ((*a)["err"]["msg"], (*b)["err"]["msg"]);
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  };
  double mu = median(wrong_user), mp = median(wrong_pw);
  RecordProperty("median_wrong_user_ms", std::to_string(mu));
  RecordProperty("median_wrong_password_ms", std::to_string(mp));
  EXPECT_GT(mu, 2.0) << "hashing should take measurable time";
  EXPECT_LT(std::abs(mu - mp), std::max(5.0, 0.5 * std::max(mu, mp)))
      << "median wrong user " << mu << " ms vs wrong password " << mp << " ms";
}

TEST(Accounts, FailedLoginsAreThrottledPerAccountAndPerIp) {
  Shard s(account_shard({"auth.account_attempts_per_min=3", "auth.ip_attempts_per_min=6"}));
  s.start();
  WsClient c;
  connect_ws(c, s.ws_port());
  ASSERT_TRUE(IsOk(register_user(c, "erin")));
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(IsError(login(c, "erin", "nope-nope"), "BAD_CREDENTIALS"));
  auto locked = login(c, "erin");  // even the right password waits now
  ASSERT_TRUE(IsError(locked, "RATE_LIMITED"));
  EXPECT_GT((*locked)["err"]["retry_after_ms"].get<int64_t>(), 1000);
  // Other accounts from this IP still work until the IP budget (6) is spent.
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(IsError(login(c, "ghost" + std::to_string(i), "xxxxxxxx"), "BAD_CREDENTIALS"));
  }
  EXPECT_TRUE(IsError(login(c, "frank", "xxxxxxxx"), "RATE_LIMITED"));
  EXPECT_GE(scrape(s.admin_port(), R"(shardd_logins_total{result="rate_limited"})").value_or(0), 2);
}

TEST(Accounts, TokenLoginRevocationAndExpiry) {
  Shard s(account_shard({"auth.token_ttl_s=2"}));
  s.start();
  std::string token;
  {
    WsClient c;
    connect_ws(c, s.ws_port());
    ASSERT_TRUE(IsOk(register_user(c, "gina")));
    auto li = login(c, "gina");
    ASSERT_TRUE(IsOk(li));
    token = (*li)["d"]["token"];
  }
  WsClient c2;
  connect_ws(c2, s.ws_port());
  auto t = c2.request("auth.token", {{"token", token}});
  ASSERT_TRUE(IsOk(t));
  EXPECT_EQ((*t)["d"]["username"], "gina");
  EXPECT_TRUE(IsOk(c2.request("zone.list")));
  ASSERT_TRUE(IsOk(c2.request("auth.logout")));  // revokes it
  EXPECT_TRUE(IsError(c2.request("auth.token", {{"token", token}}), "BAD_CREDENTIALS"));
  EXPECT_TRUE(IsError(c2.request("auth.token", {{"token", "garbage"}}), "BAD_CREDENTIALS"));

  auto fresh = login(c2, "gina");
  ASSERT_TRUE(IsOk(fresh));
  std::string token2 = (*fresh)["d"]["token"];
  ASSERT_TRUE(IsOk(c2.request("auth.logout")));
  // (logout revoked token2 too; log in once more and let that token expire)
  auto third = login(c2, "gina");
  ASSERT_TRUE(IsOk(third));
  std::string token3 = (*third)["d"]["token"];
  auto issued = Clock::now();
  // token3 stops working once its 2 s are up (not before a second has passed:
  // expiry is checked in whole seconds), without being revoked.
  std::optional<json> answer;
  EXPECT_TRUE(eventually(
      [&] {
        WsClient c3;
        connect_ws(c3, s.ws_port());
        answer = c3.request("auth.token", {{"token", token3}});
        return !IsOk(answer);
      },
      Ms(15000), Ms(250)));
  EXPECT_TRUE(IsError(answer, "BAD_CREDENTIALS"));
  EXPECT_GE(elapsed_ms(issued), 1000) << "expired early";
}

TEST(Accounts, SecondLoginKicksTheFirstSession) {
  Shard s(account_shard());
  s.start();
  WsClient first;
  connect_ws(first, s.ws_port());
  ASSERT_TRUE(IsOk(register_user(first, "hank")));
  ASSERT_TRUE(IsOk(login(first, "hank")));
  TcpClient second;
  connect_tcp(second, s.tcp_port());
  ASSERT_TRUE(IsOk(login(second, "hank")));
  auto kicked = first.recv_push("sys.kicked");
  ASSERT_TRUE(kicked);
  EXPECT_EQ((*kicked)["d"]["reason"], "logged_in_elsewhere");
  EXPECT_TRUE(first.wait_closed());
  EXPECT_EQ(first.close_code(), 4004);
  EXPECT_TRUE(IsOk(second.request("zone.list")));
  EXPECT_EQ(scrape(s.admin_port(), R"(shardd_session_ends_total{reason="kicked"})"), 1);
  EXPECT_EQ(scrape(s.admin_port(), R"(shardd_errors_total{code="KICKED"})"), 1);
  EXPECT_EQ(scrape(s.admin_port(), R"(shardd_disconnects_total{reason="KICKED"})"), 1);
}

TEST(Accounts, BanKicksAndBlocksLoginUntilLifted) {
  Shard s(account_shard());
  s.start();
  WsClient c;
  connect_ws(c, s.ws_port());
  ASSERT_TRUE(IsOk(register_user(c, "ivan")));
  ASSERT_TRUE(IsOk(login(c, "ivan")));
  auto ban = admin_post(s, "/admin/accounts/ban",
                        {{"username", "ivan"}, {"duration_s", 3600}, {"reason", "cheating"}});
  ASSERT_EQ(ban.status, 200) << ban.body;
  auto kicked = c.recv_push("sys.kicked");
  ASSERT_TRUE(kicked);
  EXPECT_EQ((*kicked)["d"]["reason"], "banned");
  EXPECT_TRUE(c.wait_closed());

  WsClient c2;
  connect_ws(c2, s.ws_port());
  auto refused = login(c2, "ivan");
  ASSERT_TRUE(IsError(refused, "BANNED"));
  EXPECT_EQ((*refused)["err"]["reason"], "cheating");
  EXPECT_GT((*refused)["err"]["until_ms"].get<int64_t>(),
            std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count());
  EXPECT_TRUE(IsError(login(c2, "ivan", "wrong-password"), "BAD_CREDENTIALS"));  // no leak

  ASSERT_EQ(admin_post(s, "/admin/accounts/unban", {{"username", "ivan"}}).status, 200);
  EXPECT_TRUE(IsOk(login(c2, "ivan")));
  EXPECT_EQ(
      admin_post(s, "/admin/accounts/ban", {{"username", "nobody"}, {"duration_s", 5}}).status,
      404);
  EXPECT_EQ(http_request("POST", s.admin_port(), "/admin/accounts/ban", "{}").status, 401);
}

TEST(Accounts, ZonesCapacityMaintenanceAndLastZone) {
  std::string zones = R"([[zones]]
id = "eu-1"
name = "Europe 1"
capacity = 1
[[zones]]
id = "us-1"
name = "US 1"
capacity = 100
maintenance = true
)";
  Shard s(account_shard({}, zones));
  s.start();
  WsClient a, b;
  connect_ws(a, s.ws_port());
  connect_ws(b, s.ws_port());
  ASSERT_TRUE(IsOk(register_user(a, "jade")));
  ASSERT_TRUE(IsOk(register_user(a, "kurt")));
  ASSERT_TRUE(IsOk(login(a, "jade")));
  ASSERT_TRUE(IsOk(login(b, "kurt")));
  auto list = a.request("zone.list");
  ASSERT_TRUE(IsOk(list));
  ASSERT_EQ((*list)["d"]["zones"].size(), 2u);
  EXPECT_EQ((*list)["d"]["zones"][0]["status"], "open");
  EXPECT_EQ((*list)["d"]["zones"][1]["status"], "maintenance");

  ASSERT_TRUE(IsOk(a.request("zone.select", {{"zone", "eu-1"}})));
  auto full = b.request("zone.select", {{"zone", "eu-1"}});
  ASSERT_TRUE(IsError(full, "FULL"));
  EXPECT_EQ((*full)["err"]["capacity"], 1);
  EXPECT_TRUE(IsError(b.request("zone.select", {{"zone", "us-1"}}), "MAINTENANCE"));
  EXPECT_TRUE(IsError(b.request("zone.select", {{"zone", "mars"}}), "NOT_FOUND"));
  EXPECT_EQ((*b.request("zone.list"))["d"]["zones"][0]["status"], "full");
  EXPECT_EQ(scrape(s.admin_port(), R"(shardd_zone_population{zone="eu-1"})"), 1);

  ASSERT_TRUE(IsOk(a.request("auth.logout")));
  ASSERT_TRUE(IsOk(b.request("zone.select", {{"zone", "eu-1"}})));
  ASSERT_TRUE(IsOk(b.request("auth.logout")));
  auto back = login(b, "kurt");
  ASSERT_TRUE(IsOk(back));
  EXPECT_EQ((*back)["d"]["last_zone"], "eu-1");
}

// Sends `n` notices to an online account through the admin API.
void announce(const Shard& s, int64_t account, const std::string& prefix, int n) {
  for (int i = 0; i < n; ++i) {
    auto r = admin_post(s, "/admin/announce",
                        {{"account_id", account}, {"text", prefix + std::to_string(i)}});
    ASSERT_EQ(r.status, 200) << r.body;
  }
}

TEST(Resume, DroppedSessionReplaysExactlyTheMissedPushes) {
  Shard s(account_shard());
  s.start();
  auto c = std::make_unique<WsClient>();
  connect_ws(*c, s.ws_port());
  ASSERT_TRUE(IsOk(register_user(*c, "lena")));
  auto li = login(*c, "lena");
  ASSERT_TRUE(IsOk(li));
  int64_t account = (*li)["d"]["account_id"];
  std::string resume = (*li)["d"]["resume_token"];
  ASSERT_TRUE(IsOk(c->request("zone.select", {{"zone", "main"}})));

  announce(s, account, "live-", 10);
  uint64_t last_seq = 0;
  for (int i = 0; i < 4; ++i) {  // read only the first 4 of them
    auto p = c->recv_push("sys.notice");
    ASSERT_TRUE(p);
    EXPECT_EQ((*p)["d"]["text"], "live-" + std::to_string(i));
    last_seq = (*p)["seq"];
  }
  c->drop();  // no close handshake, no logout
  c.reset();
  // The server notices the drop; the session waits in grace, still in its zone.
  ASSERT_TRUE(eventually(
      [&] { return scrape(s.admin_port(), "shardd_sessions_in_grace").value_or(0) >= 1; },
      Ms(5000)));
  ASSERT_EQ(scrape(s.admin_port(), "shardd_sessions_in_grace"), 1);
  EXPECT_EQ(scrape(s.admin_port(), R"(shardd_zone_population{zone="main"})"), 1);
  announce(s, account, "away-", 5);

  // Resume on another transport.
  TcpClient t;
  connect_tcp(t, s.tcp_port());
  auto r = t.request("sys.resume", {{"resume_token", resume}, {"last_seq", last_seq}});
  ASSERT_TRUE(IsOk(r));
  EXPECT_FALSE((*r)["d"]["resync"].get<bool>());
  EXPECT_EQ((*r)["d"]["replayed"], 6 + 5);
  std::string next_resume = (*r)["d"]["resume_token"];
  EXPECT_NE(next_resume, resume);
  std::vector<std::string> texts;
  uint64_t expect_seq = last_seq + 1;
  for (int i = 0; i < 11; ++i) {
    auto p = t.recv_push("sys.notice");
    ASSERT_TRUE(p) << "missing replay " << i;
    EXPECT_EQ((*p)["seq"], expect_seq++);
    texts.push_back((*p)["d"]["text"]);
  }
  std::vector<std::string> want = {"live-4", "live-5", "live-6", "live-7", "live-8", "live-9",
                                   "away-0", "away-1", "away-2", "away-3", "away-4"};
  EXPECT_EQ(texts, want);
  // Continues with the next seq, no duplicates, same logged-in session.
  announce(s, account, "after-", 1);
  auto after = t.recv_push("sys.notice");
  ASSERT_TRUE(after);
  EXPECT_EQ((*after)["seq"], expect_seq);
  EXPECT_TRUE(IsOk(t.request("zone.list")));
  EXPECT_EQ(scrape(s.admin_port(), "shardd_sessions_in_grace"), 0);
  EXPECT_EQ(scrape(s.admin_port(), R"(shardd_resumes_total{result="ok"})"), 1);

  // The old resume token is dead.
  WsClient w;
  connect_ws(w, s.ws_port());
  EXPECT_TRUE(IsError(w.request("sys.resume", {{"resume_token", resume}, {"last_seq", 0}}),
                      "SESSION_EXPIRED"));
}

TEST(Resume, AfterTheGracePeriodTheSessionIsGone) {
  Shard s(account_shard({"session.resume_grace_ms=300"}));
  s.start();
  std::string resume;
  {
    WsClient c;
    connect_ws(c, s.ws_port());
    ASSERT_TRUE(IsOk(register_user(c, "mona")));
    auto li = login(c, "mona");
    ASSERT_TRUE(IsOk(li));
    resume = (*li)["d"]["resume_token"];
    ASSERT_TRUE(IsOk(c.request("zone.select", {{"zone", "main"}})));
    c.drop();
  }
  // The server notices the drop, then ends the session when the grace is up.
  ASSERT_TRUE(eventually(
      [&] {
        return scrape(s.admin_port(), R"(shardd_session_ends_total{reason="grace_expired"})")
                   .value_or(0) >= 1;
      },
      Ms(10000)));
  WsClient c2;
  connect_ws(c2, s.ws_port());
  EXPECT_TRUE(IsError(c2.request("sys.resume", {{"resume_token", resume}, {"last_seq", 1}}),
                      "SESSION_EXPIRED"));
  EXPECT_EQ(scrape(s.admin_port(), R"(shardd_zone_population{zone="main"})"), 0);
  EXPECT_EQ(scrape(s.admin_port(), R"(shardd_session_ends_total{reason="grace_expired"})"), 1);
  EXPECT_TRUE(IsOk(login(c2, "mona")));
}

TEST(Resume, TooOldLastSeqAsksForAResync) {
  Shard s(account_shard({"session.replay_pushes=3"}));
  s.start();
  auto c = std::make_unique<WsClient>();
  connect_ws(*c, s.ws_port());
  ASSERT_TRUE(IsOk(register_user(*c, "nora")));
  auto li = login(*c, "nora");
  ASSERT_TRUE(IsOk(li));
  int64_t account = (*li)["d"]["account_id"];
  std::string resume = (*li)["d"]["resume_token"];
  c->drop();
  c.reset();
  ASSERT_TRUE(eventually(
      [&] { return scrape(s.admin_port(), "shardd_sessions_in_grace").value_or(0) >= 1; },
      Ms(5000)));
  announce(s, account, "n-", 8);  // only the last 3 are kept
  WsClient c2;
  connect_ws(c2, s.ws_port());
  auto r = c2.request("sys.resume", {{"resume_token", resume}, {"last_seq", 1}});
  ASSERT_TRUE(IsOk(r));
  EXPECT_TRUE((*r)["d"]["resync"].get<bool>());
  EXPECT_EQ((*r)["d"]["replayed"], 0);
  EXPECT_TRUE(IsOk(c2.request("zone.list")));  // still logged in, client re-fetches state
  EXPECT_EQ(scrape(s.admin_port(), R"(shardd_resumes_total{result="resync"})"), 1);
}

TEST(Resume, RejectsBadTokensAndLoggedInCallers) {
  Shard s(account_shard());
  s.start();
  WsClient c;
  connect_ws(c, s.ws_port());
  EXPECT_TRUE(IsError(c.request("sys.resume", {{"resume_token", "nope"}}), "SESSION_EXPIRED"));
  EXPECT_TRUE(IsError(c.request("sys.resume", json::object()), "BAD_REQUEST"));
  ASSERT_TRUE(IsOk(register_user(c, "olga")));
  auto li = login(c, "olga");
  ASSERT_TRUE(IsOk(li));
  EXPECT_TRUE(IsError(c.request("sys.resume", {{"resume_token", (*li)["d"]["resume_token"]}}),
                      "BAD_REQUEST"));
}

// Two pipelined logins on one connection: the second is refused while the
// first runs, so the account service never holds a stale session (a later
// login kicks the right one).
TEST(Accounts, PipelinedLoginsOnOneConnectionLogInOnce) {
  Shard s(account_shard());
  s.start();
  WsClient a;
  connect_ws(a, s.ws_port());
  ASSERT_TRUE(IsOk(register_user(a, "pipe")));
  json creds = {{"username", "pipe"}, {"password", "correct-horse"}};
  uint64_t r1 = a.next_rid(), r2 = a.next_rid();
  ASSERT_TRUE(a.send_json({{"op", "auth.login"}, {"rid", r1}, {"d", creds}}));
  ASSERT_TRUE(a.send_json({{"op", "auth.login"}, {"rid", r2}, {"d", creds}}));
  auto first = a.recv_response(r1);
  auto second = a.recv_response(r2);
  ASSERT_TRUE(first && second);
  int oks = IsOk(first) + IsOk(second);
  EXPECT_EQ(oks, 1) << first->dump() << "\n" << second->dump();
  EXPECT_TRUE(IsError(IsOk(first) ? second : first, "BAD_REQUEST"));
  // A token login pipelined after a password login is refused the same way.
  WsClient b;
  connect_ws(b, s.ws_port());
  ASSERT_TRUE(IsOk(login(b, "pipe")));  // kicks a
  auto kicked = a.recv_push("sys.kicked");
  ASSERT_TRUE(kicked) << "the session that really logged in is kicked";
  EXPECT_TRUE(a.wait_closed());
  EXPECT_TRUE(IsOk(b.request("zone.list")));
  EXPECT_EQ(scrape(s.admin_port(), "shardd_sessions_authenticated"), 1);
}

// The resume token of a session whose connection is still open takes the
// session over; the old connection is told why before it is closed.
TEST(Resume, ResumingWhileTheOldConnectionIsOpenTakesOver) {
  Shard s(account_shard());
  s.start();
  WsClient old;
  connect_ws(old, s.ws_port());
  ASSERT_TRUE(IsOk(register_user(old, "twice")));
  auto li = login(old, "twice");
  ASSERT_TRUE(IsOk(li));
  TcpClient fresh;
  connect_tcp(fresh, s.tcp_port());
  auto r =
      fresh.request("sys.resume", {{"resume_token", (*li)["d"]["resume_token"]}, {"last_seq", 0}});
  ASSERT_TRUE(IsOk(r));
  auto kicked = old.recv_push("sys.kicked");
  ASSERT_TRUE(kicked) << "the old connection got no sys.kicked";
  EXPECT_EQ((*kicked)["d"]["reason"], "resumed_elsewhere");
  EXPECT_EQ((*kicked)["seq"], 0);
  auto close = old.recv_push("sys.close");
  ASSERT_TRUE(close);
  EXPECT_EQ((*close)["d"]["code"], "KICKED");
  ASSERT_TRUE(old.wait_closed());
  EXPECT_EQ(old.close_code(), 4004);
  EXPECT_TRUE(IsOk(fresh.request("zone.list"))) << "the session lives on the new connection";
  EXPECT_EQ(scrape(s.admin_port(), "shardd_sessions_authenticated"), 1);
}

// Replayable pushes are numbered 1, 2, 3 ... from the login without gaps; the
// connection notices around them carry 0.
TEST(Resume, PushNumbersHaveNoGaps) {
  Shard s(account_shard());
  s.start();
  auto c = std::make_unique<WsClient>();
  connect_ws(*c, s.ws_port());
  ASSERT_TRUE(IsOk(register_user(*c, "seqs")));
  auto li = login(*c, "seqs");
  ASSERT_TRUE(IsOk(li));
  int64_t account = (*li)["d"]["account_id"];
  announce(s, account, "a-", 3);
  for (int i = 1; i <= 3; ++i) {
    auto p = c->recv_push("sys.notice");
    ASSERT_TRUE(p);
    EXPECT_EQ((*p)["seq"], i);
  }
  c->drop();
  c.reset();
  ASSERT_TRUE(eventually([&] { return scrape(s.admin_port(), "shardd_sessions_in_grace") == 1; },
                         Ms(5000)));
  announce(s, account, "b-", 2);
  WsClient w;
  ASSERT_TRUE(w.connect(s.ws_port()));
  auto hello = w.recv_push("sys.hello");
  ASSERT_TRUE(hello);
  EXPECT_EQ((*hello)["seq"], 0);
  auto r = w.request("sys.resume", {{"resume_token", (*li)["d"]["resume_token"]}, {"last_seq", 3}});
  ASSERT_TRUE(IsOk(r));
  EXPECT_EQ((*r)["d"]["last_seq"], 5);
  for (int i = 4; i <= 5; ++i) {
    auto p = w.recv_push("sys.notice");
    ASSERT_TRUE(p);
    EXPECT_EQ((*p)["seq"], i);
  }
}

TEST(Accounts, PasswordLengthCountsCharacters) {
  Shard s(account_shard());
  s.start();
  WsClient c;
  connect_ws(c, s.ws_port());
  EXPECT_TRUE(IsError(register_user(c, "emoji", "😀😀😀"), "WEAK_PASSWORD"));
  std::string e100;
  for (int i = 0; i < 100; ++i) e100 += "é";
  ASSERT_TRUE(IsOk(register_user(c, "accent", e100)));
  EXPECT_TRUE(IsOk(login(c, "accent", e100)));
}

TEST(Accounts, DisplayNames) {
  Shard s(account_shard({"auth.display_name_cooldown_s=0", "auth.name_blocklist=rude"}));
  s.start();
  WsClient a, b;
  connect_ws(a, s.ws_port());
  connect_ws(b, s.ws_port());
  ASSERT_TRUE(IsOk(register_user(a, "dn_alice")));
  ASSERT_TRUE(IsOk(register_user(b, "dn_bob")));
  auto la = login(a, "dn_alice");
  ASSERT_TRUE(IsOk(la));
  EXPECT_EQ((*la)["d"]["display_name"], "dn_alice") << "starts as the username";
  ASSERT_TRUE(IsOk(login(b, "dn_bob")));
  auto set = a.request("account.set_display_name", {{"name", "Queen Émilie"}});
  ASSERT_TRUE(IsOk(set));
  EXPECT_EQ((*set)["d"]["display_name"], "Queen Émilie");
  EXPECT_TRUE(
      IsError(b.request("account.set_display_name", {{"name", "QUEEN ÉMILIE"}}), "NAME_TAKEN"));
  // Names are unique among the names shown: alice no longer shows hers.
  EXPECT_TRUE(IsOk(b.request("account.set_display_name", {{"name", "DN_ALICE"}})));
  EXPECT_TRUE(IsError(b.request("account.set_display_name", {{"name", "x"}}), "INVALID_NAME"));
  EXPECT_TRUE(IsError(b.request("account.set_display_name", {{"name", "Admin"}}), "INVALID_NAME"));
  EXPECT_TRUE(
      IsError(b.request("account.set_display_name", {{"name", "SoRude1"}}), "INVALID_NAME"));
  EXPECT_TRUE(IsError(b.request("account.set_display_name", {{"name", 5}}), "BAD_REQUEST"));
  // A registration may not take a name someone shows.
  WsClient c;
  connect_ws(c, s.ws_port());
  ASSERT_TRUE(IsOk(b.request("account.set_display_name", {{"name", "newcomer"}})));
  EXPECT_TRUE(IsError(register_user(c, "NewComer"), "USERNAME_TAKEN"));
  // It survives a new login (cache and database agree).
  ASSERT_TRUE(IsOk(a.request("auth.logout")));
  auto again = login(a, "dn_alice");
  ASSERT_TRUE(IsOk(again));
  EXPECT_EQ((*again)["d"]["display_name"], "Queen Émilie");
}

TEST(Accounts, DisplayNameChangesAreRateLimited) {
  Shard s(account_shard({"auth.display_name_cooldown_s=3600"}));
  s.start();
  WsClient a;
  connect_ws(a, s.ws_port());
  ASSERT_TRUE(IsOk(register_user(a, "dn_carl")));
  ASSERT_TRUE(IsOk(login(a, "dn_carl")));
  ASSERT_TRUE(IsOk(a.request("account.set_display_name", {{"name", "Carl One"}})));
  auto again = a.request("account.set_display_name", {{"name", "Carl Two"}});
  ASSERT_TRUE(IsError(again, "RATE_LIMITED"));
  EXPECT_GT((*again)["err"]["retry_after_ms"].get<int64_t>(), 3500000);
}

TEST(Accounts, ChangePasswordRevokesTheOtherTokens) {
  Shard s(account_shard());
  s.start();
  WsClient a;
  connect_ws(a, s.ws_port());
  ASSERT_TRUE(IsOk(register_user(a, "chpw")));
  auto first = login(a, "chpw");
  ASSERT_TRUE(IsOk(first));
  std::string other_token = (*first)["d"]["token"];
  WsClient b;
  connect_ws(b, s.ws_port());
  auto second = login(b, "chpw");  // kicks a; b's token is the current one
  ASSERT_TRUE(IsOk(second));
  std::string own_token = (*second)["d"]["token"];
  EXPECT_TRUE(
      IsError(b.request("auth.change_password", {{"old", "wrong-one!"}, {"new", "new-pass-9"}}),
              "BAD_CREDENTIALS"));
  EXPECT_TRUE(
      IsError(b.request("auth.change_password", {{"old", "correct-horse"}, {"new", "short"}}),
              "WEAK_PASSWORD"));
  ASSERT_TRUE(
      IsOk(b.request("auth.change_password", {{"old", "correct-horse"}, {"new", "new-pass-9"}})));
  WsClient c;
  connect_ws(c, s.ws_port());
  EXPECT_TRUE(IsError(c.request("auth.token", {{"token", other_token}}), "BAD_CREDENTIALS"));
  EXPECT_TRUE(IsError(login(c, "chpw", "correct-horse"), "BAD_CREDENTIALS"));
  ASSERT_TRUE(IsOk(login(c, "chpw", "new-pass-9")));  // kicks b
  WsClient d;
  connect_ws(d, s.ws_port());
  EXPECT_TRUE(IsOk(d.request("auth.token", {{"token", own_token}})))
      << "the token of the session that changed the password stays";
}

TEST(Accounts, DeleteAnonymizesAndFreesTheName) {
  Shard s(account_shard());
  s.start();
  WsClient a;
  connect_ws(a, s.ws_port());
  auto reg = register_user(a, "leaver");
  ASSERT_TRUE(IsOk(reg));
  auto li = login(a, "leaver");
  ASSERT_TRUE(IsOk(li));
  std::string token = (*li)["d"]["token"];
  ASSERT_TRUE(IsOk(a.request("zone.select", {{"zone", "main"}})));
  EXPECT_TRUE(
      IsError(a.request("account.delete", {{"password", "wrong-pass"}}), "BAD_CREDENTIALS"));
  ASSERT_TRUE(IsOk(a.request("account.delete", {{"password", "correct-horse"}})));
  EXPECT_TRUE(IsError(a.request("zone.list"), "UNAUTHORIZED")) << "logged out";
  EXPECT_TRUE(PingWorks(a)) << "the connection stays";
  EXPECT_EQ(scrape(s.admin_port(), R"(shardd_zone_population{zone="main"})"), 0);
  EXPECT_TRUE(IsError(login(a, "leaver"), "BAD_CREDENTIALS"));
  EXPECT_TRUE(IsError(a.request("auth.token", {{"token", token}}), "BAD_CREDENTIALS"));
  auto reborn = register_user(a, "leaver");
  ASSERT_TRUE(IsOk(reborn)) << "the name is free again";
  EXPECT_NE((*reborn)["d"]["account_id"], (*reg)["d"]["account_id"]);
  // The old row is still there (id kept), anonymized.
  auto ban = admin_post(s, "/admin/accounts/ban",
                        {{"account_id", (*reg)["d"]["account_id"]}, {"duration_s", 60}});
  EXPECT_EQ(ban.status, 200) << ban.body;
}

// After one token login fills the cache, the next reads nothing from the
// database: the token and the account come from the cache.
TEST(Accounts, WarmTokenLoginsReadNoDatabase) {
  Shard s(account_shard());
  s.start();
  std::string token;
  {
    WsClient c;
    connect_ws(c, s.ws_port());
    ASSERT_TRUE(IsOk(register_user(c, "cached")));
    auto li = login(c, "cached");
    ASSERT_TRUE(IsOk(li));
    token = (*li)["d"]["token"];
  }
  auto token_login = [&] {
    WsClient c;
    connect_ws(c, s.ws_port());
    return c.request("auth.token", {{"token", token}});
  };
  ASSERT_TRUE(IsOk(token_login()));  // warm-up
  auto reads = [&](const char* stmt) {
    return scrape(s.admin_port(),
                  std::string("shardd_db_query_seconds_count{stmt=\"") + stmt + "\"}")
        .value_or(0);
  };
  double tokens = reads("tokens.find"), accounts = reads("accounts.by_id"),
         hits = scrape(s.admin_port(), R"(shardd_cache_requests_total{result="hit"})").value_or(0);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(IsOk(token_login()));
  EXPECT_EQ(reads("tokens.find"), tokens);
  EXPECT_EQ(reads("accounts.by_id"), accounts);
  EXPECT_GE(scrape(s.admin_port(), R"(shardd_cache_requests_total{result="hit"})").value_or(0),
            hits + 6);
}

TEST(Accounts, BansAreListedAndUnbanIsIdempotent) {
  Shard s(account_shard());
  s.start();
  WsClient c;
  connect_ws(c, s.ws_port());
  auto reg = register_user(c, "listed");
  ASSERT_TRUE(IsOk(reg));
  ASSERT_EQ(admin_post(s, "/admin/accounts/ban",
                       {{"username", "listed"}, {"duration_s", 600}, {"reason", "spam"}})
                .status,
            200);
  auto list = http_get(s.admin_port(), "/admin/accounts/bans",
                       {{"Authorization", std::string("Bearer ") + kToken}});
  ASSERT_EQ(list.status, 200) << list.body;
  json j = json::parse(list.body);
  ASSERT_EQ(j["bans"].size(), 1u) << list.body;
  EXPECT_EQ(j["bans"][0]["username"], "listed");
  EXPECT_EQ(j["bans"][0]["reason"], "spam");
  EXPECT_EQ(admin_post(s, "/admin/accounts/unban", {{"username", "listed"}}).status, 200);
  EXPECT_EQ(admin_post(s, "/admin/accounts/unban", {{"username", "listed"}}).status, 200)
      << "a second unban is still the same account";
  auto after = json::parse(http_get(s.admin_port(), "/admin/accounts/bans",
                                    {{"Authorization", std::string("Bearer ") + kToken}})
                               .body);
  EXPECT_TRUE(after["bans"].empty());
}

TEST(Accounts, RateLimitedRegistrationsCountAsRefused) {
  Shard s(account_shard({"auth.register_per_ip_per_min=1"}));
  s.start();
  WsClient c;
  connect_ws(c, s.ws_port());
  ASSERT_TRUE(IsOk(register_user(c, "first_one")));
  EXPECT_TRUE(IsError(register_user(c, "second_one"), "RATE_LIMITED"));
  EXPECT_EQ(scrape(s.admin_port(), R"(shardd_registrations_total{result="refused"})"), 1);
}

// auth.max_tokens_per_account bounds the live tokens of an account: a new
// login revokes the oldest beyond it (and bans/password changes revoke a
// bounded set).
// [[zones]] reload live on SIGHUP: capacity and maintenance change in place,
// a new zone opens, and logged-in players over WebSocket and TCP are told
// with zone.update (seq 0: a state refresh, not replayed).
TEST(Accounts, ZonesReloadLiveOnSighup) {
  std::string before = "[[zones]]\nid = \"eu-1\"\ncapacity = 10\n";
  Shard s(account_shard({}, before));
  s.start();
  WsClient ws;
  TcpClient tcp;
  connect_ws(ws, s.ws_port());
  connect_tcp(tcp, s.tcp_port());
  ASSERT_TRUE(IsOk(register_user(ws, "zed")));
  ASSERT_TRUE(IsOk(register_user(ws, "yan")));
  ASSERT_TRUE(IsOk(login(ws, "zed")));
  ASSERT_TRUE(IsOk(login(tcp, "yan")));
  ASSERT_TRUE(IsOk(tcp.request("zone.select", {{"zone", "eu-1"}})));

  s.write_config(
      "[[zones]]\nid = \"eu-1\"\ncapacity = 10\nmaintenance = true\n"
      "[[zones]]\nid = \"eu-2\"\nname = \"Europe 2\"\ncapacity = 50\n");
  s.signal(SIGHUP);
  ASSERT_TRUE(s.wait_log("reload: zone eu-2 added", Ms(3000))) << s.log();
  std::map<std::string, json> seen;
  auto take = [&seen](std::optional<json> u) {
    ASSERT_TRUE(u) << "zone.update missing";
    EXPECT_EQ((*u)["seq"], 0);
    seen[(*u)["d"]["zone"]["id"]] = (*u)["d"]["zone"];
  };
  for (int i = 0; i < 2; ++i) take(ws.recv_push("zone.update", Ms(3000)));
  for (int i = 0; i < 2; ++i) take(tcp.recv_push("zone.update", Ms(3000)));
  EXPECT_EQ(seen["eu-1"]["status"], "maintenance");
  EXPECT_EQ(seen["eu-1"]["population"], 1);  // the player inside stays
  EXPECT_EQ(seen["eu-2"]["name"], "Europe 2");
  EXPECT_EQ(seen["eu-2"]["band"], "low");
  EXPECT_TRUE(IsError(ws.request("zone.select", {{"zone", "eu-1"}}), "MAINTENANCE"));
  auto moved = ws.request("zone.select", {{"zone", "eu-2"}});
  ASSERT_TRUE(IsOk(moved));
  EXPECT_EQ(scrape(s.admin_port(), R"(shardd_zone_population{zone="eu-2"})"), 1);
  EXPECT_NE(s.log().find("reload: applied zones"), std::string::npos) << s.log();
}

TEST(Accounts, LiveTokensPerAccountAreCapped) {
  Shard s(account_shard({"auth.max_tokens_per_account=2"}));
  s.start();
  std::vector<std::string> tokens;
  {
    WsClient c;
    connect_ws(c, s.ws_port());
    ASSERT_TRUE(IsOk(register_user(c, "capped")));
  }
  for (int i = 0; i < 3; ++i) {
    WsClient c;
    connect_ws(c, s.ws_port());
    auto li = login(c, "capped");
    ASSERT_TRUE(IsOk(li));
    tokens.push_back((*li)["d"]["token"]);
  }
  auto token_login = [&](const std::string& t) {
    WsClient c;
    connect_ws(c, s.ws_port());
    return c.request("auth.token", {{"token", t}});
  };
  EXPECT_TRUE(IsError(token_login(tokens[0]), "BAD_CREDENTIALS")) << "the oldest was revoked";
  EXPECT_TRUE(IsOk(token_login(tokens[1])));
  EXPECT_TRUE(IsOk(token_login(tokens[2])));
}

}  // namespace
}  // namespace shardd::test
