#include <chrono>
#include <cmath>
#include <mysql.h>
#include <mysqld_error.h>
#include <errmsg.h>
#include <unordered_map>

#include "drivers.h"

namespace shardd::store {
namespace {

DbErr classify(unsigned int code) {
  switch (code) {
    case ER_DUP_ENTRY:
    case ER_DUP_KEY:
      return DbErr::kDuplicate;
    case ER_LOCK_DEADLOCK:
    case ER_LOCK_WAIT_TIMEOUT:
      return DbErr::kRetry;
    case ER_NO_REFERENCED_ROW:
    case ER_NO_REFERENCED_ROW_2:
    case ER_ROW_IS_REFERENCED:
    case ER_ROW_IS_REFERENCED_2:
    case ER_BAD_NULL_ERROR:
    case 4025:  // ER_CONSTRAINT_FAILED (CHECK)
      return DbErr::kConstraint;
    case ER_RECORD_FILE_FULL:
    case ER_DISK_FULL:
      return DbErr::kFull;
    case ER_OPTION_PREVENTS_STATEMENT:  // read_only
    case 1792:                          // read-only transaction
      return DbErr::kReadOnly;
    case CR_CONNECTION_ERROR:
    case CR_CONN_HOST_ERROR:
    case CR_SERVER_GONE_ERROR:
    case CR_SERVER_LOST:
    case CR_UNKNOWN_HOST:
    case CR_SERVER_LOST_EXTENDED:
    case CR_COMMANDS_OUT_OF_SYNC:
    case ER_SERVER_SHUTDOWN:
    case ER_CON_COUNT_ERROR:
    case ER_CONNECTION_KILLED:
    case ER_QUERY_INTERRUPTED:
    case 4031:  // ER_CLIENT_INTERACTION_TIMEOUT
      return DbErr::kUnavailable;
    default:
      return code >= 2000 && code < 3000 ? DbErr::kUnavailable : DbErr::kOther;
  }
}

unsigned int seconds_ceil(uint32_t ms) { return std::max(1u, (ms + 999) / 1000); }

class MysqlConnection final : public DbConnection {
 public:
  MysqlConnection(MYSQL* my, StmtMetrics& metrics) : my_(my), metrics_(metrics) {}
  ~MysqlConnection() override {
    for (auto& [k, p] : stmts_) {
      if (p.meta) mysql_free_result(p.meta);
      mysql_stmt_close(p.stmt);
    }
    mysql_close(my_);
  }

  Dialect dialect() const override { return Dialect::kMysql; }
  bool broken() const override { return broken_; }

  DbStatus exec(const Stmt& s, std::span<const Value> params, ExecResult* out) override {
    return run(s, params, nullptr, out);
  }
  DbStatus query(const Stmt& s, std::span<const Value> params, Rows* out) override {
    out->columns.clear();
    out->rows.clear();
    return run(s, params, out, nullptr);
  }
  DbStatus begin(bool) override { return simple("START TRANSACTION"); }
  DbStatus commit() override { return simple("COMMIT"); }
  DbStatus rollback() override {
    if (broken_) return DbStatus::Ok();  // the server rolls back a lost session itself
    return simple("ROLLBACK");
  }

  DbStatus exec_script(std::string_view sql) override {
    mysql_set_server_option(my_, MYSQL_OPTION_MULTI_STATEMENTS_ON);
    DbStatus st = DbStatus::Ok();
    if (mysql_real_query(my_, sql.data(), sql.size()) != 0) {
      st = error(mysql_errno(my_), mysql_error(my_), "script");
    } else {
      for (;;) {
        if (MYSQL_RES* r = mysql_store_result(my_)) mysql_free_result(r);
        int rc = mysql_next_result(my_);
        if (rc == -1) break;
        if (rc > 0) {
          st = error(mysql_errno(my_), mysql_error(my_), "script");
          break;
        }
      }
    }
    if (!broken_) mysql_set_server_option(my_, MYSQL_OPTION_MULTI_STATEMENTS_OFF);
    return st;
  }

  DbStatus ping() override {
    if (broken_) return {DbErr::kUnavailable, "connection lost"};
    if (mysql_ping(my_) != 0) return error(mysql_errno(my_), mysql_error(my_), "ping");
    return DbStatus::Ok();
  }

 private:
  struct Prepared {
    MYSQL_STMT* stmt = nullptr;
    MYSQL_RES* meta = nullptr;  // result metadata, null for statements without rows
    unsigned long params = 0;
    metrics::Histogram* latency = nullptr;
  };

  DbStatus error(unsigned int code, const char* msg, std::string_view what) {
    DbErr e = classify(code);
    if (e == DbErr::kUnavailable) broken_ = true;
    metrics_.errors(db_err_name(e)).inc();
    return {e, std::string(what) + ": " + msg + " (mysql " + std::to_string(code) + ")"};
  }

  DbStatus simple(std::string_view sql) {
    if (broken_) return {DbErr::kUnavailable, "connection lost"};
    if (mysql_real_query(my_, sql.data(), sql.size()) != 0) {
      return error(mysql_errno(my_), mysql_error(my_), sql);
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
    p.stmt = mysql_stmt_init(my_);
    if (!p.stmt) return error(mysql_errno(my_), mysql_error(my_), "stmt_init");
    std::string_view text = s.text(Dialect::kMysql);
    if (mysql_stmt_prepare(p.stmt, text.data(), text.size()) != 0) {
      DbStatus st = error(mysql_stmt_errno(p.stmt), mysql_stmt_error(p.stmt),
                          "prepare " + std::string(s.name));
      mysql_stmt_close(p.stmt);
      return st;
    }
    p.params = mysql_stmt_param_count(p.stmt);
    p.meta = mysql_stmt_result_metadata(p.stmt);
    p.latency = &metrics_.latency(s.name);
    *out = &stmts_.emplace(&s, p).first->second;
    return DbStatus::Ok();
  }

  DbStatus stmt_error(Prepared* p, const Stmt& s) {
    return error(mysql_stmt_errno(p->stmt), mysql_stmt_error(p->stmt), s.name);
  }

  DbStatus run(const Stmt& s, std::span<const Value> params, Rows* rows, ExecResult* res) {
    if (broken_) return {DbErr::kUnavailable, "connection lost"};
    Prepared* p = nullptr;
    DbStatus st = prepare(s, &p);
    if (!st.ok()) return st;
    if (params.size() != p->params) {
      return {DbErr::kOther, std::string(s.name) + ": " + std::to_string(params.size()) +
                                 " parameters for " + std::to_string(p->params) + " placeholders"};
    }
    auto start = std::chrono::steady_clock::now();
    std::vector<MYSQL_BIND> binds(params.size());
    std::vector<unsigned long> lengths(params.size());
    for (size_t i = 0; i < params.size(); ++i) {
      MYSQL_BIND& b = binds[i];
      std::visit(
          [&](const auto& v) {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, std::nullptr_t>) {
              b.buffer_type = MYSQL_TYPE_NULL;
            } else if constexpr (std::is_same_v<T, int64_t>) {
              b.buffer_type = MYSQL_TYPE_LONGLONG;
              b.buffer = const_cast<int64_t*>(&v);
            } else if constexpr (std::is_same_v<T, double>) {
              b.buffer_type = MYSQL_TYPE_DOUBLE;
              b.buffer = const_cast<double*>(&v);
            } else {
              b.buffer_type = MYSQL_TYPE_STRING;
              b.buffer = const_cast<char*>(v.data());
              lengths[i] = v.size();
              b.buffer_length = v.size();
              b.length = &lengths[i];
            }
          },
          params[i]);
    }
    if (!binds.empty() && mysql_stmt_bind_param(p->stmt, binds.data()) != 0) {
      return stmt_error(p, s);
    }
    if (mysql_stmt_execute(p->stmt) != 0) return stmt_error(p, s);
    if (p->meta) {
      st = fetch(p, s, rows);
      mysql_stmt_free_result(p->stmt);
      if (!st.ok()) return st;
    } else if (res) {
      res->affected = mysql_stmt_affected_rows(p->stmt);
      res->last_insert_id = static_cast<int64_t>(mysql_stmt_insert_id(p->stmt));
    }
    p->latency->observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    return DbStatus::Ok();
  }

  DbStatus fetch(Prepared* p, const Stmt& s, Rows* rows) {
    if (mysql_stmt_store_result(p->stmt) != 0) return stmt_error(p, s);
    unsigned int n = mysql_num_fields(p->meta);
    MYSQL_FIELD* fields = mysql_fetch_fields(p->meta);
    std::vector<MYSQL_BIND> out(n);
    std::vector<int64_t> ints(n);
    std::vector<double> dbls(n);
    std::vector<unsigned long> lens(n);
    std::vector<my_bool> nulls(n);
    enum Kind : uint8_t { kInt, kDouble, kText };
    std::vector<Kind> kinds(n);
    for (unsigned int c = 0; c < n; ++c) {
      MYSQL_BIND& b = out[c];
      switch (fields[c].type) {
        case MYSQL_TYPE_TINY:
        case MYSQL_TYPE_SHORT:
        case MYSQL_TYPE_LONG:
        case MYSQL_TYPE_INT24:
        case MYSQL_TYPE_LONGLONG:
        case MYSQL_TYPE_YEAR:
          kinds[c] = kInt;
          b.buffer_type = MYSQL_TYPE_LONGLONG;
          b.buffer = &ints[c];
          break;
        case MYSQL_TYPE_FLOAT:
        case MYSQL_TYPE_DOUBLE:
          kinds[c] = kDouble;
          b.buffer_type = MYSQL_TYPE_DOUBLE;
          b.buffer = &dbls[c];
          break;
        default:
          kinds[c] = kText;
          b.buffer_type = MYSQL_TYPE_STRING;
          b.buffer = nullptr;
          b.buffer_length = 0;
          break;
      }
      b.length = &lens[c];
      b.is_null = &nulls[c];
      if (rows) rows->columns.emplace_back(fields[c].name);
    }
    if (mysql_stmt_bind_result(p->stmt, out.data()) != 0) return stmt_error(p, s);
    for (;;) {
      int rc = mysql_stmt_fetch(p->stmt);
      if (rc == MYSQL_NO_DATA) break;
      if (rc == 1) return stmt_error(p, s);
      if (!rows) continue;
      std::vector<Value> row;
      row.reserve(n);
      for (unsigned int c = 0; c < n; ++c) {
        if (nulls[c]) {
          row.emplace_back(nullptr);
        } else if (kinds[c] == kInt) {
          row.emplace_back(ints[c]);
        } else if (kinds[c] == kDouble) {
          row.emplace_back(dbls[c]);
        } else {
          std::string v(lens[c], '\0');
          if (lens[c] > 0) {
            MYSQL_BIND col{};
            col.buffer_type = MYSQL_TYPE_STRING;
            col.buffer = v.data();
            col.buffer_length = lens[c];
            if (mysql_stmt_fetch_column(p->stmt, &col, c, 0) != 0) return stmt_error(p, s);
          }
          row.emplace_back(std::move(v));
        }
      }
      rows->rows.push_back(std::move(row));
    }
    return DbStatus::Ok();
  }

  MYSQL* my_;
  StmtMetrics& metrics_;
  std::unordered_map<const Stmt*, Prepared> stmts_;
  bool broken_ = false;
};

}  // namespace

DbStatus open_mysql(const MysqlConfig& cfg, StmtMetrics& metrics,
                    std::unique_ptr<DbConnection>* out) {
  MYSQL* my = mysql_init(nullptr);
  if (!my) return {DbErr::kOther, "mysql_init failed"};
  unsigned int connect_s = seconds_ceil(cfg.connect_timeout_ms);
  unsigned int io_s = seconds_ceil(cfg.io_timeout_ms);
  my_bool off = 0;
  my_bool on = 1;
  mysql_options(my, MYSQL_OPT_CONNECT_TIMEOUT, &connect_s);
  mysql_options(my, MYSQL_OPT_READ_TIMEOUT, &io_s);
  mysql_options(my, MYSQL_OPT_WRITE_TIMEOUT, &io_s);
  mysql_options(my, MYSQL_SET_CHARSET_NAME, "utf8mb4");
  mysql_options(my, MYSQL_OPT_RECONNECT, &off);  // we reconnect ourselves (statements die with it)
  if (cfg.tls) {
    mysql_options(my, MYSQL_OPT_SSL_ENFORCE, &on);
    mysql_options(my, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &on);
    if (!cfg.tls_ca.empty()) mysql_options(my, MYSQL_OPT_SSL_CA, cfg.tls_ca.c_str());
  }
  const char* socket = cfg.socket.empty() ? nullptr : cfg.socket.c_str();
  if (!mysql_real_connect(my, cfg.host.c_str(), cfg.user.c_str(), cfg.password.c_str(),
                          cfg.database.c_str(), cfg.port, socket, 0)) {
    unsigned int code = mysql_errno(my);
    std::string msg = mysql_error(my);
    mysql_close(my);
    DbErr e = classify(code);
    if (e == DbErr::kOther) e = DbErr::kUnavailable;  // access denied, unknown database, ...
    return {e, "mysql " + cfg.user + "@" + (socket ? cfg.socket : cfg.host + ":" +
                                                                     std::to_string(cfg.port)) +
                   "/" + cfg.database + ": " + msg + " (" + std::to_string(code) + ")"};
  }
  auto conn = std::make_unique<MysqlConnection>(my, metrics);
  DbStatus st = conn->exec_script(
      "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_DATE,NO_ENGINE_SUBSTITUTION,"
      "ERROR_FOR_DIVISION_BY_ZERO'; SET SESSION innodb_lock_wait_timeout = 10;"
      "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ");
  if (!st.ok()) return st;
  *out = std::move(conn);
  return DbStatus::Ok();
}

}  // namespace shardd::store
