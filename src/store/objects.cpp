#include "shardd/store/objects.h"

#include <nlohmann/json.hpp>

namespace shardd::store {
namespace {

constexpr Stmt kGet{"objects.get",
                    "SELECT value, version, updated_ms FROM storage_objects "
                    "WHERE collection = ? AND obj_key = ? AND owner_id = ?"};
constexpr Stmt kVersionForUpdate{
    "objects.version_for_update",
    "SELECT version FROM storage_objects WHERE collection = ? AND obj_key = ? AND owner_id = ?",
    "SELECT version FROM storage_objects WHERE collection = ? AND obj_key = ? AND owner_id = ? "
    "FOR UPDATE"};
constexpr Stmt kInsert{"objects.insert",
                       "INSERT INTO storage_objects (collection, obj_key, owner_id, value, "
                       "version, updated_ms) VALUES (?, ?, ?, ?, 1, ?)"};
constexpr Stmt kUpdate{"objects.update",
                       "UPDATE storage_objects SET value = ?, version = version + 1, "
                       "updated_ms = ? WHERE collection = ? AND obj_key = ? AND owner_id = ?"};
constexpr Stmt kDelete{"objects.delete",
                       "DELETE FROM storage_objects WHERE collection = ? AND obj_key = ? AND "
                       "owner_id = ?"};
constexpr Stmt kList{"objects.list",
                     "SELECT obj_key, value, version, updated_ms FROM storage_objects "
                     "WHERE collection = ? AND owner_id = ? ORDER BY obj_key"};

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

DbStatus check_names(const std::string& collection, const std::string& key) {
  if (collection.empty() || collection.size() > 64 || key.empty() || key.size() > 128) {
    return {DbErr::kConstraint, "collection must be 1..64 bytes and key 1..128 bytes"};
  }
  return DbStatus::Ok();
}

// Cached form: MessagePack [value, version, updated_ms].
std::string encode(const StoredObject& o) {
  nlohmann::json j = nlohmann::json::array(
      {nlohmann::json::binary_t(std::vector<uint8_t>(o.value.begin(), o.value.end())), o.version,
       o.updated_ms});
  auto bytes = nlohmann::json::to_msgpack(j);
  return std::string(bytes.begin(), bytes.end());
}

bool decode(const std::string& bytes, StoredObject* o) {
  auto j = nlohmann::json::from_msgpack(bytes, true, false);
  if (!j.is_array() || j.size() != 3 || !j[0].is_binary()) return false;
  const auto& bin = j[0].get_binary();
  o->value.assign(bin.begin(), bin.end());
  o->version = j[1].get<int64_t>();
  o->updated_ms = j[2].get<int64_t>();
  return true;
}

}  // namespace

std::string ObjectRepository::cache_key(const std::string& collection, const std::string& key,
                                        int64_t owner) {
  // Length-prefixed so no two (collection, key) pairs can produce one string.
  return "obj:" + std::to_string(collection.size()) + ":" + collection + ":" +
         std::to_string(owner) + ":" + key;
}

namespace {

// The database read behind a cache miss; the cached form is encode()'s.
StoreContext::LoadFn loader(const std::string& collection, const std::string& key,
                            int64_t owner) {
  return [collection, key, owner](DbConnection& c, std::string* value, bool* found) {
    Rows rows;
    DbStatus s = c.query(kGet, {collection, key, owner}, &rows);
    if (!s.ok() || rows.empty()) return s;
    StoredObject o;
    o.value = as_string(rows.rows[0][0]);
    o.version = as_int(rows.rows[0][1]);
    o.updated_ms = as_int(rows.rows[0][2]);
    *value = encode(o);
    *found = true;
    return s;
  };
}

// *out from a read's result: nothing when not found, else the decoded object.
DbStatus to_object(const std::string* bytes, const std::string& collection,
                   const std::string& key, int64_t owner, std::optional<StoredObject>* out) {
  out->reset();
  if (!bytes) return DbStatus::Ok();
  StoredObject o;
  if (!decode(*bytes, &o)) return {DbErr::kOther, "corrupt cached object"};
  o.collection = collection;
  o.key = key;
  o.owner = owner;
  *out = std::move(o);
  return DbStatus::Ok();
}

}  // namespace

DbStatus ObjectRepository::get(StoreContext& ctx, const std::string& collection,
                               const std::string& key, int64_t owner,
                               std::optional<StoredObject>* out) {
  DbStatus st = check_names(collection, key);
  if (!st.ok()) return st;
  std::string bytes;
  bool found = false;
  st = ctx.read_through(cache_key(collection, key, owner), loader(collection, key, owner), &bytes,
                        &found);
  if (!st.ok()) return st;
  return to_object(found ? &bytes : nullptr, collection, key, owner, out);
}

void ObjectRepository::get_async(Store& store, boost::asio::any_io_executor ex,
                                 std::string collection, std::string key, int64_t owner,
                                 GetDone done) {
  DbStatus st = check_names(collection, key);
  if (!st.ok()) {
    boost::asio::post(ex, [st = std::move(st), done = std::move(done)] { done(st, std::nullopt); });
    return;
  }
  std::string ck = cache_key(collection, key, owner);
  StoreContext::LoadFn load = loader(collection, key, owner);
  store.read_cached(std::move(ex), std::move(ck), std::move(load),
                    [collection = std::move(collection), key = std::move(key), owner,
                     done = std::move(done)](DbStatus read, std::optional<std::string> bytes) {
                      std::optional<StoredObject> out;
                      if (read.ok()) read = to_object(bytes ? &*bytes : nullptr, collection, key,
                                                      owner, &out);
                      done(std::move(read), std::move(out));
                    });
}

DbStatus ObjectRepository::put(StoreContext& ctx, const std::string& collection,
                               const std::string& key, int64_t owner, const std::string& value,
                               std::optional<int64_t> expected_version, int64_t* version) {
  DbStatus st = check_names(collection, key);
  if (!st.ok()) return st;
  StoredObject written;
  st = ctx.transaction([&](DbConnection& c) {
    Rows rows;
    DbStatus s = c.query(kVersionForUpdate, {collection, key, owner}, &rows);
    if (!s.ok()) return s;
    int64_t current = rows.empty() ? 0 : as_int(rows.rows[0][0]);
    if (expected_version && *expected_version != current) {
      return DbStatus(DbErr::kConstraint, "version conflict: stored " + std::to_string(current) +
                                              ", expected " + std::to_string(*expected_version));
    }
    written.updated_ms = now_ms();
    if (rows.empty()) {
      s = c.exec(kInsert, {collection, key, owner, value, written.updated_ms});
      // Inserted concurrently by someone else: retry the transaction, which
      // then sees the row (and applies the version check).
      if (s.err() == DbErr::kDuplicate) return DbStatus(DbErr::kRetry, "concurrent insert");
      written.version = 1;
    } else {
      s = c.exec(kUpdate, {value, written.updated_ms, collection, key, owner});
      written.version = current + 1;
    }
    return s;
  });
  if (!st.ok()) return st;
  written.value = value;
  std::string cached = encode(written);
  // Optimistic writers of one object may commit concurrently: the versioned
  // write-through keeps the newest one whatever order they arrive in.
  ctx.cache_after_commit_versioned(cache_key(collection, key, owner), cached, written.version);
  *version = written.version;
  return DbStatus::Ok();
}

DbStatus ObjectRepository::remove(StoreContext& ctx, const std::string& collection,
                                  const std::string& key, int64_t owner, bool* removed) {
  DbStatus st = check_names(collection, key);
  if (!st.ok()) return st;
  ExecResult r;
  st = ctx.transaction([&](DbConnection& c) { return c.exec(kDelete, {collection, key, owner}, &r); });
  if (!st.ok()) return st;
  *removed = r.affected > 0;
  ctx.cache_after_commit(cache_key(collection, key, owner), nullptr);
  return DbStatus::Ok();
}

DbStatus ObjectRepository::list(StoreContext& ctx, const std::string& collection, int64_t owner,
                                std::vector<StoredObject>* out) {
  DbConnection* c = nullptr;
  DbStatus st = ctx.db(&c);
  if (!st.ok()) return st;
  Rows rows;
  st = c->query(kList, {collection, owner}, &rows);
  if (!st.ok()) return st;
  out->clear();
  for (auto& r : rows.rows) {
    out->push_back({collection, as_string(r[0]), owner, as_string(r[1]), as_int(r[2]),
                    as_int(r[3])});
  }
  return DbStatus::Ok();
}

}  // namespace shardd::store
