#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "shardd/store/store.h"

namespace shardd::store {

// A stored object: an opaque value (services store MessagePack or JSON) under
// (collection, key, owner), with a version that counts its writes.
struct StoredObject {
  std::string collection;
  std::string key;
  int64_t owner = 0;
  std::string value;
  int64_t version = 0;
  int64_t updated_ms = 0;
};

// The storage_objects repository: per-player (or per-entity) data that
// services keep as documents — settings, quest flags, saved layouts.
// Reads are cached (read-through, negative caching); writes commit first and
// then update the cache (write-through). put() with `expected_version`
// implements optimistic concurrency: the write applies only if the stored
// version still matches (0 = must not exist yet).
//
// Every method but get_async runs on a storage thread, inside a StoreContext.
class ObjectRepository {
 public:
  using GetDone = std::function<void(DbStatus, std::optional<StoredObject>)>;

  // REQUIRES for all: collection 1..64 bytes, key 1..128 bytes.
  static DbStatus get(StoreContext& ctx, const std::string& collection, const std::string& key,
                      int64_t owner, std::optional<StoredObject>* out);
  // get() for callers outside the storage pool (service strands): served
  // through Store::read_cached, so reads issued together share one cache
  // round trip. `done` runs on `ex`; a bad name fails there with kConstraint.
  static void get_async(Store& store, boost::asio::any_io_executor ex, std::string collection,
                        std::string key, int64_t owner, GetDone done);
  // On a version mismatch returns kConstraint ("version conflict") and writes
  // nothing. `expected_version` unset: unconditional upsert. Sets *version.
  static DbStatus put(StoreContext& ctx, const std::string& collection, const std::string& key,
                      int64_t owner, const std::string& value,
                      std::optional<int64_t> expected_version, int64_t* version);
  static DbStatus remove(StoreContext& ctx, const std::string& collection, const std::string& key,
                         int64_t owner, bool* removed);
  // Uncached listing of one owner's objects in a collection, by key.
  static DbStatus list(StoreContext& ctx, const std::string& collection, int64_t owner,
                       std::vector<StoredObject>* out);
  static std::string cache_key(const std::string& collection, const std::string& key,
                               int64_t owner);
};

}  // namespace shardd::store
