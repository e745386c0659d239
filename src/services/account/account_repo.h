#pragma once

// The accounts and auth_tokens tables. Uncached on purpose: logins are rare
// next to game traffic and must see bans and password changes at once.
// Every function runs on a storage thread inside a StoreContext.

#include <cstdint>
#include <optional>
#include <string>

#include "shardd/store/store.h"

namespace shardd::account {

struct Account {
  int64_t id = 0;
  std::string username;
  std::string pw_hash;
  std::string last_zone;
  int64_t banned_until_ms = 0;  // 0: not banned
  std::string ban_reason;
};

class AccountRepo {
 public:
  // kDuplicate when the name is taken (case-insensitively).
  static store::DbStatus create(store::StoreContext& ctx, const std::string& username,
                                const std::string& pw_hash, int64_t now_ms, int64_t* id);
  static store::DbStatus find_by_name(store::StoreContext& ctx, const std::string& username_lc,
                                      std::optional<Account>* out);
  static store::DbStatus find_by_id(store::StoreContext& ctx, int64_t id,
                                    std::optional<Account>* out);
  static store::DbStatus record_login(store::StoreContext& ctx, int64_t id, int64_t now_ms,
                                      const std::string* new_pw_hash);
  static store::DbStatus set_last_zone(store::StoreContext& ctx, int64_t id,
                                       const std::string& zone);
  // until_ms 0 lifts the ban. Banning also revokes every login token.
  static store::DbStatus set_ban(store::StoreContext& ctx, int64_t id, int64_t until_ms,
                                 const std::string& reason, bool* found);

  static store::DbStatus add_token(store::StoreContext& ctx, const std::string& token_hash,
                                   int64_t account_id, int64_t now_ms, int64_t expires_ms);
  // The account of a live (not revoked, not expired) token, if any.
  static store::DbStatus find_token(store::StoreContext& ctx, const std::string& token_hash,
                                    int64_t now_ms, std::optional<int64_t>* account_id);
  static store::DbStatus revoke_token(store::StoreContext& ctx, const std::string& token_hash);
};

}  // namespace shardd::account
