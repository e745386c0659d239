#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "shardd/core/error_code.h"
#include "shardd/services/service.h"
#include "shardd/store/store.h"

namespace shardd::social {

// Friends, blocks and presence (docs/protocol.md lists each op):
//   friend.request {account | username}  -> {account, name, state: "pending" | "friends"}
//   friend.accept  {account}             -> {friend: {account, name, online, zone, ...}}
//   friend.decline {account}             -> {}
//   friend.remove  {account}             -> {}  (a friend, or your own pending request)
//   friend.list    {}                    -> {friends: [...], incoming: [...], outgoing: [...]}
//   social.block   {account}             -> {}  (ends a friendship and requests both ways)
//   social.unblock {account}             -> {}
//   social.blocks  {}                    -> {blocks: [{account, name, since_ms}]}
//   push friend.request {from: {account, name}, ts}       (replayed on resume)
//   push friend.update  {account, name, state, online, zone, last_seen_ms}  (not replayed)
// Config: [social]. Migrations: module "social" (after account's).
//
// The social graph lives on one strand: who is online (told by the account
// service's presence), and for each online account its friends and blocks.
// Changes are durable when answered and run one at a time.
services::ServiceDef service_def();

namespace defs {
inline constexpr ErrorDef kBlocked{"BLOCKED", false,
                                   "the other player blocked you (friend requests, whispers, "
                                   "invites, trades)"};
}  // namespace defs

namespace defs {
inline constexpr ErrorDef kGuildNameTaken{"GUILD_NAME_TAKEN", false,
                                          "guild.create: another guild has that name or tag "
                                          "(ignoring case)"};
}  // namespace defs
inline constexpr ErrorCode kGuildNameTaken{defs::kGuildNameTaken};

// Answered when the other player blocked the sender. Other services that
// honour blocks (chat, lobby, economy) answer it too.
inline constexpr ErrorCode kBlocked{defs::kBlocked};

// A change in who belongs to a group (a party now, guilds later): other
// services keep their own view from these (chat's party channel).
struct GroupChange {
  enum class Kind : uint8_t { kJoined, kLeft };
  Kind kind = Kind::kJoined;
  std::string group;  // "party:<id>", "guild:<id>"
  int64_t account_id = 0;
};

// Told every group change, in order, on the social service's strand: copy
// and post to your own strand; never block.
class GroupListener {
 public:
  virtual ~GroupListener() = default;
  virtual void on_group(const GroupChange& change) = 0;
};

// The social service's interface in the services' directory
// (ctx.directory().find<social::Groups>()).
class Groups {
 public:
  virtual ~Groups() = default;
  // REQUIRES: in the subscriber's start() (before serving).
  virtual void subscribe(std::shared_ptr<GroupListener> listener) = 0;
};

// Whether `by` blocked `who` (other services honour blocks with it: chat
// whispers, later invites and trades). Storage work: call it inside the
// caller's own store work. REQUIRES: a storage thread.
store::DbStatus find_block(store::StoreContext& ctx, int64_t by, int64_t who, bool* blocked);

}  // namespace shardd::social
