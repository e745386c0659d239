// Storage behaviour of the real binary: start-up failures, readiness while
// MySQL is away, and the migrate / backup / restore commands.

#include <filesystem>

#include "it_common.h"
#include "shardd_test/db_servers.h"

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
  Shard s(with_sets({"store.backend=mysql", "mysql.host=127.0.0.1",
                     "mysql.port=" + std::to_string(db.port()),
                     std::string("mysql.user=") + MariaDbServer::kUser,
                     std::string("mysql.password=") + MariaDbServer::kPassword,
                     std::string("mysql.database=") + MariaDbServer::kDatabase,
                     "mysql.connect_timeout_ms=500", "store.connect_retry_max_ms=300",
                     "admin.token=t0ken"}));
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
  EXPECT_TRUE(s.wait_log("migrated: 1", Ms(1000))) << s.log();
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

  auto migrate = shardd({"migrate"});
  EXPECT_EQ(migrate.exit_code, 0) << migrate.err;
  EXPECT_NE(migrate.out.find("applied 1 "), std::string::npos) << migrate.out;
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

}  // namespace
}  // namespace shardd::test
