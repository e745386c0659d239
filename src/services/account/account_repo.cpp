#include "account_repo.h"

#include <charconv>
#include <nlohmann/json.hpp>

#include "shardd/services/account.h"

namespace shardd::account {
namespace {

using json = nlohmann::json;
using store::DbConnection;
using store::DbErr;
using store::DbStatus;
using store::Rows;
using store::Stmt;
using store::StoreContext;

#define SHARDD_ACCOUNT_COLS                                                       \
  "id, username, display_name, pw_hash, last_zone, banned_until_ms, ban_reason, " \
  "display_name_changed_ms, deleted_ms, created_ms"

constexpr Stmt kIdByName{"accounts.id_by_name", "SELECT id FROM accounts WHERE username_lc = ?"};
constexpr Stmt kById{"accounts.by_id", "SELECT " SHARDD_ACCOUNT_COLS " FROM accounts WHERE id = ?"};
constexpr Stmt kExists{"accounts.exists", "SELECT id FROM accounts WHERE id = ?"};
constexpr Stmt kCreate{"accounts.create",
                       "INSERT INTO accounts (username, username_lc, display_name, "
                       "display_name_lc, pw_hash, created_ms) VALUES (?, ?, ?, ?, ?, ?)"};
constexpr Stmt kSetPassword{"accounts.set_password",
                            "UPDATE accounts SET pw_hash = ? WHERE id = ?"};
constexpr Stmt kLastZone{"accounts.last_zone", "UPDATE accounts SET last_zone = ? WHERE id = ?"};
constexpr Stmt kLastLogin{"accounts.last_login",
                          "UPDATE accounts SET last_login_ms = ? WHERE id = ?"};
constexpr Stmt kSetBan{"accounts.set_ban",
                       "UPDATE accounts SET banned_until_ms = ?, ban_reason = ? WHERE id = ?"};
constexpr Stmt kSetDisplayName{"accounts.set_display_name",
                               "UPDATE accounts SET display_name = ?, display_name_lc = ?, "
                               "display_name_changed_ms = ? WHERE id = ?"};
constexpr Stmt kRemove{"accounts.remove",
                       "UPDATE accounts SET username = ?, username_lc = ?, display_name = ?, "
                       "display_name_lc = ?, pw_hash = '', last_zone = NULL, banned_until_ms = "
                       "NULL, ban_reason = NULL, deleted_ms = ? WHERE id = ?"};
constexpr Stmt kListBans{"accounts.list_bans",
                         "SELECT " SHARDD_ACCOUNT_COLS
                         " FROM accounts WHERE banned_until_ms > ? AND id > ? ORDER BY id LIMIT ?"};

constexpr Stmt kAddToken{"tokens.add",
                         "INSERT INTO auth_tokens (token_hash, account_id, created_ms, "
                         "expires_ms, revoked) VALUES (?, ?, ?, ?, 0)"};
constexpr Stmt kFindToken{"tokens.find",
                          "SELECT account_id, expires_ms, revoked FROM auth_tokens WHERE "
                          "token_hash = ?"};
constexpr Stmt kLiveTokens{"tokens.live",
                           "SELECT token_hash, expires_ms FROM auth_tokens WHERE account_id = ? "
                           "AND revoked = 0 AND expires_ms > ? ORDER BY created_ms DESC, "
                           "token_hash"};
constexpr Stmt kRevoke{"tokens.revoke", "UPDATE auth_tokens SET revoked = 1 WHERE token_hash = ?"};
constexpr Stmt kPurgeTokens{"tokens.purge",
                            "DELETE FROM auth_tokens WHERE account_id = ? AND (revoked <> 0 OR "
                            "expires_ms <= ?)"};
constexpr Stmt kDeleteTokens{"tokens.delete_all", "DELETE FROM auth_tokens WHERE account_id = ?"};

#undef SHARDD_ACCOUNT_COLS

std::string account_key(int64_t id) {
  return "acct:" + std::to_string(id);
}
std::string name_key(const std::string& lc) {
  return "acct-name:" + lc;
}
std::string token_key(const std::string& hash) {
  return "tok:" + hash;
}

std::string pack(const json& j) {
  auto bytes = json::to_msgpack(j);
  return std::string(bytes.begin(), bytes.end());
}

// Parses MessagePack without throwing; a discarded value if it is not.
json unpack(const std::string& bytes) {
  return json::from_msgpack(bytes, /*strict=*/true, /*allow_exceptions=*/false);
}

int64_t int_field(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}
std::string str_field(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string encode(const Account& a) {
  return pack({{"i", a.id},
               {"u", a.username},
               {"n", a.display_name},
               {"p", a.pw_hash},
               {"z", a.last_zone},
               {"b", a.banned_until_ms},
               {"r", a.ban_reason},
               {"c", a.display_name_changed_ms},
               {"d", a.deleted},
               {"t", a.created_ms}});
}

bool decode(const std::string& bytes, Account* a) {
  json j = unpack(bytes);
  if (!j.is_object() || int_field(j, "i") <= 0) return false;
  a->id = int_field(j, "i");
  a->username = str_field(j, "u");
  a->display_name = str_field(j, "n");
  a->pw_hash = str_field(j, "p");
  a->last_zone = str_field(j, "z");
  a->banned_until_ms = int_field(j, "b");
  a->ban_reason = str_field(j, "r");
  a->display_name_changed_ms = int_field(j, "c");
  a->created_ms = int_field(j, "t");
  auto d = j.find("d");
  a->deleted = d != j.end() && d->is_boolean() && d->get<bool>();
  return true;
}

Account from_row(const std::vector<store::Value>& r) {
  Account a;
  a.id = store::as_int(r[0]);
  a.username = store::as_string(r[1]);
  a.display_name = store::is_null(r[2]) ? a.username : store::as_string(r[2]);
  a.pw_hash = store::as_string(r[3]);
  a.last_zone = store::as_string(r[4]);
  a.banned_until_ms = store::as_int(r[5]);
  a.ban_reason = store::as_string(r[6]);
  a.display_name_changed_ms = store::as_int(r[7]);
  a.deleted = !store::is_null(r[8]);
  a.created_ms = store::as_int(r[9]);
  return a;
}

DbStatus load_account(DbConnection& c, int64_t id, std::optional<Account>* out) {
  Rows rows;
  DbStatus st = c.query(kById, {id}, &rows);
  if (!st.ok()) return st;
  out->reset();
  if (!rows.empty()) *out = from_row(rows.rows[0]);
  return st;
}

// After a commit that changed account `id`: the fresh row to the cache. If
// it cannot be read back, the cached row is dropped instead (never stale).
void write_through_account(StoreContext& ctx, int64_t id) {
  DbConnection* c = nullptr;
  std::optional<Account> a;
  if (ctx.db(&c).ok() && load_account(*c, id, &a).ok()) {
    if (a) {
      std::string v = encode(*a);
      ctx.cache_after_commit(account_key(id), &v);
    } else {
      ctx.cache_after_commit(account_key(id), nullptr);
    }
    return;
  }
  ctx.cache_after_commit(account_key(id), nullptr);
}

struct TokenRecord {
  std::string hash;
  int64_t account = 0;
  int64_t expires_ms = 0;
  bool revoked = false;
};

void write_through_token(StoreContext& ctx, const TokenRecord& t) {
  std::string v = pack({{"a", t.account}, {"e", t.expires_ms}, {"r", t.revoked}});
  ctx.cache_after_commit(token_key(t.hash), &v);
}

// Revokes the live tokens of `account` (all but `keep` and the newest
// `skip_newest`) inside an open transaction; appends them to *revoked.
DbStatus revoke_live(DbConnection& c, int64_t account, int64_t now_ms, const std::string& keep,
                     size_t skip_newest, std::vector<TokenRecord>* revoked) {
  Rows rows;
  DbStatus st = c.query(kLiveTokens, {account, now_ms}, &rows);
  if (!st.ok()) return st;
  size_t kept = 0;
  for (const auto& r : rows.rows) {
    std::string hash = store::as_string(r[0]);
    if (hash == keep) continue;
    if (kept < skip_newest) {
      ++kept;
      continue;
    }
    st = c.exec(kRevoke, {hash});
    if (!st.ok()) return st;
    revoked->push_back({hash, account, store::as_int(r[1]), true});
  }
  return DbStatus::Ok();
}

std::string lower_ascii(std::string s) {
  for (char& ch : s) {
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  }
  return s;
}

}  // namespace

// ---------------------------------------------------------------- reads

DbStatus AccountRepo::find_by_id(StoreContext& ctx, int64_t id, std::optional<Account>* out) {
  out->reset();
  std::string value;
  bool found = false;
  DbStatus st = ctx.read_through(
      account_key(id),
      [id](DbConnection& c, std::string* v, bool* f) {
        std::optional<Account> a;
        DbStatus s = load_account(c, id, &a);
        if (s.ok() && a) {
          *v = encode(*a);
          *f = true;
        }
        return s;
      },
      &value, &found);
  if (!st.ok() || !found) return st;
  Account a;
  if (decode(value, &a)) {
    *out = std::move(a);
    return st;
  }
  // A cached value we cannot read: go to the database.
  DbConnection* c = nullptr;
  st = ctx.db(&c);
  if (!st.ok()) return st;
  return load_account(*c, id, out);
}

DbStatus AccountRepo::find_by_name(StoreContext& ctx, const std::string& username_lc,
                                   std::optional<Account>* out) {
  out->reset();
  std::string value;
  bool found = false;
  DbStatus st = ctx.read_through(
      name_key(username_lc),
      [&username_lc](DbConnection& c, std::string* v, bool* f) {
        Rows rows;
        DbStatus s = c.query(kIdByName, {username_lc}, &rows);
        if (s.ok() && !rows.empty()) {
          *v = std::to_string(store::as_int(rows.rows[0][0]));
          *f = true;
        }
        return s;
      },
      &value, &found);
  if (!st.ok() || !found) return st;
  int64_t id = 0;
  auto r = std::from_chars(value.data(), value.data() + value.size(), id);
  if (r.ec != std::errc() || id <= 0) return DbStatus(DbErr::kOther, "bad cached account id");
  st = find_by_id(ctx, id, out);
  // The mapping outlived a rename (account deletion): not this name any more.
  if (st.ok() && *out && lower_ascii((*out)->username) != username_lc) out->reset();
  return st;
}

DbStatus AccountRepo::find_token(StoreContext& ctx, const std::string& token_hash, int64_t now_ms,
                                 std::optional<int64_t>* account_id) {
  account_id->reset();
  std::string value;
  bool found = false;
  DbStatus st = ctx.read_through(
      token_key(token_hash),
      [&token_hash](DbConnection& c, std::string* v, bool* f) {
        Rows rows;
        DbStatus s = c.query(kFindToken, {token_hash}, &rows);
        if (s.ok() && !rows.empty()) {
          const auto& r = rows.rows[0];
          *v = pack({{"a", store::as_int(r[0])},
                     {"e", store::as_int(r[1])},
                     {"r", store::as_int(r[2]) != 0}});
          *f = true;
        }
        return s;
      },
      &value, &found);
  if (!st.ok() || !found) return st;
  json j = unpack(value);
  if (!j.is_object()) return DbStatus(DbErr::kOther, "bad cached token");
  auto revoked = j.find("r");
  bool live = revoked != j.end() && revoked->is_boolean() && !revoked->get<bool>() &&
              int_field(j, "e") > now_ms && int_field(j, "a") > 0;
  if (live) *account_id = int_field(j, "a");
  return st;
}

DbStatus AccountRepo::list_bans(StoreContext& ctx, int64_t now_ms, int64_t after_id, int64_t limit,
                                std::vector<Account>* out) {
  DbConnection* c = nullptr;
  DbStatus st = ctx.db(&c);
  if (!st.ok()) return st;
  Rows rows;
  st = c->query(kListBans, {now_ms, after_id, limit}, &rows);
  if (!st.ok()) return st;
  for (const auto& r : rows.rows) out->push_back(from_row(r));
  return st;
}

// ---------------------------------------------------------------- writes

DbStatus AccountRepo::create(StoreContext& ctx, const std::string& username,
                             const std::string& pw_hash, int64_t now_ms, int64_t* id) {
  store::ExecResult r;
  std::string lc = lower_ascii(username);
  DbStatus st = ctx.transaction([&](DbConnection& c) {
    return c.exec(kCreate, {username, lc, username, lc, pw_hash, now_ms}, &r);
  });
  if (!st.ok()) return st;
  *id = r.last_insert_id;
  std::string v = std::to_string(*id);
  ctx.cache_after_commit(name_key(lc), &v);  // replaces a cached "no such name"
  write_through_account(ctx, *id);
  return st;
}

DbStatus AccountRepo::set_password(StoreContext& ctx, int64_t id, const std::string& pw_hash) {
  DbStatus st = ctx.transaction([&](DbConnection& c) {
    return c.exec(kSetPassword, {pw_hash, id});
  });
  if (st.ok()) write_through_account(ctx, id);
  return st;
}

DbStatus AccountRepo::set_last_zone(StoreContext& ctx, int64_t id, const std::string& zone) {
  DbStatus st = ctx.transaction([&](DbConnection& c) { return c.exec(kLastZone, {zone, id}); });
  if (st.ok()) write_through_account(ctx, id);
  return st;
}

DbStatus AccountRepo::set_ban(StoreContext& ctx, int64_t id, int64_t until_ms,
                              const std::string& reason, bool* found) {
  std::vector<TokenRecord> revoked;
  DbStatus st = ctx.transaction([&](DbConnection& c) {
    revoked.clear();
    Rows rows;
    DbStatus s = c.query(kExists, {id}, &rows);
    if (!s.ok()) return s;
    *found = !rows.empty();
    if (!*found) return s;
    s = until_ms > 0 ? c.exec(kSetBan, {until_ms, reason, id})
                     : c.exec(kSetBan, {nullptr, nullptr, id});
    if (!s.ok() || until_ms == 0) return s;
    return revoke_live(c, id, /*now_ms=*/0, "", 0, &revoked);  // every unrevoked token
  });
  if (!st.ok() || !*found) return st;
  write_through_account(ctx, id);
  for (const auto& t : revoked) write_through_token(ctx, t);
  return st;
}

DbStatus AccountRepo::set_display_name(StoreContext& ctx, int64_t id, const std::string& name,
                                       const std::string& key, int64_t now_ms) {
  DbStatus st = ctx.transaction([&](DbConnection& c) {
    return c.exec(kSetDisplayName, {name, key, now_ms, id});
  });
  if (st.ok()) write_through_account(ctx, id);
  return st;
}

DbStatus AccountRepo::remove(StoreContext& ctx, int64_t id, int64_t now_ms,
                             const std::string& old_username_lc) {
  std::vector<TokenRecord> revoked;
  std::string anon = "#" + std::to_string(id);
  DbStatus st = ctx.transaction([&](DbConnection& c) {
    revoked.clear();
    DbStatus s = revoke_live(c, id, 0, "", 0, &revoked);
    if (!s.ok()) return s;
    s = c.exec(kRemove, {anon, anon, anon, anon, now_ms, id});
    if (!s.ok()) return s;
    return c.exec(kDeleteTokens, {id});
  });
  if (!st.ok()) return st;
  write_through_account(ctx, id);
  ctx.cache_after_commit(name_key(old_username_lc), nullptr);
  for (const auto& t : revoked) write_through_token(ctx, t);
  return st;
}

DbStatus AccountRepo::add_token(StoreContext& ctx, const std::string& token_hash,
                                int64_t account_id, int64_t now_ms, int64_t expires_ms,
                                uint32_t max_live) {
  std::vector<TokenRecord> revoked;
  DbStatus st = ctx.transaction([&](DbConnection& c) {
    revoked.clear();
    DbStatus s = c.exec(kAddToken, {token_hash, account_id, now_ms, expires_ms});
    if (!s.ok()) return s;
    // Newest first: the new token and the max_live - 1 before it stay live.
    s = revoke_live(c, account_id, now_ms, "", max_live, &revoked);
    if (!s.ok()) return s;
    return c.exec(kPurgeTokens, {account_id, now_ms});
  });
  if (!st.ok()) return st;
  write_through_token(ctx, {token_hash, account_id, expires_ms, false});
  for (const auto& t : revoked) write_through_token(ctx, t);
  return st;
}

DbStatus AccountRepo::revoke_token(StoreContext& ctx, const std::string& token_hash) {
  TokenRecord rec;
  bool found = false;
  DbStatus st = ctx.transaction([&](DbConnection& c) {
    Rows rows;
    DbStatus s = c.query(kFindToken, {token_hash}, &rows);
    if (!s.ok()) return s;
    found = !rows.empty();
    if (!found) return s;
    rec = {token_hash, store::as_int(rows.rows[0][0]), store::as_int(rows.rows[0][1]), true};
    return c.exec(kRevoke, {token_hash});
  });
  if (st.ok() && found) write_through_token(ctx, rec);
  return st;
}

DbStatus AccountRepo::revoke_tokens(StoreContext& ctx, int64_t account_id, int64_t now_ms,
                                    const std::string& keep_hash) {
  std::vector<TokenRecord> revoked;
  DbStatus st = ctx.transaction([&](DbConnection& c) {
    revoked.clear();
    return revoke_live(c, account_id, now_ms, keep_hash, 0, &revoked);
  });
  if (!st.ok()) return st;
  for (const auto& t : revoked) write_through_token(ctx, t);
  return st;
}

DbStatus AccountRepo::write_last_logins(DbConnection& c, const store::WriteBehind::Batch& batch) {
  for (const auto& [key, value] : batch) {
    int64_t id = 0;
    int64_t ms = 0;
    std::from_chars(key.data(), key.data() + key.size(), id);
    std::from_chars(value.data(), value.data() + value.size(), ms);
    if (id <= 0) continue;
    DbStatus st = c.exec(kLastLogin, {ms, id});
    if (!st.ok()) return st;
  }
  return DbStatus::Ok();
}

namespace {

std::optional<AccountRef> to_ref(const std::optional<Account>& a) {
  if (!a) return std::nullopt;
  return AccountRef{a->id, a->username, a->display_name, a->deleted, a->created_ms};
}

}  // namespace

store::DbStatus find_account_by_name(StoreContext& ctx, const std::string& username,
                                     std::optional<AccountRef>* out) {
  std::optional<Account> a;
  DbStatus st = AccountRepo::find_by_name(ctx, lower_ascii(username), &a);
  *out = to_ref(a);
  return st;
}

store::DbStatus find_account_by_id(StoreContext& ctx, int64_t id, std::optional<AccountRef>* out) {
  std::optional<Account> a;
  DbStatus st = AccountRepo::find_by_id(ctx, id, &a);
  *out = to_ref(a);
  return st;
}

}  // namespace shardd::account
