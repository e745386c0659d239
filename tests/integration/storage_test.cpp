// Storage behaviour of the real binary: start-up failures, readiness while
// MySQL is away, and the migrate / backup / restore commands.

#include <sys/stat.h>

#include <filesystem>

#include "it_common.h"
#include "shardd_test/db_servers.h"
#include "shardd_test/server_guard.h"

namespace shardd::test {
namespace {

TEST(Storage, UnusableSqliteLocationStopsStartupWithTheReason) {
  Shard s(with_sets({"sqlite.path=/nonexistent-shardd-dir/world.db"}));
  s.spawn();
  auto code = s.wait_exit(Ms(10000));
  ASSERT_TRUE(code) << "shardd kept running";
  EXPECT_EQ(*code, 1);
  EXPECT_NE(s.log().find("/nonexistent-shardd-dir does not exist"), std::string::npos) << s.log();
  EXPECT_FALSE(file_exists(s.ports_file()));  // never listened
}

TEST(Storage, MysqlUnreachableAtStartIsNotReadyUntilItComesBack) {
  MariaDbServer db;
  db.start();
  db.stop();  // installed and configured, but down
  Shard s(with_sets(
      {"store.backend=mysql", "mysql.host=127.0.0.1", "mysql.port=" + std::to_string(db.port()),
       std::string("mysql.user=") + MariaDbServer::kUser,
       std::string("mysql.password=") + MariaDbServer::kPassword,
       std::string("mysql.database=") + MariaDbServer::kDatabase, "mysql.connect_timeout_ms=500",
       "store.connect_retry_max_ms=300", "admin.token=t0ken"}));
  s.start();
  EXPECT_EQ(http_get(s.admin_port(), "/readyz").status, 503);
  EXPECT_TRUE(s.wait_log("database unreachable", Ms(5000))) << s.log();
  // Players can still connect (sys.* works); only readiness is withheld.
  WsClient c;
  connect_ws(c, s.ws_port());
  EXPECT_TRUE(PingWorks(c));

  db.start();
  auto deadline = Clock::now() + Ms(20000);
  int status = 0;
  while (Clock::now() < deadline && (status = http_get(s.admin_port(), "/readyz").status) != 200) {
    std::this_thread::sleep_for(Ms(100));
  }
  EXPECT_EQ(status, 200) << s.log();
  EXPECT_TRUE(s.wait_log("migrated: store 1", Ms(1000))) << s.log();
  auto db_up = scrape(s.admin_port(), "shardd_db_up");
  ASSERT_TRUE(db_up);
  EXPECT_EQ(*db_up, 1);
}

TEST(Storage, MigrateBackupAndRestoreCommands) {
  TempDir dir;
  std::string config = dir.write("shardd.toml", "[server]\ndata_dir = \"" + dir.file("a") + "\"\n");
  auto shardd = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {shardd_binary(), "-c", config};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, Ms(20000));
  };
  auto status = shardd({"migrate", "--status"});
  EXPECT_EQ(status.exit_code, 0) << status.err;
  EXPECT_NE(status.out.find("pending"), std::string::npos) << status.out;
  // Each module numbers its own migrations: the store's, then the services'.
  EXPECT_NE(status.out.find("store 1  pending"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("account 2  pending  display names"), std::string::npos) << status.out;

  auto migrate = shardd({"migrate"});
  EXPECT_EQ(migrate.exit_code, 0) << migrate.err;
  EXPECT_NE(migrate.out.find("applied store 1 (idempotency keys"), std::string::npos)
      << migrate.out;
  EXPECT_NE(migrate.out.find("applied account 1 (accounts and login tokens)"), std::string::npos)
      << migrate.out;
  EXPECT_LT(migrate.out.find("applied store 1"), migrate.out.find("applied account 1"))
      << "the store's own migrations run first";
  auto again = shardd({"migrate"});
  EXPECT_NE(again.out.find("schema is up to date"), std::string::npos) << again.out;

  std::string backup = dir.file("backup.db");
  auto b = shardd({"backup", "--out", backup});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_TRUE(file_exists(backup));

  // Restoring into the same (non-empty) database is refused.
  auto refused = shardd({"restore", "--in", backup});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("not empty"), std::string::npos) << refused.err;

  // Into an empty data dir it works and the schema comes back.
  auto r = shardd({"--set", "server.data_dir=" + dir.file("b"), "restore", "--in", backup});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto st = shardd({"--set", "server.data_dir=" + dir.file("b"), "migrate", "--status"});
  EXPECT_EQ(st.exit_code, 0) << st.err;
  EXPECT_NE(st.out.find("applied"), std::string::npos) << st.out;
  EXPECT_EQ(st.out.find("pending"), std::string::npos) << st.out;

  auto missing = shardd({"restore", "--in", dir.file("nope.db")});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("cannot read"), std::string::npos) << missing.err;
}

// A shardd on a private MariaDB (and Redis, when given), with quick
// reconnect settings and cheap password hashing.
ShardOptions on_mariadb(const MariaDbServer& db, const RedisServer* redis,
                        std::vector<std::string> extra = {}) {
  std::vector<std::string> sets = {"store.backend=mysql",
                                   "mysql.host=127.0.0.1",
                                   "mysql.port=" + std::to_string(db.port()),
                                   std::string("mysql.user=") + MariaDbServer::kUser,
                                   std::string("mysql.password=") + MariaDbServer::kPassword,
                                   std::string("mysql.database=") + MariaDbServer::kDatabase,
                                   "mysql.connect_timeout_ms=500",
                                   "store.connect_retry_max_ms=400",
                                   "admin.token=t0ken",
                                   "auth.scrypt_n=1024"};
  if (redis) {
    sets.push_back("cache.backend=redis");
    sets.push_back("redis.port=" + std::to_string(redis->port()));
    sets.push_back("redis.retry_max_ms=200");
  }
  for (auto& e : extra) sets.push_back(std::move(e));
  return with_sets(std::move(sets));
}

struct Readiness {
  int readyz = 0;
  bool status_ready = false;
  bool store_ready = false;
  double ready_gauge = -1;
  double db_up = -1;
};

Readiness readiness(const Shard& s) {
  Readiness r;
  r.readyz = http_get(s.admin_port(), "/readyz").status;
  auto st = http_get(s.admin_port(), "/admin/status", {{"Authorization", "Bearer t0ken"}});
  json j = json::parse(st.body, nullptr, false);
  if (j.is_object()) {
    r.status_ready = j.value("ready", false);
    r.store_ready = j["store"].value("ready", false);
  }
  std::string m = http_get(s.admin_port(), "/metrics").body;
  r.ready_gauge = metric_value(m, "shardd_ready").value_or(-1);
  r.db_up = metric_value(m, "shardd_db_up").value_or(-1);
  return r;
}

::testing::AssertionResult AllSay(const Readiness& r, bool ready) {
  bool ok = (r.readyz == 200) == ready && r.status_ready == ready && r.store_ready == ready &&
            r.ready_gauge == (ready ? 1 : 0) && r.db_up == (ready ? 1 : 0);
  if (ok) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "readyz " << r.readyz << ", status.ready " << r.status_ready << ", store.ready "
         << r.store_ready << ", shardd_ready " << r.ready_gauge << ", shardd_db_up " << r.db_up;
}

// Every readiness signal agrees with the database, at start and both ways
// through an outage; storage requests fail fast with retry_after_ms while it
// is down and reconnects back off; a zone.select whose write is lost is not
// reported as done.
TEST(Storage, ReadinessFollowsMariaDbBothWays) {
  MariaDbServer db;
  db.start();
  db.stop();  // down at start
  RestartGuard restart(db);
  Shard s(on_mariadb(db, nullptr));
  s.start();
  EXPECT_TRUE(AllSay(readiness(s), false));
  EXPECT_TRUE(s.wait_log("not ready: database", Ms(5000))) << s.log();
  EXPECT_EQ(s.count_log("ready: ws="), 0u) << "never logged ready while the database is down";

  db.start();
  EXPECT_TRUE(eventually([&] { return AllSay(readiness(s), true); }, Ms(20000)))
      << AllSay(readiness(s), true) << s.log();
  EXPECT_TRUE(s.wait_log("ready: ws=", Ms(2000)));

  WsClient c;
  connect_ws(c, s.ws_port());
  ASSERT_TRUE(
      IsOk(c.request("auth.register", {{"username", "outage"}, {"password", "pass-word-1"}})));
  ASSERT_TRUE(IsOk(c.request("auth.login", {{"username", "outage"}, {"password", "pass-word-1"}})));

  db.kill_hard();
  EXPECT_TRUE(eventually([&] { return AllSay(readiness(s), false); }, Ms(5000)))
      << AllSay(readiness(s), false);
  auto failures_now = [&] {
    return scrape(s.admin_port(), "shardd_db_connect_failures_total").value_or(0);
  };
  double failures_before = failures_now();
  auto outage_start = Clock::now();
  // Under traffic: every request answers UNAVAILABLE at once, with a hint.
  for (int i = 0; i < 50; ++i) {
    auto r = c.request("zone.select", {{"zone", "main"}});
    ASSERT_TRUE(IsError(r, "UNAVAILABLE")) << r->dump();
    ASSERT_TRUE((*r)["err"]["retry_after_ms"].is_number()) << r->dump();
    EXPECT_LE((*r)["err"]["retry_after_ms"].get<int64_t>(), 400);
  }
  EXPECT_EQ(scrape(s.admin_port(), R"(shardd_zone_population{zone="main"})"), 0)
      << "the failed select left no player in the zone";
  // Probing goes on in the background (two more failed probes), at the
  // backoff's pace: the 50 requests above did not each try to connect. The
  // bound scales with the time the window took (probes are at least 100 ms
  // apart, backing off to 400 ms), so a slow sanitizer run cannot break it.
  EXPECT_TRUE(eventually([&] { return failures_now() >= failures_before + 2; }, Ms(10000)));
  double failures = failures_now() - failures_before;
  auto window_ms = std::chrono::duration_cast<Ms>(Clock::now() - outage_start).count();
  EXPECT_LE(failures, 3 + window_ms / 100.0)
      << "one probe with backoff, not a connection per request (" << window_ms << " ms)";

  db.start();
  EXPECT_TRUE(eventually([&] { return AllSay(readiness(s), true); }, Ms(20000)))
      << AllSay(readiness(s), true);
  auto ok = c.request("zone.select", {{"zone", "main"}});
  EXPECT_TRUE(IsOk(ok)) << ok->dump();
  EXPECT_EQ(scrape(s.admin_port(), "shardd_db_up"), 1);
}

// With Redis, logins and lookups go through it; killing it changes nothing a
// client sees (reads go to the database) and cache_up tells the truth.
TEST(Storage, RedisCacheIsUsedAndItsLossIsInvisibleToClients) {
  MariaDbServer db;
  db.start();
  RedisServer redis;
  redis.start();
  RestartGuard restart(redis);
  Shard s(on_mariadb(db, &redis));
  s.start();
  EXPECT_EQ(scrape(s.admin_port(), "shardd_cache_up"), 1);
  EXPECT_TRUE(s.wait_log("redis: connected", Ms(2000))) << s.log();
  WsClient c;
  connect_ws(c, s.ws_port());
  ASSERT_TRUE(
      IsOk(c.request("auth.register", {{"username", "cachy"}, {"password", "pass-word-1"}})));
  auto li = c.request("auth.login", {{"username", "cachy"}, {"password", "pass-word-1"}});
  ASSERT_TRUE(IsOk(li));
  std::string token = (*li)["d"]["token"];
  auto token_login = [&] {
    WsClient t;
    connect_ws(t, s.ws_port());
    return t.request("auth.token", {{"token", token}});
  };
  ASSERT_TRUE(IsOk(token_login()));
  EXPECT_GT(scrape(s.admin_port(), R"(shardd_cache_requests_total{result="hit"})").value_or(0), 0);

  redis.kill_hard();
  ASSERT_TRUE(IsOk(token_login())) << "token login without Redis";
  WsClient d;
  connect_ws(d, s.ws_port());
  ASSERT_TRUE(
      IsOk(d.request("auth.register", {{"username", "nocache"}, {"password", "pass-word-1"}})));
  ASSERT_TRUE(
      IsOk(d.request("auth.login", {{"username", "nocache"}, {"password", "pass-word-1"}})));
  ASSERT_TRUE(IsOk(d.request("zone.select", {{"zone", "main"}})));
  EXPECT_TRUE(eventually([&] { return scrape(s.admin_port(), "shardd_cache_up") == 0; }, Ms(3000)));
  EXPECT_GT(scrape(s.admin_port(), R"(shardd_cache_requests_total{result="error"})").value_or(0),
            0);
  EXPECT_TRUE(s.wait_log("cache bypassed", Ms(1000))) << s.log();
  EXPECT_TRUE(AllSay(readiness(s), true)) << "the cache is not needed to be ready";

  redis.start();
  EXPECT_TRUE(eventually([&] { return scrape(s.admin_port(), "shardd_cache_up") == 1; }, Ms(5000)));
  ASSERT_TRUE(IsOk(token_login()));
  // A MariaDB backup is private to its owner too, whatever the umask.
  std::vector<std::string> argv = {"/bin/sh", "-c", ""};
  std::string cmd = "umask 000; exec " + shardd_binary() + " -c " + s.config_path();
  for (const auto& o : on_mariadb(db, nullptr).overrides) cmd += " --set '" + o + "'";
  std::string out = s.dir().file("dump.sql");
  cmd += " backup --out " + out;
  argv[2] = cmd;
  auto b = run_command(argv, Ms(30000));
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_EQ(std::filesystem::status(out).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  EXPECT_NE(read_file(out).find("CREATE TABLE"), std::string::npos);
}

TEST(Storage, AClosedRedisPortIsReportedFromTheStart) {
  MariaDbServer db;
  db.start();
  RedisServer redis;
  redis.start();
  redis.stop();  // nothing listens there now
  Shard s(on_mariadb(db, &redis));
  s.start();
  EXPECT_EQ(scrape(s.admin_port(), "shardd_cache_up"), 0);
  EXPECT_TRUE(s.wait_log("unreachable at start", Ms(2000))) << s.log();
  WsClient c;
  connect_ws(c, s.ws_port());
  ASSERT_TRUE(
      IsOk(c.request("auth.register", {{"username", "nored"}, {"password", "pass-word-1"}})));
  EXPECT_TRUE(IsOk(c.request("auth.login", {{"username", "nored"}, {"password", "pass-word-1"}})));
}

// migrate --status reads only: no data directory, database or table appears,
// so a restore can still follow it.
TEST(Storage, MigrateStatusCreatesNothing) {
  TempDir dir;
  std::string data = dir.file("fresh");
  std::string config = dir.write("shardd.toml", "[server]\ndata_dir = \"" + data + "\"\n");
  auto shardd = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {shardd_binary(), "-c", config};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, Ms(20000));
  };
  auto st = shardd({"migrate", "--status"});
  EXPECT_EQ(st.exit_code, 0) << st.err;
  EXPECT_NE(st.out.find("pending"), std::string::npos) << st.out;
  EXPECT_FALSE(std::filesystem::exists(data)) << "migrate --status created the data dir";

  // A backup from elsewhere restores into it afterwards.
  std::string other = dir.write("other.toml", "[server]\ndata_dir = \"" + dir.file("src") + "\"\n");
  ASSERT_EQ(run_command({shardd_binary(), "-c", other, "migrate"}, Ms(20000)).exit_code, 0);
  std::string backup = dir.file("b.db");
  ASSERT_EQ(
      run_command({shardd_binary(), "-c", other, "backup", "--out", backup}, Ms(20000)).exit_code,
      0);
  std::filesystem::create_directories(data);
  auto st2 = shardd({"migrate", "--status"});
  EXPECT_EQ(st2.exit_code, 0);
  EXPECT_FALSE(std::filesystem::exists(data + "/shardd.db")) << "no database file either";
  auto r = shardd({"restore", "--in", backup});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

// The database, its WAL files, backups and the data directory are private
// to the owner whatever the umask.
TEST(Storage, DatabaseAndBackupFilesArePrivate) {
  TempDir dir;
  std::string data = dir.file("d");
  std::string config = dir.write("shardd.toml", "[server]\ndata_dir = \"" + data + "\"\n");
  std::string backup = dir.file("backup.db");
  std::string script = "umask 000; " + shardd_binary() + " -c " + config + " migrate && " +
                       shardd_binary() + " -c " + config + " backup --out " + backup;
  auto r = run_command({"/bin/sh", "-c", script}, Ms(30000));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  namespace fs = std::filesystem;
  auto mode = [](const std::string& p) { return fs::status(p).permissions() & fs::perms::all; };
  EXPECT_EQ(mode(data), fs::perms::owner_all);
  EXPECT_EQ(mode(data + "/shardd.db"), fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(mode(backup), fs::perms::owner_read | fs::perms::owner_write);
  // The WAL files take the database file's mode (while a server runs).
  Shard s(with_sets({"server.data_dir=" + data}));
  mode_t old = ::umask(0);  // the child inherits it
  s.start();
  ::umask(old);
  for (const char* f : {"/shardd.db-wal", "/shardd.db-shm"}) {
    ASSERT_TRUE(fs::exists(data + f)) << f;
    EXPECT_EQ(mode(data + f), fs::perms::owner_read | fs::perms::owner_write) << f;
  }
}

}  // namespace
}  // namespace shardd::test
