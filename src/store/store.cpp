#include "shardd/store/store.h"

#include <charconv>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <filesystem>
#include <map>
#include <set>
#include <algorithm>
#include <future>
#include <random>
#include <thread>

#include <hiredis/hiredis.h>
#include <mysql.h>
#include <sqlite3.h>

#include "shardd/core/log.h"
#include "caches.h"
#include "drivers.h"
#include "migrations.h"
#include "shardd/store/migration.h"

namespace shardd::store {

namespace {

spdlog::logger& lg() {
  static spdlog::logger& l = log::get("store");
  return l;
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

thread_local std::mt19937_64 tl_rng{std::random_device{}()};

}  // namespace

// ---------------------------------------------------------------- values

int64_t as_int(const Value& v) {
  if (auto* i = std::get_if<int64_t>(&v)) return *i;
  if (auto* d = std::get_if<double>(&v)) return static_cast<int64_t>(*d);
  if (auto* s = std::get_if<std::string>(&v)) {
    int64_t out = 0;
    std::from_chars(s->data(), s->data() + s->size(), out);
    return out;
  }
  return 0;
}
double as_double(const Value& v) {
  if (auto* d = std::get_if<double>(&v)) return *d;
  if (auto* i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
  if (auto* s = std::get_if<std::string>(&v)) return std::strtod(s->c_str(), nullptr);
  return 0;
}
std::string as_string(const Value& v) {
  if (auto* s = std::get_if<std::string>(&v)) return *s;
  if (auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  if (auto* d = std::get_if<double>(&v)) return std::to_string(*d);
  return {};
}
bool is_null(const Value& v) { return std::holds_alternative<std::nullptr_t>(v); }

std::string_view db_err_name(DbErr e) {
  switch (e) {
    case DbErr::kOk: return "ok";
    case DbErr::kUnavailable: return "unavailable";
    case DbErr::kRetry: return "retry";
    case DbErr::kDuplicate: return "duplicate";
    case DbErr::kConstraint: return "constraint";
    case DbErr::kFull: return "full";
    case DbErr::kReadOnly: return "read_only";
    case DbErr::kOther: return "other";
  }
  return "other";
}

Status DbStatus::to_status() const {
  switch (err_) {
    case DbErr::kOk: return Status::Ok();
    case DbErr::kUnavailable:
    case DbErr::kRetry:
    case DbErr::kFull:
    case DbErr::kReadOnly:
      return Status::Unavailable("storage unavailable, retry later",
                                 retry_after_ms_ ? retry_after_ms_ : 1000);
    case DbErr::kDuplicate:
    case DbErr::kConstraint: return Status::BadRequest("conflicts with existing data");
    case DbErr::kOther: return Status::Internal("storage error");
  }
  return Status::Internal("storage error");
}

std::string DbStatus::to_string() const {
  if (ok()) return "ok";
  return std::string(db_err_name(err_)) + ": " + message_;
}

// ---------------------------------------------------------------- metrics

struct Store::Metrics {
  explicit Metrics(metrics::Registry& r)
      : stmt(r),
        db_up(r.gauge("shardd_db_up", "1 while the database answers.")),
        pool_size(r.gauge("shardd_db_pool_size", "Open database connections.")),
        pool_in_use(r.gauge("shardd_db_pool_in_use", "Database connections leased.")),
        pool_wait(r.histogram("shardd_db_pool_wait_seconds", "Time waiting for a connection.",
                              metrics::latency_buckets())),
        pool_timeouts(r.counter("shardd_db_pool_timeouts_total",
                                "Leases that gave up after store.pool_wait_ms.")),
        connects(r.counter("shardd_db_connects_total", "Database connections opened.")),
        connect_failures(
            r.counter("shardd_db_connect_failures_total", "Failed database connection attempts.")),
        tx_commits(r.counter("shardd_db_transactions_total", "Transactions by outcome.",
                             {{"result", "commit"}})),
        tx_rollbacks(r.counter("shardd_db_transactions_total", "Transactions by outcome.",
                               {{"result", "rollback"}})),
        tx_retries(r.counter("shardd_db_transaction_retries_total",
                             "Transactions run again after a deadlock or busy database.")),
        idem_replays(r.counter("shardd_idempotent_replays_total",
                               "Requests answered from a recorded idempotency key.")),
        cache_hit(r.counter("shardd_cache_requests_total", "Cache reads by result.",
                            {{"result", "hit"}})),
        cache_miss(r.counter("shardd_cache_requests_total", "Cache reads by result.",
                             {{"result", "miss"}})),
        cache_negative(r.counter("shardd_cache_requests_total", "Cache reads by result.",
                                 {{"result", "negative"}})),
        cache_error(r.counter("shardd_cache_requests_total", "Cache reads by result.",
                              {{"result", "error"}})),
        cache_write_failures(r.counter("shardd_cache_write_failures_total",
                                       "Cache updates after a commit that failed.")),
        cache_invalidate_failures(r.counter(
            "shardd_cache_invalidate_failures_total",
            "Failed cache updates whose key could not be deleted either (epoch bumped).")),
        cache_epoch(r.gauge("shardd_cache_epoch", "Current cache key epoch.")),
        pending(r.gauge("shardd_store_pending", "Storage work queued or running.")),
        read_batches(r.counter("shardd_store_read_batches_total",
                               "Batches of queued cached reads served together "
                               "(shardd_cache_requests_total / this = mean batch size).")) {}

  StmtMetrics stmt;
  metrics::Gauge& db_up;
  metrics::Gauge& pool_size;
  metrics::Gauge& pool_in_use;
  metrics::Histogram& pool_wait;
  metrics::Counter& pool_timeouts;
  metrics::Counter& connects;
  metrics::Counter& connect_failures;
  metrics::Counter& tx_commits;
  metrics::Counter& tx_rollbacks;
  metrics::Counter& tx_retries;
  metrics::Counter& idem_replays;
  metrics::Counter& cache_hit;
  metrics::Counter& cache_miss;
  metrics::Counter& cache_negative;
  metrics::Counter& cache_error;
  metrics::Counter& cache_write_failures;
  metrics::Counter& cache_invalidate_failures;
  metrics::Gauge& cache_epoch;
  metrics::Gauge& pending;
  metrics::Counter& read_batches;
};

// ---------------------------------------------------------------- pool

// A bounded pool of database connections, opened lazily. A connection that
// reported kUnavailable is discarded instead of returned, so the next lease
// opens a fresh one (statements are prepared again on it).
class DbPool {
 public:
  using Factory = std::function<DbStatus(std::unique_ptr<DbConnection>*)>;
  DbPool(Factory factory, size_t max, std::chrono::milliseconds wait, Store::Metrics& m)
      : factory_(std::move(factory)), max_(max), wait_(wait), m_(m) {}

  // *connect_failed tells a failed connection attempt (the server is not
  // reachable) from a pool that stayed exhausted (overload).
  DbStatus acquire(std::unique_ptr<DbConnection>* out, bool* connect_failed) {
    *connect_failed = false;
    auto start = std::chrono::steady_clock::now();
    std::unique_lock lock(mu_);
    for (;;) {
      if (!idle_.empty()) {
        *out = std::move(idle_.back());
        idle_.pop_back();
        break;
      }
      if (open_ < max_) {
        ++open_;
        lock.unlock();
        DbStatus st = factory_(out);
        m_.connects.inc();
        if (!st.ok()) {
          m_.connect_failures.inc();
          *connect_failed = true;
          lock.lock();
          --open_;
          cv_.notify_one();
          return st;
        }
        lock.lock();
        m_.pool_size.set(static_cast<int64_t>(open_));
        break;
      }
      if (cv_.wait_until(lock, start + wait_) == std::cv_status::timeout && idle_.empty() &&
          open_ >= max_) {
        m_.pool_timeouts.inc();
        return {DbErr::kUnavailable, "no database connection free within " +
                                         std::to_string(wait_.count()) + " ms"};
      }
    }
    ++in_use_;
    m_.pool_in_use.set(static_cast<int64_t>(in_use_));
    m_.pool_wait.observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    return DbStatus::Ok();
  }

  void release(std::unique_ptr<DbConnection> conn) {
    std::lock_guard lock(mu_);
    --in_use_;
    m_.pool_in_use.set(static_cast<int64_t>(in_use_));
    if (conn->broken()) {
      --open_;
      m_.pool_size.set(static_cast<int64_t>(open_));
      conn.reset();
    } else {
      idle_.push_back(std::move(conn));
    }
    cv_.notify_one();
  }

  void clear_idle() {
    std::lock_guard lock(mu_);
    open_ -= idle_.size();
    idle_.clear();
    m_.pool_size.set(static_cast<int64_t>(open_));
  }

 private:
  Factory factory_;
  const size_t max_;
  const std::chrono::milliseconds wait_;
  Store::Metrics& m_;
  std::mutex mu_;
  std::condition_variable cv_;
  // Guarded by mu_:
  std::vector<std::unique_ptr<DbConnection>> idle_;
  size_t open_ = 0;
  size_t in_use_ = 0;
};

// ---------------------------------------------------------------- store

Store::Store(const Config& config, boost::asio::io_context& pool, metrics::Registry& registry)
    : config_(config),
      pool_(pool),
      registry_(registry),
      metrics_(std::make_unique<Metrics>(registry)),
      reads_(std::make_unique<ReadQueue>()) {
  modules_.push_back({"store", store_migrations()});
  // A fresh epoch per process: entries cached by an earlier run (whose data a
  // restore may have replaced) are never read.
  cache_epoch_ = std::random_device{}() & 0xffffff;
  metrics_->cache_epoch.set(static_cast<int64_t>(cache_epoch_.load()));
  DbPool::Factory factory;
  if (config_.store.backend == "mysql") {
    factory = [this](std::unique_ptr<DbConnection>* out) {
      return open_mysql(config_.mysql, metrics_->stmt, out);
    };
  } else {
    std::string path = config_.sqlite_path();
    factory = [this, path](std::unique_ptr<DbConnection>* out) {
      return open_sqlite(path, config_.sqlite, metrics_->stmt, out);
    };
  }
  db_ = std::make_unique<DbPool>(std::move(factory), config_.store.pool_size,
                                 std::chrono::milliseconds(config_.store.pool_wait_ms), *metrics_);
  if (config_.cache.backend == "redis") {
    cache_ = make_redis_cache(config_.redis, config_.storage_thread_count(), registry);
  } else {
    cache_ = make_memory_cache(config_.cache.memory_max_entries);
    // In-process: up whenever the process is.
    registry.gauge("shardd_cache_up", "1 while the cache backend answers.").set(1);
  }
  {
    std::lock_guard lock(mu_);
    not_ready_reason_ = "not started";
  }
}

std::string Store::library_versions() {
  return "SQLite " + std::string(sqlite3_libversion()) + ", MariaDB client " +
         std::string(mysql_get_client_info()) + ", hiredis " + std::to_string(HIREDIS_MAJOR) + "." +
         std::to_string(HIREDIS_MINOR) + "." + std::to_string(HIREDIS_PATCH);
}

void Store::on_readiness(std::function<void(bool, const std::string&)> fn) {
  std::lock_guard lock(mu_);
  on_readiness_ = std::move(fn);
}

void Store::set_ready(bool ready, const std::string& reason) {
  std::function<void(bool, const std::string&)> fn;
  {
    std::lock_guard lock(mu_);
    not_ready_reason_ = ready ? "" : reason;
    if (ready) backoff_ = std::chrono::milliseconds(100);
    fn = on_readiness_;
  }
  metrics_->db_up.set(ready ? 1 : 0);
  bool was = ready_.exchange(ready, std::memory_order_acq_rel);
  if (was != ready && fn && started_) fn(ready, reason);
}

void Store::mark_down(const std::string& reason) {
  if (!ready_.load(std::memory_order_acquire)) return;  // already down; the probe runs
  set_ready(false, reason);
  lg().error("store: database unreachable ({}); storage requests fail at once until it is back "
             "(reconnecting with backoff)",
             reason);
  close_idle_connections();  // they died with the server
  schedule_reconnect();
}

uint32_t Store::retry_after_ms() const {
  std::lock_guard lock(mu_);
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                  next_probe_ - std::chrono::steady_clock::now())
                  .count();
  return static_cast<uint32_t>(std::clamp<int64_t>(left, 100, config_.store.connect_retry_max_ms));
}

void Store::check_health(std::function<void()> done) {
  boost::asio::post(pool_, [this, done = std::move(done)] {
    cache_->ping();
    if (config_.store.backend == "mysql" && ready_.load(std::memory_order_acquire)) {
      StoreContext ctx(*this);
      DbConnection* c = nullptr;
      DbStatus st = ctx.db(&c);
      if (st.ok()) st = c->ping();
      if (!st.ok() && st.err() == DbErr::kUnavailable) mark_down(st.message());
    }
    done();
  });
}

Store::~Store() { stop(); }

std::string Store::backend_description() const {
  if (config_.store.backend == "mysql") {
    return "mysql " + config_.mysql.user + "@" +
           (config_.mysql.socket.empty()
                ? config_.mysql.host + ":" + std::to_string(config_.mysql.port)
                : config_.mysql.socket) +
           "/" + config_.mysql.database + ", cache " + std::string(cache_->name());
  }
  return "sqlite " + config_.sqlite_path() + ", cache " + std::string(cache_->name());
}

std::string Store::not_ready_reason() const {
  std::lock_guard lock(mu_);
  return not_ready_reason_;
}

DbStatus Store::open_and_migrate(bool auto_migrate) {
  DbStatus st = run_sync([](StoreContext& ctx) {
    DbConnection* c = nullptr;
    DbStatus s = ctx.db(&c);
    if (!s.ok()) return s;
    return c->ping();
  });
  if (!st.ok()) return st;
  if (auto_migrate) {
    std::vector<std::string> applied;
    st = migrate(&applied);
    if (!st.ok()) return st;
    for (const auto& a : applied) lg().info("migrated: {}", a);
  }
  return DbStatus::Ok();
}

Status Store::start(bool auto_migrate) {
  auto_migrate_ = auto_migrate;
  lg().info("store: {}", backend_description());
  if (config_.cache.backend == "redis") {
    bool up = false;
    run_sync([&](StoreContext&) {
      up = cache_->ping();
      return DbStatus::Ok();
    });
    if (!up) {
      lg().warn("store: redis {}:{} unreachable at start; the cache is bypassed (reads go to the "
                "database) until it answers",
                config_.redis.host, config_.redis.port);
    }
  }
  DbStatus st = open_and_migrate(auto_migrate);
  if (st.ok()) {
    set_ready(true, "");
    started_ = true;
    return Status::Ok();
  }
  set_ready(false, st.to_string());
  started_ = true;
  // SQLite problems and failed migrations are configuration/data problems:
  // stop start-up with the reason. An unreachable MySQL server may come back.
  if (config_.store.backend == "mysql" && st.err() == DbErr::kUnavailable) {
    lg().error("store: database unreachable ({}); not ready, retrying in the background",
               st.message());
    schedule_reconnect();
    return Status::Ok();
  }
  return Status(ErrorCode::kUnavailable, st.message());
}

void Store::schedule_reconnect() {
  std::lock_guard lock(mu_);
  if (stopped_) return;
  if (!reconnect_timer_) reconnect_timer_ = std::make_unique<boost::asio::steady_timer>(pool_);
  reconnecting_ = true;
  auto delay = backoff_;
  backoff_ = std::min(backoff_ * 2, std::chrono::milliseconds(config_.store.connect_retry_max_ms));
  next_probe_ = std::chrono::steady_clock::now() + delay;
  reconnect_timer_->expires_after(delay);
  reconnect_timer_->async_wait([this](boost::system::error_code ec) {
    if (!ec && !stopped_) try_connect();
  });
}

void Store::try_connect() {
  // Runs on a storage thread: everything happens in this one context
  // (run_sync here would wait for the very thread it runs on).
  DbStatus st;
  {
    StoreContext ctx(*this, /*probe=*/true);
    DbConnection* c = nullptr;
    st = ctx.db(&c);
    if (st.ok()) st = c->ping();
    if (st.ok() && auto_migrate_) {
      std::vector<std::string> applied;
      st = migrate_in(ctx, &applied);
      for (const auto& a : applied) lg().info("migrated: {}", a);
    }
  }
  if (!st.ok()) {
    {
      std::lock_guard lock(mu_);
      not_ready_reason_ = st.to_string();
    }
    // Once a probe reaches the backoff cap this would repeat every few
    // seconds: say it at most every 30 s.
    int64_t now = now_ms();
    if (now - last_unreachable_log_ms_.load() >= 30000) {
      last_unreachable_log_ms_ = now;
      lg().warn("store: database still unreachable: {}", st.message());
    } else {
      lg().debug("store: database still unreachable: {}", st.message());
    }
    schedule_reconnect();
    return;
  }
  {
    std::lock_guard lock(mu_);
    reconnecting_ = false;
  }
  set_ready(true, "");
  lg().info("store: database reachable, ready");
}

void Store::stop() {
  stopped_ = true;
  std::lock_guard lock(mu_);
  if (reconnect_timer_) reconnect_timer_->cancel();
}

DbStatus Store::lease(std::unique_ptr<DbConnection>* out, bool probe) {
  if (!probe && started_.load(std::memory_order_acquire) &&
      !ready_.load(std::memory_order_acquire)) {
    return {DbErr::kUnavailable, "database unavailable", retry_after_ms()};
  }
  bool connect_failed = false;
  DbStatus st = db_->acquire(out, &connect_failed);
  if (connect_failed && st.err() == DbErr::kUnavailable && config_.store.backend == "mysql" &&
      !probe && started_.load(std::memory_order_acquire)) {
    mark_down(st.message());
    return {DbErr::kUnavailable, st.message(), retry_after_ms()};
  }
  return st;
}

void Store::give_back(std::unique_ptr<DbConnection> conn, bool) {
  // A broken connection is dropped; the next lease opens a fresh one, and if
  // that fails the store goes not ready (mark_down).
  db_->release(std::move(conn));
}

void Store::close_idle_connections() { db_->clear_idle(); }

namespace {
thread_local int tl_contexts = 0;  // StoreContexts alive on this thread
}  // namespace

// ---------------------------------------------------------------- batched reads

struct Store::ReadQueue {
  struct Item {
    boost::asio::any_io_executor ex;
    std::string key;
    StoreContext::LoadFn load;
    std::function<void(DbStatus, std::optional<std::string>)> done;
    std::string op;  // barrier::current_op() of the caller
  };
  std::mutex mu;
  // Guarded by mu:
  std::deque<Item> items;
  size_t drains = 0;  // drain_reads() tasks posted or running
};

bool Store::admit(int n) {
  if (pending_.fetch_add(n, std::memory_order_relaxed) + n > kMaxPending) {
    pending_.fetch_sub(n, std::memory_order_relaxed);
    return false;
  }
  metrics_->pending.add(n);
  return true;
}

void Store::retire(int n) {
  pending_.fetch_sub(n, std::memory_order_relaxed);
  metrics_->pending.add(-n);
}

void Store::read_cached(boost::asio::any_io_executor ex, std::string key,
                        StoreContext::LoadFn load,
                        std::function<void(DbStatus, std::optional<std::string>)> done) {
  std::string op(barrier::current_op());
  if (!admit(1)) {
    boost::asio::post(ex, [this, op = std::move(op), done = std::move(done)] {
      barrier::OpScope scope(op);
      barrier::run(&registry_, op, "storage completion", [&] {
        done(DbStatus(DbErr::kUnavailable, "storage overloaded", 500), std::nullopt);
      });
    });
    return;
  }
  bool post = false;
  {
    std::lock_guard lock(reads_->mu);
    reads_->items.push_back(
        {std::move(ex), std::move(key), std::move(load), std::move(done), std::move(op)});
    if (reads_->drains == 0) {
      ++reads_->drains;
      post = true;
    }
  }
  if (post) boost::asio::post(pool_, [this] { drain_reads(); });
}

// One drain task takes the reads queued so far (up to kMaxReadBatch), and if
// more are waiting hands them to a second task first, so that every storage
// thread can work on a batch; never more tasks than storage threads. A task
// that finds new reads queued when it is done posts itself again instead of
// looping, so that other storage work queued meanwhile gets its turn.
void Store::drain_reads() {
  thread_local std::vector<ReadQueue::Item> batch;
  thread_local std::vector<std::string> keys;
  thread_local std::vector<std::string> values;
  thread_local std::vector<CacheGet> results;
  batch.clear();
  {
    std::lock_guard lock(reads_->mu);
    size_t n = std::min(kMaxReadBatch, reads_->items.size());
    for (size_t i = 0; i < n; ++i) {
      batch.push_back(std::move(reads_->items.front()));
      reads_->items.pop_front();
    }
    if (batch.empty()) {
      --reads_->drains;
      return;
    }
    if (!reads_->items.empty() && reads_->drains < config_.storage_thread_count()) {
      ++reads_->drains;
      boost::asio::post(pool_, [this] { drain_reads(); });
    }
  }
  const size_t n = batch.size();
  keys.resize(n);
  values.resize(n);
  results.resize(n);
  for (size_t i = 0; i < n; ++i) keys[i] = cache_key(batch[i].key);
  metrics_->read_batches.inc();
  {
    StoreContext ctx(*this);  // leases a database connection only for misses
    cache_->get_many(keys.data(), n, results.data(), values.data());
    for (size_t i = 0; i < n; ++i) {
      DbStatus st;
      bool found = results[i] == CacheGet::kHit;
      if (!ctx.count_lookup(results[i])) {
        const std::string& op = batch[i].op;
        barrier::OpScope scope(op);
        if (!barrier::run(&registry_, op, "storage work", [&] {
              st = ctx.load_and_fill(keys[i], batch[i].load, &values[i], &found);
            })) {
          st = DbStatus(DbErr::kOther, "internal error");
        }
      }
      std::optional<std::string> value;
      if (st.ok() && found) value = std::move(values[i]);
      retire(1);  // before the completion can run, as in run()
      boost::asio::post(batch[i].ex, [this, op = std::move(batch[i].op),
                                      done = std::move(batch[i].done), st = std::move(st),
                                      value = std::move(value)]() mutable {
        barrier::OpScope scope(op);
        barrier::run(&registry_, op, "storage completion",
                     [&] { done(std::move(st), std::move(value)); });
      });
    }
  }
  batch.clear();  // executors and functions are released here, on this thread
  bool again = false;
  {
    std::lock_guard lock(reads_->mu);
    if (reads_->items.empty()) {
      --reads_->drains;
    } else {
      again = true;
    }
  }
  if (again) boost::asio::post(pool_, [this] { drain_reads(); });
}

DbStatus Store::run_sync(const std::function<DbStatus(StoreContext&)>& work) {
  if (tl_contexts > 0) {
    // Waiting here could deadlock a small storage pool; it is a bug.
    lg().critical("store: run_sync called from storage work (would deadlock)");
    return {DbErr::kOther, "run_sync called on a storage thread"};
  }
  std::promise<DbStatus> p;
  auto f = p.get_future();
  boost::asio::post(pool_, [&] {
    DbStatus result;
    {
      StoreContext ctx(*this);  // returns its connection before the caller wakes up
      result = work(ctx);
    }
    p.set_value(std::move(result));
  });
  return f.get();
}

std::chrono::milliseconds Store::cache_ttl() {
  double base = config_.cache.ttl_ms;
  double j = config_.cache.ttl_jitter;
  std::uniform_real_distribution<double> dist(1.0 - j, 1.0 + j);
  return std::chrono::milliseconds(static_cast<int64_t>(base * dist(tl_rng)));
}

std::string Store::cache_key(std::string_view key) const {
  std::string out;
  out.reserve(config_.redis.key_prefix.size() + key.size() + 10);
  if (config_.cache.backend == "redis") out += config_.redis.key_prefix;
  out += std::to_string(cache_epoch_.load(std::memory_order_relaxed));
  out += ':';
  out += key;
  return out;
}

void Store::cache_failed() {
  uint64_t e = cache_epoch_.fetch_add(1) + 1;
  metrics_->cache_epoch.set(static_cast<int64_t>(e));
  // While the cache is down every write lands here; say so once a second.
  static std::atomic<int64_t> last_log_ms{0};
  int64_t now = now_ms();
  int64_t last = last_log_ms.load(std::memory_order_relaxed);
  if (now - last >= 1000 && last_log_ms.compare_exchange_strong(last, now)) {
    lg().warn("cache: an update and its invalidation both failed; moved to key epoch {} so no "
              "stale entry is read",
              e);
  }
}

// ---------------------------------------------------------------- migrations

namespace {

constexpr Stmt kCreateVersions{
    "migrations.create",
    "CREATE TABLE IF NOT EXISTS schema_versions (module VARCHAR(64) NOT NULL, version BIGINT NOT "
    "NULL, name VARCHAR(200) NOT NULL, applied_ms BIGINT NOT NULL, PRIMARY KEY (module, version))",
    "CREATE TABLE IF NOT EXISTS schema_versions (module VARCHAR(64) NOT NULL, version BIGINT NOT "
    "NULL, name VARCHAR(200) NOT NULL, applied_ms BIGINT NOT NULL, PRIMARY KEY (module, version)) "
    "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"};
constexpr Stmt kListVersions{"migrations.list",
                             "SELECT module, version, name, applied_ms FROM schema_versions"};
constexpr Stmt kRecordVersion{"migrations.record",
                              "INSERT INTO schema_versions (module, version, name, applied_ms) "
                              "VALUES (?, ?, ?, ?)"};
constexpr Stmt kHasTable{
    "migrations.exists",
    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
    "SELECT count(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND "
    "table_name = ?"};
// Before per-module versions, one global sequence was kept in
// schema_migrations: 1 = store 1, 2 = account 1, 3 = account 2.
constexpr Stmt kListLegacy{"migrations.legacy_list",
                           "SELECT version, name, applied_ms FROM schema_migrations"};
constexpr Stmt kDropLegacy{"migrations.legacy_drop", "DROP TABLE schema_migrations"};
constexpr Stmt kMigrateLock{"migrations.lock", "SELECT 1", "SELECT GET_LOCK('shardd_migrate', 30)"};
constexpr Stmt kMigrateUnlock{"migrations.unlock", "SELECT 1",
                              "SELECT RELEASE_LOCK('shardd_migrate')"};

DbStatus has_table(DbConnection& c, const char* name, bool* out) {
  Rows rows;
  DbStatus st = c.query(kHasTable, {Value(std::string(name))}, &rows);
  if (st.ok()) *out = !rows.empty() && as_int(rows.rows[0][0]) > 0;
  return st;
}

// (module, version) -> applied_ms, from schema_versions (and a legacy
// schema_migrations table, read-only here).
DbStatus applied_versions(DbConnection& c, std::map<std::pair<std::string, int64_t>, int64_t>* out) {
  bool has = false;
  DbStatus st = has_table(c, "schema_versions", &has);
  if (!st.ok()) return st;
  Rows rows;
  if (has) {
    st = c.query(kListVersions, {}, &rows);
    if (!st.ok()) return st;
    for (auto& r : rows.rows) (*out)[{as_string(r[0]), as_int(r[1])}] = as_int(r[3]);
  }
  bool legacy = false;
  st = has_table(c, "schema_migrations", &legacy);
  if (!st.ok() || !legacy) return st;
  st = c.query(kListLegacy, {}, &rows);
  if (!st.ok()) return st;
  static const std::map<int64_t, std::pair<std::string, int64_t>> kMap = {
      {1, {"store", 1}}, {2, {"account", 1}}, {3, {"account", 2}}};
  for (auto& r : rows.rows) {
    auto it = kMap.find(as_int(r[0]));
    if (it != kMap.end()) out->emplace(it->second, as_int(r[2]));
  }
  return DbStatus::Ok();
}

std::vector<std::string> split_statements(std::string_view script) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < script.size()) {
    size_t end = script.find(';', start);
    if (end == std::string_view::npos) end = script.size();
    std::string s(script.substr(start, end - start));
    size_t a = s.find_first_not_of(" \t\r\n");
    if (a != std::string::npos) {
      size_t b = s.find_last_not_of(" \t\r\n");
      out.push_back(s.substr(a, b - a + 1));
    }
    start = end + 1;
  }
  return out;
}

std::string iso_time(int64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

void Store::add_migrations(ModuleMigrations m) { modules_.push_back(std::move(m)); }

DbStatus Store::migration_status(std::vector<MigrationState>* out) {
  auto list = [this, out](DbConnection& c) {
    std::map<std::pair<std::string, int64_t>, int64_t> applied;
    DbStatus st = applied_versions(c, &applied);
    if (!st.ok()) return st;
    for (const auto& mod : modules_) {
      for (const auto& m : mod.migrations) {
        auto it = applied.find({mod.module, m.version});
        out->push_back({mod.module, m.version, std::string(m.name), it != applied.end(),
                        it != applied.end() ? iso_time(it->second) : ""});
      }
    }
    return DbStatus::Ok();
  };
  if (config_.store.backend == "sqlite") {
    // Read-only, and nothing at all when there is no database file yet.
    std::string path = config_.sqlite_path();
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
      for (const auto& mod : modules_) {
        for (const auto& m : mod.migrations) {
          out->push_back({mod.module, m.version, std::string(m.name), false, ""});
        }
      }
      return DbStatus::Ok();
    }
    std::unique_ptr<DbConnection> c;
    DbStatus st = open_sqlite_readonly(path, metrics_->stmt, &c);
    if (!st.ok()) return st;
    return list(*c);
  }
  return run_sync([&list](StoreContext& ctx) {
    DbConnection* c = nullptr;
    DbStatus st = ctx.db(&c);
    if (!st.ok()) return st;
    return list(*c);
  });
}

DbStatus Store::migrate(std::vector<std::string>* applied_out) {
  return run_sync([this, applied_out](StoreContext& ctx) { return migrate_in(ctx, applied_out); });
}

DbStatus Store::migrate_in(StoreContext& ctx, std::vector<std::string>* applied_out) {
  DbConnection* c = nullptr;
  DbStatus st = ctx.db(&c);
  if (!st.ok()) return st;
  Rows lock_rows;
  st = c->query(kMigrateLock, {}, &lock_rows);
  if (!st.ok()) return st;
  // GET_LOCK answers 1 when held, 0 after its timeout, NULL on error.
  if (lock_rows.empty() || lock_rows.rows[0].empty() ||
      std::holds_alternative<std::nullptr_t>(lock_rows.rows[0][0]) ||
      as_int(lock_rows.rows[0][0]) != 1) {
    return DbStatus(DbErr::kUnavailable, "migration lock busy (another shardd is migrating)");
  }
  auto unlock = [&] {
    Rows r;
    c->query(kMigrateUnlock, {}, &r);
  };
  std::map<std::pair<std::string, int64_t>, int64_t> done;
  st = c->exec(kCreateVersions, {});
  if (st.ok()) st = applied_versions(*c, &done);
  // A database from before per-module versions: carry its versions over
  // once, then drop the old table.
  bool legacy = false;
  if (st.ok()) st = has_table(*c, "schema_migrations", &legacy);
  if (st.ok() && legacy) {
    bool tx = c->dialect() == Dialect::kSqlite;
    if (tx) st = c->begin(true);
    for (const auto& [key, applied_ms] : done) {
      if (!st.ok()) break;
      st = c->exec(kRecordVersion, {Value(key.first), Value(key.second),
                                    Value(std::string("(from schema_migrations)")),
                                    Value(applied_ms)});
      if (st.err() == DbErr::kDuplicate) st = DbStatus::Ok();
    }
    if (st.ok()) st = c->exec(kDropLegacy, {});
    if (tx) {
      if (st.ok()) {
        st = c->commit();
      } else {
        c->rollback();
      }
    }
    if (st.ok()) lg().info("migrations: schema_migrations converted to schema_versions");
  }
  if (!st.ok()) {
    unlock();
    return st;
  }
  for (const auto& mod : modules_) {
    for (const auto& m : mod.migrations) {
      if (done.count({mod.module, m.version})) continue;
      std::string label = mod.module + " " + std::to_string(m.version) + " (" +
                          std::string(m.name) + ")";
      std::string_view script =
          c->dialect() == Dialect::kMysql && !m.mysql.empty() ? m.mysql : m.sqlite;
      // SQLite runs the whole migration in one transaction; MySQL commits DDL
      // implicitly, so a failed MySQL migration may leave earlier statements
      // applied (the error names the statement that failed).
      bool tx = c->dialect() == Dialect::kSqlite;
      if (tx) st = c->begin(true);
      for (const auto& stmt : split_statements(script)) {
        if (!st.ok()) break;
        st = c->exec_script(stmt);
        if (!st.ok()) {
          st = DbStatus(st.err(), "migration " + label + " failed at: " + stmt + "\n" +
                                      "database error: " + st.message());
        }
      }
      if (st.ok()) {
        st = c->exec(kRecordVersion, {Value(mod.module), Value(int64_t{m.version}),
                                      Value(std::string(m.name)), Value(now_ms())});
      }
      if (tx) {
        if (st.ok()) {
          st = c->commit();
        } else {
          c->rollback();
        }
      }
      if (!st.ok()) {
        unlock();
        return st;
      }
      applied_out->push_back(label);
    }
  }
  unlock();
  return DbStatus::Ok();
}

// ---------------------------------------------------------------- write-behind

WriteBehind& Store::write_behind(std::string name, WriteBehind::FlushFn flush) {
  auto wb = std::make_unique<WriteBehind>(*this, std::move(name), std::move(flush), registry_);
  WriteBehind& ref = *wb;
  std::lock_guard lock(mu_);
  write_behind_.push_back(std::move(wb));
  return ref;
}

DbStatus Store::flush_write_behind() {
  std::vector<WriteBehind*> all;
  {
    std::lock_guard lock(mu_);
    for (auto& w : write_behind_) all.push_back(w.get());
  }
  DbStatus first = DbStatus::Ok();
  for (auto* w : all) {
    DbStatus st = w->flush_sync();
    if (!st.ok() && first.ok()) first = st;
  }
  return first;
}

void Store::flush_write_behind_async(std::function<void(DbStatus)> done) {
  std::vector<WriteBehind*> all;
  {
    std::lock_guard lock(mu_);
    for (auto& w : write_behind_) all.push_back(w.get());
  }
  if (all.empty()) return done(DbStatus::Ok());
  struct Join {
    std::mutex mu;
    size_t left;
    DbStatus first;
    std::function<void(DbStatus)> done;
  };
  auto join = std::make_shared<Join>();
  join->left = all.size();
  join->done = std::move(done);
  for (auto* w : all) {
    w->flush_async([join](DbStatus st) {
      std::unique_lock lock(join->mu);
      if (!st.ok() && join->first.ok()) join->first = st;
      if (--join->left == 0) {
        DbStatus result = join->first;
        lock.unlock();
        join->done(result);
      }
    });
  }
}

WriteBehind::WriteBehind(Store& store, std::string name, FlushFn flush, metrics::Registry& m)
    : store_(store),
      name_(std::move(name)),
      flush_(std::move(flush)),
      dirty_gauge_(m.gauge("shardd_write_behind_dirty", "Keys waiting for a write-behind flush.",
                           {{"queue", name_}})),
      written_(m.counter("shardd_write_behind_written_total", "Keys written by write-behind.",
                         {{"queue", name_}})),
      failures_(m.counter("shardd_write_behind_failures_total",
                          "Write-behind batches that failed (kept for the next flush).",
                          {{"queue", name_}})) {}

void WriteBehind::mark(std::string key, std::string value) {
  std::lock_guard lock(mu_);
  dirty_.insert_or_assign(std::move(key), std::move(value));
  dirty_gauge_.set(static_cast<int64_t>(dirty_.size()));
}

size_t WriteBehind::dirty() const {
  std::lock_guard lock(mu_);
  return dirty_.size();
}

void WriteBehind::put_back(Batch& batch) {
  std::lock_guard lock(mu_);
  for (auto& [k, v] : batch) dirty_.try_emplace(std::move(k), std::move(v));  // newer mark wins
  dirty_gauge_.set(static_cast<int64_t>(dirty_.size()));
}

DbStatus WriteBehind::write(Batch& batch) {
  DbStatus first = DbStatus::Ok();
  for (size_t i = 0; i < batch.size(); i += kBatchSize) {
    Batch chunk(std::make_move_iterator(batch.begin() + static_cast<std::ptrdiff_t>(i)),
                std::make_move_iterator(
                    batch.begin() + static_cast<std::ptrdiff_t>(std::min(batch.size(), i + kBatchSize))));
    DbStatus st;
    {
      StoreContext ctx(store_);
      st = ctx.transaction([&](DbConnection& c) { return flush_(c, chunk); });
    }
    if (st.ok()) {
      written_.inc(chunk.size());
    } else {
      failures_.inc();
      if (first.ok()) first = st;
      put_back(chunk);
    }
  }
  return first;
}

void WriteBehind::flush_async(std::function<void(DbStatus)> done) {
  Batch batch;
  {
    std::lock_guard lock(mu_);
    if (flushing_ || dirty_.empty()) {
      done(DbStatus::Ok());
      return;
    }
    flushing_ = true;
    batch.reserve(dirty_.size());
    for (auto& kv : dirty_) batch.emplace_back(kv.first, std::move(kv.second));
    dirty_.clear();
    dirty_gauge_.set(0);
  }
  boost::asio::post(store_.pool(), [this, batch = std::move(batch), done = std::move(done)]() mutable {
    DbStatus st = write(batch);
    {
      std::lock_guard lock(mu_);
      flushing_ = false;
    }
    done(st);
  });
}

void WriteBehind::flush_key(const std::string& key, std::function<void(DbStatus)> done) {
  Batch batch;
  {
    std::lock_guard lock(mu_);
    auto it = dirty_.find(key);
    if (it == dirty_.end()) {
      done(DbStatus::Ok());
      return;
    }
    batch.emplace_back(it->first, std::move(it->second));
    dirty_.erase(it);
    dirty_gauge_.set(static_cast<int64_t>(dirty_.size()));
  }
  boost::asio::post(store_.pool(), [this, batch = std::move(batch), done = std::move(done)]() mutable {
    done(write(batch));
  });
}

DbStatus WriteBehind::flush_sync() {
  std::promise<DbStatus> p;
  auto f = p.get_future();
  // Wait for a running flush first, so nothing is left behind.
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (!flushing_) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  flush_async([&p](DbStatus st) { p.set_value(st); });
  return f.get();
}

// ---------------------------------------------------------------- context

StoreContext::StoreContext(Store& store) : store_(store) { ++tl_contexts; }
StoreContext::StoreContext(Store& store, bool probe) : store_(store), probe_(probe) {
  ++tl_contexts;
}

StoreContext::~StoreContext() {
  --tl_contexts;
  if (conn_) {
    conn_->rollback();  // a transaction left open by a failed unit of work
    store_.give_back(std::move(conn_), broken_);
  }
}

DbStatus StoreContext::db(DbConnection** out) {
  if (!conn_) {
    DbStatus st = store_.lease(&conn_, probe_);
    if (!st.ok()) return st;
  }
  *out = conn_.get();
  return DbStatus::Ok();
}

Cache& StoreContext::cache() { return *store_.cache_; }

Dialect StoreContext::dialect() const {
  return store_.config_.store.backend == "mysql" ? Dialect::kMysql : Dialect::kSqlite;
}

DbStatus StoreContext::transaction(const std::function<DbStatus(DbConnection&)>& fn) {
  DbConnection* c = nullptr;
  DbStatus st = db(&c);
  if (!st.ok()) return st;
  const uint32_t attempts = store_.config_.store.retry_attempts + 1;
  for (uint32_t attempt = 1;; ++attempt) {
    st = c->begin(true);
    if (st.ok()) st = fn(*c);
    if (st.ok()) st = c->commit();
    if (st.ok()) {
      store_.metrics_->tx_commits.inc();
      return st;
    }
    c->rollback();
    store_.metrics_->tx_rollbacks.inc();
    if (st.err() != DbErr::kRetry || attempt >= attempts) return st;
    store_.metrics_->tx_retries.inc();
    // Randomized exponential backoff (full jitter): transactions that
    // deadlocked together must not retry in lockstep.
    int cap_us = 2000 << std::min<uint32_t>(attempt - 1, 6);
    std::uniform_int_distribution<int> jitter(100, cap_us);
    std::this_thread::sleep_for(std::chrono::microseconds(jitter(tl_rng)));
  }
}

namespace {
constexpr Stmt kIdemGet{"idempotency.get",
                        "SELECT result FROM idempotency_keys WHERE scope = ? AND idem_key = ?"};
constexpr Stmt kIdemClaim{"idempotency.claim",
                          "INSERT INTO idempotency_keys (scope, idem_key, result, created_ms) "
                          "VALUES (?, ?, '', ?)"};
constexpr Stmt kIdemSetResult{"idempotency.set_result",
                              "UPDATE idempotency_keys SET result = ? WHERE scope = ? AND "
                              "idem_key = ?"};
}  // namespace

DbStatus StoreContext::idempotent(
    std::string_view scope, std::string_view key,
    const std::function<DbStatus(DbConnection&, std::string* result)>& fn, std::string* result,
    bool* replayed) {
  if (key.empty() || key.size() > 128) {
    return {DbErr::kConstraint, "idempotency key must be 1..128 bytes"};
  }
  *replayed = false;
  DbStatus st = transaction([&](DbConnection& c) {
    Rows rows;
    DbStatus s = c.query(kIdemGet, {std::string(scope), std::string(key)}, &rows);
    if (!s.ok()) return s;
    if (!rows.empty()) {
      *result = as_string(rows.rows[0][0]);
      *replayed = true;
      return DbStatus::Ok();
    }
    // Claim the key before doing the work: a concurrent request with the same
    // key blocks on this row until we commit (or roll back), then fails with
    // a duplicate, runs again and finds our result. It never runs `fn` too.
    s = c.exec(kIdemClaim, {std::string(scope), std::string(key), now_ms()});
    if (s.err() == DbErr::kDuplicate) return DbStatus(DbErr::kRetry, "idempotency key race");
    if (!s.ok()) return s;
    result->clear();
    s = fn(c, result);
    if (!s.ok()) return s;
    return c.exec(kIdemSetResult, {*result, std::string(scope), std::string(key)});
  });
  if (st.ok() && *replayed) store_.metrics_->idem_replays.inc();
  return st;
}

bool StoreContext::count_lookup(CacheGet result) {
  switch (result) {
    case CacheGet::kHit: store_.metrics_->cache_hit.inc(); return true;
    case CacheGet::kNegative: store_.metrics_->cache_negative.inc(); return true;
    case CacheGet::kMiss: store_.metrics_->cache_miss.inc(); return false;
    case CacheGet::kError: store_.metrics_->cache_error.inc(); return false;
  }
  return false;
}

DbStatus StoreContext::read_through(std::string_view key, const LoadFn& load, std::string* value,
                                    bool* found) {
  std::string ck = store_.cache_key(key);
  CacheGet r = store_.cache_->get(ck, value);
  if (count_lookup(r)) {
    *found = r == CacheGet::kHit;
    return DbStatus::Ok();
  }
  return load_and_fill(ck, load, value, found);
}

DbStatus StoreContext::load_and_fill(const std::string& ck, const LoadFn& load,
                                     std::string* value, bool* found) {
  DbConnection* c = nullptr;
  DbStatus st = db(&c);
  if (!st.ok()) return st;
  *found = false;
  st = load(*c, value, found);
  if (!st.ok()) return st;
  Cache& cache = *store_.cache_;
  if (*found) {
    cache.put(ck, *value, store_.cache_ttl(), /*if_absent=*/true);
  } else if (store_.config_.cache.negative_ttl_ms > 0) {
    cache.put_negative(ck, std::chrono::milliseconds(store_.config_.cache.negative_ttl_ms));
  }
  return DbStatus::Ok();
}

void StoreContext::cache_after_commit_versioned(std::string_view key, const std::string& value,
                                                int64_t version) {
  std::string ck = store_.cache_key(key);
  Cache& cache = *store_.cache_;
  if (cache.put_versioned(ck, value, version, store_.cache_ttl())) return;
  store_.metrics_->cache_write_failures.inc();
  if (cache.erase(ck)) return;
  store_.metrics_->cache_invalidate_failures.inc();
  store_.cache_failed();
}

void StoreContext::list_append_after_commit(std::string_view key,
                                            const std::vector<std::string>& values,
                                            size_t max_len) {
  std::string ck = store_.cache_key(key);
  Cache& cache = *store_.cache_;
  if (cache.list_append(ck, values, max_len, store_.cache_ttl())) return;
  store_.metrics_->cache_write_failures.inc();
  if (cache.erase(ck)) return;
  store_.metrics_->cache_invalidate_failures.inc();
  store_.cache_failed();
}

void StoreContext::list_replace(std::string_view key, const std::vector<std::string>& values) {
  std::string ck = store_.cache_key(key);
  Cache& cache = *store_.cache_;
  if (cache.list_replace(ck, values, store_.cache_ttl())) return;
  store_.metrics_->cache_write_failures.inc();
  if (cache.erase(ck)) return;
  store_.metrics_->cache_invalidate_failures.inc();
  store_.cache_failed();
}

bool StoreContext::list_get(std::string_view key, std::vector<std::string>* out) {
  return count_lookup(store_.cache_->list_get(store_.cache_key(key), out));
}

void StoreContext::list_erase(std::string_view key) {
  if (store_.cache_->erase(store_.cache_key(key))) return;
  store_.metrics_->cache_invalidate_failures.inc();
  store_.cache_failed();
}

void StoreContext::cache_after_commit(std::string_view key, const std::string* value) {
  std::string ck = store_.cache_key(key);
  Cache& cache = *store_.cache_;
  if (value && cache.put(ck, *value, store_.cache_ttl())) return;
  if (value) store_.metrics_->cache_write_failures.inc();
  if (cache.erase(ck)) return;
  store_.metrics_->cache_invalidate_failures.inc();
  store_.cache_failed();
}

}  // namespace shardd::store
