#pragma once

// The storage backend a test executable runs against, and a GoogleTest
// environment that starts one private MariaDB and one Redis for the whole
// executable when that backend is MySQL. ctest runs such executables twice:
// plain (SQLite + memory cache) and with SHARDD_TEST_BACKEND=mysql.

#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <unistd.h>
#include <vector>

#include "shardd_test/db_servers.h"

namespace shardd::test {

inline bool use_mysql_backend() {
  const char* b = std::getenv("SHARDD_TEST_BACKEND");
  return b != nullptr && std::string_view(b) == "mysql";
}

class DbServersEnv : public ::testing::Environment {
 public:
  // Registers the environment with GoogleTest (which owns it).
  static DbServersEnv* install() {
    return static_cast<DbServersEnv*>(::testing::AddGlobalTestEnvironment(new DbServersEnv));
  }

  void SetUp() override {
    if (!use_mysql_backend()) return;
    mysql_ = std::make_unique<MariaDbServer>();
    mysql_->start();
    redis_ = std::make_unique<RedisServer>();
    redis_->start();
  }
  void TearDown() override {
    mysql_.reset();
    redis_.reset();
  }

  // The --set items that put a shardd on the selected backend: none for
  // SQLite + memory; for MySQL, a fresh database (named after `prefix`, this
  // process and a counter) on the shared MariaDB and a matching Redis key
  // prefix.
  std::vector<std::string> backend_overrides(const std::string& prefix) {
    if (!mysql_) return {};
    std::string db = prefix + "_" + std::to_string(getpid()) + "_" + std::to_string(++databases_);
    mysql_->admin_sql("CREATE DATABASE " + db + " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin");
    mysql_->admin_sql("GRANT ALL ON " + db + ".* TO '" + MariaDbServer::kUser + "'@'%'");
    return {"store.backend=mysql",
            "mysql.host=127.0.0.1",
            "mysql.port=" + std::to_string(mysql_->port()),
            std::string("mysql.user=") + MariaDbServer::kUser,
            std::string("mysql.password=") + MariaDbServer::kPassword,
            "mysql.database=" + db,
            "cache.backend=redis",
            "redis.port=" + std::to_string(redis_->port()),
            "redis.key_prefix=" + db + ":"};
  }

  // Null unless the MySQL backend is selected (and SetUp ran).
  MariaDbServer* mysql() const { return mysql_.get(); }
  RedisServer* redis() const { return redis_.get(); }

 private:
  std::unique_ptr<MariaDbServer> mysql_;
  std::unique_ptr<RedisServer> redis_;
  int databases_ = 0;
};

}  // namespace shardd::test
