#pragma once

// The storage backend a test executable runs against, and a GoogleTest
// environment that starts one private MariaDB and one Redis for the whole
// executable when that backend is MySQL. ctest runs such executables twice:
// plain (SQLite + memory cache) and with SHARDD_TEST_BACKEND=mysql.

#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <string_view>

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

  // Null unless the MySQL backend is selected (and SetUp ran).
  MariaDbServer* mysql() const { return mysql_.get(); }
  RedisServer* redis() const { return redis_.get(); }

 private:
  std::unique_ptr<MariaDbServer> mysql_;
  std::unique_ptr<RedisServer> redis_;
};

}  // namespace shardd::test
