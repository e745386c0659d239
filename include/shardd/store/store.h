#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "shardd/core/barrier.h"
#include "shardd/core/config.h"
#include "shardd/core/metrics.h"
#include "shardd/store/cache.h"
#include "shardd/store/db.h"
#include "shardd/store/migration.h"
#include "shardd/store/write_behind.h"

namespace shardd::store {

class Store;
class DbPool;

// The value of storage work that has none (Store::run_void).
struct Unit {};

// What one unit of storage work sees. Lives on a storage thread for the
// duration of the work; the database connection is leased on first use and
// returned when the context ends.
class StoreContext {
 public:
  explicit StoreContext(Store& store);
  // `probe`: this context checks whether a database that was unreachable is
  // back, so it may connect while the store is not ready (every other context
  // fails fast then).
  StoreContext(Store& store, bool probe);
  ~StoreContext();
  StoreContext(const StoreContext&) = delete;
  StoreContext& operator=(const StoreContext&) = delete;

  // The leased connection (UNAVAILABLE when the database is unreachable or
  // the pool stays exhausted for store.pool_wait_ms).
  DbStatus db(DbConnection** out);
  Cache& cache();
  Dialect dialect() const;

  // Runs `fn` inside a transaction and commits. On kRetry (deadlock, lock
  // wait timeout, SQLITE_BUSY) it rolls back and runs `fn` again, at most
  // store.retry_attempts more times, with a short randomized backoff. `fn`
  // must only have database side effects (it may run more than once).
  // Any failure rolls back: nothing is half-written.
  DbStatus transaction(const std::function<DbStatus(DbConnection&)>& fn);

  // Exactly-once application of a client request. Inside one transaction:
  // if (scope, key) was recorded, returns its stored result with
  // *replayed = true and does not run `fn`; otherwise runs `fn` (which sets
  // *result) and records (scope, key, result). REQUIRES: key is 1..128 bytes.
  DbStatus idempotent(std::string_view scope, std::string_view key,
                      const std::function<DbStatus(DbConnection&, std::string* result)>& fn,
                      std::string* result, bool* replayed);

  // Loads one row for a cache fill: sets *found and, when found, *value.
  using LoadFn = std::function<DbStatus(DbConnection&, std::string* value, bool* found)>;

  // Read-through: the cache; on a miss `load` reads the database and the
  // result fills the cache (TTL with jitter), or a negative entry for
  // cache.negative_ttl_ms when there is no row.
  DbStatus read_through(std::string_view key, const LoadFn& load, std::string* value,
                        bool* found);

  // Write-through, called after the database commit: stores `value` under
  // `key` (or erases it when value is null). If the update fails the key is
  // erased; if that fails too it is logged and counted, and the cache moves
  // to a new key epoch so the stale entry is never read (see docs).
  void cache_after_commit(std::string_view key, const std::string* value);
  // The same for a row with a version, where writers may commit concurrently
  // (optimistic versions): a write-through never replaces a newer version's.
  void cache_after_commit_versioned(std::string_view key, const std::string& value,
                                    int64_t version);

  // Capped lists in the cache (Cache::list_append; `key` as for the other
  // calls, prefixed here). After a commit: appends to the list if it exists;
  // if that fails the list is erased (or the cache moves to a new key epoch),
  // so no list is ever read with a gap.
  void list_append_after_commit(std::string_view key, const std::vector<std::string>& values,
                                size_t max_len);
  // Rebuilds a list whole (after a miss, from the database).
  void list_replace(std::string_view key, const std::vector<std::string>& values);
  // The list, counted as a cache lookup; false on a miss or failure.
  bool list_get(std::string_view key, std::vector<std::string>* out);
  // Drops a list (its contents changed in the database).
  void list_erase(std::string_view key);

 private:
  friend class Store;
  // Counts a cache lookup result; true when it answered the read.
  bool count_lookup(CacheGet result);
  // The miss path of read_through for an already prefixed cache key `ck`.
  DbStatus load_and_fill(const std::string& ck, const LoadFn& load, std::string* value,
                         bool* found);

  Store& store_;
  std::unique_ptr<DbConnection> conn_;  // leased
  bool broken_ = false;
  bool probe_ = false;
};

struct MigrationState {
  std::string module;
  int version;
  std::string name;
  bool applied;
  std::string applied_at;
};

// The storage layer: database pool (SQLite or MySQL/MariaDB), cache (memory
// or Redis), migrations, write-behind queues. Services never use a driver
// directly; they submit work with run().
//
// Readiness follows the database both ways. While the MySQL server cannot be
// reached (at start, or after a connection attempt failed), ready() is false,
// shardd_db_up is 0, storage work fails at once with UNAVAILABLE and a
// retry_after_ms (no connection attempt per request), and one probe
// reconnects with backoff (100 ms doubling to store.connect_retry_max_ms);
// when it succeeds the store is ready again. Every change is logged and told
// to the on_readiness listener. SQLite is ready once open.
//
// Work that throws is stopped by the exception barrier: storage work answers
// kOther ("internal error"), and a completion that throws is reported; both
// are counted in shardd_internal_errors_total under the op that issued them.
//
// Thread-safety: run()/ready()/stats are safe from any thread. start() and
// stop() from the owning (control) thread.
class Store {
 public:
  // `pool`: the storage threads (a WorkerPool in the server).
  Store(const Config& config, boost::asio::io_context& pool, metrics::Registry& metrics);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Opens the database and the cache and, with store.auto_migrate, applies
  // pending migrations. SQLite problems (unwritable file, failed migration)
  // are returned. An unreachable MySQL is not an error: the store stays not
  // ready and reconnects in the background with backoff, then migrates.
  Status start(bool auto_migrate);
  // Stops reconnect attempts. Call flush_write_behind() first.
  void stop();
  bool ready() const { return ready_.load(std::memory_order_acquire); }
  std::string not_ready_reason() const;
  std::string backend_description() const;
  // Told (on a storage thread) every time ready() changes after start().
  // REQUIRES: before start().
  void on_readiness(std::function<void(bool ready, const std::string& reason)> fn);
  // One health check (the app's scheduler runs it every second): pings the
  // cache (keeping shardd_cache_up true) and, while ready, the database, so
  // an outage is noticed without traffic. `done` runs on a storage thread.
  void check_health(std::function<void()> done);
  // "SQLite 3.40.1, MariaDB client 3.3.8, hiredis 0.14.1" (shardd version).
  static std::string library_versions();

  // Runs `work(ctx, T* value)` -> DbStatus on the storage pool, then
  // `done(status, value)` on `ex`. Both may be move-only callables. Work
  // beyond the queue bound (4096 units) is refused at once with UNAVAILABLE
  // "storage overloaded".
  template <class T, class Work, class Done>
  void run(boost::asio::any_io_executor ex, Work work, Done done);
  // Same for work without a result: `work(ctx)` -> DbStatus, `done(status)`.
  template <class Work, class Done>
  void run_void(boost::asio::any_io_executor ex, Work work, Done done);

  // Cached read of one key, as read_through() does, issued from outside the
  // storage pool; `done(status, value)` runs on `ex` (nullopt: no such row).
  // Reads queued at the same time are served together: one storage thread
  // takes up to kMaxReadBatch of them and looks them all up in one cache
  // round trip (Redis MGET), then loads only the misses from the database.
  // Under concurrency this saves a thread wake-up and a Redis round trip per
  // read. Shares the queue bound of run(). Thread-safe.
  void read_cached(boost::asio::any_io_executor ex, std::string key, StoreContext::LoadFn load,
                   std::function<void(DbStatus, std::optional<std::string>)> done);

  // Runs `work` on the storage pool and waits for it. For start-up, CLI
  // commands and tests. REQUIRES: not called on a storage thread.
  DbStatus run_sync(const std::function<DbStatus(StoreContext&)>& work);

  // `shardd backup --out PATH`: SQLite through the online backup API (a
  // consistent copy while the server runs); MySQL through mariadb-dump
  // --single-transaction (credentials passed in a 0600 defaults file, never on
  // a command line). REQUIRES: not on a storage thread.
  Status backup(const std::string& out_path);
  // `shardd restore --in PATH`: loads a backup into an empty database (no
  // tables); refuses a non-empty one.
  Status restore(const std::string& in_path);

  // Adds a module's migrations (the store's own come first). REQUIRES:
  // before start(), migrate() or migration_status(); module names unique.
  void add_migrations(ModuleMigrations migrations);
  // Applies every pending migration, module by module in the order added
  // (also `shardd migrate`). `applied`: "account 2 (display names)".
  DbStatus migrate(std::vector<std::string>* applied);
  // Read-only: creates nothing (no data directory, database file or table).
  // A database that does not exist yet has every migration pending.
  DbStatus migration_status(std::vector<MigrationState>* out);

  // Creates a write-behind queue (positions and other loss-tolerant state);
  // the store flushes it periodically and at shutdown. The reference lives as
  // long as the Store. Thread-safe.
  WriteBehind& write_behind(std::string name, WriteBehind::FlushFn flush);
  // Flushes every write-behind queue now and waits (shutdown).
  DbStatus flush_write_behind();
  // Starts an asynchronous flush of every queue (the periodic job); calls
  // `done` when finished. Skips queues whose previous flush is running.
  void flush_write_behind_async(std::function<void(DbStatus)> done);

  const Config& config() const { return config_; }
  boost::asio::io_context& pool() { return pool_; }
  metrics::Registry& registry() { return registry_; }

 private:
  friend class StoreContext;
  friend class DbPool;
  struct Metrics;

  struct ReadQueue;
  // Admission against kMaxPending (false: refuse); keeps the pending gauge.
  bool admit(int n);
  void retire(int n);
  void drain_reads();

  DbStatus lease(std::unique_ptr<DbConnection>* out, bool probe);
  void give_back(std::unique_ptr<DbConnection> conn, bool broken);
  void close_idle_connections();
  // The database stopped answering: not ready, fail fast, start the probe.
  void mark_down(const std::string& reason);
  void set_ready(bool ready, const std::string& reason);
  void schedule_reconnect();
  void try_connect();
  // While not ready: how long until the next reconnect attempt.
  uint32_t retry_after_ms() const;
  DbStatus open_and_migrate(bool auto_migrate);
  DbStatus migrate_in(StoreContext& ctx, std::vector<std::string>* applied);
  std::chrono::milliseconds cache_ttl();
  void cache_failed();
  std::string cache_key(std::string_view key) const;

  const Config config_;
  boost::asio::io_context& pool_;
  metrics::Registry& registry_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<DbPool> db_;
  std::unique_ptr<Cache> cache_;
  std::unique_ptr<ReadQueue> reads_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> started_{false};
  std::atomic<bool> stopped_{false};
  std::atomic<int> pending_{0};
  std::atomic<uint64_t> cache_epoch_{0};
  std::atomic<int64_t> last_unreachable_log_ms_{0};
  bool auto_migrate_ = true;
  std::vector<ModuleMigrations> modules_;  // fixed before start()

  mutable std::mutex mu_;
  // Guarded by mu_:
  std::string not_ready_reason_;
  std::chrono::milliseconds backoff_{100};
  bool reconnecting_ = false;
  std::chrono::steady_clock::time_point next_probe_{};
  std::function<void(bool, const std::string&)> on_readiness_;
  std::vector<std::unique_ptr<WriteBehind>> write_behind_;
  std::unique_ptr<boost::asio::steady_timer> reconnect_timer_;

 public:
  static constexpr int kMaxPending = 4096;
  static constexpr size_t kMaxReadBatch = 64;
};

template <class T, class Work, class Done>
void Store::run(boost::asio::any_io_executor ex, Work work, Done done) {
  // The op that issued this work labels what the barrier reports.
  std::string op(barrier::current_op());
  metrics::Registry* reg = &registry_;
  auto complete = [reg](const std::string& label, Done& fn, DbStatus st, T value) {
    barrier::OpScope scope(label);
    barrier::run(reg, label, "storage completion", [&] { fn(std::move(st), std::move(value)); });
  };
  if (!admit(1)) {
    boost::asio::post(ex, [complete, op = std::move(op), done = std::move(done)]() mutable {
      complete(op, done, DbStatus(DbErr::kUnavailable, "storage overloaded", 500), T{});
    });
    return;
  }
  boost::asio::post(pool_, [this, complete, op = std::move(op), ex = std::move(ex),
                            work = std::move(work), done = std::move(done)]() mutable {
    T value{};
    DbStatus st;
    {
      barrier::OpScope scope(op);
      StoreContext ctx(*this);
      if (!barrier::run(&registry_, op, "storage work", [&] { st = work(ctx, &value); })) {
        st = DbStatus(DbErr::kOther, "internal error");
      }
    }
    retire(1);
    boost::asio::post(ex, [complete, op = std::move(op), done = std::move(done),
                           st = std::move(st), value = std::move(value)]() mutable {
      complete(op, done, std::move(st), std::move(value));
    });
  });
}

template <class Work, class Done>
void Store::run_void(boost::asio::any_io_executor ex, Work work, Done done) {
  run<Unit>(
      std::move(ex), [work = std::move(work)](StoreContext& ctx, Unit*) mutable { return work(ctx); },
      [done = std::move(done)](DbStatus st, Unit) mutable { done(std::move(st)); });
}

}  // namespace shardd::store
