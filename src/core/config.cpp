#include "shardd/core/config.h"

#include <algorithm>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>
#include <toml++/toml.h>
#include <unistd.h>

namespace shardd {
namespace {

enum class Kind { kBool, kUint, kDouble, kString, kStringList, kLevelMap, kZones };

// One configurable key. `ref` returns the address of the member, whose type is
// implied by `kind` (bool, uint32_t, double, std::string, vector<string>,
// map<string,string>).
struct Field {
  std::string key;
  Kind kind;
  double lo;
  double hi;
  bool live;  // takes effect on SIGHUP without restart
  std::vector<std::string> choices;
  void* (*ref)(Config&);
};

#define SHARDD_FIELD(key, kind, member, lo, hi, live, ...) \
  Field { key, kind, lo, hi, live, {__VA_ARGS__}, [](Config& c) -> void* { return &c.member; } }

constexpr double kU32Max = 4294967295.0;
const std::vector<std::string> kLevels = {"trace", "debug", "info",    "warn",
                                          "error", "critical", "off"};

const std::vector<Field>& schema() {
  static const std::vector<Field> fields = {
      SHARDD_FIELD("server.name", Kind::kString, server.name, 1, 64, false),
      SHARDD_FIELD("server.io_threads", Kind::kUint, server.io_threads, 0, 256, false),
      SHARDD_FIELD("server.logic_threads", Kind::kUint, server.logic_threads, 0, 256, false),
      SHARDD_FIELD("server.storage_threads", Kind::kUint, server.storage_threads, 0, 256, false),
      SHARDD_FIELD("server.data_dir", Kind::kString, server.data_dir, 1, 4096, false),
      SHARDD_FIELD("server.ports_file", Kind::kString, server.ports_file, 0, 4096, false),
      SHARDD_FIELD("server.shutdown_deadline_ms", Kind::kUint, server.shutdown_deadline_ms, 100,
                   600000, true),
      SHARDD_FIELD("server.reconnect_after_ms", Kind::kUint, server.reconnect_after_ms, 0, 3600000,
                   true),

      SHARDD_FIELD("log.format", Kind::kString, log.format, 0, 0, false, "human", "json"),
      SHARDD_FIELD("log.level", Kind::kString, log.level, 0, 0, true, "trace", "debug", "info",
                   "warn", "error", "critical", "off"),
      SHARDD_FIELD("log.levels", Kind::kLevelMap, log.levels, 0, 0, true),

      SHARDD_FIELD("tls.cert_file", Kind::kString, tls.cert_file, 0, 4096, false),
      SHARDD_FIELD("tls.key_file", Kind::kString, tls.key_file, 0, 4096, false),
      SHARDD_FIELD("tls.min_version", Kind::kString, tls.min_version, 0, 0, false, "1.2", "1.3"),

      SHARDD_FIELD("ws.enabled", Kind::kBool, ws.enabled, 0, 0, false),
      SHARDD_FIELD("ws.bind", Kind::kString, ws.bind, 1, 255, false),
      SHARDD_FIELD("ws.port", Kind::kUint, ws.port, 0, 65535, false),
      SHARDD_FIELD("ws.tls", Kind::kBool, ws.tls, 0, 0, false),
      SHARDD_FIELD("ws.path", Kind::kString, ws.path, 1, 255, false),
      SHARDD_FIELD("ws.permessage_deflate", Kind::kBool, ws.permessage_deflate, 0, 0, false),
      SHARDD_FIELD("ws.allowed_origins", Kind::kStringList, ws.allowed_origins, 0, 256, true),

      SHARDD_FIELD("tcp.enabled", Kind::kBool, tcp.enabled, 0, 0, false),
      SHARDD_FIELD("tcp.bind", Kind::kString, tcp.bind, 1, 255, false),
      SHARDD_FIELD("tcp.port", Kind::kUint, tcp.port, 0, 65535, false),
      SHARDD_FIELD("tcp.tls", Kind::kBool, tcp.tls, 0, 0, false),
      SHARDD_FIELD("tcp.compress_min_bytes", Kind::kUint, tcp.compress_min_bytes, 0, kU32Max,
                   true),

      SHARDD_FIELD("admin.enabled", Kind::kBool, admin.enabled, 0, 0, false),
      SHARDD_FIELD("admin.bind", Kind::kString, admin.bind, 1, 255, false),
      SHARDD_FIELD("admin.port", Kind::kUint, admin.port, 0, 65535, false),
      SHARDD_FIELD("admin.token", Kind::kString, admin.token, 0, 256, true),
      SHARDD_FIELD("admin.metrics_require_token", Kind::kBool, admin.metrics_require_token, 0, 0,
                   true),

      SHARDD_FIELD("limits.max_frame_bytes", Kind::kUint, limits.max_frame_bytes, 256,
                   64 * 1024 * 1024, true),
      SHARDD_FIELD("limits.handshake_timeout_ms", Kind::kUint, limits.handshake_timeout_ms, 100,
                   120000, true),
      SHARDD_FIELD("limits.max_connections", Kind::kUint, limits.max_connections, 1, 10000000,
                   true),
      SHARDD_FIELD("limits.max_connections_per_ip", Kind::kUint, limits.max_connections_per_ip, 1,
                   10000000, true),
      SHARDD_FIELD("limits.rate_per_sec", Kind::kDouble, limits.rate_per_sec, 0.1, 1e6, true),
      SHARDD_FIELD("limits.rate_burst", Kind::kUint, limits.rate_burst, 1, 1000000, true),
      SHARDD_FIELD("limits.rate_strikes_to_close", Kind::kUint, limits.rate_strikes_to_close, 1,
                   1000000, true),
      SHARDD_FIELD("limits.bad_messages_to_close", Kind::kUint, limits.bad_messages_to_close, 1,
                   1000000, true),
      SHARDD_FIELD("limits.write_queue_bytes", Kind::kUint, limits.write_queue_bytes, 4096,
                   1024.0 * 1024 * 1024, true),
      SHARDD_FIELD("limits.write_queue_messages", Kind::kUint, limits.write_queue_messages, 16,
                   10000000, true),
      SHARDD_FIELD("limits.heartbeat_ms", Kind::kUint, limits.heartbeat_ms, 100, 3600000, true),
      SHARDD_FIELD("limits.heartbeat_misses", Kind::kUint, limits.heartbeat_misses, 1, 100, true),

      SHARDD_FIELD("store.backend", Kind::kString, store.backend, 0, 0, false, "sqlite", "mysql"),
      SHARDD_FIELD("store.auto_migrate", Kind::kBool, store.auto_migrate, 0, 0, false),
      SHARDD_FIELD("store.pool_size", Kind::kUint, store.pool_size, 1, 1024, false),
      SHARDD_FIELD("store.pool_wait_ms", Kind::kUint, store.pool_wait_ms, 1, 600000, false),
      SHARDD_FIELD("store.retry_attempts", Kind::kUint, store.retry_attempts, 0, 100, false),
      SHARDD_FIELD("store.write_behind_ms", Kind::kUint, store.write_behind_ms, 10, 3600000, false),
      SHARDD_FIELD("store.connect_retry_max_ms", Kind::kUint, store.connect_retry_max_ms, 10,
                   600000, false),

      SHARDD_FIELD("sqlite.path", Kind::kString, sqlite.path, 0, 4096, false),
      SHARDD_FIELD("sqlite.busy_timeout_ms", Kind::kUint, sqlite.busy_timeout_ms, 0, 600000, false),
      SHARDD_FIELD("sqlite.synchronous", Kind::kString, sqlite.synchronous, 0, 0, false, "full",
                   "normal"),

      SHARDD_FIELD("mysql.host", Kind::kString, mysql.host, 0, 255, false),
      SHARDD_FIELD("mysql.port", Kind::kUint, mysql.port, 0, 65535, false),
      SHARDD_FIELD("mysql.socket", Kind::kString, mysql.socket, 0, 4096, false),
      SHARDD_FIELD("mysql.user", Kind::kString, mysql.user, 1, 128, false),
      SHARDD_FIELD("mysql.password", Kind::kString, mysql.password, 0, 256, false),
      SHARDD_FIELD("mysql.database", Kind::kString, mysql.database, 1, 64, false),
      SHARDD_FIELD("mysql.tls", Kind::kBool, mysql.tls, 0, 0, false),
      SHARDD_FIELD("mysql.tls_ca", Kind::kString, mysql.tls_ca, 0, 4096, false),
      SHARDD_FIELD("mysql.connect_timeout_ms", Kind::kUint, mysql.connect_timeout_ms, 100, 600000,
                   false),
      SHARDD_FIELD("mysql.io_timeout_ms", Kind::kUint, mysql.io_timeout_ms, 100, 3600000, false),

      SHARDD_FIELD("cache.backend", Kind::kString, cache.backend, 0, 0, false, "memory", "redis"),
      SHARDD_FIELD("cache.ttl_ms", Kind::kUint, cache.ttl_ms, 100, 604800000, false),
      SHARDD_FIELD("cache.ttl_jitter", Kind::kDouble, cache.ttl_jitter, 0, 0.5, false),
      SHARDD_FIELD("cache.negative_ttl_ms", Kind::kUint, cache.negative_ttl_ms, 0, 3600000, false),
      SHARDD_FIELD("cache.memory_max_entries", Kind::kUint, cache.memory_max_entries, 16,
                   100000000, false),

      SHARDD_FIELD("redis.host", Kind::kString, redis.host, 1, 255, false),
      SHARDD_FIELD("redis.port", Kind::kUint, redis.port, 1, 65535, false),
      SHARDD_FIELD("redis.password", Kind::kString, redis.password, 0, 256, false),
      SHARDD_FIELD("redis.db", Kind::kUint, redis.db, 0, 1024, false),
      SHARDD_FIELD("redis.key_prefix", Kind::kString, redis.key_prefix, 0, 64, false),
      SHARDD_FIELD("redis.connect_timeout_ms", Kind::kUint, redis.connect_timeout_ms, 10, 60000,
                   false),
      SHARDD_FIELD("redis.command_timeout_ms", Kind::kUint, redis.command_timeout_ms, 10, 60000,
                   false),
      SHARDD_FIELD("redis.retry_max_ms", Kind::kUint, redis.retry_max_ms, 10, 600000, false),

      SHARDD_FIELD("auth.kdf", Kind::kString, auth.kdf, 0, 0, true, "scrypt", "pbkdf2"),
      SHARDD_FIELD("auth.scrypt_n", Kind::kUint, auth.scrypt_n, 1024, 1048576, true),
      SHARDD_FIELD("auth.scrypt_r", Kind::kUint, auth.scrypt_r, 1, 32, true),
      SHARDD_FIELD("auth.scrypt_p", Kind::kUint, auth.scrypt_p, 1, 16, true),
      SHARDD_FIELD("auth.pbkdf2_iterations", Kind::kUint, auth.pbkdf2_iterations, 1000, 10000000,
                   true),
      SHARDD_FIELD("auth.crypto_threads", Kind::kUint, auth.crypto_threads, 1, 64, false),
      SHARDD_FIELD("auth.token_ttl_s", Kind::kUint, auth.token_ttl_s, 1, 31536000, true),
      SHARDD_FIELD("auth.account_attempts_per_min", Kind::kUint, auth.account_attempts_per_min, 1,
                   100000, true),
      SHARDD_FIELD("auth.ip_attempts_per_min", Kind::kUint, auth.ip_attempts_per_min, 1, 100000,
                   true),
      SHARDD_FIELD("auth.register_per_ip_per_min", Kind::kUint, auth.register_per_ip_per_min, 1,
                   100000, true),
      SHARDD_FIELD("auth.max_tokens_per_account", Kind::kUint, auth.max_tokens_per_account, 1,
                   1000, true),
      SHARDD_FIELD("auth.display_name_cooldown_s", Kind::kUint, auth.display_name_cooldown_s, 0,
                   31536000, true),
      SHARDD_FIELD("auth.name_blocklist", Kind::kStringList, auth.name_blocklist, 0, 4096, true),

      SHARDD_FIELD("session.resume_grace_ms", Kind::kUint, session.resume_grace_ms, 0, 3600000,
                   true),
      SHARDD_FIELD("session.replay_pushes", Kind::kUint, session.replay_pushes, 0, 65536, true),
      SHARDD_FIELD("session.replay_max_bytes", Kind::kUint, session.replay_max_bytes, 0,
                   64 * 1024 * 1024, true),

      SHARDD_FIELD("zones", Kind::kZones, zones, 0, 1024, false),
  };
  return fields;
}

#undef SHARDD_FIELD

const Field* find_field(std::string_view key) {
  for (const Field& f : schema()) {
    if (f.key == key) return &f;
  }
  return nullptr;
}

bool is_section_prefix(std::string_view prefix) {
  for (const Field& f : schema()) {
    if (f.key.size() > prefix.size() && f.key.compare(0, prefix.size(), prefix) == 0 &&
        f.key[prefix.size()] == '.') {
      return true;
    }
  }
  return false;
}

std::string where(const toml::node& n) {
  const auto& src = n.source();
  if (src.begin.line == 0) return "";
  return " (line " + std::to_string(src.begin.line) + ")";
}

std::string fmt_num(double v) {
  if (v == static_cast<double>(static_cast<int64_t>(v))) {
    return std::to_string(static_cast<int64_t>(v));
  }
  std::ostringstream os;
  os << v;
  return os.str();
}

class Loader {
 public:
  Loader(Config* cfg, std::vector<ConfigError>* errors) : cfg_(cfg), errors_(errors) {}

  void walk(const toml::table& table, const std::string& prefix) {
    for (const auto& [k, node] : table) {
      std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
      if (const Field* f = find_field(key)) {
        set(*f, node);
      } else if (node.is_table() && is_section_prefix(key)) {
        walk(*node.as_table(), key);
      } else if (is_section_prefix(key)) {
        fail(key, "expected a table [" + key + "]" + where(node));
      } else {
        fail(key, "unknown key" + where(node));
      }
    }
  }

 private:
  void fail(const std::string& key, std::string reason) {
    errors_->push_back({key, std::move(reason)});
  }

  void set(const Field& f, const toml::node& node) {
    void* p = f.ref(*cfg_);
    switch (f.kind) {
      case Kind::kBool:
        if (!node.is_boolean()) return fail(f.key, "expected true or false" + where(node));
        *static_cast<bool*>(p) = node.as_boolean()->get();
        return;
      case Kind::kUint: {
        if (!node.is_integer()) return fail(f.key, "expected an integer" + where(node));
        int64_t v = node.as_integer()->get();
        if (static_cast<double>(v) < f.lo || static_cast<double>(v) > f.hi) {
          return fail(f.key, "out of range: " + std::to_string(v) + " not in [" + fmt_num(f.lo) +
                                 ", " + fmt_num(f.hi) + "]" + where(node));
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
          return fail(f.key, "expected a number" + where(node));
        }
        if (!(v >= f.lo && v <= f.hi)) {
          return fail(f.key, "out of range: " + fmt_num(v) + " not in [" + fmt_num(f.lo) + ", " +
                                 fmt_num(f.hi) + "]" + where(node));
        }
        *static_cast<double*>(p) = v;
        return;
      }
      case Kind::kString: {
        if (!node.is_string()) return fail(f.key, "expected a string" + where(node));
        const std::string& v = node.as_string()->get();
        if (!check_string(f, v, node)) return;
        *static_cast<std::string*>(p) = v;
        return;
      }
      case Kind::kStringList: {
        if (!node.is_array()) return fail(f.key, "expected an array of strings" + where(node));
        const toml::array& arr = *node.as_array();
        if (arr.size() > f.hi) {
          return fail(f.key, "too many entries (max " + fmt_num(f.hi) + ")" + where(node));
        }
        std::vector<std::string> out;
        for (const auto& el : arr) {
          if (!el.is_string()) return fail(f.key, "expected an array of strings" + where(el));
          out.push_back(el.as_string()->get());
        }
        *static_cast<std::vector<std::string>*>(p) = std::move(out);
        return;
      }
      case Kind::kZones:
        return set_zones(f, node);
      case Kind::kLevelMap: {
        if (!node.is_table()) {
          return fail(f.key, "expected a table of module = \"level\"" + where(node));
        }
        auto& out = *static_cast<std::map<std::string, std::string>*>(p);
        for (const auto& [mk, mv] : *node.as_table()) {
          std::string key = f.key + "." + std::string(mk.str());
          const auto& mods = log_modules();
          if (std::find(mods.begin(), mods.end(), mk.str()) == mods.end()) {
            fail(key, "unknown module" + where(mv));
            continue;
          }
          if (!mv.is_string() ||
              std::find(kLevels.begin(), kLevels.end(), mv.as_string()->get()) == kLevels.end()) {
            fail(key, "expected one of trace, debug, info, warn, error, critical, off" + where(mv));
            continue;
          }
          out[std::string(mk.str())] = mv.as_string()->get();
        }
        return;
      }
    }
  }

  // [[zones]] id/name/capacity/map/maintenance, ids unique and [a-z0-9_-]{1,32}.
  void set_zones(const Field& f, const toml::node& node) {
    std::vector<ZoneConfig> out;
    if (node.is_array() && node.as_array()->empty()) {  // `zones = []`: the default zone
      *static_cast<std::vector<ZoneConfig>*>(f.ref(*cfg_)) = std::move(out);
      return;
    }
    if (!node.is_array_of_tables()) {
      return fail(f.key, "expected [[zones]] tables" + where(node));
    }
    const toml::array& arr = *node.as_array();
    if (arr.size() > f.hi) return fail(f.key, "too many zones" + where(node));
    for (size_t i = 0; i < arr.size(); ++i) {
      std::string base = "zones[" + std::to_string(i) + "]";
      ZoneConfig z;
      bool ok = true;
      for (const auto& [k, v] : *arr[i].as_table()) {
        std::string key = base + "." + std::string(k.str());
        if (k.str() == "id" || k.str() == "name" || k.str() == "map") {
          if (!v.is_string()) {
            fail(key, "expected a string" + where(v));
            ok = false;
            continue;
          }
          std::string sv = v.as_string()->get();
          if (k.str() == "id") {
            bool valid = !sv.empty() && sv.size() <= 32;
            for (char c : sv) {
              valid = valid && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
                                c == '-');
            }
            if (!valid) {
              fail(key, "must be 1-32 characters of a-z 0-9 _ -" + where(v));
              ok = false;
            }
            z.id = sv;
          } else if (sv.empty() || sv.size() > 64) {
            fail(key, "length must be 1..64" + where(v));
            ok = false;
          } else {
            (k.str() == "name" ? z.name : z.map) = sv;
          }
        } else if (k.str() == "capacity") {
          if (!v.is_integer() || v.as_integer()->get() < 1 || v.as_integer()->get() > 10000000) {
            fail(key, "expected an integer in [1, 10000000]" + where(v));
            ok = false;
          } else {
            z.capacity = static_cast<uint32_t>(v.as_integer()->get());
          }
        } else if (k.str() == "maintenance") {
          if (!v.is_boolean()) {
            fail(key, "expected true or false" + where(v));
            ok = false;
          } else {
            z.maintenance = v.as_boolean()->get();
          }
        } else {
          fail(key, "unknown key" + where(v));
          ok = false;
        }
      }
      if (ok && z.id.empty()) {
        fail(base + ".id", "required");
        ok = false;
      }
      if (ok && z.name.empty()) z.name = z.id;
      for (const auto& other : out) {
        if (ok && other.id == z.id) {
          fail(base + ".id", "duplicate zone id '" + z.id + "'");
          ok = false;
        }
      }
      if (ok) out.push_back(std::move(z));
    }
    *static_cast<std::vector<ZoneConfig>*>(f.ref(*cfg_)) = std::move(out);
  }

  bool check_string(const Field& f, const std::string& v, const toml::node& node) {
    if (!f.choices.empty()) {
      if (std::find(f.choices.begin(), f.choices.end(), v) == f.choices.end()) {
        std::string list;
        for (const auto& c : f.choices) list += (list.empty() ? "" : ", ") + c;
        fail(f.key, "\"" + v + "\" is not one of " + list + where(node));
        return false;
      }
      return true;
    }
    if (v.size() < f.lo || v.size() > f.hi) {
      fail(f.key, "length " + std::to_string(v.size()) + " not in [" + fmt_num(f.lo) + ", " +
                      fmt_num(f.hi) + "]" + where(node));
      return false;
    }
    return true;
  }

  Config* cfg_;
  std::vector<ConfigError>* errors_;
};

// Inserts `--set key=value` into the parsed document, creating tables on the way.
void apply_override(toml::table& root, const std::string& item, std::vector<ConfigError>* errors) {
  auto eq = item.find('=');
  if (eq == std::string::npos || eq == 0) {
    errors->push_back({item, "override must look like section.key=value"});
    return;
  }
  std::string key = item.substr(0, eq);
  std::string raw = item.substr(eq + 1);
  const Field* field = find_field(key);
  if (field && field->kind == Kind::kZones) {
    errors->push_back({key, "zones cannot be set with --set; use [[zones]] in the file"});
    return;
  }
  bool level_entry = key.rfind("log.levels.", 0) == 0 && key.size() > 11;
  if (!field && !level_entry) {
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
  bool want_string = level_entry || (field && field->kind == Kind::kString);
  bool want_list = field && field->kind == Kind::kStringList;

  // Walk/create parent tables.
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
    const std::string& bind;
    uint32_t port;
  };
  L ls[] = {{"ws.port", c.ws.enabled, c.ws.bind, c.ws.port},
            {"tcp.port", c.tcp.enabled, c.tcp.bind, c.tcp.port},
            {"admin.port", c.admin.enabled, c.admin.bind, c.admin.port}};
  for (size_t i = 0; i < 3; ++i) {
    for (size_t j = i + 1; j < 3; ++j) {
      if (ls[i].on && ls[j].on && ls[i].port != 0 && ls[i].port == ls[j].port) {
        errors->push_back({ls[j].name, "clashes with " + std::string(ls[i].name) + " (" +
                                           std::to_string(ls[i].port) + ")"});
      }
    }
  }
  if (!c.ws.path.empty() && c.ws.path[0] != '/') {
    errors->push_back({"ws.path", "must start with '/'"});
  }
  if (c.limits.rate_burst < c.limits.rate_per_sec / 100) {
    errors->push_back({"limits.rate_burst", "too small for limits.rate_per_sec"});
  }
  if ((c.auth.scrypt_n & (c.auth.scrypt_n - 1)) != 0) {
    errors->push_back({"auth.scrypt_n", "must be a power of two (1024, 2048, ..., 1048576), not " +
                                            std::to_string(c.auth.scrypt_n)});
  } else if (uint64_t{128} * c.auth.scrypt_n * c.auth.scrypt_r > (uint64_t{1} << 30)) {
    errors->push_back({"auth.scrypt_n", "128 x scrypt_n x scrypt_r bytes (memory per hash) must "
                                        "be at most 1 GiB"});
  }
  if (c.admin.metrics_require_token && c.admin.token.empty()) {
    errors->push_back({"admin.metrics_require_token",
                       "needs admin.token (otherwise /metrics could never be read)"});
  }
}

toml::table to_toml(const Config& cfg) {
  Config copy = cfg;
  toml::table root;
  for (const Field& f : schema()) {
    if (f.kind == Kind::kZones) {
      toml::array arr;
      for (const auto& z : copy.zones) {
        arr.push_back(toml::table{{"id", z.id},
                                  {"name", z.name},
                                  {"capacity", static_cast<int64_t>(z.capacity)},
                                  {"map", z.map},
                                  {"maintenance", z.maintenance}});
      }
      root.insert(f.key, std::move(arr));
      continue;
    }
    auto dot = f.key.find('.');
    std::string section = f.key.substr(0, dot);
    std::string leaf = f.key.substr(dot + 1);
    if (!root.contains(section)) root.insert(section, toml::table{});
    toml::table& t = *root.get(section)->as_table();
    void* p = f.ref(copy);
    switch (f.kind) {
      case Kind::kBool:
        t.insert(leaf, *static_cast<bool*>(p));
        break;
      case Kind::kUint:
        t.insert(leaf, static_cast<int64_t>(*static_cast<uint32_t*>(p)));
        break;
      case Kind::kDouble:
        t.insert(leaf, *static_cast<double*>(p));
        break;
      case Kind::kString:
        t.insert(leaf, *static_cast<std::string*>(p));
        break;
      case Kind::kStringList: {
        toml::array arr;
        for (const auto& s : *static_cast<std::vector<std::string>*>(p)) arr.push_back(s);
        t.insert(leaf, std::move(arr));
        break;
      }
      case Kind::kLevelMap: {
        toml::table m;
        for (const auto& [k, v] : *static_cast<std::map<std::string, std::string>*>(p)) {
          m.insert(k, v);
        }
        t.insert(leaf, std::move(m));
        break;
      }
      case Kind::kZones:
        break;  // handled above
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
              Config* out, std::vector<ConfigError>* errors) {
  for (const auto& o : overrides) apply_override(doc, o, errors);
  Config cfg;
  Loader loader(&cfg, errors);
  loader.walk(doc, "");
  if (errors->empty()) cross_check(cfg, errors);
  // No [[zones]] (or `zones = []`) means the one default zone; store it so that
  // what check-config prints is what runs.
  if (cfg.zones.empty()) cfg.zones = cfg.effective_zones();
  if (!errors->empty()) {
    return Status::BadRequest(source + ": " + std::to_string(errors->size()) +
                              " configuration error(s)");
  }
  *out = std::move(cfg);
  return Status::Ok();
}

}  // namespace

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

std::vector<ZoneConfig> Config::effective_zones() const {
  if (!zones.empty()) return zones;
  ZoneConfig z;
  z.id = "main";
  z.name = "Main";
  return {z};
}

std::string Config::sqlite_path() const {
  return sqlite.path.empty() ? server.data_dir + "/shardd.db" : sqlite.path;
}

const std::vector<std::string>& log_modules() {
  static const std::vector<std::string> mods = {"core",  "net",   "gateway", "admin",
                                                "app",   "store", "account", "lobby",
                                                "chat",  "world", "ladder",  "economy"};
  return mods;
}

Status parse_config(std::string_view text, const std::string& source_name,
                    const std::vector<std::string>& overrides, Config* out,
                    std::vector<ConfigError>* errors) {
  toml::table doc;
  try {
    doc = toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    errors->push_back({"", std::string(e.description()) + " (line " +
                               std::to_string(e.source().begin.line) + ", column " +
                               std::to_string(e.source().begin.column) + ")"});
    return Status::BadRequest(source_name + ": not valid TOML");
  }
  return finish(doc, source_name, overrides, out, errors);
}

Status load_config(const std::string& path, const std::vector<std::string>& overrides, Config* out,
                   std::vector<ConfigError>* errors) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    errors->push_back({"", "cannot open " + path});
    return Status::BadRequest("cannot open config file " + path);
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_config(ss.str(), path, overrides, out, errors);
}

std::string render_config(const Config& config) {
  Config shown = config;
  for (std::string* secret : {&shown.admin.token, &shown.mysql.password, &shown.redis.password}) {
    if (!secret->empty()) *secret = "(set, hidden)";
  }
  std::ostringstream os;
  os << toml::toml_formatter(to_toml(shown)) << "\n";
  return os.str();
}

ConfigDiff diff_config(const Config& before, const Config& after) {
  ConfigDiff diff;
  toml::table a = to_toml(before);
  toml::table b = to_toml(after);
  for (const Field& f : schema()) {
    const toml::node* na = a.at_path(f.key).node();
    const toml::node* nb = b.at_path(f.key).node();
    std::string ta = node_text(na), tb = node_text(nb);
    if (ta == tb) continue;
    // Secrets never reach the reload log: only say that they changed.
    if (f.key == "admin.token" || f.key == "mysql.password" || f.key == "redis.password") {
      ta = "(hidden)";
      tb = "(hidden)";
    }
    std::string line = f.key + ": " + ta + " -> " + tb;
    (f.live ? diff.live : diff.restart_required).push_back(std::move(line));
  }
  return diff;
}

Config merge_live(const Config& running, const Config& fresh) {
  Config out = running;
  Config src = fresh;
  for (const Field& f : schema()) {
    if (!f.live) continue;
    void* to = f.ref(out);
    void* from = f.ref(src);
    switch (f.kind) {
      case Kind::kBool:
        *static_cast<bool*>(to) = *static_cast<bool*>(from);
        break;
      case Kind::kUint:
        *static_cast<uint32_t*>(to) = *static_cast<uint32_t*>(from);
        break;
      case Kind::kDouble:
        *static_cast<double*>(to) = *static_cast<double*>(from);
        break;
      case Kind::kString:
        *static_cast<std::string*>(to) = *static_cast<std::string*>(from);
        break;
      case Kind::kStringList:
        *static_cast<std::vector<std::string>*>(to) =
            *static_cast<std::vector<std::string>*>(from);
        break;
      case Kind::kLevelMap:
        *static_cast<std::map<std::string, std::string>*>(to) =
            *static_cast<std::map<std::string, std::string>*>(from);
        break;
      case Kind::kZones:
        *static_cast<std::vector<ZoneConfig>*>(to) = *static_cast<std::vector<ZoneConfig>*>(from);
        break;
    }
  }
  return out;
}

}  // namespace shardd
