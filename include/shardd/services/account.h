#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>

#include "shardd/admin/admin_server.h"
#include "shardd/core/config.h"
#include "shardd/core/metrics.h"
#include "shardd/core/status.h"
#include "shardd/gateway/gateway.h"
#include "shardd/store/store.h"

namespace shardd::account {

// Accounts, login and zones:
//   auth.register  {username, password}          -> {account_id, username}
//   auth.login     {username, password}          -> {account_id, username, display_name, token,
//                                                    resume_token, zones, last_zone}
//   auth.token     {token}                       -> same as auth.login
//   auth.logout    {}                            -> {}   (revokes the token, session logged out)
//   auth.change_password {old, new}              -> {}   (revokes the account's other tokens)
//   account.set_display_name {name}              -> {display_name}
//   account.delete {password}                    -> {}   (anonymized; the session logs out)
//   zone.list      {}                            -> {zones:[{id,name,population,capacity,status}]}
//   zone.select    {zone}                        -> {zone, population}
// Passwords are hashed (scrypt or PBKDF2, parameters stored with the hash) on
// a dedicated crypto pool; database work runs on the storage pool, through
// the cache; writes to one account row run one at a time. The service's own
// state (who is online, zone populations, login throttles) lives on one
// strand of the logic pool. One live session per account: a second login
// kicks the first (sys.kicked {reason:"logged_in_elsewhere"}); a session that
// is logged in or logging in refuses another login.
//
// Thread-safety: install()/stop() from the owning thread; everything else
// from any thread.
class AccountService {
 public:
  // `logic`: the logic pool (a WorkerPool in the server).
  AccountService(const Config& config, gateway::Gateway& gateway, store::Store& store,
                 boost::asio::io_context& logic, metrics::Registry& metrics);
  ~AccountService();
  AccountService(const AccountService&) = delete;
  AccountService& operator=(const AccountService&) = delete;

  // Registers the ops, the session listener and the admin routes
  // (POST /admin/accounts/ban, POST /admin/accounts/unban,
  // GET /admin/accounts/bans, POST /admin/announce). REQUIRES: before serving.
  Status install(admin::AdminServer* admin);
  // Live settings: KDF parameters, token TTL, throttles.
  void reload(const Config& config);
  // Zones with populations (for /admin/status). Thread-safe snapshot.
  nlohmann::json zones_status() const;
  // Waits for the crypto pool. REQUIRES: after the io threads stopped.
  void stop();

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace shardd::account
