// Admin HTTP: health, readiness, Prometheus metrics, token-protected API.

#include "it_common.h"

namespace shardd::test {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

Headers bearer(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }

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
        "shardd_slow_consumer_disconnects_total", "shardd_handler_seconds",
        "shardd_bytes_in_total", "process_resident_memory_bytes", "process_cpu_seconds_total",
        "process_open_fds"}) {
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
  EXPECT_EQ(http_get(shard.admin_port(), "/admin/status",
                     {{"Authorization", "Basic s3cret-token"}})
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

}  // namespace
}  // namespace shardd::test
