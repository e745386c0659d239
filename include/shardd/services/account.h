#pragma once

#include <boost/asio/thread_pool.hpp>
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
//   auth.register {username, password}           -> {account_id, username}
//   auth.login    {username, password}           -> {account_id, username, token, resume_token,
//                                                     zones, last_zone}
//   auth.token    {token}                        -> same as auth.login
//   auth.logout   {}                             -> {}   (revokes the token, session logged out)
//   zone.list     {}                             -> {zones:[{id,name,population,capacity,status}]}
//   zone.select   {zone}                         -> {zone, population}
// Passwords are hashed (scrypt or PBKDF2, parameters stored with the hash) on
// a dedicated crypto pool; database work runs on the storage pool; the
// service's own state (who is online, zone populations, login throttles)
// lives on one strand of the logic pool. One live session per account: a
// second login kicks the first (sys.kicked {reason:"logged_in_elsewhere"}).
//
// Thread-safety: install()/stop() from the owning thread; everything else
// from any thread.
class AccountService {
 public:
  AccountService(const Config& config, gateway::Gateway& gateway, store::Store& store,
                 boost::asio::thread_pool& logic, metrics::Registry& metrics);
  ~AccountService();
  AccountService(const AccountService&) = delete;
  AccountService& operator=(const AccountService&) = delete;

  // Registers the ops, the session listener and the admin routes
  // (POST /admin/accounts/ban, POST /admin/accounts/unban). REQUIRES: before serving.
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
