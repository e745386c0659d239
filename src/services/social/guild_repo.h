#pragma once

// The guild tables (migrations.cpp, version 2). Every change is one
// transaction that checks the caller's role and the limits against the rows;
// the service runs them one at a time (guilds.cpp), so the limits are exact.
//
// Every function runs on a storage thread inside a StoreContext.

#include <cstdint>
#include <string>
#include <vector>

#include "shardd/store/store.h"

namespace shardd::social {

// Roles, lowest first. Permissions (docs/protocol.md): officers and the
// leader invite, approve and refuse requests, kick members and set the
// message of the day; only the leader sets roles, kicks officers and
// disbands.
enum class Role : uint8_t { kMember = 0, kOfficer = 1, kLeader = 2 };
const char* role_name(Role r);
bool parse_role(const std::string& s, Role* out);

struct GuildInfo {
  int64_t id = 0;
  std::string name;
  std::string tag;
  std::string motd;
  int64_t created_ms = 0;
  int64_t members = 0;
  int64_t leader = 0;
};

// An invite an account received, or a join request it sent.
struct GuildPending {
  int64_t guild = 0;
  std::string name;
  std::string tag;
  bool invite = false;  // else a join request
  int64_t created_ms = 0;
};

struct GuildMember {
  int64_t account = 0;
  Role role = Role::kMember;
  int64_t joined_ms = 0;
};

// Why a guild change was refused (kOk: done).
enum class GuildErr : uint8_t {
  kOk,
  kInGuild,     // the account is already in a guild
  kNoGuild,     // the caller is in no guild
  kNotFound,    // no such guild / the other account is not in the caller's guild
  kTaken,       // name or tag used by another guild
  kForbidden,   // the caller's role may not do that
  kFull,        // member or pending cap
  kTheirsFull,  // the invited account has too many invites and requests waiting
  kMineFull,    // the caller has too many invites and requests waiting
  kNoPending,   // no invite / request to act on
};

class GuildRepo {
 public:
  // The account's guild (0: none) and role.
  static store::DbStatus membership(store::StoreContext& ctx, int64_t account, int64_t* guild,
                                    Role* role);
  // *found false if there is no such guild.
  static store::DbStatus info(store::StoreContext& ctx, int64_t guild, GuildInfo* out, bool* found);
  static store::DbStatus members(store::StoreContext& ctx, int64_t guild,
                                 std::vector<GuildMember>* out);

  static store::DbStatus create(store::StoreContext& ctx, int64_t me, const std::string& name,
                                const std::string& name_key, const std::string& tag,
                                const std::string& tag_key, int64_t now_ms, int64_t* guild,
                                GuildErr* err);
  // An officer+ invites `who` (kind "invite"), or `me` asks to join (kind
  // "request"); at most `max_pending` of each kind per guild, and at most
  // `max_per_account` of both kinds together per account.
  static store::DbStatus invite(store::StoreContext& ctx, int64_t me, int64_t who,
                                uint32_t max_pending, uint32_t max_per_account, int64_t now_ms,
                                int64_t* guild, GuildErr* err);
  static store::DbStatus request(store::StoreContext& ctx, int64_t me, int64_t guild,
                                 uint32_t max_pending, uint32_t max_per_account, int64_t now_ms,
                                 GuildErr* err);
  // The invites `account` received and the join requests it sent, oldest
  // first (at most 1000).
  static store::DbStatus pending_of(store::StoreContext& ctx, int64_t account,
                                    std::vector<GuildPending>* out);
  // `me` takes back its join request to `guild` (kNoPending without one).
  static store::DbStatus withdraw(store::StoreContext& ctx, int64_t me, int64_t guild,
                                  GuildErr* err);
  // `me` takes an invite to `guild` (or drops it when !join).
  static store::DbStatus answer_invite(store::StoreContext& ctx, int64_t me, int64_t guild,
                                       bool join, uint32_t max_members, int64_t now_ms,
                                       GuildErr* err);
  // An officer+ approves (or refuses) `who`'s request to their guild.
  static store::DbStatus answer_request(store::StoreContext& ctx, int64_t me, int64_t who,
                                        bool approve, uint32_t max_members, int64_t now_ms,
                                        int64_t* guild, GuildErr* err);
  // Leaving: a leader's role passes to the longest-serving officer, else
  // member (*new_leader); the last member leaving disbands (*disbanded).
  static store::DbStatus leave(store::StoreContext& ctx, int64_t me, int64_t* guild,
                               int64_t* new_leader, bool* disbanded, GuildErr* err);
  static store::DbStatus kick(store::StoreContext& ctx, int64_t me, int64_t who, int64_t* guild,
                              GuildErr* err);
  // Leader only; making someone leader makes the old leader an officer.
  static store::DbStatus set_role(store::StoreContext& ctx, int64_t me, int64_t who, Role role,
                                  int64_t* guild, GuildErr* err);
  static store::DbStatus set_motd(store::StoreContext& ctx, int64_t me, const std::string& motd,
                                  int64_t* guild, GuildErr* err);
  // Leader only: the guild and its pending invites and requests go;
  // *members lists who was in it.
  static store::DbStatus disband(store::StoreContext& ctx, int64_t me, int64_t* guild,
                                 std::vector<int64_t>* members, GuildErr* err);

  // Moderators (admin routes): the same changes with no caller. *found is
  // false (and nothing changes) when there is no such guild.
  static store::DbStatus admin_disband(store::StoreContext& ctx, int64_t guild,
                                       std::vector<int64_t>* members, bool* found);
  static store::DbStatus admin_set_motd(store::StoreContext& ctx, int64_t guild,
                                        const std::string& motd, bool* found);
};

}  // namespace shardd::social
