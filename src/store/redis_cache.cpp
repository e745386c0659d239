#include <hiredis/hiredis.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <vector>

#include "caches.h"
#include "shardd/core/log.h"

namespace shardd::store {
namespace {

using Clock = std::chrono::steady_clock;

spdlog::logger& lg() {
  static spdlog::logger& l = log::get("store");
  return l;
}

struct ContextDeleter {
  void operator()(redisContext* c) const { redisFree(c); }
};
using ContextPtr = std::unique_ptr<redisContext, ContextDeleter>;

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

timeval to_tv(uint32_t ms) {
  return {static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
}

// Stored values carry a one-byte tag: 'v' + bytes for a value, 'n' for "no row".
constexpr char kValueTag = 'v';
constexpr char kNegativeTag = 'n';
// 'w' + the version as 8 big-endian bytes + bytes: a versioned write-through.
constexpr char kVersionedTag = 'w';

// Sets KEYS[1] to ARGV[1] (tagged, versioned) for ARGV[3] ms unless the value
// there is versioned with a version >= ARGV[2] (8 big-endian bytes, so byte
// order is numeric order for versions >= 0).
constexpr const char* kPutVersionedLua =
    "local cur = redis.call('GET', KEYS[1]) "
    "if cur and string.sub(cur, 1, 1) == 'w' and string.sub(cur, 2, 9) >= ARGV[2] then "
    "return 0 end "
    "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3]) return 1";

class RedisCache final : public Cache {
 public:
  RedisCache(const RedisConfig& cfg, size_t pool_size, metrics::Registry& m)
      : cfg_(cfg),
        pool_size_(std::max<size_t>(1, pool_size)),
        up_(m.gauge("shardd_cache_up", "1 while the cache backend answers.")),
        errors_(m.counter("shardd_cache_backend_errors_total",
                          "Cache backend failures (connect, timeout, error reply).")),
        reconnects_(m.counter("shardd_cache_reconnects_total", "Cache backend reconnections.")) {
    up_.set(0);  // until the first connection works
  }

  CacheGet get(std::string_view key, std::string* value) override {
    const char* argv[] = {"GET", key.data()};
    size_t lens[] = {3, key.size()};
    ReplyPtr r;
    if (!command(2, argv, lens, &r)) return CacheGet::kError;
    return parse(r.get(), value);
  }

  void get_many(const std::string* keys, size_t n, CacheGet* results,
                std::string* values) override {
    if (n == 1) {
      results[0] = get(keys[0], &values[0]);
      return;
    }
    // MGET key... ; the argument arrays live on this thread (no allocation
    // once they have grown to the largest batch).
    thread_local std::vector<const char*> argv;
    thread_local std::vector<size_t> lens;
    argv.assign(1, "MGET");
    lens.assign(1, 4);
    for (size_t i = 0; i < n; ++i) {
      argv.push_back(keys[i].data());
      lens.push_back(keys[i].size());
    }
    ReplyPtr r;
    bool ok = command(static_cast<int>(argv.size()), argv.data(), lens.data(), &r);
    if (ok && (r->type != REDIS_REPLY_ARRAY || r->elements != n)) {
      fail("MGET: unexpected reply");
      ok = false;
    }
    for (size_t i = 0; i < n; ++i) {
      results[i] = ok ? parse(r->element[i], &values[i]) : CacheGet::kError;
    }
  }

  bool put(std::string_view key, std::string_view value, std::chrono::milliseconds ttl,
           bool if_absent) override {
    std::string tagged;
    tagged.reserve(value.size() + 1);
    tagged.push_back(kValueTag);
    tagged.append(value);
    return set(key, tagged, ttl, if_absent);
  }

  bool put_versioned(std::string_view key, std::string_view value, int64_t version,
                     std::chrono::milliseconds ttl) override {
    std::string be(8, '\0');
    for (int i = 7; i >= 0; --i) {
      be[static_cast<size_t>(i)] = static_cast<char>(version & 0xff);
      version >>= 8;
    }
    std::string tagged;
    tagged.reserve(value.size() + 9);
    tagged.push_back(kVersionedTag);
    tagged.append(be);
    tagged.append(value);
    std::string px = std::to_string(std::max<int64_t>(1, ttl.count()));
    const char* argv[] = {"EVAL", kPutVersionedLua, "1", key.data(), tagged.data(), be.data(),
                          px.c_str()};
    size_t lens[] = {4, std::strlen(kPutVersionedLua), 1, key.size(), tagged.size(), be.size(),
                     px.size()};
    ReplyPtr r;
    return command(7, argv, lens, &r) && r->type == REDIS_REPLY_INTEGER;
  }

  bool put_negative(std::string_view key, std::chrono::milliseconds ttl) override {
    return set(key, std::string_view(&kNegativeTag, 1), ttl, true);
  }

  bool erase(std::string_view key) override {
    const char* argv[] = {"DEL", key.data()};
    size_t lens[] = {3, key.size()};
    ReplyPtr r;
    return command(2, argv, lens, &r) && r->type == REDIS_REPLY_INTEGER;
  }

  bool list_append(std::string_view key, const std::vector<std::string>& values, size_t max_len,
                   std::chrono::milliseconds ttl) override {
    if (values.empty()) return true;
    std::vector<Args> cmds(3);
    cmds[0].add("RPUSHX").add(key);
    for (const auto& v : values) cmds[0].add(v);
    std::string from = "-" + std::to_string(std::max<size_t>(1, max_len));
    cmds[1].add("LTRIM").add(key).add(from).add("-1");
    std::string px = std::to_string(std::max<int64_t>(1, ttl.count()));
    cmds[2].add("PEXPIRE").add(key).add(px);
    return pipeline(cmds);
  }

  bool list_replace(std::string_view key, const std::vector<std::string>& values,
                    std::chrono::milliseconds ttl) override {
    std::vector<Args> cmds(values.empty() ? 1 : 3);
    cmds[0].add("DEL").add(key);
    std::string px = std::to_string(std::max<int64_t>(1, ttl.count()));  // outlives pipeline()
    if (!values.empty()) {
      cmds[1].add("RPUSH").add(key);
      for (const auto& v : values) cmds[1].add(v);
      cmds[2].add("PEXPIRE").add(key).add(px);
    }
    return pipeline(cmds);
  }

  CacheGet list_get(std::string_view key, std::vector<std::string>* out) override {
    const char* argv[] = {"LRANGE", key.data(), "0", "-1"};
    size_t lens[] = {6, key.size(), 1, 2};
    ReplyPtr r;
    if (!command(4, argv, lens, &r)) return CacheGet::kError;
    if (r->type != REDIS_REPLY_ARRAY) return CacheGet::kMiss;  // a value of another kind
    if (r->elements == 0) return CacheGet::kMiss;
    out->clear();
    out->reserve(r->elements);
    for (size_t i = 0; i < r->elements; ++i) {
      const redisReply* e = r->element[i];
      if (e->type != REDIS_REPLY_STRING) return CacheGet::kMiss;
      out->emplace_back(e->str, e->len);
    }
    return CacheGet::kHit;
  }

  bool available() const override {
    std::lock_guard lock(mu_);
    return Clock::now() >= down_until_;
  }

  bool ping() override {
    const char* argv[] = {"PING"};
    size_t lens[] = {4};
    ReplyPtr r;
    return command(1, argv, lens, &r);
  }
  std::string_view name() const override { return "redis"; }

 private:
  static CacheGet parse(const redisReply* r, std::string* value) {
    if (r->type != REDIS_REPLY_STRING || r->len < 1) return CacheGet::kMiss;  // nil or foreign
    if (r->str[0] == kNegativeTag) return CacheGet::kNegative;
    if (r->str[0] == kVersionedTag) {
      if (r->len < 9) return CacheGet::kMiss;
      value->assign(r->str + 9, r->len - 9);
      return CacheGet::kHit;
    }
    value->assign(r->str + 1, r->len - 1);
    return CacheGet::kHit;
  }

  // SET key value PX ttl [NX]. With NX a nil reply (key exists) still counts
  // as success: the cache is consistent, just not updated.
  bool set(std::string_view key, std::string_view value, std::chrono::milliseconds ttl, bool nx) {
    std::string px = std::to_string(std::max<int64_t>(1, ttl.count()));
    const char* argv[] = {"SET", key.data(), value.data(), "PX", px.c_str(), "NX"};
    size_t lens[] = {3, key.size(), value.size(), 2, px.size(), 2};
    ReplyPtr r;
    if (!command(nx ? 6 : 5, argv, lens, &r)) return false;
    return r->type == REDIS_REPLY_STATUS || (nx && r->type == REDIS_REPLY_NIL);
  }

  // One command's arguments (views into strings that outlive the call).
  struct Args {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    Args& add(std::string_view a) {
      argv.push_back(a.data());
      lens.push_back(a.size());
      return *this;
    }
  };

  // Sends the commands in one round trip and reads every reply. False (and
  // the breaker opens) if any failed.
  bool pipeline(std::vector<Args>& cmds) {
    ContextPtr ctx;
    if (!acquire(&ctx)) return false;
    for (auto& c : cmds) {
      if (redisAppendCommandArgv(ctx.get(), static_cast<int>(c.argv.size()), c.argv.data(),
                                 c.lens.data()) != REDIS_OK) {
        fail(std::string("pipeline append failed: ") + ctx->errstr);
        return false;
      }
    }
    bool ok = true;
    for (size_t i = 0; i < cmds.size(); ++i) {
      void* raw = nullptr;
      if (redisGetReply(ctx.get(), &raw) != REDIS_OK || !raw) {
        fail(std::string("pipeline failed: ") + ctx->errstr);
        return false;  // ctx dropped
      }
      ReplyPtr r(static_cast<redisReply*>(raw));
      if (r->type == REDIS_REPLY_ERROR) {
        fail(std::string("error reply: ") + std::string(r->str, r->len));
        ok = false;  // keep reading so the connection stays in step
      }
    }
    if (ok) release(std::move(ctx));
    return ok;
  }

  // Runs one command on a pooled connection. False (and the breaker opens) on
  // any failure; an error reply also counts as a failure.
  bool command(int argc, const char** argv, const size_t* lens, ReplyPtr* out) {
    ContextPtr ctx;
    if (!acquire(&ctx)) return false;
    void* raw = redisCommandArgv(ctx.get(), argc, argv, lens);
    if (!raw) {
      fail(std::string("command failed: ") + ctx->errstr);
      return false;  // ctx dropped: a failed context cannot be reused
    }
    out->reset(static_cast<redisReply*>(raw));
    if ((*out)->type == REDIS_REPLY_ERROR) {
      fail(std::string("error reply: ") + std::string((*out)->str, (*out)->len));
      return false;
    }
    release(std::move(ctx));
    return true;
  }

  bool acquire(ContextPtr* out) {
    {
      std::lock_guard lock(mu_);
      if (Clock::now() < down_until_) return false;
      if (!idle_.empty()) {
        *out = std::move(idle_.back());
        idle_.pop_back();
        return true;
      }
    }
    return connect(out);
  }

  void release(ContextPtr ctx) {
    std::lock_guard lock(mu_);
    if (idle_.size() < pool_size_) idle_.push_back(std::move(ctx));
  }

  bool connect(ContextPtr* out) {
    timeval ct = to_tv(cfg_.connect_timeout_ms);
    ContextPtr ctx(redisConnectWithTimeout(cfg_.host.c_str(), static_cast<int>(cfg_.port), ct));
    if (!ctx || ctx->err) {
      fail("connect " + cfg_.host + ":" + std::to_string(cfg_.port) + ": " +
           (ctx ? ctx->errstr : "out of memory"));
      return false;
    }
    timeval cmd = to_tv(cfg_.command_timeout_ms);
    redisSetTimeout(ctx.get(), cmd);
    if (!cfg_.password.empty()) {
      ReplyPtr r(static_cast<redisReply*>(
          redisCommand(ctx.get(), "AUTH %b", cfg_.password.data(), cfg_.password.size())));
      if (!r || r->type == REDIS_REPLY_ERROR) {
        fail("AUTH failed" + (r ? ": " + std::string(r->str, r->len) : std::string()));
        return false;
      }
    }
    if (cfg_.db != 0) {
      ReplyPtr r(static_cast<redisReply*>(redisCommand(ctx.get(), "SELECT %u", cfg_.db)));
      if (!r || r->type == REDIS_REPLY_ERROR) {
        fail("SELECT " + std::to_string(cfg_.db) + " failed");
        return false;
      }
    }
    {
      std::lock_guard lock(mu_);
      up_.set(1);
      if (was_down_) {
        was_down_ = false;
        backoff_ = std::chrono::milliseconds(0);
        reconnects_.inc();
        lg().info("redis: reconnected to {}:{}, caching resumed", cfg_.host, cfg_.port);
      } else if (!connected_once_) {
        lg().info("redis: connected to {}:{}", cfg_.host, cfg_.port);
      }
      connected_once_ = true;
    }
    *out = std::move(ctx);
    return true;
  }

  void fail(const std::string& why) {
    errors_.inc();
    std::lock_guard lock(mu_);
    idle_.clear();  // every pooled connection is suspect now
    backoff_ = std::min(std::chrono::milliseconds(cfg_.retry_max_ms),
                        backoff_.count() ? backoff_ * 2 : std::chrono::milliseconds(100));
    down_until_ = Clock::now() + backoff_;
    up_.set(0);
    if (!was_down_) {
      lg().warn("redis: {}; cache bypassed, reading from the database (retry in {} ms)", why,
                backoff_.count());
    } else {
      lg().debug("redis: still down: {} (retry in {} ms)", why, backoff_.count());
    }
    was_down_ = true;
  }

  const RedisConfig cfg_;
  const size_t pool_size_;
  metrics::Gauge& up_;
  metrics::Counter& errors_;
  metrics::Counter& reconnects_;

  mutable std::mutex mu_;
  // Guarded by mu_:
  std::vector<ContextPtr> idle_;
  Clock::time_point down_until_{};
  std::chrono::milliseconds backoff_{0};
  bool was_down_ = false;
  bool connected_once_ = false;
};

}  // namespace

std::unique_ptr<Cache> make_redis_cache(const RedisConfig& config, size_t pool_size,
                                        metrics::Registry& metrics) {
  return std::make_unique<RedisCache>(config, pool_size, metrics);
}

}  // namespace shardd::store
