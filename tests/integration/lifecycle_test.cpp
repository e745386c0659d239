// Process lifecycle: drain on SIGTERM/SIGINT, SIGHUP reload, sd_notify.

#include <csignal>

#include "it_common.h"

namespace shardd::test {
namespace {

TEST(Lifecycle, SigtermDrainsEverySession) {
  Shard shard(with_sets({"server.reconnect_after_ms=4321"}));
  shard.start();
  WsClient ws;
  connect_ws(ws, shard.ws_port());
  ASSERT_TRUE(PingWorks(ws));
  TcpClient tcp;
  connect_tcp(tcp, shard.tcp_port());
  ASSERT_TRUE(PingWorks(tcp));
  ASSERT_TRUE(file_exists(shard.ports_file()));

  shard.signal(SIGTERM);

  auto shutdown = ws.recv_push("sys.shutdown", Ms(3000));
  ASSERT_TRUE(shutdown) << "no sys.shutdown over WebSocket";
  EXPECT_EQ((*shutdown)["d"]["reason"], "server shutting down");
  EXPECT_EQ((*shutdown)["d"]["reconnect_after_ms"], 4321);
  auto close = ws.recv_push("sys.close", Ms(3000));
  ASSERT_TRUE(close);
  EXPECT_EQ((*close)["d"]["code"], "SHUTTING_DOWN");
  // recv_push skips what came before: sys.close arrived after sys.shutdown.
  // Neither is replayable, so neither takes a push number.
  EXPECT_EQ((*shutdown)["seq"], 0);
  EXPECT_EQ((*close)["seq"], 0);
  ASSERT_TRUE(ws.wait_closed(Ms(3000)));
  EXPECT_EQ(ws.close_code(), 1001);

  auto tshutdown = tcp.recv_push("sys.shutdown", Ms(3000));
  ASSERT_TRUE(tshutdown) << "no sys.shutdown over TCP";
  auto tclose = tcp.recv_push("sys.close", Ms(3000));
  ASSERT_TRUE(tclose);
  EXPECT_EQ((*tclose)["d"]["code"], "SHUTTING_DOWN");
  EXPECT_TRUE(tcp.wait_closed(Ms(3000)));
  tcp.drop();

  auto code = shard.wait_exit(Ms(5000));
  ASSERT_TRUE(code) << "shardd did not exit after the drain";
  EXPECT_EQ(*code, 0);
  EXPECT_FALSE(file_exists(shard.ports_file())) << "ports file left behind";
  EXPECT_NE(shard.log().find("draining"), std::string::npos);
}

TEST(Lifecycle, SigintAlsoDrains) {
  Shard shard;
  shard.start();
  WsClient ws;
  connect_ws(ws, shard.ws_port());
  shard.signal(SIGINT);
  EXPECT_TRUE(ws.recv_push("sys.shutdown", Ms(3000)));
  EXPECT_TRUE(ws.wait_closed(Ms(3000)));
  EXPECT_EQ(ws.close_code(), 1001);
  auto code = shard.wait_exit(Ms(5000));
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 0);
}

TEST(Lifecycle, ReadyzIs503AndNewClientsAreRefusedDuringDrain) {
  // A TCP client that never closes its side holds the drain open until the
  // close deadline (handshake_timeout_ms).
  Shard shard(with_sets({"limits.handshake_timeout_ms=2500", "server.shutdown_deadline_ms=8000"}));
  shard.start();
  EXPECT_EQ(http_get(shard.admin_port(), "/readyz").status, 200);
  TcpClient stubborn;
  connect_tcp(stubborn, shard.tcp_port());

  auto start = Clock::now();
  shard.signal(SIGTERM);
  ASSERT_TRUE(stubborn.recv_push("sys.shutdown", Ms(3000)));
  EXPECT_TRUE(
      eventually([&] { return http_get(shard.admin_port(), "/readyz").status == 503; }, Ms(2000)))
      << "/readyz did not turn 503 during the drain";
  EXPECT_TRUE(shard.running()) << "exited before the stubborn client was closed";
  EXPECT_EQ(http_get(shard.admin_port(), "/healthz").status, 200) << "admin gone during drain";
  EXPECT_FALSE(port_accepts(shard.ws_port())) << "still accepting WebSocket clients";
  EXPECT_FALSE(port_accepts(shard.tcp_port())) << "still accepting TCP clients";
  auto ready = scrape(shard.admin_port(), "shardd_ready");
  ASSERT_TRUE(ready);
  EXPECT_EQ(*ready, 0.0);

  auto code = shard.wait_exit(Ms(8000));
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 0);
  auto took = elapsed_ms(start);
  EXPECT_GE(took, 2000) << "did not wait for the client";
  EXPECT_LE(took, 6000);
}

TEST(Lifecycle, ShutdownDeadlineBoundsTheDrain) {
  Shard shard(with_sets({"limits.handshake_timeout_ms=30000", "server.shutdown_deadline_ms=1000"}));
  shard.start();
  TcpClient stubborn;
  connect_tcp(stubborn, shard.tcp_port());
  WsClient ws;
  connect_ws(ws, shard.ws_port());
  ws.pause_reading();  // never answers the close frame
  auto start = Clock::now();
  shard.signal(SIGTERM);
  auto code = shard.wait_exit(Ms(6000));
  auto took = elapsed_ms(start);
  ASSERT_TRUE(code) << "shardd ignored shutdown_deadline_ms";
  EXPECT_EQ(*code, 0);
  EXPECT_GE(took, 900);
  EXPECT_LE(took, 3500);
  EXPECT_NE(shard.log().find("drain deadline reached"), std::string::npos);
}

std::string reload_config(const std::string& limits) {
  return "[server]\nname = \"shardd-it\"\n[limits]\n" + limits;
}

TEST(Lifecycle, SighupAppliesLiveLimitsAndRejectsInvalidFiles) {
  ShardOptions o;
  o.config_toml = reload_config("max_frame_bytes = 65536\n");
  Shard shard(o);
  shard.start();
  std::string payload(2000, 'p');

  WsClient before;
  connect_ws(before, shard.ws_port());
  ASSERT_TRUE(IsOk(before.request("sys.ping", {{"t", payload}})));
  TcpClient tcp;
  connect_tcp(tcp, shard.tcp_port());

  // 1. A valid change is applied live and logged.
  shard.write_config(reload_config("max_frame_bytes = 1024\n"));
  shard.signal(SIGHUP);
  ASSERT_TRUE(shard.wait_log("reload: applied limits.max_frame_bytes: 65536 -> 1024", Ms(3000)))
      << "no reload log line";
  EXPECT_TRUE(shard.running());
  EXPECT_TRUE(PingWorks(before)) << "reload dropped an existing session";

  WsClient after;
  ASSERT_TRUE(after.connect(shard.ws_port())) << after.error();
  auto hello = after.recv_push("sys.hello");
  ASSERT_TRUE(hello);
  EXPECT_EQ((*hello)["d"]["max_frame"], 1024);
  after.send_json({{"op", "sys.ping"}, {"rid", 1}, {"d", {{"t", payload}}}});  // may be cut short
  ASSERT_TRUE(after.wait_closed(Ms(3000))) << "new limit not enforced";
  EXPECT_EQ(after.close_code(), 1009);
  // Existing TCP sessions see the new limit too.
  tcp.send_json({{"op", "sys.ping"}, {"rid", 1}, {"d", {{"t", payload}}}});  // may be cut short
  auto tclose = tcp.recv_push("sys.close", Ms(3000));
  ASSERT_TRUE(tclose);
  EXPECT_EQ((*tclose)["d"]["code"], "TOO_LARGE");

  // 2. An invalid file is rejected and the running values stay.
  shard.write_config(reload_config("max_frame_bytes = \"huge\"\nbogus_key = 1\n"));
  shard.signal(SIGHUP);
  ASSERT_TRUE(shard.wait_log("reload rejected", Ms(3000))) << "invalid reload not reported";
  EXPECT_NE(shard.log().find("limits.max_frame_bytes"), std::string::npos);
  EXPECT_NE(shard.log().find("limits.bogus_key"), std::string::npos);
  EXPECT_TRUE(shard.running()) << "an invalid reload killed the server";
  WsClient still;
  ASSERT_TRUE(still.connect(shard.ws_port())) << still.error();
  hello = still.recv_push("sys.hello");
  ASSERT_TRUE(hello);
  EXPECT_EQ((*hello)["d"]["max_frame"], 1024) << "rejected reload changed the limits";
  EXPECT_TRUE(PingWorks(still));

  auto reloads = scrape(shard.admin_port(), "shardd_config_reloads_total");
  auto failures = scrape(shard.admin_port(), "shardd_config_reload_failures_total");
  ASSERT_TRUE(reloads && failures);
  EXPECT_EQ(*reloads, 1.0);
  EXPECT_EQ(*failures, 1.0);

  // 3. Not valid TOML at all: rejected as well.
  shard.write_config("[limits\nmax_frame_bytes = ");
  shard.signal(SIGHUP);
  EXPECT_TRUE(eventually(
      [&] {
        auto f = scrape(shard.admin_port(), "shardd_config_reload_failures_total");
        return f && *f == 2.0;
      },
      Ms(3000)));
  EXPECT_TRUE(FreshClientWorks(shard.ws_port()));
}

TEST(Lifecycle, SighupReloadsOriginsAndAdminToken) {
  ShardOptions o;
  o.config_toml = "[server]\nname = \"shardd-it\"\n[admin]\ntoken = \"first\"\n";
  Shard shard(o);
  shard.start();
  WsOptions site;
  site.origin = "https://site.example";
  {
    WsClient c;
    EXPECT_TRUE(c.connect(shard.ws_port(), site)) << "empty allow-list must allow any origin";
  }
  auto bearer = [](const std::string& t) {
    return std::vector<std::pair<std::string, std::string>>{{"Authorization", "Bearer " + t}};
  };
  EXPECT_EQ(http_get(shard.admin_port(), "/admin/status", bearer("first")).status, 200);

  shard.write_config(
      "[server]\nname = \"shardd-it\"\n[admin]\ntoken = \"second\"\n[ws]\nallowed_origins = "
      "[\"https://other.example\"]\n");
  shard.signal(SIGHUP);
  ASSERT_TRUE(shard.wait_log("reload: applied ws.allowed_origins", Ms(3000)));
  ASSERT_TRUE(shard.wait_log("reload: applied admin.token", Ms(3000)));
  EXPECT_EQ(http_get(shard.admin_port(), "/admin/status", bearer("first")).status, 401);
  EXPECT_EQ(http_get(shard.admin_port(), "/admin/status", bearer("second")).status, 200);
  WsClient c;
  EXPECT_FALSE(c.connect(shard.ws_port(), site));
  EXPECT_EQ(c.http_status(), 403);
  EXPECT_EQ(shard.log().find("second"), std::string::npos) << "the admin token leaked to the log";
}

TEST(Lifecycle, SdNotifyReadyWatchdogReloadingStopping) {
  TempDir tmp;
  NotifySocket notify(tmp.file("notify.sock"));
  ShardOptions o;
  o.env = {{"NOTIFY_SOCKET", notify.path()}, {"WATCHDOG_USEC", "200000"}};
  Shard shard(o);
  shard.start();
  ASSERT_TRUE(notify.wait_for("READY=1", Ms(3000))) << "no READY=1";
  // Watchdog every WATCHDOG_USEC/2 = 100 ms.
  auto start = Clock::now();
  size_t first = notify.count("WATCHDOG=1");
  ASSERT_TRUE(notify.wait_for("WATCHDOG=1", Ms(3000), first + 5)) << "too few WATCHDOG=1";
  auto took = elapsed_ms(start);
  EXPECT_LE(took, 1500) << "5 watchdog pings took " << took << " ms (expected ~500)";
  EXPECT_GE(took, 250) << "watchdog pings far too frequent";

  shard.signal(SIGHUP);
  ASSERT_TRUE(notify.wait_for("RELOADING=1", Ms(3000)));
  ASSERT_TRUE(notify.wait_for("READY=1", Ms(3000), 2)) << "no READY=1 after the reload";
  int reloading = notify.index_of("RELOADING=1");
  int ready2 = notify.index_of("READY=1", static_cast<size_t>(notify.index_of("READY=1") + 1));
  EXPECT_LT(reloading, ready2);

  shard.signal(SIGTERM);
  ASSERT_TRUE(notify.wait_for("STOPPING=1", Ms(3000))) << "no STOPPING=1";
  auto code = shard.wait_exit(Ms(5000));
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 0);
}

TEST(Lifecycle, NoWatchdogPingsWithoutWatchdogUsec) {
  TempDir tmp;
  NotifySocket notify(tmp.file("notify.sock"));
  ShardOptions o;
  o.env = {{"NOTIFY_SOCKET", notify.path()}};
  Shard shard(o);
  shard.start();
  ASSERT_TRUE(notify.wait_for("READY=1", Ms(3000)));
  notify.collect(Ms(400));
  EXPECT_EQ(notify.count("WATCHDOG=1"), 0u);
}

// A reload to KDF parameters the KDF cannot use is refused: accounts keep
// logging in (once, such a reload rehashed passwords into garbage).
TEST(Lifecycle, SighupToAnInvalidScryptNIsRefusedAndAccountsKeepWorking) {
  ShardOptions o;
  o.config_toml = "[server]\nname = \"shardd-it\"\n[auth]\nscrypt_n = 1024\n";
  Shard shard(o);
  shard.start();
  WsClient c;
  connect_ws(c, shard.ws_port());
  json creds = {{"username", "hashed"}, {"password", "pass-word-1"}};
  ASSERT_TRUE(IsOk(c.request("auth.register", creds)));
  shard.write_config("[server]\nname = \"shardd-it\"\n[auth]\nscrypt_n = 3000\n");
  shard.signal(SIGHUP);
  ASSERT_TRUE(shard.wait_log("reload rejected", Ms(3000))) << shard.log();
  EXPECT_NE(shard.log().find("auth.scrypt_n: must be a power of two"), std::string::npos);
  for (int i = 0; i < 2; ++i) {  // the second login would see a broken rehash
    ASSERT_TRUE(IsOk(c.request("auth.login", creds))) << i;
    ASSERT_TRUE(IsOk(c.request("auth.logout")));
  }
  // A valid change of N rehashes at the next login, and the account still works.
  shard.write_config("[server]\nname = \"shardd-it\"\n[auth]\nscrypt_n = 2048\n");
  shard.signal(SIGHUP);
  ASSERT_TRUE(shard.wait_log("reload: applied auth.scrypt_n: 1024 -> 2048", Ms(3000)));
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(IsOk(c.request("auth.login", creds))) << i;
    ASSERT_TRUE(IsOk(c.request("auth.logout")));
  }
}

}  // namespace
}  // namespace shardd::test
