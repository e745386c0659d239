#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "shardd/core/config_section.h"
#include "shardd/core/status.h"

namespace shardd {

// Core's settings, with their defaults. src/core/config.cpp declares each key
// (type, range, live-reloadable or not, doc) with config::Section; modules
// declare their own sections (see config_section.h).
struct ServerConfig {
  std::string name = "shardd";
  uint32_t io_threads = 0;       // 0: one per core
  uint32_t logic_threads = 0;    // 0: one per core
  uint32_t storage_threads = 0;  // 0: 4
  std::string data_dir = "data";
  std::string ports_file;  // if set, the bound ports are written here as JSON once listening
  uint32_t shutdown_deadline_ms = 10000;
  uint32_t reconnect_after_ms = 5000;
};

struct LogConfig {
  std::string format = "human";  // human | json
  std::string level = "info";    // trace | debug | info | warn | error | critical | off
  std::map<std::string, std::string> levels;  // module -> level override
};

struct TlsConfig {
  std::string cert_file;  // PEM certificate chain
  std::string key_file;   // PEM private key
  std::string min_version = "1.2";  // 1.2 | 1.3
};

struct WsConfig {
  bool enabled = true;
  std::string bind = "0.0.0.0";
  uint32_t port = 7100;
  bool tls = false;
  std::string path = "/ws";
  bool permessage_deflate = false;
  std::vector<std::string> allowed_origins;  // empty: any origin
  std::string web_root;  // folder served at /play/ (the browser client); "": none
};

struct TcpConfig {
  bool enabled = true;
  std::string bind = "0.0.0.0";
  uint32_t port = 7101;
  bool tls = false;
  uint32_t compress_min_bytes = 0;  // 0: never compress outbound frames
};

// The HTTP fallback transport (/rt/...) on the WebSocket port: server-sent
// events or long polling down, POSTs up (docs/protocol.md).
struct HttpConfig {
  bool enabled = true;
  uint32_t max_body_bytes = 64 * 1024;  // POST /rt/{id}/send body
  uint32_t max_batch = 64;              // requests in one send
  uint32_t poll_wait_ms = 25000;        // longest wait of a long poll
  uint32_t idle_expiry_ms = 15000;      // no stream or poll attached this long: dropped
  uint32_t max_sessions_per_ip = 16;    // open HTTP transports per source address
  uint32_t replay_bytes = 256 * 1024;   // delivered, unacknowledged events kept
};

struct AdminConfig {
  bool enabled = true;
  std::string bind = "127.0.0.1";
  uint32_t port = 7180;
  std::string token;                   // required for /admin/* (empty: /admin/* disabled)
  bool metrics_require_token = false;  // also require the token for /metrics
};

struct LimitsConfig {
  uint32_t max_frame_bytes = 64 * 1024;
  uint32_t handshake_timeout_ms = 5000;
  uint32_t max_connections = 10000;
  uint32_t max_connections_per_ip = 64;
  double rate_per_sec = 50;
  uint32_t rate_burst = 100;
  uint32_t rate_strikes_to_close = 50;  // rejected messages within 10 s before closing
  uint32_t bad_messages_to_close = 10;  // malformed messages within 60 s before closing
  uint32_t write_queue_bytes = 1024 * 1024;
  uint32_t write_queue_messages = 4096;
  uint32_t state_queue_hard_bytes = 256 * 1024;  // kState output over it is dropped
  uint32_t state_queue_soft_bytes = 64 * 1024;   // kState backlog above it ...
  uint32_t state_queue_soft_s = 10;              // ... this long closes (SLOW_CONSUMER)
  uint32_t heartbeat_ms = 5000;
  uint32_t heartbeat_misses = 3;
};

struct StoreConfig {
  std::string backend = "sqlite";  // sqlite | mysql
  bool auto_migrate = true;
  uint32_t pool_size = 8;         // database connections
  uint32_t pool_wait_ms = 2000;   // longest wait for a free connection
  uint32_t retry_attempts = 5;    // transaction retries on deadlock / busy
  uint32_t write_behind_ms = 5000;  // flush period of hot, loss-tolerant state
  uint32_t connect_retry_max_ms = 10000;  // backoff cap while the database is unreachable
};

struct SqliteConfig {
  std::string path;  // "": <server.data_dir>/shardd.db
  uint32_t busy_timeout_ms = 5000;
  std::string synchronous = "full";  // full | normal
};

struct MysqlConfig {
  std::string host = "127.0.0.1";
  uint32_t port = 3306;
  std::string socket;
  std::string user = "shardd";
  std::string password;
  std::string database = "shardd";
  bool tls = false;
  std::string tls_ca;
  uint32_t connect_timeout_ms = 3000;
  uint32_t io_timeout_ms = 10000;
};

struct CacheConfig {
  std::string backend = "memory";  // memory | redis
  uint32_t ttl_ms = 300000;
  double ttl_jitter = 0.1;         // +-10% so entries filled together do not expire together
  uint32_t negative_ttl_ms = 2000; // how long a "no such row" answer is cached
  uint32_t memory_max_entries = 200000;
};

struct RedisConfig {
  std::string host = "127.0.0.1";
  uint32_t port = 6379;
  std::string password;
  uint32_t db = 0;
  std::string key_prefix = "shardd:";
  uint32_t connect_timeout_ms = 500;
  uint32_t command_timeout_ms = 500;
  uint32_t retry_max_ms = 5000;  // reconnect backoff cap while Redis is down
};

struct SessionConfig {
  uint32_t resume_grace_ms = 60000;  // a dropped session waits this long for sys.resume
  uint32_t replay_pushes = 256;      // pushes kept for replay on resume
  uint32_t replay_max_bytes = 256 * 1024;  // and at most this many bytes of them
};

struct Config {
  ServerConfig server;
  LogConfig log;
  TlsConfig tls;
  WsConfig ws;
  TcpConfig tcp;
  HttpConfig http;
  AdminConfig admin;
  LimitsConfig limits;
  StoreConfig store;
  SqliteConfig sqlite;
  MysqlConfig mysql;
  CacheConfig cache;
  RedisConfig redis;
  SessionConfig session;
  // Sections declared by modules (services), e.g. [auth] and [[zones]] of the
  // account service: read them with their Section's of().
  config::ModuleValues modules;

  uint32_t io_thread_count() const;
  uint32_t logic_thread_count() const;
  uint32_t storage_thread_count() const;
  std::string sqlite_path() const;  // sqlite.path or <data_dir>/shardd.db
};

template <class T>
const T& config::Section<T>::of(const Config& config) const {
  const void* p = config.modules.find(name_);
  if (p) return *static_cast<const T*>(p);
  // Loaded without this section declared: its defaults, finished as a load
  // would (e.g. the one default zone).
  static const T kDefaults = [this] {
    T t{};
    finish(&t);
    return t;
  }();
  return kDefaults;
}

// Reads FILE (TOML), applies `overrides` ("section.key=value", applied in
// order, value parsed as TOML and otherwise taken as a string), validates every
// key against `schema` (core's sections and the modules') and cross-checks
// (TLS files, port clashes, each section's own checks).
// On failure returns a BAD_REQUEST status and fills `errors` with every problem
// found (not just the first). `out` is only written on success.
Status load_config(const std::string& path, const std::vector<std::string>& overrides,
                   const config::Schema& schema, Config* out, std::vector<ConfigError>* errors);

// Same as load_config but from TOML text (tests, embedded defaults).
Status parse_config(std::string_view toml_text, const std::string& source_name,
                    const std::vector<std::string>& overrides, const config::Schema& schema,
                    Config* out, std::vector<ConfigError>* errors);

// The effective configuration as TOML, every key present.
std::string render_config(const Config& config);

// Differences between two configurations, as "key: old -> new".
struct ConfigDiff {
  std::vector<std::string> live;             // applied by SIGHUP without restart
  std::vector<std::string> restart_required; // only take effect after a restart
};
ConfigDiff diff_config(const Config& before, const Config& after);

// `running` with every live-reloadable key taken from `fresh` (what SIGHUP
// applies); keys that need a restart keep their running values.
Config merge_live(const Config& running, const Config& fresh);

// Core's module names for log.levels (services add theirs through the
// schema: config::Schema::add_module).
const std::vector<std::string>& log_modules();

}  // namespace shardd
