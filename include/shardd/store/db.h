#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "shardd/core/status.h"

namespace shardd::store {

// A bound parameter or a column value. Integers are 64-bit (money is integer
// minor units); strings also carry blobs.
using Value = std::variant<std::nullptr_t, int64_t, double, std::string>;

struct Rows {
  std::vector<std::string> columns;
  std::vector<std::vector<Value>> rows;
  bool empty() const { return rows.empty(); }
};

// Typed access to a column value (NULL reads as 0 / "" ).
int64_t as_int(const Value& v);
double as_double(const Value& v);
std::string as_string(const Value& v);
bool is_null(const Value& v);

// How a database call failed, so callers can decide what to do.
enum class DbErr : uint8_t {
  kOk,
  kUnavailable,  // cannot reach the server / connection lost: retryable by the client
  kRetry,        // deadlock, lock wait timeout, SQLITE_BUSY: retry the whole transaction
  kDuplicate,    // unique key violation
  kConstraint,   // other constraint (foreign key, check, not null)
  kFull,         // disk full / quota
  kReadOnly,     // database file or server is read-only
  kOther,        // anything else (bad SQL is a bug)
};
std::string_view db_err_name(DbErr e);

class DbStatus {
 public:
  DbStatus() = default;
  DbStatus(DbErr err, std::string message, uint32_t retry_after_ms = 0)
      : err_(err), message_(std::move(message)), retry_after_ms_(retry_after_ms) {}
  static DbStatus Ok() { return {}; }

  bool ok() const { return err_ == DbErr::kOk; }
  DbErr err() const { return err_; }
  const std::string& message() const { return message_; }
  // kUnavailable while the database is down: when the store tries again.
  uint32_t retry_after_ms() const { return retry_after_ms_; }
  // The wire-level status: UNAVAILABLE for kUnavailable/kRetry/kFull/kReadOnly
  // (with retry_after_ms), BAD_REQUEST for constraint violations, INTERNAL
  // otherwise. The message never includes the driver's text.
  Status to_status() const;
  std::string to_string() const;

 private:
  DbErr err_ = DbErr::kOk;
  std::string message_;
  uint32_t retry_after_ms_ = 0;
};

struct ExecResult {
  uint64_t affected = 0;
  int64_t last_insert_id = 0;
};

enum class Dialect : uint8_t { kSqlite, kMysql };

// A named SQL statement. Declare them as constants with static storage
// duration (connections cache the prepared statement by the Stmt's address):
//   constexpr Stmt kGetObject{"objects.get", "SELECT v FROM objects WHERE k = ?"};
// `mysql` is only needed where MySQL's text differs. Parameters are always
// bound (`?`); the text never contains user data.
struct Stmt {
  std::string_view name;   // metrics label
  std::string_view sql;    // SQLite (and MySQL unless `mysql` is set)
  std::string_view mysql = {};  // MySQL/MariaDB variant
  std::string_view text(Dialect d) const {
    return d == Dialect::kMysql && !mysql.empty() ? mysql : sql;
  }
};

// One open database connection. Every statement is prepared once per
// connection and run with bound parameters.
//
// Thread-safety: none. A connection is used by one storage thread at a time
// (leased from the pool). REQUIRES: never called on io or logic threads.
class DbConnection {
 public:
  virtual ~DbConnection() = default;

  virtual Dialect dialect() const = 0;
  virtual DbStatus exec(const Stmt& stmt, std::span<const Value> params,
                        ExecResult* out = nullptr) = 0;
  virtual DbStatus query(const Stmt& stmt, std::span<const Value> params, Rows* out) = 0;
  // `write`: the transaction will write (SQLite takes the write lock up front
  // with BEGIN IMMEDIATE so two writers cannot deadlock on lock upgrade).
  virtual DbStatus begin(bool write) = 0;
  virtual DbStatus commit() = 0;
  virtual DbStatus rollback() = 0;
  // Runs trusted multi-statement DDL (migrations). Not for anything with user data.
  virtual DbStatus exec_script(std::string_view sql) = 0;
  // Checks that the connection still works (a lost connection reports kUnavailable).
  virtual DbStatus ping() = 0;
  // True once a call failed with kUnavailable: the pool discards it.
  virtual bool broken() const = 0;

  // Convenience overloads.
  DbStatus exec(const Stmt& stmt, std::initializer_list<Value> params, ExecResult* out = nullptr) {
    return exec(stmt, std::span<const Value>(params.begin(), params.size()), out);
  }
  DbStatus query(const Stmt& stmt, std::initializer_list<Value> params, Rows* out) {
    return query(stmt, std::span<const Value>(params.begin(), params.size()), out);
  }
};

}  // namespace shardd::store
