#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace shardd::store {

enum class CacheGet : uint8_t {
  kHit,       // value found
  kNegative,  // a cached "no such row" (see Cache::put_negative)
  kMiss,      // nothing cached
  kError,     // the cache is unreachable; treat as a miss and go to the database
};

// A key/value cache in front of the database: in-process LRU or Redis.
// Values are opaque bytes (repositories serialize rows with MessagePack).
//
// Thread-safety: every method may be called concurrently from storage
// threads. Methods block (Redis round trip); never call them on io or logic
// threads. A cache failure is never an error for the caller: reads fall back
// to the database and failed writes are handled by the write-through rules.
class Cache {
 public:
  virtual ~Cache() = default;
  virtual CacheGet get(std::string_view key, std::string* value) = 0;
  // Looks up `n` keys at once: results[i] and, on kHit, values[i] for
  // keys[i]. Redis answers them in one round trip (MGET); the default asks
  // get() for each. REQUIRES: the three arrays hold `n` elements.
  virtual void get_many(const std::string* keys, size_t n, CacheGet* results,
                        std::string* values) {
    for (size_t i = 0; i < n; ++i) results[i] = get(keys[i], &values[i]);
  }
  // `if_absent`: only store when nothing (unexpired) is cached under `key`.
  // Read-through fills use it so a fill that raced with a newer write-through
  // cannot overwrite the newer value with the older row it loaded.
  virtual bool put(std::string_view key, std::string_view value, std::chrono::milliseconds ttl,
                   bool if_absent = false) = 0;
  // Write-through of a row that carries a version (optimistic writers may
  // commit concurrently, so their write-throughs can arrive out of order):
  // stores `value` unless the entry cached under `key` came from this call
  // with a version >= `version`. get() returns the value as for put().
  // REQUIRES: version >= 0.
  virtual bool put_versioned(std::string_view key, std::string_view value, int64_t version,
                             std::chrono::milliseconds ttl) = 0;
  // Remembers that `key` has no row, for `ttl` (always if-absent).
  virtual bool put_negative(std::string_view key, std::chrono::milliseconds ttl) = 0;
  virtual bool erase(std::string_view key) = 0;

  // Lists: a capped window of recent entries (chat history), oldest first.
  // A missing list stays missing until someone rebuilds it whole with
  // list_replace(), so a list that exists never has a gap.
  //
  // Appends `values` if the list under `key` exists (else does nothing),
  // keeps its last `max_len` entries and renews its expiry. False on a
  // backend failure (the list may then be partly updated: erase it).
  virtual bool list_append(std::string_view key, const std::vector<std::string>& values,
                           size_t max_len, std::chrono::milliseconds ttl) = 0;
  // Replaces the list with `values` (none: the list is removed).
  virtual bool list_replace(std::string_view key, const std::vector<std::string>& values,
                            std::chrono::milliseconds ttl) = 0;
  // The whole list: kHit (with entries), kMiss (none), or kError.
  virtual CacheGet list_get(std::string_view key, std::vector<std::string>* out) = 0;
  // False while the backend is known to be down (reads/writes are skipped).
  virtual bool available() const = 0;
  // Checks the backend now (Redis: connect if needed, PING) and updates
  // shardd_cache_up. True if it answered. Blocks like the other methods.
  virtual bool ping() = 0;
  virtual std::string_view name() const = 0;
};

}  // namespace shardd::store
