#pragma once

// The accounts and auth_tokens tables, behind the store's cache.
//
// Reads go to the cache first (Redis or the in-process cache) and to the
// database on a miss, filling the cache: a login, a token login, a resume and
// the last zone are served from the cache once warm. Writes commit to the
// database first and then write the fresh row through to the cache (see
// StoreContext::cache_after_commit). Cached entries:
//   acct:<id>          the account row (MessagePack)
//   acct-name:<lc>     username (lower case) -> account id
//   tok:<sha256>       a login token: account, expiry, revoked
// Writes to one account row must not run concurrently (the account service
// serializes them per account), so the last write-through always carries the
// newest row. A revoked token is written through as revoked, never erased, so
// a slower concurrent fill cannot bring it back.
//
// Every function runs on a storage thread inside a StoreContext.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "shardd/store/store.h"

namespace shardd::account {

struct Account {
  int64_t id = 0;
  std::string username;
  std::string display_name;
  std::string pw_hash;  // "" for a deleted account: no password verifies
  std::string last_zone;
  int64_t banned_until_ms = 0;  // 0: not banned
  std::string ban_reason;
  int64_t display_name_changed_ms = 0;
  bool deleted = false;
  int64_t created_ms = 0;
};

class AccountRepo {
 public:
  // ---- reads (cached)
  static store::DbStatus find_by_name(store::StoreContext& ctx, const std::string& username_lc,
                                      std::optional<Account>* out);
  static store::DbStatus find_by_id(store::StoreContext& ctx, int64_t id,
                                    std::optional<Account>* out);
  // The account of a live (not revoked, not expired) token, if any.
  static store::DbStatus find_token(store::StoreContext& ctx, const std::string& token_hash,
                                    int64_t now_ms, std::optional<int64_t>* account_id);
  // Accounts banned at `now_ms`, by id, after `after_id` (uncached).
  static store::DbStatus list_bans(store::StoreContext& ctx, int64_t now_ms, int64_t after_id,
                                   int64_t limit, std::vector<Account>* out);

  // ---- writes (database first, then the cache)
  // kDuplicate when the name is taken (as a username or a display name,
  // ignoring case). The display name starts as the username.
  static store::DbStatus create(store::StoreContext& ctx, const std::string& username,
                                const std::string& pw_hash, int64_t now_ms, int64_t* id);
  static store::DbStatus set_password(store::StoreContext& ctx, int64_t id,
                                      const std::string& pw_hash);
  static store::DbStatus set_last_zone(store::StoreContext& ctx, int64_t id,
                                       const std::string& zone);
  // until_ms 0 lifts the ban. Banning also revokes every login token.
  static store::DbStatus set_ban(store::StoreContext& ctx, int64_t id, int64_t until_ms,
                                 const std::string& reason, bool* found);
  // kDuplicate when another account uses the name (ignoring case).
  static store::DbStatus set_display_name(store::StoreContext& ctx, int64_t id,
                                          const std::string& name, const std::string& name_key,
                                          int64_t now_ms);
  // Anonymizes the account: username and display name become "#<id>" (which
  // no one can register), the password hash is cleared (no login works),
  // the ban and last zone are cleared, every token is revoked and removed.
  // The row and its id stay, so whatever refers to the account stays valid.
  static store::DbStatus remove(store::StoreContext& ctx, int64_t id, int64_t now_ms,
                                const std::string& old_username_lc);

  // A new login token. At most `max_live` tokens stay live per account: the
  // oldest beyond that are revoked; revoked and expired ones are deleted.
  static store::DbStatus add_token(store::StoreContext& ctx, const std::string& token_hash,
                                   int64_t account_id, int64_t now_ms, int64_t expires_ms,
                                   uint32_t max_live);
  static store::DbStatus revoke_token(store::StoreContext& ctx, const std::string& token_hash);
  // Revokes every live token of the account but `keep_hash` (may be empty).
  static store::DbStatus revoke_tokens(store::StoreContext& ctx, int64_t account_id, int64_t now_ms,
                                       const std::string& keep_hash);

  // Write-behind flush of last_login_ms: batch of (account id, Unix ms).
  static store::DbStatus write_last_logins(store::DbConnection& c,
                                           const store::WriteBehind::Batch& batch);
};

}  // namespace shardd::account
