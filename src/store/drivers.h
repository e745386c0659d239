#pragma once

// Private to the store module: driver constructors and helpers shared by them.

#include <memory>
#include <string>

#include "shardd/core/config.h"
#include "shardd/core/metrics.h"
#include "shardd/store/db.h"

namespace shardd::store {

// Statement latency histograms, by statement name. Thread-safe.
class StmtMetrics {
 public:
  explicit StmtMetrics(metrics::Registry& r) : registry_(r) {}
  metrics::Histogram& latency(std::string_view stmt_name) {
    return registry_.histogram("shardd_db_query_seconds", "Database statement latency, by statement.",
                               metrics::latency_buckets(), {{"stmt", std::string(stmt_name)}});
  }
  metrics::Counter& errors(std::string_view err) {
    return registry_.counter("shardd_db_errors_total", "Database errors, by kind.",
                             {{"kind", std::string(err)}});
  }

 private:
  metrics::Registry& registry_;
};

// Opens one SQLite connection (WAL, busy timeout, foreign keys on; creates the
// file). A missing directory or unwritable file is a clear error.
DbStatus open_sqlite(const std::string& path, const SqliteConfig& cfg, StmtMetrics& metrics,
                     std::unique_ptr<DbConnection>* out);

// Opens an existing SQLite file read-only (no pragmas, nothing created).
DbStatus open_sqlite_readonly(const std::string& path, StmtMetrics& metrics,
                              std::unique_ptr<DbConnection>* out);

// Creates `path` as an empty file readable and writable by the owner only
// (0600, whatever the umask) if it does not exist. Database files and backups
// hold password and token hashes.
DbStatus create_private_file(const std::string& path);

// Opens one MySQL/MariaDB connection (utf8mb4, strict mode, optional TLS).
DbStatus open_mysql(const MysqlConfig& cfg, StmtMetrics& metrics,
                    std::unique_ptr<DbConnection>* out);

// Online copy of an SQLite database file into `out_path` (sqlite3 backup
// API). `standalone`: leave out_path in rollback-journal mode, one
// self-contained file (a backup); otherwise keep WAL (a restore target).
DbStatus sqlite_backup(const std::string& db_path, const std::string& out_path, bool standalone);

}  // namespace shardd::store
