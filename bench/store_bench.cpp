// Storage benchmark: the repository layer against the raw drivers doing the
// same work, in one run, on this machine.
//
//  1. Durable single-row update transactions per second:
//       repository: ObjectRepository::put (BEGIN; SELECT version [FOR UPDATE];
//                   UPDATE; COMMIT; write-through cache update) through Store::run_sync
//       raw:        the same BEGIN/SELECT/UPDATE/COMMIT with the C API directly
//     for SQLite (synchronous=FULL, WAL) and MariaDB (InnoDB, flush at commit).
//  2. Cache-hit reads per second: ObjectRepository::get_async with a warm
//     Redis cache, issued the way services do (from another executor,
//     `--inflight` per storage thread in flight, default 4; reads queued
//     together share one MGET), against raw hiredis GETs of the same cached
//     entry, one at a time on each of as many connections as the storage
//     pool has.
//
// Each side uses `--threads` client threads, each on its own row/connection.
// The sides of a ratio alternate, `--rounds` slices of seconds/rounds each, so
// that drift in disk and VM speed falls on both.
// Usage: shardd_bench_store [--seconds S] [--threads N] [--inflight K] [--rounds R] [--json]

#include <hiredis/hiredis.h>
#include <mysql.h>
#include <sqlite3.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "shardd/core/worker_pool.h"
#include "shardd/store/objects.h"
#include "shardd/store/store.h"
#include "shardd_test/db_servers.h"

using namespace shardd;
using Clock = std::chrono::steady_clock;

namespace {

double run_threads(int threads, double seconds,
                   const std::function<void(int, const std::atomic<bool>&, uint64_t*)>& body) {
  std::atomic<bool> stop{false};
  std::vector<uint64_t> counts(static_cast<size_t>(threads));
  std::vector<std::thread> ts;
  auto start = Clock::now();
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] { body(t, stop, &counts[static_cast<size_t>(t)]); });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : ts) t.join();
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  uint64_t total = 0;
  for (auto c : counts) total += c;
  return static_cast<double>(total) / elapsed;
}

// Runs each measurement `rounds` times for seconds/rounds, alternating between
// them, and returns each one's overall rate. Disk and VM throughput drift over
// seconds; alternating puts the same drift on every side of a ratio.
std::vector<double> interleave(int rounds, double seconds,
                               const std::vector<std::function<double(double)>>& sides) {
  std::vector<double> sum(sides.size(), 0.0);
  double slice = seconds / rounds;
  for (int r = 0; r < rounds; ++r) {
    for (size_t i = 0; i < sides.size(); ++i) sum[i] += sides[i](slice) * slice;
  }
  for (auto& v : sum) v /= seconds;
  return sum;
}

void die(const std::string& msg) {
  std::cerr << "store_bench: " << msg << "\n";
  std::exit(1);
}

// ---- raw SQLite: BEGIN IMMEDIATE; SELECT version; UPDATE; COMMIT
double raw_sqlite_updates(const std::string& path, int threads, double seconds) {
  return run_threads(threads, seconds, [&](int t, const std::atomic<bool>& stop, uint64_t* n) {
    sqlite3* db = nullptr;
    sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
    sqlite3_busy_timeout(db, 5000);
    sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
                 nullptr, nullptr, nullptr);
    sqlite3_stmt *sel = nullptr, *upd = nullptr;
    sqlite3_prepare_v2(db,
                       "SELECT version FROM storage_objects WHERE collection = ? AND obj_key = ? "
                       "AND owner_id = ?",
                       -1, &sel, nullptr);
    sqlite3_prepare_v2(db,
                       "UPDATE storage_objects SET value = ?, version = version + 1, updated_ms "
                       "= ? WHERE collection = ? AND obj_key = ? AND owner_id = ?",
                       -1, &upd, nullptr);
    std::string key = "raw-" + std::to_string(t);
    std::string value(100, 'v');
    while (!stop) {
      if (sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) continue;
      sqlite3_reset(sel);
      sqlite3_bind_text(sel, 1, "bench", -1, SQLITE_STATIC);
      sqlite3_bind_text(sel, 2, key.c_str(), -1, SQLITE_STATIC);
      sqlite3_bind_int64(sel, 3, 1);
      while (sqlite3_step(sel) == SQLITE_ROW) {
      }
      sqlite3_reset(upd);
      sqlite3_bind_text(upd, 1, value.data(), static_cast<int>(value.size()), SQLITE_STATIC);
      sqlite3_bind_int64(upd, 2, 1);
      sqlite3_bind_text(upd, 3, "bench", -1, SQLITE_STATIC);
      sqlite3_bind_text(upd, 4, key.c_str(), -1, SQLITE_STATIC);
      sqlite3_bind_int64(upd, 5, 1);
      sqlite3_step(upd);
      if (sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK) ++*n;
    }
    sqlite3_finalize(sel);
    sqlite3_finalize(upd);
    sqlite3_close_v2(db);
  });
}

// ---- raw MariaDB: START TRANSACTION; SELECT ... FOR UPDATE; UPDATE; COMMIT
double raw_mysql_updates(const MysqlConfig& c, int threads, double seconds) {
  return run_threads(threads, seconds, [&](int t, const std::atomic<bool>& stop, uint64_t* n) {
    MYSQL* my = mysql_init(nullptr);
    mysql_options(my, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    if (!mysql_real_connect(my, c.host.c_str(), c.user.c_str(), c.password.c_str(),
                            c.database.c_str(), c.port, nullptr, 0)) {
      die(mysql_error(my));
    }
    MYSQL_STMT* sel = mysql_stmt_init(my);
    MYSQL_STMT* upd = mysql_stmt_init(my);
    std::string qs =
        "SELECT version FROM storage_objects WHERE collection = ? AND obj_key = ? "
        "AND owner_id = ? FOR UPDATE";
    std::string qu =
        "UPDATE storage_objects SET value = ?, version = version + 1, updated_ms = "
        "? WHERE collection = ? AND obj_key = ? AND owner_id = ?";
    mysql_stmt_prepare(sel, qs.data(), qs.size());
    mysql_stmt_prepare(upd, qu.data(), qu.size());
    std::string coll = "bench", key = "raw-" + std::to_string(t), value(100, 'v');
    int64_t owner = 1, ts = 1, version = 0;
    unsigned long coll_len = coll.size(), key_len = key.size(), value_len = value.size();
    MYSQL_BIND sb[3] = {};
    sb[0].buffer_type = MYSQL_TYPE_STRING;
    sb[0].buffer = coll.data();
    sb[0].length = &coll_len;
    sb[1].buffer_type = MYSQL_TYPE_STRING;
    sb[1].buffer = key.data();
    sb[1].length = &key_len;
    sb[2].buffer_type = MYSQL_TYPE_LONGLONG;
    sb[2].buffer = &owner;
    MYSQL_BIND rb[1] = {};
    rb[0].buffer_type = MYSQL_TYPE_LONGLONG;
    rb[0].buffer = &version;
    MYSQL_BIND ub[5] = {};
    ub[0].buffer_type = MYSQL_TYPE_STRING;
    ub[0].buffer = value.data();
    ub[0].length = &value_len;
    ub[1].buffer_type = MYSQL_TYPE_LONGLONG;
    ub[1].buffer = &ts;
    ub[2] = sb[0];
    ub[3] = sb[1];
    ub[4] = sb[2];
    mysql_stmt_bind_param(sel, sb);
    mysql_stmt_bind_param(upd, ub);
    while (!stop) {
      mysql_real_query(my, "START TRANSACTION", 17);
      mysql_stmt_execute(sel);
      mysql_stmt_bind_result(sel, rb);
      mysql_stmt_store_result(sel);
      while (mysql_stmt_fetch(sel) == 0) {
      }
      mysql_stmt_free_result(sel);
      mysql_stmt_execute(upd);
      if (mysql_real_query(my, "COMMIT", 6) == 0) ++*n;
    }
    mysql_stmt_close(sel);
    mysql_stmt_close(upd);
    mysql_close(my);
  });
}

// ---- raw hiredis GET
double raw_redis_gets(uint16_t port, const std::string& key, int threads, double seconds) {
  return run_threads(threads, seconds, [&](int, const std::atomic<bool>& stop, uint64_t* n) {
    redisContext* c = redisConnect("127.0.0.1", port);
    if (!c || c->err) die("redis connect failed");
    const char* argv[] = {"GET", key.c_str()};
    size_t lens[] = {3, key.size()};
    while (!stop) {
      auto* r = static_cast<redisReply*>(redisCommandArgv(c, 2, argv, lens));
      if (r && r->type == REDIS_REPLY_STRING) ++*n;
      if (r) freeReplyObject(r);
    }
    redisFree(c);
  });
}

struct Bench {
  Config config;
  std::unique_ptr<shardd::WorkerPool> pool;
  metrics::Registry metrics;
  std::unique_ptr<store::Store> store;

  void open(int threads) {
    config.store.pool_size = static_cast<uint32_t>(threads);
    config.server.storage_threads = static_cast<uint32_t>(threads);
    pool = std::make_unique<shardd::WorkerPool>("storage", static_cast<size_t>(threads), nullptr);
    store = std::make_unique<store::Store>(config, *pool, metrics);
    Status st = store->start(true);
    if (!st.ok() || !store->ready())
      die("store start: " + st.to_string() + " " + store->not_ready_reason());
  }
  void close() {
    store->stop();
    pool->join();
    store.reset();
    pool.reset();
  }
  void seed(const std::string& prefix, int threads) {
    for (int t = 0; t < threads; ++t) {
      int64_t v = 0;
      store::DbStatus st = store->run_sync([&](store::StoreContext& ctx) {
        return store::ObjectRepository::put(ctx, "bench", prefix + std::to_string(t), 1,
                                            std::string(100, 'v'), std::nullopt, &v);
      });
      if (!st.ok()) die("seed: " + st.to_string());
    }
  }
  double repo_updates(int threads, double seconds) {
    return run_threads(threads, seconds, [&](int t, const std::atomic<bool>& stop, uint64_t* n) {
      std::string key = "repo-" + std::to_string(t), value(100, 'v');
      while (!stop) {
        int64_t v = 0;
        store::DbStatus st = store->run_sync([&](store::StoreContext& ctx) {
          return store::ObjectRepository::put(ctx, "bench", key, 1, value, std::nullopt, &v);
        });
        if (st.ok()) ++*n;
      }
    });
  }
  // Cache-hit reads as services issue them: posted to the storage pool from
  // another executor, `inflight` at a time, each completion posted back and
  // immediately replaced by the next request.
  double repo_gets(int inflight, double seconds) {
    boost::asio::io_context io;
    auto work = boost::asio::make_work_guard(io);
    std::atomic<bool> stop{false};
    uint64_t done = 0;  // io thread only
    int outstanding = 0;
    std::function<void()> issue = [&] {
      ++outstanding;
      store::ObjectRepository::get_async(
          *store, io.get_executor(), "bench", "hot", 1,
          [&](store::DbStatus st, std::optional<store::StoredObject> o) {
            --outstanding;
            if (stop) {
              if (outstanding == 0) work.reset();
              return;
            }
            if (st.ok() && o) ++done;
            issue();
          });
    };
    boost::asio::post(io, [&] {
      for (int i = 0; i < inflight; ++i) issue();
    });
    auto start = Clock::now();
    std::thread t([&] { io.run(); });
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
    double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    t.join();
    return static_cast<double>(done) / elapsed;
  }
};

}  // namespace

int main(int argc, char** argv) {
  double seconds = 5;
  int threads = 4;
  int inflight = 4;
  int rounds = 5;
  bool json_out = false;
  CLI::App app{"shardd storage benchmark"};
  app.add_option("--seconds", seconds, "Seconds per measurement");
  app.add_option("--threads", threads, "Client threads (and connections)");
  app.add_option("--inflight", inflight, "Cached reads in flight per storage thread")
      ->check(CLI::Range(1, 256));
  app.add_option("--rounds", rounds, "Alternations of the repository and raw sides")
      ->check(CLI::Range(1, 100));
  app.add_flag("--json", json_out, "One JSON line of results");
  bool do_sqlite = true, do_mysql = true, do_cache = true;
  app.add_flag("!--no-sqlite", do_sqlite, "Skip the SQLite update case");
  app.add_flag("!--no-mysql", do_mysql, "Skip the MariaDB update cases");
  app.add_flag("!--no-cache", do_cache, "Skip the Redis cache-hit read case");
  CLI11_PARSE(app, argc, argv);

  nlohmann::json results;
  auto report = [&](const std::string& name, double repo, double raw, double target) {
    results[name] = {
        {"repository_per_s", repo}, {"raw_per_s", raw}, {"ratio", repo / raw}, {"target", target}};
    if (!json_out) {
      std::printf("%-34s repository %9.0f/s   raw %9.0f/s   ratio %.2f (target >= %.1f)\n",
                  name.c_str(), repo, raw, repo / raw, target);
      std::fflush(stdout);
    }
  };

  auto tmp =
      std::filesystem::temp_directory_path() / ("shardd-store-bench-" + std::to_string(getpid()));
  std::filesystem::create_directories(tmp);

  if (do_sqlite) {  // SQLite, memory cache
    Bench b;
    b.config.server.data_dir = tmp.string();
    b.open(threads);
    b.seed("repo-", threads);
    b.seed("raw-", threads);
    std::string path = b.config.sqlite_path();
    auto r = interleave(rounds, seconds,
                        {[&](double t) { return b.repo_updates(threads, t); },
                         [&](double t) { return raw_sqlite_updates(path, threads, t); }});
    b.close();
    report("sqlite update tx", r[0], r[1], 0.8);
  }

  test::MariaDbServer mysql;
  test::RedisServer redis;
  mysql.start();
  redis.start();
  auto mysql_config = [&](Bench& b) {
    b.config.server.data_dir = tmp.string();
    b.config.store.backend = "mysql";
    b.config.mysql.host = "127.0.0.1";
    b.config.mysql.port = mysql.port();
    b.config.mysql.user = test::MariaDbServer::kUser;
    b.config.mysql.password = test::MariaDbServer::kPassword;
    b.config.mysql.database = test::MariaDbServer::kDatabase;
  };
  if (do_mysql) {  // MariaDB, memory cache and Redis cache, alternating with the raw driver
    Bench b;
    mysql_config(b);
    b.open(threads);
    b.seed("repo-", threads);
    b.seed("raw-", threads);
    Bench r;
    mysql_config(r);
    r.config.cache.backend = "redis";
    r.config.redis.port = redis.port();
    r.open(threads);
    auto v = interleave(rounds, seconds,
                        {[&](double t) { return b.repo_updates(threads, t); },
                         [&](double t) { return raw_mysql_updates(b.config.mysql, threads, t); },
                         [&](double t) { return r.repo_updates(threads, t); }});
    r.close();
    b.close();
    report("mariadb update tx (memory cache)", v[0], v[1], 0.8);
    report("mariadb update tx (redis cache)", v[2], v[1], 0.8);
  }
  if (do_cache) {  // Cache-hit reads: repository vs raw GET of the same stored entry
    Bench r;
    mysql_config(r);
    r.config.cache.backend = "redis";
    r.config.redis.port = redis.port();
    r.config.redis.key_prefix = "bench:";
    r.open(threads);
    int64_t v = 0;
    store::DbStatus st = r.store->run_sync([&](store::StoreContext& ctx) {
      return store::ObjectRepository::put(ctx, "bench", "hot", 1, std::string(100, 'h'),
                                          std::nullopt, &v);
    });
    if (!st.ok()) die("seed hot: " + st.to_string());
    // The raw client reads the very key the repository uses: find it.
    redisContext* c = redisConnect("127.0.0.1", redis.port());
    auto* keys = static_cast<redisReply*>(redisCommand(c, "KEYS bench:*"));
    std::string key = keys && keys->elements > 0 ? keys->element[0]->str : "";
    if (keys) freeReplyObject(keys);
    redisFree(c);
    if (key.empty()) die("no cached key found");
    auto rates = interleave(
        rounds, seconds,
        {[&](double t) { return r.repo_gets(inflight * threads, t); },
         [&](double t) { return raw_redis_gets(redis.port(), key, threads, t); }});
    r.close();
    double repo = rates[0], raw = rates[1];
    report("redis cache-hit read", repo, raw, 0.7);
  }
  std::filesystem::remove_all(tmp);
  if (json_out) std::cout << results.dump() << "\n";
  return 0;
}
