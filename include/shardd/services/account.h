#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "shardd/gateway/session.h"
#include "shardd/services/service.h"
#include "shardd/store/store.h"

namespace shardd::account {

// Accounts, login and zones (docs/protocol.md lists each op):
//   auth.register  {username, password}          -> {account_id, username}
//   auth.login     {username, password}          -> {account_id, username, display_name, token,
//                                                    resume_token, zones, last_zone}
//   auth.token     {token}                       -> same as auth.login
//   auth.logout    {}                            -> {}   (revokes the token, session logged out)
//   auth.change_password {old, new}              -> {}   (revokes the account's other tokens)
//   account.set_display_name {name}              -> {display_name}
//   account.delete {password}                    -> {}   (anonymized; the session logs out)
//   zone.list      {}                            -> {zones:[{id,name,map,population,capacity,
//                                                    band,status}]}
//   zone.select    {zone}                        -> {zone, population}
//   push zone.update {zone:{...}}: a zone's status or population band changed (not replayed)
// Admin: POST /admin/accounts/ban, POST /admin/accounts/unban, GET /admin/accounts/bans.
// Config: [auth], [[zones]] (zones reload live). Migrations: module "account".
//
// Passwords are hashed (scrypt or PBKDF2, parameters stored with the hash) on
// a bounded crypto pool; database work runs on the storage pool, through the
// cache; writes to one account row run one at a time. The service's state
// (who is online, zone populations, login throttles) lives on one strand.
// One live session per account: a second login kicks the first
// (sys.kicked {reason:"logged_in_elsewhere"}); a session that is logged in
// or logging in refuses another login.
services::ServiceDef service_def();

// ---- What other services use (they never read the account tables).

// A player as other players see them.
struct AccountRef {
  int64_t id = 0;
  std::string username;
  std::string display_name;
  bool deleted = false;    // anonymized by account.delete (names are "#<id>")
  int64_t created_ms = 0;  // registration time (Unix ms)
};

// Looks an account up by username (ignoring case) or by id, through the
// cache. Storage work: call it inside the caller's own store work
// (Actor::store_value). *out stays empty when there is no such account.
// REQUIRES: a storage thread.
store::DbStatus find_account_by_name(store::StoreContext& ctx, const std::string& username,
                                     std::optional<AccountRef>* out);
store::DbStatus find_account_by_id(store::StoreContext& ctx, int64_t id,
                                   std::optional<AccountRef>* out);

// A change in who is online, where, and under which name.
struct Presence {
  enum class Kind : uint8_t {
    kOnline,   // logged in (again: `session` is the new one)
    kZone,     // entered `zone` (zone.select done)
    kName,     // changed display name to `name`
    kOffline,  // the account's session ended (logout, kick, ban, grace expired, shutdown)
  };
  Kind kind = Kind::kOnline;
  int64_t account_id = 0;
  std::string name;                         // display name
  std::string zone;                         // "" before the first zone.select
  std::weak_ptr<gateway::Session> session;  // the account's session (expired for kOffline)
  int64_t at_ms = 0;                        // Clock::now_ms() of the change
  int64_t created_ms = 0;                   // the account's registration time
  std::string username;                     // login name, lower case
};

// Told every presence change, in order, on the account service's strand:
// copy what you need and post to your own strand; never block.
class PresenceListener {
 public:
  virtual ~PresenceListener() = default;
  virtual void on_presence(const Presence& p) = 0;
};

// The account service's interface in the services' directory
// (ctx.directory().find<account::Accounts>()).
class Accounts {
 public:
  virtual ~Accounts() = default;
  // REQUIRES: in the subscriber's start() (before serving). The listener
  // lives as long as the server.
  virtual void subscribe(std::shared_ptr<PresenceListener> listener) = 0;
};

}  // namespace shardd::account
