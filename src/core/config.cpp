#include "shardd/core/config.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <thread>
#include <toml++/toml.h>

#include "shardd/core/utf8.h"

namespace shardd {
namespace {

using config::Kind;
using config::Key;
using config::kLive;
using config::kRestart;
using config::Section;
using config::SectionBase;

constexpr double kU32Max = 4294967295.0;
constexpr double kGiB = 1024.0 * 1024 * 1024;
const std::vector<std::string>& levels() {
  static const std::vector<std::string> v = {"trace", "debug", "info", "warn",
                                             "error", "critical", "off"};
  return v;
}

// ---------------------------------------------------------------- core's declarations

const Section<ServerConfig>& server_section() {
  static const auto s =
      Section<ServerConfig>("server", "the process")
          .text("name", &ServerConfig::name, 1, 64, kRestart, "name sent in `sys.hello`")
          .uint("io_threads", &ServerConfig::io_threads, 0, 256, kRestart,
                "network threads; 0 = one per core")
          .uint("logic_threads", &ServerConfig::logic_threads, 0, 256, kRestart,
                "service thread pool; 0 = one per core")
          .uint("storage_threads", &ServerConfig::storage_threads, 0, 256, kRestart,
                "blocking storage pool; 0 = 4")
          .text("data_dir", &ServerConfig::data_dir, 1, 4096, kRestart,
                "created at start (owner-only when new)")
          .text("ports_file", &ServerConfig::ports_file, 0, 4096, kRestart,
                "if set, `{\"ws\":P,\"tcp\":P,\"admin\":P,\"pid\":N}` is written there once "
                "listening, removed at exit")
          .uint("shutdown_deadline_ms", &ServerConfig::shutdown_deadline_ms, 100, 600000, kLive,
                "longest drain on SIGTERM")
          .uint("reconnect_after_ms", &ServerConfig::reconnect_after_ms, 0, 3600000, kLive,
                "sent to clients in `sys.shutdown`");
  return s;
}

const Section<LogConfig>& log_section() {
  static const auto s =
      Section<LogConfig>("log", "logging")
          .one_of("format", &LogConfig::format, {"human", "json"}, kRestart, "stderr line format")
          .one_of("level", &LogConfig::level, levels(), kLive, "default level")
          .map("levels", &LogConfig::levels, {}, levels(), kLive,
               "per module level, e.g. `levels = { store = \"debug\" }`; modules: core, net, "
               "gateway, admin, app, store, and each service by name (account, ...)");
  return s;
}

const Section<TlsConfig>& tls_section() {
  static const auto s =
      Section<TlsConfig>("tls", "certificates for ws.tls / tcp.tls")
          .text("cert_file", &TlsConfig::cert_file, 0, 4096, kRestart,
                "PEM certificate chain (re-read by SIGHUP for new connections)")
          .range_doc("readable file")
          .text("key_file", &TlsConfig::key_file, 0, 4096, kRestart, "PEM private key")
          .range_doc("readable file")
          .one_of("min_version", &TlsConfig::min_version, {"1.2", "1.3"}, kRestart, "");
  return s;
}

const Section<WsConfig>& ws_section() {
  static const auto s =
      Section<WsConfig>("ws", "WebSocket listener")
          .flag("enabled", &WsConfig::enabled, kRestart, "WebSocket listener")
          .text("bind", &WsConfig::bind, 1, 255, kRestart, "")
          .uint("port", &WsConfig::port, 0, 65535, kRestart, "0 = any free port")
          .flag("tls", &WsConfig::tls, kRestart, "wss (needs `tls.*`)")
          .text("path", &WsConfig::path, 1, 255, kRestart, "upgrade path")
          .range_doc("starts with `/`")
          .flag("permessage_deflate", &WsConfig::permessage_deflate, kRestart,
                "compression (memory per connection)")
          .list("allowed_origins", &WsConfig::allowed_origins, 256, kLive,
                "browser Origin allow-list (this server's own origin, where `/play/` comes "
                "from, always passes); empty = any")
          .text("web_root", &WsConfig::web_root, 0, 4096, kRestart,
                "folder served at `/play/` (the browser client, `clients/web`); `/` redirects "
                "there")
          .range_doc("empty = none; an existing folder")
          .check([](const WsConfig& c, config::Errors& e) {
            if (!c.path.empty() && c.path[0] != '/') e.add("path", "must start with '/'");
            if (c.path == "/play" || c.path.rfind("/play/", 0) == 0) {
              e.add("path", "'/play/' belongs to the browser client");
            }
            struct stat st {};
            if (!c.web_root.empty() &&
                (::stat(c.web_root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))) {
              e.add("web_root", "'" + c.web_root + "' is not a folder");
            }
          });
  return s;
}

const Section<TcpConfig>& tcp_section() {
  static const auto s =
      Section<TcpConfig>("tcp", "framed TCP listener")
          .flag("enabled", &TcpConfig::enabled, kRestart, "framed TCP listener")
          .text("bind", &TcpConfig::bind, 1, 255, kRestart, "")
          .uint("port", &TcpConfig::port, 0, 65535, kRestart, "0 = any free port")
          .flag("tls", &TcpConfig::tls, kRestart, "TLS (needs `tls.*`)")
          .uint("compress_min_bytes", &TcpConfig::compress_min_bytes, 0, kU32Max, kLive,
                "zlib outbound frames at least this big; 0 = off");
  return s;
}

const Section<HttpConfig>& http_section() {
  static const auto s =
      Section<HttpConfig>("http", "HTTP fallback transport (`/rt/`, on the WebSocket port)")
          .flag("enabled", &HttpConfig::enabled, kRestart,
                "serve `/rt/` (server-sent events and long polling) for clients that cannot "
                "use WebSocket")
          .uint("max_body_bytes", &HttpConfig::max_body_bytes, 256, 64 * 1024 * 1024, kLive,
                "largest `POST /rt/{id}/send` body (413 above)")
          .uint("max_batch", &HttpConfig::max_batch, 1, 4096, kLive,
                "most requests in one send (413 above)")
          .uint("poll_wait_ms", &HttpConfig::poll_wait_ms, 0, 120000, kLive,
                "how long a long poll waits for something to send")
          .uint("idle_expiry_ms", &HttpConfig::idle_expiry_ms, 1000, 3600000, kLive,
                "a transport with no event stream or poll attached for this long is dropped "
                "(a logged-in session then waits for `sys.resume`)")
          .uint("max_sessions_per_ip", &HttpConfig::max_sessions_per_ip, 1, 10000000, kLive,
                "open HTTP transports per source address (429 above)")
          .uint("replay_bytes", &HttpConfig::replay_bytes, 1024, kGiB, kLive,
                "delivered but unacknowledged events kept for a reconnecting stream "
                "(`Last-Event-ID`); older ones are forgotten");
  return s;
}

const Section<AdminConfig>& admin_section() {
  static const auto s =
      Section<AdminConfig>("admin", "admin HTTP API")
          .flag("enabled", &AdminConfig::enabled, kRestart, "admin HTTP listener")
          .text("bind", &AdminConfig::bind, 1, 255, kRestart, "keep on loopback")
          .uint("port", &AdminConfig::port, 0, 65535, kRestart, "")
          .text("token", &AdminConfig::token, 0, 256, kLive,
                "bearer token for `/admin/*`; empty disables `/admin/*`")
          .secret()
          .flag("metrics_require_token", &AdminConfig::metrics_require_token, kLive,
                "also require it for `/metrics` (needs `admin.token`)")
          .check([](const AdminConfig& c, config::Errors& e) {
            if (c.metrics_require_token && c.token.empty()) {
              e.add("metrics_require_token",
                    "needs admin.token (otherwise /metrics could never be read)");
            }
          });
  return s;
}

const Section<LimitsConfig>& limits_section() {
  static const auto s =
      Section<LimitsConfig>("limits", "per-connection limits")
          .uint("max_frame_bytes", &LimitsConfig::max_frame_bytes, 256, 64 * 1024 * 1024, kLive,
                "largest inbound message")
          .uint("handshake_timeout_ms", &LimitsConfig::handshake_timeout_ms, 100, 120000, kLive,
                "TLS + WebSocket upgrade deadline; also the close-handshake deadline")
          .uint("max_connections", &LimitsConfig::max_connections, 1, 10000000, kLive,
                "open client connections")
          .uint("max_connections_per_ip", &LimitsConfig::max_connections_per_ip, 1, 10000000,
                kLive, "per source address")
          .number("rate_per_sec", &LimitsConfig::rate_per_sec, 0.1, 1e6, kLive,
                  "per-session message rate (token bucket)")
          .uint("rate_burst", &LimitsConfig::rate_burst, 1, 1000000, kLive, "bucket size")
          .uint("rate_strikes_to_close", &LimitsConfig::rate_strikes_to_close, 1, 1000000, kLive,
                "the N-th rate-limit refusal within 10 s closes the connection (after its "
                "answer)")
          .uint("bad_messages_to_close", &LimitsConfig::bad_messages_to_close, 1, 1000000, kLive,
                "the N-th malformed message within 60 s closes the connection (after its "
                "answer); argument errors do not count")
          .uint("write_queue_bytes", &LimitsConfig::write_queue_bytes, 4096, kGiB, kLive,
                "unread output before a client is dropped")
          .uint("write_queue_messages", &LimitsConfig::write_queue_messages, 16, 10000000, kLive,
                "same, in messages")
          .uint("state_queue_hard_bytes", &LimitsConfig::state_queue_hard_bytes, 1024, kGiB,
                kLive,
                "unread state-refresh output (output class `state`) beyond which further state "
                "pushes are dropped, the connection stays")
          .uint("state_queue_soft_bytes", &LimitsConfig::state_queue_soft_bytes, 1024, kGiB,
                kLive,
                "a state backlog above this for `state_queue_soft_s` closes the connection "
                "(`SLOW_CONSUMER`); at most `state_queue_hard_bytes`")
          .uint("state_queue_soft_s", &LimitsConfig::state_queue_soft_s, 1, 3600, kLive,
                "how long the soft limit may be exceeded")
          .uint("heartbeat_ms", &LimitsConfig::heartbeat_ms, 100, 3600000, kLive,
                "advertised heartbeat period")
          .uint("heartbeat_misses", &LimitsConfig::heartbeat_misses, 1, 100, kLive,
                "silent periods before closing")
          .check([](const LimitsConfig& c, config::Errors& e) {
            if (c.rate_burst < c.rate_per_sec / 100) {
              e.add("rate_burst", "too small for limits.rate_per_sec");
            }
            if (c.state_queue_soft_bytes > c.state_queue_hard_bytes) {
              e.add("state_queue_soft_bytes", "must be at most limits.state_queue_hard_bytes (" +
                                                  std::to_string(c.state_queue_hard_bytes) + ")");
            }
          });
  return s;
}

const Section<StoreConfig>& store_section() {
  static const auto s =
      Section<StoreConfig>("store", "database")
          .one_of("backend", &StoreConfig::backend, {"sqlite", "mysql"}, kRestart, "database")
          .flag("auto_migrate", &StoreConfig::auto_migrate, kRestart,
                "apply pending migrations at start")
          .uint("pool_size", &StoreConfig::pool_size, 1, 1024, kRestart, "database connections")
          .uint("pool_wait_ms", &StoreConfig::pool_wait_ms, 1, 600000, kRestart,
                "longest wait for a free connection (then `UNAVAILABLE`)")
          .uint("retry_attempts", &StoreConfig::retry_attempts, 0, 100, kRestart,
                "re-runs of a transaction after a deadlock / busy database")
          .uint("write_behind_ms", &StoreConfig::write_behind_ms, 10, 3600000, kRestart,
                "flush period of write-behind state (the loss window on a crash)")
          .uint("connect_retry_max_ms", &StoreConfig::connect_retry_max_ms, 10, 600000, kRestart,
                "reconnect backoff cap while MySQL is unreachable (also the largest "
                "`retry_after_ms` told to clients then)");
  return s;
}

const Section<SqliteConfig>& sqlite_section() {
  static const auto s =
      Section<SqliteConfig>("sqlite", "embedded database")
          .text("path", &SqliteConfig::path, 0, 4096, kRestart,
                "database file; empty = `<server.data_dir>/shardd.db`")
          .uint("busy_timeout_ms", &SqliteConfig::busy_timeout_ms, 0, 600000, kRestart,
                "wait for the write lock before `SQLITE_BUSY`")
          .one_of("synchronous", &SqliteConfig::synchronous, {"full", "normal"}, kRestart,
                  "`full`: durable at commit; `normal`: faster, may lose the last commits on "
                  "power loss");
  return s;
}

const Section<MysqlConfig>& mysql_section() {
  static const auto s =
      Section<MysqlConfig>("mysql", "MySQL / MariaDB")
          .text("host", &MysqlConfig::host, 0, 255, kRestart, "server address")
          .uint("port", &MysqlConfig::port, 0, 65535, kRestart, "")
          .text("socket", &MysqlConfig::socket, 0, 4096, kRestart, "Unix socket (wins when set)")
          .text("user", &MysqlConfig::user, 1, 128, kRestart, "")
          .text("password", &MysqlConfig::password, 0, 256, kRestart, "hidden by check-config")
          .secret()
          .text("database", &MysqlConfig::database, 1, 64, kRestart, "")
          .flag("tls", &MysqlConfig::tls, kRestart, "require TLS")
          .text("tls_ca", &MysqlConfig::tls_ca, 0, 4096, kRestart, "verify the server with this CA")
          .uint("connect_timeout_ms", &MysqlConfig::connect_timeout_ms, 100, 600000, kRestart,
                "rounded up to whole seconds by the client library")
          .uint("io_timeout_ms", &MysqlConfig::io_timeout_ms, 100, 3600000, kRestart,
                "rounded up to whole seconds by the client library");
  return s;
}

const Section<CacheConfig>& cache_section() {
  static const auto s =
      Section<CacheConfig>("cache", "cache in front of the database")
          .one_of("backend", &CacheConfig::backend, {"memory", "redis"}, kRestart,
                  "cache in front of the database")
          .uint("ttl_ms", &CacheConfig::ttl_ms, 100, 604800000, kRestart, "entry lifetime")
          .number("ttl_jitter", &CacheConfig::ttl_jitter, 0, 0.5, kRestart,
                  "± fraction, so entries filled together do not expire together")
          .uint("negative_ttl_ms", &CacheConfig::negative_ttl_ms, 0, 3600000, kRestart,
                "how long \"no such row\" is cached; 0 = never")
          .uint("memory_max_entries", &CacheConfig::memory_max_entries, 16, 100000000, kRestart,
                "LRU bound of the memory cache");
  return s;
}

const Section<RedisConfig>& redis_section() {
  static const auto s =
      Section<RedisConfig>("redis", "Redis cache")
          .text("host", &RedisConfig::host, 1, 255, kRestart, "Redis server")
          .uint("port", &RedisConfig::port, 1, 65535, kRestart, "")
          .text("password", &RedisConfig::password, 0, 256, kRestart, "hidden by check-config")
          .secret()
          .uint("db", &RedisConfig::db, 0, 1024, kRestart, "")
          .text("key_prefix", &RedisConfig::key_prefix, 0, 64, kRestart,
                "namespace for this deployment's keys")
          .uint("connect_timeout_ms", &RedisConfig::connect_timeout_ms, 10, 60000, kRestart,
                "per connection")
          .uint("command_timeout_ms", &RedisConfig::command_timeout_ms, 10, 60000, kRestart,
                "per command")
          .uint("retry_max_ms", &RedisConfig::retry_max_ms, 10, 600000, kRestart,
                "reconnect backoff cap while Redis is down");
  return s;
}

const Section<SessionConfig>& session_section() {
  static const auto s =
      Section<SessionConfig>("session", "sessions and resume")
          .uint("resume_grace_ms", &SessionConfig::resume_grace_ms, 0, 3600000, kLive,
                "how long a dropped logged-in session waits for `sys.resume` (0: no resume)")
          .uint("replay_pushes", &SessionConfig::replay_pushes, 0, 65536, kLive,
                "pushes kept per session for replay")
          .uint("replay_max_bytes", &SessionConfig::replay_max_bytes, 0, 64 * 1024 * 1024, kLive,
                "and at most this many bytes of them");
  return s;
}

// A section of core: its declaration and where its struct lives in Config.
struct CoreSection {
  const SectionBase* section;
  void* (*locate)(Config&);
};

#define SHARDD_CORE(fn, member) \
  CoreSection { &fn(), [](Config& c) -> void* { return &c.member; } }

const std::vector<CoreSection>& core_sections() {
  static const std::vector<CoreSection> list = {
      SHARDD_CORE(server_section, server), SHARDD_CORE(log_section, log),
      SHARDD_CORE(tls_section, tls),       SHARDD_CORE(ws_section, ws),
      SHARDD_CORE(tcp_section, tcp),       SHARDD_CORE(http_section, http),
      SHARDD_CORE(admin_section, admin),
      SHARDD_CORE(limits_section, limits), SHARDD_CORE(store_section, store),
      SHARDD_CORE(sqlite_section, sqlite), SHARDD_CORE(mysql_section, mysql),
      SHARDD_CORE(cache_section, cache),   SHARDD_CORE(redis_section, redis),
      SHARDD_CORE(session_section, session),
  };
  return list;
}

#undef SHARDD_CORE

// ---------------------------------------------------------------- the key index

// One section of a configuration being read: declaration and object.
struct Bound {
  const SectionBase* section;
  void* object;
};

// Every section a Config has under `schema`: core's, then the modules' (whose
// objects are created with their defaults when missing).
std::vector<Bound> bind(Config& cfg, const config::Schema* schema) {
  std::vector<Bound> out;
  for (const auto& cs : core_sections()) out.push_back({cs.section, cs.locate(cfg)});
  auto& entries = cfg.modules.mutable_entries();
  if (schema) {
    for (const SectionBase* s : schema->module_sections()) {
      auto& e = entries[s->name()];
      if (!e.value) e = {s, s->make()};
    }
  }
  for (auto& [name, e] : entries) out.push_back({e.section, e.value.get()});
  return out;
}

struct Found {
  const Key* key = nullptr;
  Bound bound{};
};

Found find_key(const std::vector<Bound>& sections, std::string_view full) {
  for (const auto& b : sections) {
    for (const Key& k : b.section->keys()) {
      if (b.section->full_key(k) == full) return {&k, b};
    }
  }
  return {};
}

bool is_section_name(const std::vector<Bound>& sections, std::string_view name) {
  for (const auto& b : sections) {
    if (b.section->name() == name) return true;
  }
  return false;
}

std::string where(const toml::node& n) {
  const auto& src = n.source();
  if (src.begin.line == 0) return "";
  return " (line " + std::to_string(src.begin.line) + ")";
}

std::string fmt_num(double v) {
  // Whole numbers print without a fraction; the cast is only defined (and
  // exact) within ±2^53, so anything beyond (a value from the config file:
  // 1e300, inf, nan) prints as a double.
  if (std::fabs(v) < 9007199254740992.0 && v == std::trunc(v)) {
    return std::to_string(static_cast<int64_t>(v));
  }
  std::ostringstream os;
  os << v;
  return os.str();
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

// ---------------------------------------------------------------- reading

class Loader {
 public:
  explicit Loader(std::vector<ConfigError>* errors) : errors_(errors) {}

  void walk(const toml::table& table, const std::vector<Bound>& sections) {
    for (const auto& [k, node] : table) {
      std::string name(k.str());
      Found f = find_key(sections, name);
      if (f.key) {
        set(name, *f.key, f.bound.object, node);
        continue;
      }
      bool is_section = is_section_name(sections, name);
      if (!is_section) {
        fail(name, "unknown key" + where(node));
      } else if (!node.is_table()) {
        fail(name, "expected a table [" + name + "]" + where(node));
      } else {
        for (const auto& [lk, lnode] : *node.as_table()) {
          std::string full = name + "." + std::string(lk.str());
          Found lf = find_key(sections, full);
          if (!lf.key) {
            fail(full, "unknown key" + where(lnode));
          } else {
            set(full, *lf.key, lf.bound.object, lnode);
          }
        }
      }
    }
  }

  // Reads the keys of one table into `object` (an element of a table list).
  void read_table(const std::string& base, const SectionBase& decl, const toml::table& table,
                  void* object) {
    for (const auto& [k, v] : table) {
      std::string full = base + "." + std::string(k.str());
      const Key* key = nullptr;
      for (const Key& dk : decl.keys()) {
        if (dk.name == k.str()) key = &dk;
      }
      if (!key) {
        fail(full, "unknown key" + where(v));
      } else {
        set(full, *key, object, v);
      }
    }
  }

  void fail(const std::string& key, std::string reason) {
    errors_->push_back({key, std::move(reason)});
  }

 private:
  void set(const std::string& full, const Key& k, void* object, const toml::node& node) {
    void* p = k.ref(object);
    switch (k.kind) {
      case Kind::kBool:
        if (!node.is_boolean()) return fail(full, "expected true or false" + where(node));
        *static_cast<bool*>(p) = node.as_boolean()->get();
        return;
      case Kind::kUint: {
        if (!node.is_integer()) return fail(full, "expected an integer" + where(node));
        int64_t v = node.as_integer()->get();
        if (static_cast<double>(v) < k.lo || static_cast<double>(v) > k.hi) {
          return fail(full, "out of range: " + std::to_string(v) + " not in [" + fmt_num(k.lo) +
                                ", " + fmt_num(k.hi) + "]" + where(node));
        }
        *static_cast<uint32_t*>(p) = static_cast<uint32_t>(v);
        return;
      }
      case Kind::kDouble: {
        double v;
        if (node.is_integer()) {
          v = static_cast<double>(node.as_integer()->get());
        } else if (node.is_floating_point()) {
          v = node.as_floating_point()->get();
        } else {
          return fail(full, "expected a number" + where(node));
        }
        if (!(v >= k.lo && v <= k.hi)) {
          return fail(full, "out of range: " + fmt_num(v) + " not in [" + fmt_num(k.lo) + ", " +
                                fmt_num(k.hi) + "]" + where(node));
        }
        *static_cast<double*>(p) = v;
        return;
      }
      case Kind::kString: {
        if (!node.is_string()) return fail(full, "expected a string" + where(node));
        const std::string& v = node.as_string()->get();
        if (!k.choices.empty()) {
          if (std::find(k.choices.begin(), k.choices.end(), v) == k.choices.end()) {
            return fail(full, "\"" + v + "\" is not one of " + join(k.choices, ", ") + where(node));
          }
        } else if (v.size() < k.lo || v.size() > k.hi) {
          return fail(full, "length " + std::to_string(v.size()) + " not in [" + fmt_num(k.lo) +
                                ", " + fmt_num(k.hi) + "]" + where(node));
        }
        *static_cast<std::string*>(p) = v;
        return;
      }
      case Kind::kStringList: {
        if (!node.is_array()) return fail(full, "expected an array of strings" + where(node));
        const toml::array& arr = *node.as_array();
        if (arr.size() > k.hi) {
          return fail(full, "too many entries (max " + fmt_num(k.hi) + ")" + where(node));
        }
        std::vector<std::string> out;
        for (const auto& el : arr) {
          if (!el.is_string()) return fail(full, "expected an array of strings" + where(el));
          out.push_back(el.as_string()->get());
        }
        *static_cast<std::vector<std::string>*>(p) = std::move(out);
        return;
      }
      case Kind::kStringMap: {
        if (!node.is_table()) {
          return fail(full, "expected a table of name = \"value\"" + where(node));
        }
        if (node.as_table()->size() > k.hi) {
          return fail(full, "too many entries (max " + fmt_num(k.hi) + ")" + where(node));
        }
        auto& out = *static_cast<std::map<std::string, std::string>*>(p);
        for (const auto& [mk, mv] : *node.as_table()) {
          std::string key = full + "." + std::string(mk.str());
          if (!k.map_keys.empty() &&
              std::find(k.map_keys.begin(), k.map_keys.end(), mk.str()) == k.map_keys.end()) {
            fail(key, "unknown module" + where(mv));
            continue;
          }
          if (!mv.is_string() || (!k.choices.empty() && std::find(k.choices.begin(), k.choices.end(),
                                                                  mv.as_string()->get()) ==
                                                            k.choices.end())) {
            fail(key, "expected one of " + join(k.choices, ", ") + where(mv));
            continue;
          }
          out[std::string(mk.str())] = mv.as_string()->get();
        }
        return;
      }
      case Kind::kTableList: {
        // `name = []` is an empty list.
        if (node.is_array() && node.as_array()->empty()) {
          k.list_clear(object);
          return;
        }
        if (!node.is_array_of_tables()) {
          return fail(full, "expected [[" + full + "]] tables" + where(node));
        }
        const toml::array& arr = *node.as_array();
        if (arr.size() > k.hi) {
          return fail(full, "too many entries (max " + fmt_num(k.hi) + ")" + where(node));
        }
        k.list_clear(object);
        for (size_t i = 0; i < arr.size(); ++i) {
          std::string base = full + "[" + std::to_string(i) + "]";
          size_t before = errors_->size();
          void* el = k.list_append(object);
          read_table(base, *k.element, *arr[i].as_table(), el);
          if (errors_->size() == before) {
            config::Errors e(base, errors_);
            k.element->check(el, e);
            k.element->finish(el);
          }
        }
        return;
      }
    }
  }

  std::vector<ConfigError>* errors_;
};

// Inserts `--set key=value` into the parsed document, creating tables on the way.
void apply_override(toml::table& root, const std::vector<Bound>& sections, const std::string& item,
                    std::vector<ConfigError>* errors) {
  // TOML documents are UTF-8; an override is held to the same rule, or the
  // rendered configuration would not be a TOML document.
  if (!utf8::valid(item)) {
    errors->push_back({utf8::quote(item), "override is not valid UTF-8"});
    return;
  }
  auto eq = item.find('=');
  if (eq == std::string::npos || eq == 0) {
    errors->push_back({item, "override must look like section.key=value"});
    return;
  }
  std::string key = item.substr(0, eq);
  std::string raw = item.substr(eq + 1);
  Found field = find_key(sections, key);
  const Key* map_key = nullptr;  // section.map.<entry>
  if (!field.key) {
    auto dot = key.rfind('.');
    if (dot != std::string::npos) {
      Found parent = find_key(sections, key.substr(0, dot));
      if (parent.key && parent.key->kind == Kind::kStringMap) map_key = parent.key;
    }
  }
  if (field.key && field.key->kind == Kind::kTableList) {
    errors->push_back({key, "[[" + key + "]] tables cannot be set with --set; use the file"});
    return;
  }
  if (!field.key && !map_key) {
    errors->push_back({key, "unknown key (in --set)"});
    return;
  }
  // Parse the value as TOML; if that fails (bare words) or a string is wanted,
  // take the raw text as a string.
  toml::table parsed;
  bool parsed_ok = true;
  try {
    parsed = toml::parse("v = " + raw);
  } catch (const toml::parse_error&) {
    parsed_ok = false;
  }
  bool want_string = map_key || field.key->kind == Kind::kString;
  bool want_list = field.key && field.key->kind == Kind::kStringList;

  toml::table* t = &root;
  size_t start = 0;
  for (;;) {
    size_t dot = key.find('.', start);
    if (dot == std::string::npos) break;
    std::string part = key.substr(start, dot - start);
    toml::node* child = t->get(part);
    if (!child) {
      t->insert(part, toml::table{});
      child = t->get(part);
    }
    if (!child->is_table()) {
      errors->push_back({key, "cannot override inside a non-table value"});
      return;
    }
    t = child->as_table();
    start = dot + 1;
  }
  std::string leaf = key.substr(start);
  if (parsed_ok && parsed.contains("v") && !(want_string && !parsed["v"].is_string())) {
    t->insert_or_assign(leaf, *parsed.get("v"));
  } else if (want_list) {
    toml::array arr;
    std::stringstream ss(raw);
    std::string part;
    while (std::getline(ss, part, ',')) {
      if (!part.empty()) arr.push_back(part);
    }
    t->insert_or_assign(leaf, std::move(arr));
  } else {
    t->insert_or_assign(leaf, raw);
  }
}

bool file_readable(const std::string& path) { return access(path.c_str(), R_OK) == 0; }

// Checks that span core sections.
void cross_check(const Config& c, std::vector<ConfigError>* errors) {
  bool any_tls = (c.ws.enabled && c.ws.tls) || (c.tcp.enabled && c.tcp.tls);
  if (any_tls) {
    if (c.tls.cert_file.empty()) {
      errors->push_back({"tls.cert_file", "required because ws.tls or tcp.tls is on"});
    } else if (!file_readable(c.tls.cert_file)) {
      errors->push_back({"tls.cert_file", "cannot read " + c.tls.cert_file});
    }
    if (c.tls.key_file.empty()) {
      errors->push_back({"tls.key_file", "required because ws.tls or tcp.tls is on"});
    } else if (!file_readable(c.tls.key_file)) {
      errors->push_back({"tls.key_file", "cannot read " + c.tls.key_file});
    }
  }
  struct L {
    const char* name;
    bool on;
    uint32_t port;
  };
  L ls[] = {{"ws.port", c.ws.enabled, c.ws.port},
            {"tcp.port", c.tcp.enabled, c.tcp.port},
            {"admin.port", c.admin.enabled, c.admin.port}};
  for (size_t i = 0; i < 3; ++i) {
    for (size_t j = i + 1; j < 3; ++j) {
      if (ls[i].on && ls[j].on && ls[i].port != 0 && ls[i].port == ls[j].port) {
        errors->push_back({ls[j].name, "clashes with " + std::string(ls[i].name) + " (" +
                                           std::to_string(ls[i].port) + ")"});
      }
    }
  }
}

// ---------------------------------------------------------------- writing

void put_key(toml::table& t, const std::string& leaf, const Key& k, const void* object,
             bool hide_secrets);

toml::table table_of(const SectionBase& decl, const void* object, bool hide_secrets) {
  toml::table t;
  for (const Key& k : decl.keys()) put_key(t, k.name, k, object, hide_secrets);
  return t;
}

void put_key(toml::table& t, const std::string& leaf, const Key& k, const void* object,
             bool hide_secrets) {
  const void* p = k.ref(const_cast<void*>(object));
  switch (k.kind) {
    case Kind::kBool:
      t.insert(leaf, *static_cast<const bool*>(p));
      break;
    case Kind::kUint:
      t.insert(leaf, static_cast<int64_t>(*static_cast<const uint32_t*>(p)));
      break;
    case Kind::kDouble:
      t.insert(leaf, *static_cast<const double*>(p));
      break;
    case Kind::kString: {
      const auto& v = *static_cast<const std::string*>(p);
      t.insert(leaf, hide_secrets && k.secret && !v.empty() ? std::string("(set, hidden)") : v);
      break;
    }
    case Kind::kStringList: {
      toml::array arr;
      for (const auto& s : *static_cast<const std::vector<std::string>*>(p)) arr.push_back(s);
      t.insert(leaf, std::move(arr));
      break;
    }
    case Kind::kStringMap: {
      toml::table m;
      for (const auto& [mk, mv] : *static_cast<const std::map<std::string, std::string>*>(p)) {
        m.insert(mk, mv);
      }
      t.insert(leaf, std::move(m));
      break;
    }
    case Kind::kTableList: {
      toml::array arr;
      for (size_t i = 0; i < k.list_size(object); ++i) {
        arr.push_back(table_of(*k.element, k.list_at(object, i), hide_secrets));
      }
      t.insert(leaf, std::move(arr));
      break;
    }
  }
}

// The whole configuration as TOML. Core sections first, then the modules'.
toml::table to_toml(const Config& cfg, bool hide_secrets) {
  Config copy = cfg;
  toml::table root;
  for (const Bound& b : bind(copy, nullptr)) {
    for (const Key& k : b.section->keys()) {
      if (k.name.empty()) {
        put_key(root, b.section->name(), k, b.object, hide_secrets);
        continue;
      }
      if (!root.contains(b.section->name())) root.insert(b.section->name(), toml::table{});
      put_key(*root.get(b.section->name())->as_table(), k.name, k, b.object, hide_secrets);
    }
  }
  return root;
}

std::string node_text(const toml::node* n) {
  if (!n) return "(unset)";
  std::ostringstream os;
  n->visit([&os](const auto& v) { os << v; });
  return os.str();
}

Status finish(toml::table& doc, const std::string& source, const std::vector<std::string>& overrides,
              const config::Schema& schema, Config* out, std::vector<ConfigError>* errors) {
  Config cfg;
  std::vector<Bound> sections = bind(cfg, &schema);
  for (const auto& o : overrides) apply_override(doc, sections, o, errors);
  Loader loader(errors);
  loader.walk(doc, sections);
  if (errors->empty()) {
    for (const Bound& b : sections) {
      config::Errors e(b.section->name(), errors);
      b.section->check(b.object, e);
    }
    cross_check(cfg, errors);
  }
  {
    // log.levels: core's modules and the services the schema knows.
    for (const auto& [module, level] : cfg.log.levels) {
      const auto& core = log_modules();
      const auto& mods = schema.module_names();
      if (std::find(core.begin(), core.end(), module) == core.end() &&
          std::find(mods.begin(), mods.end(), module) == mods.end()) {
        std::vector<std::string> known = core;
        known.insert(known.end(), mods.begin(), mods.end());
        errors->push_back({"log.levels." + module, "unknown module (" + join(known, ", ") + ")"});
      }
    }
  }
  if (!errors->empty()) {
    return Status::BadRequest(source + ": " + std::to_string(errors->size()) +
                              " configuration error(s)");
  }
  // Derived defaults (e.g. the one default zone) are stored, so that what
  // check-config prints is what runs.
  for (const Bound& b : sections) b.section->finish(b.object);
  *out = std::move(cfg);
  return Status::Ok();
}

std::string kind_name(const Key& k) {
  switch (k.kind) {
    case Kind::kBool:
      return "bool";
    case Kind::kUint:
      return "int";
    case Kind::kDouble:
      return "float";
    case Kind::kString:
      return "string";
    case Kind::kStringList:
      return "list";
    case Kind::kStringMap:
      return "table";
    case Kind::kTableList:
      return "tables";
  }
  return "";
}

std::string range_text(const Key& k) {
  if (!k.range_doc.empty()) return k.range_doc;
  bool bytes = k.name.find("bytes") != std::string::npos;
  auto size = [bytes](double v) {
    if (!bytes) return fmt_num(v);
    if (v >= kGiB && static_cast<int64_t>(v) % static_cast<int64_t>(kGiB) == 0) {
      return fmt_num(v / kGiB) + " GiB";
    }
    if (v >= 1024 * 1024 && static_cast<int64_t>(v) % (1024 * 1024) == 0) {
      return fmt_num(v / (1024 * 1024)) + " MiB";
    }
    return fmt_num(v);
  };
  switch (k.kind) {
    case Kind::kBool:
      return "";
    case Kind::kUint:
    case Kind::kDouble:
      return size(k.lo) + "–" + size(k.hi);
    case Kind::kString: {
      if (!k.choices.empty()) {
        std::string out;
        for (const auto& c : k.choices) out += (out.empty() ? "`" : ", `") + c + "`";
        return out;
      }
      return fmt_num(k.lo) + "–" + fmt_num(k.hi) + " chars";
    }
    case Kind::kStringList:
    case Kind::kStringMap:
    case Kind::kTableList:
      return "≤ " + fmt_num(k.hi);
  }
  return "";
}

std::string default_text(const Key& k, const void* object) {
  if (!k.default_doc.empty()) return k.default_doc;
  toml::table t;
  put_key(t, "v", k, object, false);
  const toml::node* n = t.get("v");
  if (k.kind == Kind::kString) {
    return n->as_string()->get().empty() ? "`\"\"`" : "`" + n->as_string()->get() + "`";
  }
  if (k.kind == Kind::kDouble) return fmt_num(n->as_floating_point()->get());
  if (k.kind == Kind::kTableList) return "none";
  std::string text = node_text(n);
  if (k.kind == Kind::kUint) {
    int64_t v = n->as_integer()->get();
    if (k.name.find("bytes") != std::string::npos && v >= 1024 * 1024 && v % (1024 * 1024) == 0) {
      return fmt_num(static_cast<double>(v >> 20)) + " MiB";
    }
  }
  return text;
}

void describe_section(const SectionBase& s, const std::string& prefix, std::ostringstream& os) {
  std::shared_ptr<void> defaults = s.make();
  s.finish(defaults.get());
  for (const Key& k : s.keys()) {
    std::string base = k.name.empty() ? prefix : prefix.empty() ? k.name : prefix + "." + k.name;
    std::string name = base;
    if (k.kind == Kind::kStringMap) name += ".<name>";
    if (k.kind == Kind::kTableList) name = "[[" + base + "]]";
    std::string doc = k.doc;
    for (char& c : doc) {
      if (c == '|') c = '/';
    }
    os << "| `" << name << "` | " << kind_name(k) << " | " << default_text(k, defaults.get())
       << " | " << range_text(k) << " | " << (k.live ? "yes" : "no") << " | " << doc << " |\n";
    if (k.kind == Kind::kTableList) describe_section(*k.element, base, os);
  }
}

}  // namespace

namespace config {

Schema::Schema() = default;

void Schema::add_module(std::string name) { module_names_.push_back(std::move(name)); }

bool Schema::add(const SectionBase& section) {
  for (const auto& cs : core_sections()) {
    if (cs.section->name() == section.name()) return false;
  }
  for (const SectionBase* s : modules_) {
    if (s->name() == section.name()) return false;
  }
  modules_.push_back(&section);
  return true;
}

std::string describe_markdown(const Schema& schema) {
  std::ostringstream os;
  os << "| key | type | default | range | live | meaning |\n"
     << "|---|---|---|---|---|---|\n";
  for (const auto& cs : core_sections()) describe_section(*cs.section, cs.section->name(), os);
  for (const SectionBase* s : schema.module_sections()) describe_section(*s, s->name(), os);
  return os.str();
}

}  // namespace config

uint32_t Config::io_thread_count() const {
  if (server.io_threads) return server.io_threads;
  return std::max(1u, std::thread::hardware_concurrency());
}
uint32_t Config::logic_thread_count() const {
  if (server.logic_threads) return server.logic_threads;
  return std::max(1u, std::thread::hardware_concurrency());
}
uint32_t Config::storage_thread_count() const {
  return server.storage_threads ? server.storage_threads : 4;
}

std::string Config::sqlite_path() const {
  return sqlite.path.empty() ? server.data_dir + "/shardd.db" : sqlite.path;
}

const std::vector<std::string>& log_modules() {
  static const std::vector<std::string> mods = {"core", "net", "gateway", "admin", "app", "store"};
  return mods;
}

Status parse_config(std::string_view text, const std::string& source_name,
                    const std::vector<std::string>& overrides, const config::Schema& schema,
                    Config* out, std::vector<ConfigError>* errors) {
  toml::table doc;
  try {
    doc = toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    errors->push_back({"", std::string(e.description()) + " (line " +
                               std::to_string(e.source().begin.line) + ", column " +
                               std::to_string(e.source().begin.column) + ")"});
    return Status::BadRequest(source_name + ": not valid TOML");
  }
  return finish(doc, source_name, overrides, schema, out, errors);
}

Status load_config(const std::string& path, const std::vector<std::string>& overrides,
                   const config::Schema& schema, Config* out, std::vector<ConfigError>* errors) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    errors->push_back({"", "cannot open " + path});
    return Status::BadRequest("cannot open config file " + path);
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_config(ss.str(), path, overrides, schema, out, errors);
}

std::string render_config(const Config& config) {
  std::ostringstream os;
  os << toml::toml_formatter(to_toml(config, true)) << "\n";
  return os.str();
}

ConfigDiff diff_config(const Config& before, const Config& after) {
  ConfigDiff diff;
  toml::table a = to_toml(before, false);
  toml::table b = to_toml(after, false);
  Config scratch = after;
  for (const Bound& bd : bind(scratch, nullptr)) {
    for (const Key& k : bd.section->keys()) {
      std::string full = bd.section->full_key(k);
      const toml::node* na = a.at_path(full).node();
      const toml::node* nb = b.at_path(full).node();
      std::string ta = node_text(na), tb = node_text(nb);
      if (ta == tb) continue;
      // Secrets never reach the reload log: only say that they changed.
      bool secret = k.secret;
      if (k.kind == Kind::kTableList) {
        for (const Key& ek : k.element->keys()) secret = secret || ek.secret;
      }
      if (secret) {
        ta = "(hidden)";
        tb = "(hidden)";
      }
      std::string line = full + ": " + ta + " -> " + tb;
      (k.live ? diff.live : diff.restart_required).push_back(std::move(line));
    }
  }
  return diff;
}

Config merge_live(const Config& running, const Config& fresh) {
  Config out = running;
  Config src = fresh;
  // Module values are shared between copies: give `out` its own.
  for (auto& [name, e] : out.modules.mutable_entries()) e.value = e.section->clone(e.value.get());
  std::vector<Bound> to = bind(out, nullptr);
  std::vector<Bound> from = bind(src, nullptr);
  for (const Bound& t : to) {
    const Bound* f = nullptr;
    for (const Bound& cand : from) {
      if (cand.section == t.section) f = &cand;
    }
    if (!f) continue;
    for (const Key& k : t.section->keys()) {
      if (!k.live) continue;
      k.assign(t.object, f->object);
    }
  }
  return out;
}

}  // namespace shardd
