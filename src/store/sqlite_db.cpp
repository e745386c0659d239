#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <sqlite3.h>
#include <unordered_map>

#include "drivers.h"

namespace shardd::store {
namespace {

DbErr classify(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return DbErr::kRetry;
    case SQLITE_CONSTRAINT:
      if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        return DbErr::kDuplicate;
      }
      return DbErr::kConstraint;
    case SQLITE_FULL:
      return DbErr::kFull;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_CANTOPEN:
      return DbErr::kReadOnly;
    case SQLITE_IOERR:
      return rc == SQLITE_IOERR_WRITE || rc == SQLITE_IOERR_FSYNC ? DbErr::kFull
                                                                   : DbErr::kUnavailable;
    default:
      return DbErr::kOther;
  }
}

class SqliteConnection final : public DbConnection {
 public:
  SqliteConnection(sqlite3* db, StmtMetrics& metrics) : db_(db), metrics_(metrics) {}
  ~SqliteConnection() override {
    for (auto& [k, p] : stmts_) sqlite3_finalize(p.stmt);
    sqlite3_close_v2(db_);
  }

  Dialect dialect() const override { return Dialect::kSqlite; }

  DbStatus exec(const Stmt& s, std::span<const Value> params, ExecResult* out) override {
    return run(s, params, nullptr, out);
  }
  DbStatus query(const Stmt& s, std::span<const Value> params, Rows* out) override {
    out->columns.clear();
    out->rows.clear();
    return run(s, params, out, nullptr);
  }
  DbStatus begin(bool write) override { return simple(write ? "BEGIN IMMEDIATE" : "BEGIN"); }
  DbStatus commit() override { return simple("COMMIT"); }
  DbStatus rollback() override {
    if (sqlite3_get_autocommit(db_)) return DbStatus::Ok();  // nothing open
    return simple("ROLLBACK");
  }
  DbStatus exec_script(std::string_view sql) override { return simple(std::string(sql)); }
  DbStatus ping() override { return DbStatus::Ok(); }
  bool broken() const override { return false; }

 private:
  struct Prepared {
    sqlite3_stmt* stmt = nullptr;
    metrics::Histogram* latency = nullptr;
  };

  DbStatus error(int rc, std::string_view what) {
    DbErr e = classify(rc);
    metrics_.errors(db_err_name(e)).inc();
    return {e, std::string(what) + ": " + sqlite3_errmsg(db_) + " (sqlite " +
                   std::to_string(rc) + ")"};
  }

  DbStatus simple(const std::string& sql) {
    char* err = nullptr;
    int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
      std::string msg = err ? err : sqlite3_errstr(rc);
      sqlite3_free(err);
      DbErr e = classify(sqlite3_extended_errcode(db_));
      metrics_.errors(db_err_name(e)).inc();
      return {e, msg};
    }
    return DbStatus::Ok();
  }

  DbStatus prepare(const Stmt& s, Prepared** out) {
    auto it = stmts_.find(&s);
    if (it != stmts_.end()) {
      *out = &it->second;
      return DbStatus::Ok();
    }
    Prepared p;
    std::string_view text = s.text(Dialect::kSqlite);
    int rc = sqlite3_prepare_v3(db_, text.data(), static_cast<int>(text.size()),
                                SQLITE_PREPARE_PERSISTENT, &p.stmt, nullptr);
    if (rc != SQLITE_OK) return error(rc, "prepare " + std::string(s.name));
    p.latency = &metrics_.latency(s.name);
    *out = &stmts_.emplace(&s, p).first->second;
    return DbStatus::Ok();
  }

  DbStatus run(const Stmt& s, std::span<const Value> params, Rows* rows, ExecResult* res) {
    Prepared* p = nullptr;
    DbStatus st = prepare(s, &p);
    if (!st.ok()) return st;
    auto start = std::chrono::steady_clock::now();
    sqlite3_stmt* stmt = p->stmt;
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    for (size_t i = 0; i < params.size(); ++i) {
      int idx = static_cast<int>(i) + 1;
      int rc = std::visit(
          [&](const auto& v) -> int {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, std::nullptr_t>) {
              return sqlite3_bind_null(stmt, idx);
            } else if constexpr (std::is_same_v<T, int64_t>) {
              return sqlite3_bind_int64(stmt, idx, v);
            } else if constexpr (std::is_same_v<T, double>) {
              return sqlite3_bind_double(stmt, idx, v);
            } else {
              return sqlite3_bind_text(stmt, idx, v.data(), static_cast<int>(v.size()),
                                       SQLITE_TRANSIENT);
            }
          },
          params[i]);
      if (rc != SQLITE_OK) return error(rc, "bind " + std::string(s.name));
    }
    if (rows) {
      int n = sqlite3_column_count(stmt);
      for (int c = 0; c < n; ++c) rows->columns.emplace_back(sqlite3_column_name(stmt, c));
    }
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      if (!rows) continue;
      int n = sqlite3_column_count(stmt);
      std::vector<Value> row;
      row.reserve(static_cast<size_t>(n));
      for (int c = 0; c < n; ++c) {
        switch (sqlite3_column_type(stmt, c)) {
          case SQLITE_INTEGER:
            row.emplace_back(static_cast<int64_t>(sqlite3_column_int64(stmt, c)));
            break;
          case SQLITE_FLOAT:
            row.emplace_back(sqlite3_column_double(stmt, c));
            break;
          case SQLITE_NULL:
            row.emplace_back(nullptr);
            break;
          default: {
            const void* data = sqlite3_column_blob(stmt, c);
            int len = sqlite3_column_bytes(stmt, c);
            row.emplace_back(std::string(static_cast<const char*>(data), static_cast<size_t>(len)));
          }
        }
      }
      rows->rows.push_back(std::move(row));
    }
    p->latency->observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    if (rc != SQLITE_DONE) {
      DbStatus e = error(sqlite3_extended_errcode(db_), std::string(s.name));
      sqlite3_reset(stmt);
      return e;
    }
    if (res) {
      res->affected = static_cast<uint64_t>(sqlite3_changes64(db_));
      res->last_insert_id = sqlite3_last_insert_rowid(db_);
    }
    sqlite3_reset(stmt);
    return DbStatus::Ok();
  }

  sqlite3* db_;
  StmtMetrics& metrics_;
  std::unordered_map<const Stmt*, Prepared> stmts_;
};

}  // namespace

DbStatus create_private_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return DbStatus::Ok();
    return {DbErr::kReadOnly, "cannot create " + path + ": " + std::strerror(errno)};
  }
  int rc = ::fchmod(fd, 0600);  // the umask may have taken bits off; never adds any
  ::close(fd);
  if (rc != 0) return {DbErr::kReadOnly, "cannot chmod " + path + ": " + std::strerror(errno)};
  return DbStatus::Ok();
}

DbStatus open_sqlite_readonly(const std::string& path, StmtMetrics& metrics,
                              std::unique_ptr<DbConnection>* out) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    return {classify(rc), "sqlite: cannot open " + path + ": " + msg};
  }
  sqlite3_extended_result_codes(db, 1);
  *out = std::make_unique<SqliteConnection>(db, metrics);
  return DbStatus::Ok();
}

DbStatus open_sqlite(const std::string& path, const SqliteConfig& cfg, StmtMetrics& metrics,
                     std::unique_ptr<DbConnection>* out) {
  std::filesystem::path p(path);
  if (p.has_parent_path() && !std::filesystem::is_directory(p.parent_path())) {
    return {DbErr::kReadOnly, "sqlite: directory " + p.parent_path().string() + " does not exist"};
  }
  // SQLite creates the -wal and -shm files with the main file's mode.
  if (DbStatus cs = create_private_file(path); !cs.ok()) return cs;
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    return {classify(rc), "sqlite: cannot open " + path + ": " + msg};
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, static_cast<int>(cfg.busy_timeout_ms));
  auto conn = std::make_unique<SqliteConnection>(db, metrics);
  std::string pragmas = "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; PRAGMA synchronous=" +
                        std::string(cfg.synchronous == "normal" ? "NORMAL" : "FULL") + ";";
  DbStatus st = conn->exec_script(pragmas);
  if (!st.ok()) return {st.err(), "sqlite: " + path + ": " + st.message()};
  // A read-only file opens fine; find out now rather than on the first write.
  if (sqlite3_db_readonly(db, "main") == 1) {
    return {DbErr::kReadOnly, "sqlite: " + path + " is read-only"};
  }
  *out = std::move(conn);
  return DbStatus::Ok();
}

DbStatus sqlite_backup(const std::string& db_path, const std::string& out_path, bool standalone) {
  sqlite3* src = nullptr;
  sqlite3* dst = nullptr;
  auto close_both = [&] {
    sqlite3_close_v2(src);
    sqlite3_close_v2(dst);
  };
  if (sqlite3_open_v2(db_path.c_str(), &src, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    std::string m = src ? sqlite3_errmsg(src) : "cannot open";
    close_both();
    return {DbErr::kUnavailable, "backup: " + db_path + ": " + m};
  }
  if (DbStatus cs = create_private_file(out_path); !cs.ok()) {
    close_both();
    return {DbErr::kReadOnly, "backup: " + cs.message()};
  }
  if (sqlite3_open_v2(out_path.c_str(), &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                      nullptr) != SQLITE_OK) {
    std::string m = dst ? sqlite3_errmsg(dst) : "cannot open";
    close_both();
    return {DbErr::kReadOnly, "backup: " + out_path + ": " + m};
  }
  sqlite3_backup* b = sqlite3_backup_init(dst, "main", src, "main");
  if (!b) {
    std::string m = sqlite3_errmsg(dst);
    close_both();
    return {DbErr::kOther, "backup: " + m};
  }
  int rc;
  do {
    rc = sqlite3_backup_step(b, 256);
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) sqlite3_sleep(20);
  } while (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
  sqlite3_backup_finish(b);
  DbStatus st = DbStatus::Ok();
  if (rc != SQLITE_DONE) {
    st = {classify(rc), "backup: " + std::string(sqlite3_errmsg(dst))};
  } else {
    const char* mode = standalone ? "PRAGMA journal_mode=DELETE" : "PRAGMA journal_mode=WAL";
    sqlite3_exec(dst, mode, nullptr, nullptr, nullptr);
  }
  close_both();
  return st;
}

}  // namespace shardd::store
