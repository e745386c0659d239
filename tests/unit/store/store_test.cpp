// The storage layer against real backends. The backend comes from the
// environment: SHARDD_TEST_BACKEND=sqlite (SQLite + memory cache, default) or
// mysql (a private MariaDB + a private Redis, started by this executable).
// ctest runs the executable once per backend.

#include "shardd/store/store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <future>
#include <thread>

#include "shardd/core/worker_pool.h"
#include "shardd/store/objects.h"
#include "shardd_test/db_env.h"
#include "shardd_test/server_guard.h"

namespace shardd::store {
namespace {

using namespace std::chrono_literals;
using test::MariaDbServer;
using test::RedisServer;

bool use_mysql() { return test::use_mysql_backend(); }

// MariaDB and Redis, started once for the whole executable (MySQL backend only).
test::DbServersEnv* const g_servers = test::DbServersEnv::install();

constexpr Stmt kCountObjects{"test.count", "SELECT count(*) FROM storage_objects"};
constexpr Stmt kInsertRaw{"test.insert",
                          "INSERT INTO storage_objects (collection, obj_key, owner_id, value, "
                          "version, updated_ms) VALUES (?, ?, ?, ?, 1, 0)"};
constexpr Stmt kAddToValue{"test.add",
                           "UPDATE storage_objects SET version = version + ? WHERE collection = "
                           "? AND obj_key = ? AND owner_id = 0"};
constexpr Stmt kAllRows{"test.all",
                        "SELECT collection, obj_key, owner_id, value, version FROM "
                        "storage_objects ORDER BY collection, obj_key, owner_id"};
constexpr Stmt kVersionOf{"test.version",
                          "SELECT version FROM storage_objects WHERE collection = ? AND "
                          "obj_key = ? AND owner_id = 0"};

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tmp_ = std::filesystem::temp_directory_path() /
           ("shardd-store-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(tmp_);
    std::filesystem::create_directories(tmp_);
    config_.server.data_dir = tmp_.string();
    config_.store.pool_wait_ms = 3000;
    config_.store.connect_retry_max_ms = 500;
    config_.cache.negative_ttl_ms = 60000;
    if (use_mysql()) {
      g_servers->mysql()->admin_sql(std::string("DROP DATABASE IF EXISTS ") + MariaDbServer::kDatabase);
      g_servers->mysql()->admin_sql(std::string("CREATE DATABASE ") + MariaDbServer::kDatabase +
                         " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin");
      config_.store.backend = "mysql";
      config_.mysql.host = "127.0.0.1";
      config_.mysql.port = g_servers->mysql()->port();
      config_.mysql.user = MariaDbServer::kUser;
      config_.mysql.password = MariaDbServer::kPassword;
      config_.mysql.database = MariaDbServer::kDatabase;
      config_.mysql.connect_timeout_ms = 1000;
      config_.mysql.io_timeout_ms = 3000;
      config_.cache.backend = "redis";
      config_.redis.port = g_servers->redis()->port();
      config_.redis.retry_max_ms = 200;
      config_.redis.key_prefix = "test:";
    }
  }

  void TearDown() override {
    release_storage_threads();  // a failed test must not leave the pool blocked
    close();
    std::filesystem::remove_all(tmp_);
  }

  void open(bool expect_ready = true) {
    pool_ = std::make_unique<WorkerPool>("storage", 4, nullptr);
    metrics_ = std::make_unique<metrics::Registry>();
    store_ = std::make_unique<Store>(config_, *pool_, *metrics_);
    for (const auto& m : modules_) store_->add_migrations(m);
    Status st = store_->start(true);
    ASSERT_TRUE(st.ok()) << st.to_string();
    if (expect_ready) {
      ASSERT_TRUE(store_->ready()) << store_->not_ready_reason();
    }
  }

  void close() {
    if (store_) store_->stop();
    if (pool_) pool_->join();
    store_.reset();
    pool_.reset();
  }

  DbStatus run(const std::function<DbStatus(StoreContext&)>& fn) { return store_->run_sync(fn); }

  uint64_t counter(const std::string& name, const metrics::Labels& labels = {}) {
    return metrics_->counter(name, "", labels).value();
  }
  uint64_t stmt_count(const std::string& stmt) {
    return metrics_
        ->histogram("shardd_db_query_seconds", "", metrics::latency_buckets(), {{"stmt", stmt}})
        .count();
  }
  int64_t count_objects() {
    int64_t n = -1;
    DbStatus st = run([&](StoreContext& ctx) {
      DbConnection* c = nullptr;
      DbStatus s = ctx.db(&c);
      if (!s.ok()) return s;
      Rows rows;
      s = c->query(kCountObjects, {}, &rows);
      if (s.ok()) n = as_int(rows.rows[0][0]);
      return s;
    });
    EXPECT_TRUE(st.ok()) << st.to_string();
    return n;
  }
  DbStatus put(const std::string& key, const std::string& value,
               std::optional<int64_t> expected = std::nullopt, int64_t* version = nullptr) {
    int64_t v = 0;
    DbStatus st = run([&](StoreContext& ctx) {
      return ObjectRepository::put(ctx, "test", key, 7, value, expected, &v);
    });
    if (version) *version = v;
    return st;
  }
  std::optional<StoredObject> get(const std::string& key) {
    std::optional<StoredObject> out;
    DbStatus st =
        run([&](StoreContext& ctx) { return ObjectRepository::get(ctx, "test", key, 7, &out); });
    EXPECT_TRUE(st.ok()) << st.to_string();
    return out;
  }

  // Reads `keys` with ObjectRepository::get_async, all issued at once from
  // one io thread; returns each result (the value, or nullopt) in order.
  // *statuses collects the failures' messages.
  // `after_issue` runs on the io thread once every read is issued.
  std::vector<std::optional<std::string>> get_async_all(
      const std::vector<std::string>& keys, std::vector<std::string>* failures,
      const std::function<void()>& after_issue = {}) {
    // The fixture's io_context: a storage thread may still be inside post()
    // on it after the last completion ran, so it must outlive the storage
    // pool (TearDown joins the pool first).
    boost::asio::io_context& io = io_;
    io.restart();
    auto work = boost::asio::make_work_guard(io);
    std::vector<std::optional<std::string>> out(keys.size());
    size_t left = keys.size();
    bool all_on_io = true;
    boost::asio::post(io, [&] {
      for (size_t i = 0; i < keys.size(); ++i) {
        ObjectRepository::get_async(
            *store_, io.get_executor(), "test", keys[i], 7,
            [&, i](DbStatus st, std::optional<StoredObject> o) {
              all_on_io = all_on_io && io.get_executor().running_in_this_thread();
              if (!st.ok()) {
                failures->push_back(st.to_string());
              } else if (o) {
                EXPECT_EQ(o->key, keys[i]);
                out[i] = o->value;
              }
              if (--left == 0) work.reset();
            });
      }
      if (after_issue) after_issue();
    });
    io.run_for(30s);
    EXPECT_EQ(left, 0u) << "reads still outstanding";
    EXPECT_TRUE(all_on_io);
    return out;
  }

  // Occupies the 4 storage threads until release_storage_threads(), so that
  // work submitted meanwhile queues up (these 4 units count as pending).
  void hold_storage_threads() {
    release_ = std::promise<void>();
    std::shared_future<void> released = release_.get_future().share();
    for (int i = 0; i < 4; ++i) {
      boost::asio::post(*pool_, [released] { released.wait(); });
    }
    held_ = true;
  }
  void release_storage_threads() {
    if (held_) release_.set_value();
    held_ = false;
  }

  boost::asio::io_context io_;  // get_async_all's; outlives the storage pool
  std::promise<void> release_;
  bool held_ = false;
  std::filesystem::path tmp_;
  Config config_;
  std::vector<ModuleMigrations> modules_;  // added to the store by open()
  std::unique_ptr<WorkerPool> pool_;
  std::unique_ptr<metrics::Registry> metrics_;
  std::unique_ptr<Store> store_;
};

TEST_F(StoreTest, MigrationsApplyOnceAndReportStatus) {
  open();
  std::vector<MigrationState> states;
  ASSERT_TRUE(store_->migration_status(&states).ok());
  ASSERT_FALSE(states.empty());
  for (const auto& m : states) EXPECT_TRUE(m.applied) << m.version;
  std::vector<std::string> applied;
  ASSERT_TRUE(store_->migrate(&applied).ok());
  EXPECT_TRUE(applied.empty());  // start() already applied everything
}

DbStatus exec_sql(StoreContext& ctx, const std::string& sql) {
  DbConnection* c = nullptr;
  DbStatus st = ctx.db(&c);
  return st.ok() ? c->exec_script(sql) : st;
}

bool is_applied(const std::vector<MigrationState>& states, const std::string& module, int v) {
  for (const auto& m : states) {
    if (m.module == module && m.version == v) return m.applied;
  }
  return false;
}

// Two modules number their migrations independently; a module's new
// version applies alone; the store's own come first.
TEST_F(StoreTest, MigrationsAreKeyedByModuleAndVersion) {
  modules_ = {{"alpha", {{1, "alpha table", "CREATE TABLE alpha_t (id BIGINT PRIMARY KEY)", ""}}},
              {"beta", {{1, "beta table", "CREATE TABLE beta_t (id BIGINT PRIMARY KEY)", ""}}}};
  open();
  std::vector<MigrationState> states;
  ASSERT_TRUE(store_->migration_status(&states).ok());
  ASSERT_EQ(states.size(), 3u);
  EXPECT_EQ(states[0].module, "store");
  EXPECT_TRUE(is_applied(states, "alpha", 1));
  EXPECT_TRUE(is_applied(states, "beta", 1));
  close();

  modules_[0].migrations.push_back(
      {2, "alpha column", "ALTER TABLE alpha_t ADD COLUMN note VARCHAR(20)", ""});
  pool_ = std::make_unique<WorkerPool>("storage", 4, nullptr);
  metrics_ = std::make_unique<metrics::Registry>();
  store_ = std::make_unique<Store>(config_, *pool_, *metrics_);
  for (const auto& m : modules_) store_->add_migrations(m);
  std::vector<std::string> applied;
  DbStatus st = store_->migrate(&applied);
  ASSERT_TRUE(st.ok()) << st.to_string();
  ASSERT_EQ(applied.size(), 1u);
  EXPECT_EQ(applied[0], "alpha 2 (alpha column)");
}

// A database from before per-module versions keeps its schema: its
// schema_migrations rows are carried over and nothing runs twice.
TEST_F(StoreTest, LegacyMigrationTableIsConvertedOnce) {
  open();
  ASSERT_TRUE(run([](StoreContext& ctx) {
                DbStatus st = exec_sql(ctx, "DROP TABLE schema_versions");
                if (st.ok()) {
                  st = exec_sql(ctx,
                                "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name "
                                "VARCHAR(200) NOT NULL, applied_ms BIGINT NOT NULL)");
                }
                if (st.ok()) {
                  st = exec_sql(ctx,
                                "INSERT INTO schema_migrations VALUES (1, 'idempotency keys and "
                                "storage objects', 1700000000000)");
                }
                return st;
              }).ok());
  close();
  open();  // runs the migrations: store 1 must not run again (its tables exist)
  std::vector<MigrationState> states;
  ASSERT_TRUE(store_->migration_status(&states).ok());
  EXPECT_TRUE(is_applied(states, "store", 1));
  DbStatus gone = run([](StoreContext& ctx) {
    return exec_sql(ctx, "SELECT count(*) FROM schema_migrations");
  });
  EXPECT_FALSE(gone.ok()) << "schema_migrations is dropped after the conversion";
  EXPECT_EQ(count_objects(), 0);  // storage_objects untouched
}

TEST_F(StoreTest, PutGetWithOptimisticVersions) {
  open();
  int64_t v = 0;
  ASSERT_TRUE(put("hero", "a", 0, &v).ok());
  EXPECT_EQ(v, 1);
  ASSERT_TRUE(put("hero", "b", 1, &v).ok());
  EXPECT_EQ(v, 2);
  DbStatus conflict = put("hero", "c", 1, &v);
  EXPECT_EQ(conflict.err(), DbErr::kConstraint);
  EXPECT_NE(conflict.message().find("version conflict"), std::string::npos);
  auto o = get("hero");
  ASSERT_TRUE(o);
  EXPECT_EQ(o->value, "b");
  EXPECT_EQ(o->version, 2);
  EXPECT_EQ(put("other", "x", 5).err(), DbErr::kConstraint);  // must not exist yet: 0
  EXPECT_FALSE(get("other"));
}

TEST_F(StoreTest, BinaryValuesRoundTrip) {
  open();
  std::string bin;
  for (int i = 0; i < 256; ++i) bin.push_back(static_cast<char>(i));
  ASSERT_TRUE(put("bin", bin).ok());
  close();
  open();  // fresh process-level cache: read from the database
  auto o = get("bin");
  ASSERT_TRUE(o);
  EXPECT_EQ(o->value, bin);
}

TEST_F(StoreTest, SecondReadIsACacheHit) {
  open();
  ASSERT_TRUE(put("k", "v").ok());
  uint64_t db_reads = stmt_count("objects.get");
  for (int i = 0; i < 5; ++i) EXPECT_EQ(get("k")->value, "v");
  EXPECT_EQ(stmt_count("objects.get"), db_reads);  // write-through filled the cache
  EXPECT_GE(counter("shardd_cache_requests_total", {{"result", "hit"}}), 5u);
}

TEST_F(StoreTest, MissingKeysAreNegativelyCached) {
  open();
  for (int i = 0; i < 50; ++i) EXPECT_FALSE(get("nobody"));
  EXPECT_EQ(stmt_count("objects.get"), 1u);
  EXPECT_GE(counter("shardd_cache_requests_total", {{"result", "negative"}}), 49u);
  // A write replaces the negative entry at once.
  ASSERT_TRUE(put("nobody", "now here").ok());
  EXPECT_EQ(get("nobody")->value, "now here");
}

// Write-throughs of concurrent optimistic writers may land out of order: the
// cache keeps the newest version.
TEST_F(StoreTest, VersionedWriteThroughKeepsTheNewest) {
  open();
  std::string value;
  bool found = false;
  bool loaded = false;
  ASSERT_TRUE(run([&](StoreContext& ctx) {
                ctx.cache_after_commit_versioned("vk", "two", 2);
                ctx.cache_after_commit_versioned("vk", "one", 1);  // late, older
                return ctx.read_through(
                    "vk",
                    [&](store::DbConnection&, std::string*, bool* f) {
                      loaded = true;
                      *f = false;
                      return DbStatus::Ok();
                    },
                    &value, &found);
              }).ok());
  EXPECT_FALSE(loaded) << "served from the cache";
  EXPECT_TRUE(found);
  EXPECT_EQ(value, "two");
  ASSERT_TRUE(run([&](StoreContext& ctx) {
                ctx.cache_after_commit_versioned("vk", "three", 3);
                return ctx.read_through(
                    "vk", [](store::DbConnection&, std::string*, bool*) { return DbStatus::Ok(); },
                    &value, &found);
              }).ok());
  EXPECT_EQ(value, "three");
}

// Capped lists (chat's recent window): a missing list stays missing until it
// is rebuilt whole; appends keep the newest max_len entries in order.
TEST_F(StoreTest, CacheListsAreCappedAndNeverPartial) {
  open();
  std::vector<std::string> got;
  bool found = true;
  auto get_list = [&] {
    got.clear();
    ASSERT_TRUE(run([&](StoreContext& ctx) {
                  found = ctx.list_get("win:a", &got);
                  return DbStatus::Ok();
                }).ok());
  };
  auto append = [&](std::vector<std::string> v) {
    ASSERT_TRUE(run([&](StoreContext& ctx) {
                  ctx.list_append_after_commit("win:a", v, 3);
                  return DbStatus::Ok();
                }).ok());
  };
  append({"lost"});  // no list yet: nothing is created
  get_list();
  EXPECT_FALSE(found);
  ASSERT_TRUE(run([&](StoreContext& ctx) {
                ctx.list_replace("win:a", {"m1", "m2"});
                return DbStatus::Ok();
              }).ok());
  get_list();
  ASSERT_TRUE(found);
  EXPECT_EQ(got, (std::vector<std::string>{"m1", "m2"}));
  append({"m3", std::string("b\0in", 4)});
  get_list();
  EXPECT_EQ(got, (std::vector<std::string>{"m2", "m3", std::string("b\0in", 4)}));
  ASSERT_TRUE(run([&](StoreContext& ctx) {
                ctx.list_erase("win:a");
                return DbStatus::Ok();
              }).ok());
  get_list();
  EXPECT_FALSE(found);
}

TEST_F(StoreTest, WritesAreVisibleImmediatelyAfterCommit) {
  open();
  ASSERT_TRUE(put("k", "one").ok());
  EXPECT_EQ(get("k")->value, "one");
  ASSERT_TRUE(put("k", "two").ok());
  EXPECT_EQ(get("k")->value, "two");
  bool removed = false;
  ASSERT_TRUE(run([&](StoreContext& ctx) {
                return ObjectRepository::remove(ctx, "test", "k", 7, &removed);
              }).ok());
  EXPECT_TRUE(removed);
  EXPECT_FALSE(get("k"));
}

TEST_F(StoreTest, FailedTransactionLeavesNothing) {
  open();
  DbStatus st = run([](StoreContext& ctx) {
    return ctx.transaction([](DbConnection& c) {
      DbStatus s =
          c.exec(kInsertRaw, {std::string("t"), std::string("a"), int64_t{0}, std::string("x")});
      if (!s.ok()) return s;
      s = c.exec(kInsertRaw, {std::string("t"), std::string("b"), int64_t{0}, std::string("y")});
      if (!s.ok()) return s;
      // Same primary key again: the whole transaction must roll back.
      return c.exec(kInsertRaw, {std::string("t"), std::string("a"), int64_t{0}, std::string("z")});
    });
  });
  EXPECT_EQ(st.err(), DbErr::kDuplicate);
  EXPECT_EQ(count_objects(), 0);
  EXPECT_GE(counter("shardd_db_transactions_total", {{"result", "rollback"}}), 1u);
}

void seed_two_rows(
    StoreTest* t,
    const std::function<DbStatus(const std::function<DbStatus(StoreContext&)>&)>& run) {
  (void)t;
  ASSERT_TRUE(run([](StoreContext& ctx) {
                return ctx.transaction([](DbConnection& c) {
                  DbStatus s = c.exec(kInsertRaw, {std::string("c"), std::string("a"), int64_t{0},
                                                   std::string("")});
                  if (!s.ok()) return s;
                  return c.exec(kInsertRaw,
                                {std::string("c"), std::string("b"), int64_t{0}, std::string("")});
                });
              }).ok());
}

TEST_F(StoreTest, ConcurrentTransactionsOnTheSameRowsLoseNothing) {
  open();
  seed_two_rows(this, [this](const auto& fn) { return run(fn); });
  constexpr int kRounds = 40;
  std::atomic<int> failures{0};
  auto worker = [&] {
    for (int i = 0; i < kRounds; ++i) {
      DbStatus st = run([&](StoreContext& ctx) {
        return ctx.transaction([&](DbConnection& c) {
          // Services lock rows in one deterministic order (here a, then b).
          DbStatus s = c.exec(kAddToValue, {int64_t{1}, std::string("c"), std::string("a")});
          if (!s.ok()) return s;
          return c.exec(kAddToValue, {int64_t{1}, std::string("c"), std::string("b")});
        });
      });
      if (!st.ok()) {
        ++failures;
        ADD_FAILURE() << st.to_string();
      }
    }
  };
  std::thread t1(worker), t2(worker);
  t1.join();
  t2.join();
  EXPECT_EQ(failures.load(), 0);
  for (const char* key : {"a", "b"}) {
    Rows rows;
    ASSERT_TRUE(run([&](StoreContext& ctx) {
                  DbConnection* c = nullptr;
                  DbStatus s = ctx.db(&c);
                  if (!s.ok()) return s;
                  return c->query(kVersionOf, {std::string("c"), std::string(key)}, &rows);
                }).ok());
    EXPECT_EQ(as_int(rows.rows[0][0]), 1 + 2 * kRounds) << key;  // no lost or doubled update
  }
}

// Two transactions lock a/b in opposite orders and wait for each other, so
// InnoDB must pick a deadlock victim; the store retries it and both commit.
TEST_F(StoreTest, MysqlDeadlockIsRetriedAndBothCommit) {
  open();
  seed_two_rows(this, [this](const auto& fn) { return run(fn); });
  std::atomic<int> first_locks{0};
  auto worker = [&](std::string first, std::string second) {
    bool first_attempt = true;
    return run([&](StoreContext& ctx) {
      return ctx.transaction([&](DbConnection& c) {
        DbStatus s = c.exec(kAddToValue, {int64_t{1}, std::string("c"), first});
        if (!s.ok()) return s;
        if (first_attempt) {
          first_attempt = false;
          ++first_locks;
          // Both hold their first row before either asks for its second.
          auto deadline = std::chrono::steady_clock::now() + 5s;
          while (first_locks.load() < 2 && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(1ms);
          }
        }
        return c.exec(kAddToValue, {int64_t{1}, std::string("c"), second});
      });
    });
  };
  DbStatus r1, r2;
  std::thread t1([&] { r1 = worker("a", "b"); });
  std::thread t2([&] { r2 = worker("b", "a"); });
  t1.join();
  t2.join();
  EXPECT_TRUE(r1.ok()) << r1.to_string();
  EXPECT_TRUE(r2.ok()) << r2.to_string();
  EXPECT_GE(counter("shardd_db_transaction_retries_total"), 1u);
  Rows rows;
  ASSERT_TRUE(run([&](StoreContext& ctx) {
                DbConnection* c = nullptr;
                DbStatus s = ctx.db(&c);
                if (!s.ok()) return s;
                return c->query(kVersionOf, {std::string("c"), std::string("a")}, &rows);
              }).ok());
  EXPECT_EQ(as_int(rows.rows[0][0]), 3);
}

TEST_F(StoreTest, IdempotentRequestsApplyOnce) {
  open();
  std::atomic<int> applied{0};
  auto apply = [&](std::string* result, bool* replayed) {
    return run([&](StoreContext& ctx) {
      return ctx.idempotent(
          "test", "req-42",
          [&](DbConnection& c, std::string* r) {
            ++applied;
            *r = "granted 100 gold";
            return c.exec(kInsertRaw, {std::string("idem"), std::string("gold"), int64_t{0},
                                       std::string("100")});
          },
          result, replayed);
    });
  };
  std::string r1, r2;
  bool rep1 = true, rep2 = false;
  ASSERT_TRUE(apply(&r1, &rep1).ok());
  ASSERT_TRUE(apply(&r2, &rep2).ok());
  EXPECT_FALSE(rep1);
  EXPECT_TRUE(rep2);
  EXPECT_EQ(r1, r2);
  EXPECT_EQ(applied.load(), 1);
  EXPECT_EQ(count_objects(), 1);
  EXPECT_EQ(counter("shardd_idempotent_replays_total"), 1u);
}

TEST_F(StoreTest, ConcurrentIdempotentRequestsApplyOnce) {
  open();
  std::vector<std::thread> ts;
  std::atomic<int> replays{0}, errors{0};
  std::mutex mu;
  std::string last_error;
  for (int t = 0; t < 6; ++t) {
    ts.emplace_back([&] {
      std::string result;
      bool replayed = false;
      DbStatus st = run([&](StoreContext& ctx) {
        return ctx.idempotent(
            "test", "same-key",
            [&](DbConnection& c, std::string* r) {
              *r = "ok";
              return c.exec(kInsertRaw,
                            {std::string("idem"), std::string("x"), int64_t{0}, std::string("1")});
            },
            &result, &replayed);
      });
      if (!st.ok()) {
        ++errors;
        std::lock_guard lock(mu);
        last_error = st.to_string();
      }
      if (replayed) ++replays;
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(errors.load(), 0) << last_error;
  EXPECT_EQ(replays.load(), 5);
  EXPECT_EQ(count_objects(), 1);
}

TEST_F(StoreTest, OptimisticWritersNeverLoseUpdates) {
  open();
  ASSERT_TRUE(put("counter", "0", 0).ok());
  constexpr int kThreads = 4, kEach = 25;
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < kEach;) {
        // Read from the database (not the cache) to get the current version.
        std::optional<StoredObject> o;
        std::vector<StoredObject> all;
        ASSERT_TRUE(run([&](StoreContext& ctx) {
                      return ObjectRepository::list(ctx, "test", 7, &all);
                    }).ok());
        int64_t version = all.at(0).version;
        int n = std::stoi(all.at(0).value);
        DbStatus st = put("counter", std::to_string(n + 1), version);
        if (st.ok()) {
          ++i;
        } else {
          ASSERT_EQ(st.err(), DbErr::kConstraint) << st.to_string();
        }
      }
    });
  }
  for (auto& t : ts) t.join();
  auto o = get("counter");
  EXPECT_EQ(o->value, std::to_string(kThreads * kEach));
  EXPECT_EQ(o->version, 1 + kThreads * kEach);
}

constexpr Stmt kPositionUpsert{
    "test.position_upsert",
    "INSERT INTO storage_objects (collection, obj_key, owner_id, value, version, updated_ms) "
    "VALUES ('pos', ?, 0, ?, 1, 0) ON CONFLICT (collection, obj_key, owner_id) DO UPDATE SET "
    "value = excluded.value, version = storage_objects.version + 1",
    "INSERT INTO storage_objects (collection, obj_key, owner_id, value, version, updated_ms) "
    "VALUES ('pos', ?, 0, ?, 1, 0) ON DUPLICATE KEY UPDATE value = VALUES(value), version = "
    "version + 1"};

TEST_F(StoreTest, WriteBehindCoalescesAndFlushes) {
  config_.store.write_behind_ms = 3600000;
  open();
  WriteBehind& wb =
      store_->write_behind("positions", [](DbConnection& c, const WriteBehind::Batch& batch) {
        for (const auto& [k, v] : batch) {
          DbStatus s = c.exec(kPositionUpsert, {k, v});
          if (!s.ok()) return s;
        }
        return DbStatus::Ok();
      });
  for (int i = 0; i < 100; ++i) wb.mark("player-1", "x=" + std::to_string(i));
  for (int i = 0; i < 1200; ++i) wb.mark("npc-" + std::to_string(i), "y");
  EXPECT_EQ(wb.dirty(), 1201u);
  ASSERT_TRUE(store_->flush_write_behind().ok());
  EXPECT_EQ(wb.dirty(), 0u);
  EXPECT_EQ(count_objects(), 1201);
  EXPECT_EQ(counter("shardd_write_behind_written_total", {{"queue", "positions"}}), 1201u);
  Rows rows;
  ASSERT_TRUE(run([&](StoreContext& ctx) {
                DbConnection* c = nullptr;
                DbStatus s = ctx.db(&c);
                if (!s.ok()) return s;
                return c->query(kVersionOf, {std::string("pos"), std::string("player-1")}, &rows);
              }).ok());
  EXPECT_EQ(as_int(rows.rows[0][0]), 1);  // 100 marks, one write
}

TEST_F(StoreTest, CompletionRunsOnTheCallersExecutor) {
  open();
  ASSERT_TRUE(put("k", "v").ok());
  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  bool on_io = false;
  std::string got;
  store_->run<std::string>(
      io.get_executor(),
      [](StoreContext& ctx, std::string* out) {
        std::optional<StoredObject> o;
        DbStatus s = ObjectRepository::get(ctx, "test", "k", 7, &o);
        if (o) *out = o->value;
        return s;
      },
      [&](DbStatus st, std::string v) {
        EXPECT_TRUE(st.ok());
        on_io = io.get_executor().running_in_this_thread();
        got = v;
        work.reset();
      });
  io.run_for(5s);
  close();  // the storage thread may still be inside post(); let it finish before ~io_context
  EXPECT_TRUE(on_io);
  EXPECT_EQ(got, "v");
}

TEST_F(StoreTest, AsyncReadsIssuedTogetherShareCacheRoundTrips) {
  open();
  // 40 stored keys and 10 that do not exist, each read 4 times, all at once.
  std::vector<std::string> keys;
  for (int i = 0; i < 50; ++i) {
    std::string k = "k" + std::to_string(i);
    if (i < 40) {
      ASSERT_TRUE(put(k, "value of " + k).ok());
    }
    for (int r = 0; r < 4; ++r) keys.push_back(k);
  }
  std::vector<std::string> failures;
  hold_storage_threads();
  auto got = get_async_all(keys, &failures, [&] { release_storage_threads(); });
  EXPECT_TRUE(failures.empty()) << failures.front();
  // All 200 reads were queued before a storage thread was free: they were
  // answered in batches of at most 64, 64 + 64 + 64 + 8.
  EXPECT_EQ(counter("shardd_store_read_batches_total"), 4u);
  for (size_t i = 0; i < keys.size(); ++i) {
    int n = std::stoi(keys[i].substr(1));
    if (n < 40) {
      EXPECT_EQ(got[i], "value of " + keys[i]) << keys[i];
    } else {
      EXPECT_FALSE(got[i]) << keys[i];
    }
  }
  // The stored keys were cached by their writes; only the missing ones went
  // to the database, and they are now negatively cached.
  uint64_t db_reads = stmt_count("objects.get");
  EXPECT_GE(db_reads, 10u);
  EXPECT_LE(db_reads, 40u);  // at most once per (missing key, read)
  failures.clear();
  got = get_async_all(keys, &failures);
  EXPECT_TRUE(failures.empty());
  EXPECT_EQ(stmt_count("objects.get"), db_reads);
  EXPECT_EQ(got[0], "value of k0");
  EXPECT_FALSE(got[keys.size() - 1]);
  EXPECT_EQ(metrics_->gauge("shardd_store_pending", "").value(), 0);
}

TEST_F(StoreTest, AsyncReadsBeyondTheQueueBoundAreRefusedNotQueued) {
  open();
  ASSERT_TRUE(put("hot", "v").ok());
  hold_storage_threads();  // nothing is served while the reads queue up
  std::vector<std::string> keys(Store::kMaxPending + 1000, "hot");
  std::vector<std::string> failures;
  auto got = get_async_all(keys, &failures, [&] {
    EXPECT_EQ(metrics_->gauge("shardd_store_pending", "").value(), Store::kMaxPending);
    release_storage_threads();
  });
  // Every read completes: the excess at once with UNAVAILABLE, the rest with the value.
  size_t served = 0;
  for (const auto& g : got) served += g == "v";
  EXPECT_EQ(served, static_cast<size_t>(Store::kMaxPending));
  EXPECT_EQ(failures.size(), keys.size() - served);
  for (const auto& f : failures) EXPECT_EQ(f, "unavailable: storage overloaded");

  EXPECT_EQ(metrics_->gauge("shardd_store_pending", "").value(), 0);
}

TEST_F(StoreTest, AsyncReadOfABadNameFailsOnTheCallersExecutor) {
  open();
  std::vector<std::string> failures;
  auto got = get_async_all({std::string(129, 'x')}, &failures);
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_NE(failures[0].find("constraint"), std::string::npos) << failures[0];
}

uint64_t checksum_rows(const Rows& rows) {
  uint64_t h = 1469598103934665603ull;
  for (const auto& r : rows.rows) {
    for (const auto& v : r) {
      for (char ch : as_string(v)) h = (h ^ static_cast<uint8_t>(ch)) * 1099511628211ull;
      h = (h ^ 0xff) * 1099511628211ull;
    }
  }
  return h;
}

TEST_F(StoreTest, BackupWipeRestoreGivesTheSameData) {
  open();
  for (int i = 0; i < 300; ++i) {
    ASSERT_TRUE(
        put("obj-" + std::to_string(i), std::string(50 + i, static_cast<char>('a' + i % 26))).ok());
  }
  auto snapshot = [&](Rows* rows) {
    return run([&](StoreContext& ctx) {
      DbConnection* c = nullptr;
      DbStatus s = ctx.db(&c);
      if (!s.ok()) return s;
      return c->query(kAllRows, {}, rows);
    });
  };
  Rows before;
  ASSERT_TRUE(snapshot(&before).ok());
  std::string backup = (tmp_ / "backup.out").string();
  Status st = store_->backup(backup);
  ASSERT_TRUE(st.ok()) << st.to_string();
  close();

  // Wipe.
  if (use_mysql()) {
    g_servers->mysql()->admin_sql(std::string("DROP DATABASE ") + MariaDbServer::kDatabase);
    g_servers->mysql()->admin_sql(std::string("CREATE DATABASE ") + MariaDbServer::kDatabase +
                       " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin");
  } else {
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::filesystem::remove(config_.sqlite_path() + suffix);
    }
  }
  pool_ = std::make_unique<WorkerPool>("storage", 2, nullptr);
  metrics_ = std::make_unique<metrics::Registry>();
  store_ = std::make_unique<Store>(config_, *pool_, *metrics_);
  st = store_->restore(backup);
  ASSERT_TRUE(st.ok()) << st.to_string();
  // Restoring again into the now non-empty database is refused.
  EXPECT_EQ(store_->restore(backup).code(), ErrorCode::kBadRequest);
  Rows after;
  ASSERT_TRUE(snapshot(&after).ok());
  EXPECT_EQ(after.rows.size(), before.rows.size());
  EXPECT_EQ(checksum_rows(after), checksum_rows(before));
}

// Backend-specific tests: ctest runs Sqlite* only with SQLite and Mysql*/Redis*
// only with MySQL + Redis (see tests/unit/CMakeLists.txt).
TEST_F(StoreTest, SqliteUnwritableLocationIsAClearError) {
  config_.sqlite.path = (tmp_ / "missing-dir" / "db.sqlite").string();
  pool_ = std::make_unique<WorkerPool>("storage", 2, nullptr);
  metrics_ = std::make_unique<metrics::Registry>();
  store_ = std::make_unique<Store>(config_, *pool_, *metrics_);
  Status st = store_->start(true);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("missing-dir"), std::string::npos) << st.message();
  EXPECT_FALSE(store_->ready());
}

TEST_F(StoreTest, SqliteFullDatabaseWritesNothingHalfway) {
  open();
  ASSERT_TRUE(put("before", "ok").ok());
  int64_t before = count_objects();
  // Cap the file size on every pooled connection, then write more than fits.
  DbStatus st = run([](StoreContext& ctx) {
    DbConnection* c = nullptr;
    DbStatus s = ctx.db(&c);
    if (!s.ok()) return s;
    s = c->exec_script("PRAGMA max_page_count = 40");
    if (!s.ok()) return s;
    return ctx.transaction([](DbConnection& conn) {
      for (int i = 0; i < 200; ++i) {
        DbStatus w = conn.exec(kInsertRaw, {std::string("big"), "k" + std::to_string(i), int64_t{0},
                                            std::string(4000, 'x')});
        if (!w.ok()) return w;
      }
      return DbStatus::Ok();
    });
  });
  EXPECT_EQ(st.err(), DbErr::kFull) << st.to_string();
  EXPECT_EQ(count_objects(), before);
}

TEST_F(StoreTest, RedisOutageFallsBackToTheDatabaseAndRecovers) {
  open();
  ASSERT_TRUE(put("k", "v1").ok());
  EXPECT_EQ(get("k")->value, "v1");
  test::RestartGuard restart(*g_servers->redis());
  g_servers->redis()->kill_hard();
  // Reads and writes keep working from the database.
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(put("k", "v" + std::to_string(i + 2)).ok());
    auto o = get("k");
    ASSERT_TRUE(o);
    EXPECT_EQ(o->value, "v" + std::to_string(i + 2));
  }
  std::vector<std::string> failures;  // batched reads fall back the same way
  auto batch = get_async_all({"k", "k", "k", "nobody"}, &failures);
  EXPECT_TRUE(failures.empty());
  EXPECT_EQ(batch[0], "v21");
  EXPECT_EQ(batch[2], "v21");
  EXPECT_FALSE(batch[3]);
  EXPECT_GT(counter("shardd_cache_backend_errors_total"), 0u);
  EXPECT_EQ(metrics_->gauge("shardd_cache_up", "").value(), 0);
  g_servers->redis()->start();
  // Caching resumes after the backoff (200 ms cap here).
  uint64_t hits_before = counter("shardd_cache_requests_total", {{"result", "hit"}});
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (counter("shardd_cache_requests_total", {{"result", "hit"}}) < hits_before + 3 &&
         std::chrono::steady_clock::now() < deadline) {
    EXPECT_EQ(get("k")->value, "v21");
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_GE(counter("shardd_cache_requests_total", {{"result", "hit"}}), hits_before + 3);
  EXPECT_EQ(metrics_->gauge("shardd_cache_up", "").value(), 1);
}

TEST_F(StoreTest, RedisUnreachableAtStartIsNotAnError) {
  config_.redis.port = test::free_port();  // nothing listens there
  open();                                  // ready: the cache is optional
  ASSERT_TRUE(put("k", "v").ok());
  EXPECT_EQ(get("k")->value, "v");
  EXPECT_EQ(get("k")->value, "v");
  EXPECT_EQ(metrics_->gauge("shardd_cache_up", "").value(), 0);
  EXPECT_GE(counter("shardd_cache_requests_total", {{"result", "error"}}) +
                counter("shardd_cache_backend_errors_total"),
            1u);
}

TEST_F(StoreTest, MysqlUnreachableAtStartIsNotReadyThenRecovers) {
  test::RestartGuard restart(*g_servers->mysql());
  g_servers->mysql()->stop();
  open(/*expect_ready=*/false);
  EXPECT_FALSE(store_->ready());
  EXPECT_FALSE(store_->not_ready_reason().empty());
  EXPECT_EQ(put("k", "v").err(), DbErr::kUnavailable);
  g_servers->mysql()->start();
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!store_->ready() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(store_->ready()) << store_->not_ready_reason();
  EXPECT_TRUE(put("k", "v").ok());
}

TEST_F(StoreTest, MysqlRestartUnderLoadFailsCleanlyAndRecovers) {
  open();
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, unavailable{0}, other{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 3; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; !stop; ++i) {
        std::string id = std::to_string(t) + "-" + std::to_string(i);
        DbStatus st = run([&](StoreContext& ctx) {
          return ctx.transaction([&](DbConnection& c) {
            DbStatus s = c.exec(kInsertRaw, {std::string("pair-a"), id, int64_t{0}, id});
            if (!s.ok()) return s;
            return c.exec(kInsertRaw, {std::string("pair-b"), id, int64_t{0}, id});
          });
        });
        if (st.ok()) {
          ++ok;
        } else if (st.err() == DbErr::kUnavailable) {
          ++unavailable;
        } else {
          ++other;
          ADD_FAILURE() << st.to_string();
        }
      }
    });
  }
  // Writers are committing before the crash, and failing during it.
  auto wait_until = [](auto done) {
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(5ms);
    }
    return done();
  };
  EXPECT_TRUE(wait_until([&] { return ok.load() >= 20; }));
  test::RestartGuard restart(*g_servers->mysql());
  g_servers->mysql()->kill_hard();
  EXPECT_TRUE(wait_until([&] { return unavailable.load() >= 3; }));
  g_servers->mysql()->start();
  auto restarted = std::chrono::steady_clock::now();
  int ok_at_restart = ok.load();
  while (ok.load() < ok_at_restart + 20 && std::chrono::steady_clock::now() - restarted < 20s) {
    std::this_thread::sleep_for(20ms);
  }
  auto recovery = std::chrono::steady_clock::now() - restarted;
  stop = true;
  for (auto& t : ts) t.join();
  EXPECT_GT(unavailable.load(), 0);
  EXPECT_EQ(other.load(), 0);
  EXPECT_LT(recovery, 10s)
      << "took " << std::chrono::duration_cast<std::chrono::milliseconds>(recovery).count()
      << " ms to recover";
  // No partial writes: every pair has both rows or none.
  constexpr Stmt kUnpaired{"test.unpaired",
                           "SELECT count(*) FROM storage_objects a WHERE a.collection = 'pair-a' "
                           "AND NOT EXISTS (SELECT 1 FROM storage_objects b WHERE b.collection = "
                           "'pair-b' AND b.obj_key = a.obj_key)"};
  Rows rows;
  ASSERT_TRUE(run([&](StoreContext& ctx) {
                DbConnection* c = nullptr;
                DbStatus s = ctx.db(&c);
                if (!s.ok()) return s;
                return c->query(kUnpaired, {}, &rows);
              }).ok());
  EXPECT_EQ(as_int(rows.rows[0][0]), 0);
}

constexpr Stmt kSslCipher{"test.ssl_cipher", "SELECT 1",
                          "SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS WHERE "
                          "VARIABLE_NAME = 'Ssl_cipher'"};

TEST_F(StoreTest, MysqlTlsIsUsedAndTheServerIsVerified) {
  config_.mysql.tls = true;
  config_.mysql.tls_ca = g_servers->mysql()->tls_cert();
  open();
  Rows rows;
  ASSERT_TRUE(run([&](StoreContext& ctx) {
                DbConnection* c = nullptr;
                DbStatus s = ctx.db(&c);
                if (!s.ok()) return s;
                return c->query(kSslCipher, {}, &rows);
              }).ok());
  ASSERT_FALSE(rows.empty());
  EXPECT_FALSE(as_string(rows.rows[0][0]).empty()) << "connection is not encrypted";
  close();

  // A CA that did not sign the server's certificate: no connection.
  std::string other = (tmp_ / "other-ca.pem").string();
  std::string cmd =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
      "-days 1 -subj /CN=other -keyout " +
      (tmp_ / "k.pem").string() + " -out " + other + " > /dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  config_.mysql.tls_ca = other;
  open(/*expect_ready=*/false);
  EXPECT_FALSE(store_->ready());
  EXPECT_NE(store_->not_ready_reason().find("unavailable"), std::string::npos)
      << store_->not_ready_reason();
}

}  // namespace
}  // namespace shardd::store
