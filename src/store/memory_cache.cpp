#include <array>
#include <list>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "caches.h"

namespace shardd::store {
namespace {

using Clock = std::chrono::steady_clock;

class MemoryCache final : public Cache {
 public:
  explicit MemoryCache(size_t max_entries)
      : per_shard_(std::max<size_t>(1, max_entries / kShards)) {}

  CacheGet get(std::string_view key, std::string* value) override {
    Shard& s = shard(key);
    std::lock_guard lock(s.mu);
    auto it = s.map.find(std::string(key));
    if (it == s.map.end()) return CacheGet::kMiss;
    if (Clock::now() >= it->second->expires) {
      s.lru.erase(it->second);
      s.map.erase(it);
      return CacheGet::kMiss;
    }
    s.lru.splice(s.lru.begin(), s.lru, it->second);
    if (it->second->is_list) return CacheGet::kMiss;
    if (it->second->negative) return CacheGet::kNegative;
    *value = it->second->value;
    return CacheGet::kHit;
  }

  bool put(std::string_view key, std::string_view value, std::chrono::milliseconds ttl,
           bool if_absent) override {
    store(key, value, ttl, false, if_absent);
    return true;
  }
  bool put_versioned(std::string_view key, std::string_view value, int64_t version,
                     std::chrono::milliseconds ttl) override {
    store(key, value, ttl, false, false, version);
    return true;
  }
  bool put_negative(std::string_view key, std::chrono::milliseconds ttl) override {
    store(key, {}, ttl, true, true);
    return true;
  }
  bool erase(std::string_view key) override {
    Shard& s = shard(key);
    std::lock_guard lock(s.mu);
    auto it = s.map.find(std::string(key));
    if (it != s.map.end()) {
      s.lru.erase(it->second);
      s.map.erase(it);
    }
    return true;
  }
  bool list_append(std::string_view key, const std::vector<std::string>& values, size_t max_len,
                   std::chrono::milliseconds ttl) override {
    Shard& s = shard(key);
    std::lock_guard lock(s.mu);
    auto it = s.map.find(std::string(key));
    if (it == s.map.end() || !it->second->is_list) return true;
    Entry& e = *it->second;
    if (Clock::now() >= e.expires) {
      s.lru.erase(it->second);
      s.map.erase(it);
      return true;
    }
    e.list.insert(e.list.end(), values.begin(), values.end());
    if (e.list.size() > max_len) {
      e.list.erase(e.list.begin(),
                   e.list.begin() + static_cast<ptrdiff_t>(e.list.size() - max_len));
    }
    e.expires = Clock::now() + ttl;
    s.lru.splice(s.lru.begin(), s.lru, it->second);
    return true;
  }
  bool list_replace(std::string_view key, const std::vector<std::string>& values,
                    std::chrono::milliseconds ttl) override {
    if (values.empty()) return erase(key);
    store(key, {}, ttl, false, false);
    Shard& s = shard(key);
    std::lock_guard lock(s.mu);
    auto it = s.map.find(std::string(key));
    if (it != s.map.end()) {
      it->second->is_list = true;
      it->second->list.assign(values.begin(), values.end());
    }
    return true;
  }
  CacheGet list_get(std::string_view key, std::vector<std::string>* out) override {
    Shard& s = shard(key);
    std::lock_guard lock(s.mu);
    auto it = s.map.find(std::string(key));
    if (it == s.map.end() || !it->second->is_list) return CacheGet::kMiss;
    if (Clock::now() >= it->second->expires) {
      s.lru.erase(it->second);
      s.map.erase(it);
      return CacheGet::kMiss;
    }
    s.lru.splice(s.lru.begin(), s.lru, it->second);
    out->assign(it->second->list.begin(), it->second->list.end());
    return CacheGet::kHit;
  }
  bool available() const override { return true; }
  bool ping() override { return true; }
  std::string_view name() const override { return "memory"; }

 private:
  static constexpr size_t kShards = 16;
  struct Entry {
    std::string key;
    std::string value;
    Clock::time_point expires;
    bool negative;
    bool is_list = false;
    std::vector<std::string> list;  // is_list
    int64_t version = -1;           // put_versioned entries only
  };
  struct Shard {
    std::mutex mu;
    std::list<Entry> lru;  // front = most recent
    std::unordered_map<std::string, std::list<Entry>::iterator> map;
  };

  Shard& shard(std::string_view key) {
    return shards_[std::hash<std::string_view>{}(key) % kShards];
  }

  void store(std::string_view key, std::string_view value, std::chrono::milliseconds ttl,
             bool negative, bool if_absent, int64_t version = -1) {
    Shard& s = shard(key);
    std::lock_guard lock(s.mu);
    auto now = Clock::now();
    auto expires = now + ttl;
    auto it = s.map.find(std::string(key));
    if (it != s.map.end()) {
      if (if_absent && now < it->second->expires) return;
      // A versioned write-through never replaces a newer one.
      if (version >= 0 && now < it->second->expires && it->second->version >= version) return;
      it->second->value.assign(value);
      it->second->expires = expires;
      it->second->negative = negative;
      it->second->is_list = false;
      it->second->list.clear();
      it->second->version = version;
      s.lru.splice(s.lru.begin(), s.lru, it->second);
      return;
    }
    s.lru.push_front(
        Entry{std::string(key), std::string(value), expires, negative, false, {}, version});
    s.map.emplace(s.lru.front().key, s.lru.begin());
    while (s.map.size() > per_shard_) {
      s.map.erase(s.lru.back().key);
      s.lru.pop_back();
    }
  }

  const size_t per_shard_;
  std::array<Shard, kShards> shards_;
};

}  // namespace

std::unique_ptr<Cache> make_memory_cache(size_t max_entries) {
  return std::make_unique<MemoryCache>(max_entries);
}

}  // namespace shardd::store
