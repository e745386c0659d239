// Admin HTTP: health, readiness, Prometheus metrics, token-protected API.

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "it_common.h"

namespace shardd::test {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

Headers bearer(const std::string& token) {
  return {{"Authorization", "Bearer " + token}};
}

TEST(Admin, HealthAndReadiness) {
  Shard shard;
  shard.start();
  auto h = http_get(shard.admin_port(), "/healthz");
  EXPECT_EQ(h.status, 200) << h.error;
  EXPECT_EQ(h.body, "ok\n");
  auto r = http_get(shard.admin_port(), "/readyz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(http_get(shard.admin_port(), "/nothing-here").status, 404);
}

TEST(Admin, MetricsExposeTheDocumentedFamilies) {
  Shard shard;
  shard.start();
  auto m = http_get(shard.admin_port(), "/metrics");
  ASSERT_EQ(m.status, 200) << m.error;
  EXPECT_NE(m.header("Content-Type").find("text/plain"), std::string::npos);
  for (const char* family :
       {"shardd_connections", "shardd_sessions", "shardd_messages_in_total",
        "shardd_messages_out_total", "shardd_errors_total", "shardd_rate_limited_total",
        "shardd_slow_consumer_disconnects_total", "shardd_handler_seconds", "shardd_bytes_in_total",
        "process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds"}) {
    EXPECT_TRUE(has_metric_family(m.body, family)) << "missing # TYPE for " << family;
  }
  EXPECT_TRUE(metric_value(m.body, R"(shardd_connections{transport="ws"})"));
  EXPECT_TRUE(metric_value(m.body, R"(shardd_connections{transport="tcp"})"));
  auto rss = metric_value(m.body, "process_resident_memory_bytes");
  ASSERT_TRUE(rss);
  EXPECT_GT(*rss, 1024.0 * 1024.0);
  auto fds = metric_value(m.body, "process_open_fds");
  ASSERT_TRUE(fds);
  EXPECT_GT(*fds, 3.0);
}

TEST(Admin, CountersMoveWithTraffic) {
  Shard shard;
  shard.start();
  auto before = http_get(shard.admin_port(), "/metrics").body;
  auto val = [](const std::string& text, const std::string& series) {
    return metric_value(text, series).value_or(0.0);
  };

  WsClient ws;
  connect_ws(ws, shard.ws_port());
  TcpClient tcp;
  connect_tcp(tcp, shard.tcp_port());
  ASSERT_TRUE(PingWorks(ws));
  ASSERT_TRUE(PingWorks(ws));
  ASSERT_TRUE(PingWorks(tcp));
  ASSERT_TRUE(IsError(ws.request("nope.op"), "UNKNOWN_OP"));
  ASSERT_TRUE(ws.send_text("{broken"));
  ASSERT_TRUE(ws.recv());

  auto m = http_get(shard.admin_port(), "/metrics").body;
  EXPECT_EQ(val(m, R"(shardd_connections{transport="ws"})"), 1.0);
  EXPECT_EQ(val(m, R"(shardd_connections{transport="tcp"})"), 1.0);
  EXPECT_EQ(val(m, "shardd_sessions"), 2.0);
  EXPECT_EQ(val(m, R"(shardd_messages_in_total{op="sys.ping"})") -
                val(before, R"(shardd_messages_in_total{op="sys.ping"})"),
            3.0);
  EXPECT_EQ(val(m, R"(shardd_messages_out_total{op="sys.ping"})"), 3.0);
  EXPECT_EQ(val(m, R"(shardd_messages_out_total{op="sys.hello"})"), 2.0);
  EXPECT_EQ(val(m, R"(shardd_messages_in_total{op="_unknown"})"), 1.0);
  EXPECT_EQ(val(m, R"(shardd_errors_total{code="UNKNOWN_OP"})"), 1.0);
  EXPECT_EQ(val(m, R"(shardd_errors_total{code="BAD_REQUEST"})"), 1.0);
  EXPECT_EQ(val(m, R"(shardd_handler_seconds_count{op="sys.ping"})"), 3.0);
  EXPECT_GT(val(m, R"(shardd_bytes_in_total{transport="ws"})"), 0.0);
  EXPECT_GT(val(m, R"(shardd_bytes_in_total{transport="tcp"})"), 0.0);
  EXPECT_GT(val(m, "process_cpu_seconds_total"), 0.0);

  ws.close();
  tcp.drop();
  EXPECT_TRUE(eventually(
      [&] {
        auto t = http_get(shard.admin_port(), "/metrics").body;
        return val(t, "shardd_sessions") == 0.0 &&
               val(t, R"(shardd_connections{transport="ws"})") == 0.0 &&
               val(t, R"(shardd_connections{transport="tcp"})") == 0.0;
      },
      Ms(3000)))
      << "gauges did not return to 0 after the clients left";
}

TEST(Admin, StatusNeedsTheToken) {
  ShardOptions o;
  o.config_toml = "[server]\nname = \"shardd-it\"\n[admin]\ntoken = \"s3cret-token\"\n";
  Shard shard(o);
  shard.start();
  EXPECT_EQ(http_get(shard.admin_port(), "/admin/status").status, 401);
  EXPECT_EQ(http_get(shard.admin_port(), "/admin/status", bearer("wrong")).status, 401);
  EXPECT_EQ(http_get(shard.admin_port(), "/admin/status", bearer("s3cret-toke")).status, 401);
  EXPECT_EQ(http_get(shard.admin_port(), "/admin/status", {{"Authorization", "Basic s3cret-token"}})
                .status,
            401);

  WsClient ws;
  connect_ws(ws, shard.ws_port());
  auto r = http_get(shard.admin_port(), "/admin/status", bearer("s3cret-token"));
  ASSERT_EQ(r.status, 200) << r.body;
  json j = json::parse(r.body, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.body;
  EXPECT_EQ(j.value("name", ""), "shardd-it");
  EXPECT_EQ(j.value("ready", false), true);
  EXPECT_TRUE(j["not_ready_reason"].is_null()) << r.body;
  EXPECT_GE(j.value("uptime_s", -1), 0);
  EXPECT_EQ(j["store"].value("ready", false), true);
  ASSERT_EQ(j["zones"].size(), 1u) << "zones are listed before anyone logs in";
  EXPECT_EQ(j["zones"][0]["id"], "main");
  EXPECT_EQ(j.value("draining", true), false);
  EXPECT_EQ(j.value("sessions", -1), 1);
  EXPECT_EQ(j.value("pid", 0), shard.pid());
  EXPECT_EQ(j["ports"].value("ws", 0), shard.ws_port());
  EXPECT_EQ(j["ports"].value("tcp", 0), shard.tcp_port());
  EXPECT_EQ(j["ports"].value("admin", 0), shard.admin_port());

  // Metrics stay open unless metrics_require_token is set.
  EXPECT_EQ(http_get(shard.admin_port(), "/metrics").status, 200);
  auto denied = scrape(shard.admin_port(), "shardd_admin_denied_total");
  ASSERT_TRUE(denied);
  EXPECT_EQ(*denied, 4.0);
}

TEST(Admin, StatusForbiddenWhenNoTokenConfigured) {
  Shard shard;
  shard.start();
  EXPECT_EQ(http_get(shard.admin_port(), "/admin/status").status, 403);
  EXPECT_EQ(http_get(shard.admin_port(), "/admin/status", bearer("")).status, 403);
  EXPECT_EQ(http_get(shard.admin_port(), "/admin/status", bearer("anything")).status, 403);
}

TEST(Admin, MetricsCanRequireTheToken) {
  Shard shard(with_sets({"admin.token=metrics-token", "admin.metrics_require_token=true"}));
  shard.start();
  EXPECT_EQ(http_get(shard.admin_port(), "/metrics").status, 401);
  auto r = http_get(shard.admin_port(), "/metrics", bearer("metrics-token"));
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(has_metric_family(r.body, "shardd_sessions"));
  // Health checks never need it.
  EXPECT_EQ(http_get(shard.admin_port(), "/healthz").status, 200);
  EXPECT_EQ(http_get(shard.admin_port(), "/readyz").status, 200);
}

// Wrong JSON types in admin bodies once killed the server (an uncaught
// nlohmann type_error). Each is a 400 naming the field, and the server serves on.
TEST(Admin, WrongJsonTypesInBodiesAre400AndTheServerKeepsServing) {
  Shard shard(with_sets({"admin.token=tok", "auth.scrypt_n=1024"}));
  shard.start();
  WsClient player;
  connect_ws(player, shard.ws_port());
  struct Case {
    const char* path;
    const char* body;
    const char* field;
  };
  const Case cases[] = {
      {"/admin/announce", R"({"text":"x","account_id":"1"})", "account_id"},
      {"/admin/announce", R"({"text":"x","account_id":null})", "account_id"},
      {"/admin/announce", R"({"text":"x","account_id":true})", "account_id"},
      {"/admin/announce", R"({"text":5})", "text"},
      {"/admin/accounts/ban", R"({"account_id":"1","duration_s":60})", "account_id"},
      {"/admin/accounts/ban", R"({"account_id":1,"duration_s":"60"})", "duration_s"},
      {"/admin/accounts/ban", R"({"account_id":1,"until_ms":"60"})", "until_ms"},
      {"/admin/accounts/ban", R"({"account_id":1,"duration_s":60,"reason":5})", "reason"},
      {"/admin/accounts/ban", R"({"username":5,"duration_s":60})", "username"},
      {"/admin/accounts/unban", R"({"account_id":"1"})", "account_id"},
      {"/admin/accounts/unban", R"({"username":5})", "username"},
      {"/admin/sessions/kick", R"({"session_id":"1"})", "session_id"},
  };
  for (const auto& c : cases) {
    auto r = http_request("POST", shard.admin_port(), c.path, c.body, bearer("tok"));
    EXPECT_EQ(r.status, 400) << c.path << " " << c.body << ": " << r.body << r.error;
    EXPECT_NE(r.body.find(std::string("'") + c.field + "'"), std::string::npos)
        << "the answer names the field: " << r.body;
    ASSERT_TRUE(shard.running()) << "died on " << c.path << " " << c.body << "\n" << shard.log();
  }
  EXPECT_TRUE(PingWorks(player)) << "the player's session survived";
  EXPECT_TRUE(FreshClientWorks(shard.ws_port()));
  EXPECT_EQ(http_get(shard.admin_port(), "/metrics").body.find("shardd_internal_errors_total{"),
            std::string::npos);
}

TEST(Admin, BearerSchemeIsCaseInsensitive) {
  Shard shard(with_sets({"admin.token=tok"}));
  shard.start();
  for (const char* scheme : {"Bearer", "bearer", "BEARER"}) {
    auto r = http_get(shard.admin_port(), "/admin/status",
                      {{"Authorization", std::string(scheme) + " tok"}});
    EXPECT_EQ(r.status, 200) << scheme;
  }
  EXPECT_EQ(http_get(shard.admin_port(), "/admin/status", {{"Authorization", "Basic tok"}}).status,
            401);
}

TEST(Admin, HeadIsAnsweredLikeGetWithoutABody) {
  Shard shard;
  shard.start();
  for (uint16_t port : {shard.admin_port(), shard.ws_port()}) {
    auto h = http_request("HEAD", port, "/healthz");
    EXPECT_EQ(h.status, 200) << "port " << port << " " << h.error;
    EXPECT_EQ(h.header("Content-Length"), "3");
    EXPECT_TRUE(h.body.empty());
  }
  EXPECT_EQ(http_request("HEAD", shard.admin_port(), "/readyz").status, 200);
}

TEST(Admin, OversizedBodiesAre413AndOverlongHeadersAre431) {
  Shard shard(with_sets({"admin.token=tok"}));
  shard.start();
  auto big = http_request("POST", shard.admin_port(), "/admin/announce",
                          R"({"text":")" + std::string(70 * 1024, 'x') + R"("})", bearer("tok"));
  EXPECT_EQ(big.status, 413) << big.error;
  std::vector<std::pair<std::string, std::string>> huge = {{"X-Filler", std::string(9000, 'h')}};
  EXPECT_EQ(http_get(shard.admin_port(), "/healthz", huge).status, 431);
  EXPECT_EQ(http_get(shard.ws_port(), "/healthz", huge).status, 431);
  EXPECT_TRUE(FreshClientWorks(shard.ws_port()));
}

TEST(Admin, OpsListsEveryClientOpAndAdminRouteWithItsFields) {
  Shard shard(with_sets({"admin.token=tok"}));
  shard.start();
  auto r = http_get(shard.admin_port(), "/admin/ops", bearer("tok"));
  ASSERT_EQ(r.status, 200) << r.body;
  json j = json::parse(r.body);
  std::set<std::string> ops;
  for (const auto& o : j["ops"]) ops.insert(o["op"].get<std::string>());
  for (const char* op : {"sys.ping", "sys.resume", "auth.register", "auth.login", "auth.token",
                         "auth.logout", "auth.change_password", "account.set_display_name",
                         "account.delete", "zone.list", "zone.select"}) {
    EXPECT_TRUE(ops.count(op)) << op << " missing from " << r.body;
  }
  std::set<std::string> admin;
  for (const auto& a : j["admin"]) {
    admin.insert(a["method"].get<std::string>() + " " + a["path"].get<std::string>());
  }
  for (const char* route :
       {"POST /admin/accounts/ban", "POST /admin/accounts/unban", "GET /admin/accounts/bans",
        "POST /admin/announce", "GET /admin/sessions", "POST /admin/sessions/kick",
        "GET /admin/errors"}) {
    EXPECT_TRUE(admin.count(route)) << route;
  }
  EXPECT_EQ(http_get(shard.admin_port(), "/admin/ops").status, 401);
}

// The one error table: core's codes and the services' own, each once, and
// every one documented in docs/protocol.md.
TEST(Admin, ErrorTableListsCoreAndServiceCodes) {
  Shard shard(with_sets({"admin.token=tok"}));
  shard.start();
  auto r = http_get(shard.admin_port(), "/admin/errors", bearer("tok"));
  ASSERT_EQ(r.status, 200) << r.body;
  json j = json::parse(r.body);
  std::map<std::string, std::string> module_of;
  for (const auto& e : j["errors"]) {
    std::string code = e["code"];
    EXPECT_FALSE(module_of.count(code)) << "listed twice: " << code;
    module_of[code] = e["module"];
    EXPECT_TRUE(e["retryable"].is_boolean());
    EXPECT_FALSE(e["doc"].get<std::string>().empty()) << code;
  }
  EXPECT_EQ(module_of["BAD_REQUEST"], "core");
  EXPECT_EQ(module_of["KICKED"], "core");
  EXPECT_EQ(module_of["BAD_CREDENTIALS"], "account");
  EXPECT_EQ(module_of["MAINTENANCE"], "account");
  EXPECT_FALSE(module_of.count("OK"));
  std::ifstream in(::shardd::test::source_dir() + "/docs/protocol.md");
  std::stringstream doc;
  doc << in.rdbuf();
  for (const auto& [code, module] : module_of) {
    EXPECT_NE(doc.str().find("| `" + code + "`"), std::string::npos) << code << " undocumented";
  }
}

TEST(Admin, SessionsCanBeListedAndKickedWithoutABan) {
  Shard shard(with_sets({"admin.token=tok", "auth.scrypt_n=1024"}));
  shard.start();
  WsClient a;
  connect_ws(a, shard.ws_port());
  ASSERT_TRUE(IsOk(a.request("auth.register", {{"username", "kim"}, {"password", "pass-word-1"}})));
  auto li = a.request("auth.login", {{"username", "kim"}, {"password", "pass-word-1"}});
  ASSERT_TRUE(IsOk(li));
  int64_t account = (*li)["d"]["account_id"];
  TcpClient anon;
  connect_tcp(anon, shard.tcp_port());

  auto all = http_get(shard.admin_port(), "/admin/sessions", bearer("tok"));
  ASSERT_EQ(all.status, 200) << all.body;
  json list = json::parse(all.body);
  EXPECT_EQ(list["sessions"].size(), 2u) << all.body;
  auto mine =
      json::parse(http_get(shard.admin_port(), "/admin/sessions?username=KIM", bearer("tok")).body);
  ASSERT_EQ(mine["sessions"].size(), 1u);
  EXPECT_EQ(mine["sessions"][0]["account_id"], account);
  EXPECT_EQ(mine["sessions"][0]["transport"], "ws");
  EXPECT_EQ(mine["sessions"][0]["remote_ip"], "127.0.0.1");
  EXPECT_EQ(mine["sessions"][0]["state"], "connected");
  auto by_ip = json::parse(
      http_get(shard.admin_port(), "/admin/sessions?ip=127.0.0.1&limit=1", bearer("tok")).body);
  EXPECT_EQ(by_ip["sessions"].size(), 1u);
  EXPECT_EQ(by_ip["truncated"], true);
  auto digits = http_get(shard.admin_port(), "/admin/sessions?username=12345", bearer("tok"));
  EXPECT_EQ(digits.status, 200) << "a name of digits is still a name: " << digits.body;

  auto kick =
      http_request("POST", shard.admin_port(), "/admin/sessions/kick",
                   json{{"account_id", account}, {"msg", "take a break"}}.dump(), bearer("tok"));
  ASSERT_EQ(kick.status, 200) << kick.body;
  auto kicked = a.recv_push("sys.kicked");
  ASSERT_TRUE(kicked);
  EXPECT_EQ((*kicked)["d"]["reason"], "kicked_by_operator");
  EXPECT_EQ((*kicked)["d"]["msg"], "take a break");
  EXPECT_TRUE(a.wait_closed());
  EXPECT_EQ(a.close_code(), 4004);
  EXPECT_TRUE(PingWorks(anon)) << "only that session";
  // Not a ban: the player logs straight back in.
  WsClient again;
  connect_ws(again, shard.ws_port());
  EXPECT_TRUE(
      IsOk(again.request("auth.login", {{"username", "kim"}, {"password", "pass-word-1"}})));
  EXPECT_EQ(http_request("POST", shard.admin_port(), "/admin/sessions/kick",
                         json{{"session_id", 99999}}.dump(), bearer("tok"))
                .status,
            404);
  EXPECT_EQ(
      http_request("POST", shard.admin_port(), "/admin/sessions/kick", "{}", bearer("tok")).status,
      400);
}

// Every metric docs/operations.md lists is exported, and every exported
// family is listed there.
TEST(Admin, MetricsAndTheirDocumentationAgree) {
  Shard shard(with_sets({"auth.scrypt_n=1024"}));
  shard.start();
  {
    WsClient c;  // some traffic, so per-op and per-statement series exist
    connect_ws(c, shard.ws_port());
    ASSERT_TRUE(
        IsOk(c.request("auth.register", {{"username", "metric"}, {"password", "pass-word-1"}})));
    ASSERT_TRUE(
        IsOk(c.request("auth.login", {{"username", "metric"}, {"password", "pass-word-1"}})));
  }
  std::string text = http_get(shard.admin_port(), "/metrics").body;
  std::set<std::string> exported;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("# TYPE ", 0) == 0) exported.insert(line.substr(7, line.find(' ', 7) - 7));
  }
  std::string doc = read_file(::shardd::test::source_dir() + "/docs/operations.md");
  auto from = doc.find("\nMetrics (");
  ASSERT_NE(from, std::string::npos);
  auto to = doc.find("\n## ", from);
  std::set<std::string> documented;
  std::istringstream table(doc.substr(from, to - from));
  for (std::string line; std::getline(table, line);) {
    if (line.rfind("| `", 0) != 0) continue;
    std::string first = line.substr(1, line.find('|', 1) - 1);
    for (size_t p = first.find('`'); p != std::string::npos; p = first.find('`', p)) {
      size_t e = first.find('`', p + 1);
      documented.insert(first.substr(p + 1, e - p - 1));
      p = e + 1;
    }
  }
  // Families that only appear with their first event, or only with Redis.
  const std::set<std::string> on_first_event = {
      "shardd_internal_errors_total", "shardd_db_errors_total", "shardd_cache_backend_errors_total",
      "shardd_cache_reconnects_total"};
  for (const auto& name : exported) {
    EXPECT_TRUE(documented.count(name)) << name << " is exported but not in docs/operations.md";
  }
  for (const auto& name : documented) {
    if (on_first_event.count(name)) continue;
    EXPECT_TRUE(exported.count(name)) << name << " is documented but not exported";
  }
  // Label values are documented too (spot checks of the ones that drifted).
  EXPECT_FALSE(metric_value(text, R"(shardd_errors_total{code="OK"})")) << "OK is not an error";
  EXPECT_TRUE(metric_value(text, "shardd_cache_up")) << "also with the memory cache";
}

}  // namespace
}  // namespace shardd::test
