#include "services/account/account_repo.h"

#include <algorithm>
#include <cctype>

namespace shardd::account {
namespace {

using store::DbConnection;
using store::DbErr;
using store::DbStatus;
using store::Rows;
using store::Stmt;

constexpr Stmt kCreate{"accounts.create",
                       "INSERT INTO accounts (username, username_lc, pw_hash, created_ms) "
                       "VALUES (?, ?, ?, ?)"};
constexpr Stmt kByName{"accounts.by_name",
                       "SELECT id, username, pw_hash, last_zone, banned_until_ms, ban_reason "
                       "FROM accounts WHERE username_lc = ?"};
constexpr Stmt kById{"accounts.by_id",
                     "SELECT id, username, pw_hash, last_zone, banned_until_ms, ban_reason "
                     "FROM accounts WHERE id = ?"};
constexpr Stmt kRecordLogin{"accounts.record_login",
                            "UPDATE accounts SET last_login_ms = ? WHERE id = ?"};
constexpr Stmt kRehash{"accounts.rehash", "UPDATE accounts SET pw_hash = ? WHERE id = ?"};
constexpr Stmt kLastZone{"accounts.last_zone", "UPDATE accounts SET last_zone = ? WHERE id = ?"};
constexpr Stmt kSetBan{"accounts.set_ban",
                       "UPDATE accounts SET banned_until_ms = ?, ban_reason = ? WHERE id = ?"};
constexpr Stmt kRevokeAll{"tokens.revoke_all",
                          "UPDATE auth_tokens SET revoked = 1 WHERE account_id = ?"};
constexpr Stmt kAddToken{"tokens.add",
                         "INSERT INTO auth_tokens (token_hash, account_id, created_ms, "
                         "expires_ms, revoked) VALUES (?, ?, ?, ?, 0)"};
constexpr Stmt kFindToken{"tokens.find",
                          "SELECT account_id FROM auth_tokens WHERE token_hash = ? AND revoked "
                          "= 0 AND expires_ms > ?"};
constexpr Stmt kRevoke{"tokens.revoke", "UPDATE auth_tokens SET revoked = 1 WHERE token_hash = ?"};

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

DbStatus read_account(DbConnection& c, const Stmt& stmt, store::Value key,
                      std::optional<Account>* out) {
  Rows rows;
  DbStatus st = c.query(stmt, {std::move(key)}, &rows);
  if (!st.ok()) return st;
  out->reset();
  if (rows.empty()) return st;
  const auto& r = rows.rows[0];
  Account a;
  a.id = store::as_int(r[0]);
  a.username = store::as_string(r[1]);
  a.pw_hash = store::as_string(r[2]);
  a.last_zone = store::as_string(r[3]);
  a.banned_until_ms = store::as_int(r[4]);
  a.ban_reason = store::as_string(r[5]);
  *out = std::move(a);
  return st;
}

}  // namespace

DbStatus AccountRepo::create(store::StoreContext& ctx, const std::string& username,
                             const std::string& pw_hash, int64_t now_ms, int64_t* id) {
  store::ExecResult r;
  DbStatus st = ctx.transaction([&](DbConnection& c) {
    return c.exec(kCreate, {username, lower(username), pw_hash, now_ms}, &r);
  });
  if (st.ok()) *id = r.last_insert_id;
  return st;
}

DbStatus AccountRepo::find_by_name(store::StoreContext& ctx, const std::string& username_lc,
                                   std::optional<Account>* out) {
  DbConnection* c = nullptr;
  DbStatus st = ctx.db(&c);
  if (!st.ok()) return st;
  return read_account(*c, kByName, username_lc, out);
}

DbStatus AccountRepo::find_by_id(store::StoreContext& ctx, int64_t id,
                                 std::optional<Account>* out) {
  DbConnection* c = nullptr;
  DbStatus st = ctx.db(&c);
  if (!st.ok()) return st;
  return read_account(*c, kById, id, out);
}

DbStatus AccountRepo::record_login(store::StoreContext& ctx, int64_t id, int64_t now_ms,
                                   const std::string* new_pw_hash) {
  return ctx.transaction([&](DbConnection& c) {
    DbStatus st = c.exec(kRecordLogin, {now_ms, id});
    if (st.ok() && new_pw_hash) st = c.exec(kRehash, {*new_pw_hash, id});
    return st;
  });
}

DbStatus AccountRepo::set_last_zone(store::StoreContext& ctx, int64_t id, const std::string& zone) {
  return ctx.transaction([&](DbConnection& c) { return c.exec(kLastZone, {zone, id}); });
}

DbStatus AccountRepo::set_ban(store::StoreContext& ctx, int64_t id, int64_t until_ms,
                              const std::string& reason, bool* found) {
  return ctx.transaction([&](DbConnection& c) {
    store::ExecResult r;
    DbStatus st = until_ms > 0 ? c.exec(kSetBan, {until_ms, reason, id}, &r)
                               : c.exec(kSetBan, {nullptr, nullptr, id}, &r);
    if (!st.ok()) return st;
    *found = r.affected > 0;
    if (until_ms > 0 && *found) st = c.exec(kRevokeAll, {id});
    return st;
  });
}

DbStatus AccountRepo::add_token(store::StoreContext& ctx, const std::string& token_hash,
                                int64_t account_id, int64_t now_ms, int64_t expires_ms) {
  return ctx.transaction([&](DbConnection& c) {
    return c.exec(kAddToken, {token_hash, account_id, now_ms, expires_ms});
  });
}

DbStatus AccountRepo::find_token(store::StoreContext& ctx, const std::string& token_hash,
                                 int64_t now_ms, std::optional<int64_t>* account_id) {
  DbConnection* c = nullptr;
  DbStatus st = ctx.db(&c);
  if (!st.ok()) return st;
  Rows rows;
  st = c->query(kFindToken, {token_hash, now_ms}, &rows);
  if (!st.ok()) return st;
  account_id->reset();
  if (!rows.empty()) *account_id = store::as_int(rows.rows[0][0]);
  return st;
}

DbStatus AccountRepo::revoke_token(store::StoreContext& ctx, const std::string& token_hash) {
  return ctx.transaction([&](DbConnection& c) { return c.exec(kRevoke, {token_hash}); });
}

}  // namespace shardd::account
