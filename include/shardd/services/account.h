#pragma once

#include "shardd/services/service.h"

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

}  // namespace shardd::account
