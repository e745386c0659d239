#include "guild_repo.h"

namespace shardd::social {
namespace {

using store::DbConnection;
using store::DbErr;
using store::DbStatus;
using store::Rows;
using store::Stmt;
using store::StoreContext;

constexpr Stmt kMembership{"guild_repo.membership",
                           "SELECT guild_id, role FROM social_guild_members WHERE account_id = ?"};
constexpr Stmt kInfo{"guild_repo.info",
                     "SELECT id, name, tag, motd, created_ms FROM social_guilds WHERE id = ?"};
constexpr Stmt kCount{"guild_repo.count",
                      "SELECT COUNT(*) FROM social_guild_members WHERE guild_id = ?"};
constexpr Stmt kLeader{"guild_repo.leader",
                       "SELECT account_id FROM social_guild_members WHERE guild_id = ? AND "
                       "role = 'leader'"};
constexpr Stmt kMembers{"guild_repo.members",
                        "SELECT account_id, role, joined_ms FROM social_guild_members WHERE "
                        "guild_id = ? ORDER BY joined_ms, account_id"};
constexpr Stmt kCreate{"guild_repo.create",
                       "INSERT INTO social_guilds (name, name_key, tag, tag_key, motd, created_ms) "
                       "VALUES (?, ?, ?, ?, '', ?)"};
constexpr Stmt kAddMember{"guild_repo.add_member",
                          "INSERT INTO social_guild_members (account_id, guild_id, role, "
                          "joined_ms) VALUES (?, ?, ?, ?)"};
constexpr Stmt kDelMember{"guild_repo.del_member",
                          "DELETE FROM social_guild_members WHERE account_id = ?"};
constexpr Stmt kSetRole{"guild_repo.set_role",
                        "UPDATE social_guild_members SET role = ? WHERE account_id = ?"};
constexpr Stmt kSuccessor{"guild_repo.successor",
                          "SELECT account_id FROM social_guild_members WHERE guild_id = ? AND "
                          "account_id <> ? ORDER BY CASE role WHEN 'officer' THEN 0 ELSE 1 END, "
                          "joined_ms, account_id LIMIT 1"};
constexpr Stmt kHasPending{"guild_repo.has_pending",
                           "SELECT 1 FROM social_guild_pending WHERE guild_id = ? AND "
                           "account_id = ? AND kind = ?"};
constexpr Stmt kCountPending{"guild_repo.count_pending",
                             "SELECT COUNT(*) FROM social_guild_pending WHERE guild_id = ? AND "
                             "kind = ?"};
constexpr Stmt kCountAccountPending{
    "guild_repo.count_account_pending",
    "SELECT COUNT(*) FROM social_guild_pending WHERE account_id = ?"};
constexpr Stmt kAccountPending{
    "guild_repo.account_pending",
    "SELECT p.guild_id, g.name, g.tag, p.kind, p.created_ms FROM social_guild_pending p JOIN "
    "social_guilds g ON g.id = p.guild_id WHERE p.account_id = ? ORDER BY p.created_ms, "
    "p.guild_id LIMIT 1000"};
constexpr Stmt kAddPending{"guild_repo.add_pending",
                           "INSERT INTO social_guild_pending (guild_id, account_id, kind, "
                           "created_ms) VALUES (?, ?, ?, ?)"};
constexpr Stmt kDelPending{"guild_repo.del_pending",
                           "DELETE FROM social_guild_pending WHERE guild_id = ? AND account_id = ? "
                           "AND kind = ?"};
constexpr Stmt kDelAccountPending{"guild_repo.del_account_pending",
                                  "DELETE FROM social_guild_pending WHERE account_id = ?"};
constexpr Stmt kDelGuildPending{"guild_repo.del_guild_pending",
                                "DELETE FROM social_guild_pending WHERE guild_id = ?"};
constexpr Stmt kDelGuildMembers{"guild_repo.del_guild_members",
                                "DELETE FROM social_guild_members WHERE guild_id = ?"};
constexpr Stmt kDelGuild{"guild_repo.delete", "DELETE FROM social_guilds WHERE id = ?"};
constexpr Stmt kSetMotd{"guild_repo.set_motd", "UPDATE social_guilds SET motd = ? WHERE id = ?"};

// Declared below; used by the helpers.
DbStatus member_of(DbConnection& c, int64_t account, int64_t* guild, Role* role);

// The caller's guild and role. False when the caller may not go on: a
// database error (*st), in no guild, or a role below `min` (*err).
bool caller(DbConnection& c, int64_t me, Role min, int64_t* guild, Role* role, GuildErr* err,
            DbStatus* st) {
  *st = member_of(c, me, guild, role);
  if (!st->ok()) return false;
  if (!*guild) {
    *err = GuildErr::kNoGuild;
    return false;
  }
  if (*role < min) {
    *err = GuildErr::kForbidden;
    return false;
  }
  return true;
}

// `who` is another member of `guild` (with *their role). False otherwise
// (*st on a database error, else *err = kNotFound).
bool other_member(DbConnection& c, int64_t me, int64_t who, int64_t guild, Role* their,
                  GuildErr* err, DbStatus* st) {
  int64_t theirs = 0;
  *st = member_of(c, who, &theirs, their);
  if (!st->ok()) return false;
  if (theirs != guild || who == me) {
    *err = GuildErr::kNotFound;
    return false;
  }
  return true;
}

int64_t first_int(const Rows& rows) {
  return rows.empty() ? 0 : store::as_int(rows.rows[0][0]);
}

// The account's guild and role inside an open transaction.
DbStatus member_of(DbConnection& c, int64_t account, int64_t* guild, Role* role) {
  Rows rows;
  DbStatus st = c.query(kMembership, {account}, &rows);
  *guild = 0;
  *role = Role::kMember;
  if (st.ok() && !rows.empty()) {
    *guild = store::as_int(rows.rows[0][0]);
    parse_role(store::as_string(rows.rows[0][1]), role);
  }
  return st;
}

DbStatus count_members(DbConnection& c, int64_t guild, int64_t* n) {
  Rows rows;
  DbStatus st = c.query(kCount, {guild}, &rows);
  *n = first_int(rows);
  return st;
}

// Adds `who` as a member (cap checked) and drops their pending entries.
DbStatus join(DbConnection& c, int64_t guild, int64_t who, uint32_t max_members, int64_t now_ms,
              GuildErr* err) {
  int64_t n = 0;
  DbStatus st = count_members(c, guild, &n);
  if (!st.ok()) return st;
  if (n >= max_members) {
    *err = GuildErr::kFull;
    return st;
  }
  st = c.exec(kAddMember, {who, guild, std::string("member"), now_ms});
  if (st.ok()) st = c.exec(kDelAccountPending, {who});
  return st;
}

}  // namespace

const char* role_name(Role r) {
  switch (r) {
    case Role::kMember:
      return "member";
    case Role::kOfficer:
      return "officer";
    case Role::kLeader:
      return "leader";
  }
  return "member";
}

bool parse_role(const std::string& s, Role* out) {
  if (s == "member")
    *out = Role::kMember;
  else if (s == "officer")
    *out = Role::kOfficer;
  else if (s == "leader")
    *out = Role::kLeader;
  else
    return false;
  return true;
}

DbStatus GuildRepo::membership(StoreContext& ctx, int64_t account, int64_t* guild, Role* role) {
  DbConnection* c = nullptr;
  DbStatus st = ctx.db(&c);
  if (!st.ok()) return st;
  return member_of(*c, account, guild, role);
}

DbStatus GuildRepo::info(StoreContext& ctx, int64_t guild, GuildInfo* out, bool* found) {
  DbConnection* c = nullptr;
  DbStatus st = ctx.db(&c);
  if (!st.ok()) return st;
  Rows rows;
  st = c->query(kInfo, {guild}, &rows);
  *found = st.ok() && !rows.empty();
  if (!*found) return st;
  const auto& r = rows.rows[0];
  *out = GuildInfo{store::as_int(r[0]),
                   store::as_string(r[1]),
                   store::as_string(r[2]),
                   store::as_string(r[3]),
                   store::as_int(r[4]),
                   0,
                   0};
  st = count_members(*c, guild, &out->members);
  if (!st.ok()) return st;
  st = c->query(kLeader, {guild}, &rows);
  out->leader = first_int(rows);
  return st;
}

DbStatus GuildRepo::members(StoreContext& ctx, int64_t guild, std::vector<GuildMember>* out) {
  DbConnection* c = nullptr;
  DbStatus st = ctx.db(&c);
  if (!st.ok()) return st;
  Rows rows;
  st = c->query(kMembers, {guild}, &rows);
  for (const auto& r : rows.rows) {
    GuildMember m{store::as_int(r[0]), Role::kMember, store::as_int(r[2])};
    parse_role(store::as_string(r[1]), &m.role);
    out->push_back(m);
  }
  return st;
}

DbStatus GuildRepo::create(StoreContext& ctx, int64_t me, const std::string& name,
                           const std::string& name_key, const std::string& tag,
                           const std::string& tag_key, int64_t now_ms, int64_t* guild,
                           GuildErr* err) {
  *err = GuildErr::kOk;
  DbStatus st = ctx.transaction([&](DbConnection& c) {
    int64_t g = 0;
    Role r;
    DbStatus s = member_of(c, me, &g, &r);
    if (!s.ok()) return s;
    if (g) {
      *err = GuildErr::kInGuild;
      return s;
    }
    store::ExecResult res;
    s = c.exec(kCreate, {name, name_key, tag, tag_key, now_ms}, &res);
    if (!s.ok()) return s;
    *guild = res.last_insert_id;
    s = c.exec(kAddMember, {me, *guild, std::string("leader"), now_ms});
    if (s.ok()) s = c.exec(kDelAccountPending, {me});
    return s;
  });
  if (st.err() == DbErr::kDuplicate) {
    *err = GuildErr::kTaken;
    return DbStatus::Ok();
  }
  return st;
}

DbStatus GuildRepo::invite(StoreContext& ctx, int64_t me, int64_t who, uint32_t max_pending,
                           uint32_t max_per_account, int64_t now_ms, int64_t* guild,
                           GuildErr* err) {
  *err = GuildErr::kOk;
  return ctx.transaction([&](DbConnection& c) {
    Role role;
    DbStatus s;
    if (!caller(c, me, Role::kOfficer, guild, &role, err, &s)) return s;
    int64_t theirs = 0;
    Role r;
    s = member_of(c, who, &theirs, &r);
    if (!s.ok()) return s;
    if (theirs) return (*err = GuildErr::kInGuild), s;
    Rows rows;
    s = c.query(kHasPending, {*guild, who, std::string("invite")}, &rows);
    if (!s.ok() || !rows.empty()) return s;  // invited already
    s = c.query(kCountPending, {*guild, std::string("invite")}, &rows);
    if (!s.ok()) return s;
    if (first_int(rows) >= max_pending) return (*err = GuildErr::kFull), s;
    s = c.query(kCountAccountPending, {who}, &rows);
    if (!s.ok()) return s;
    if (first_int(rows) >= max_per_account) return (*err = GuildErr::kTheirsFull), s;
    return c.exec(kAddPending, {*guild, who, std::string("invite"), now_ms});
  });
}

DbStatus GuildRepo::request(StoreContext& ctx, int64_t me, int64_t guild, uint32_t max_pending,
                            uint32_t max_per_account, int64_t now_ms, GuildErr* err) {
  *err = GuildErr::kOk;
  return ctx.transaction([&](DbConnection& c) {
    int64_t mine = 0;
    Role r;
    DbStatus s = member_of(c, me, &mine, &r);
    if (!s.ok()) return s;
    if (mine) return (*err = GuildErr::kInGuild), s;
    Rows rows;
    s = c.query(kInfo, {guild}, &rows);
    if (!s.ok()) return s;
    if (rows.empty()) return (*err = GuildErr::kNotFound), s;
    s = c.query(kHasPending, {guild, me, std::string("request")}, &rows);
    if (!s.ok() || !rows.empty()) return s;  // asked already
    s = c.query(kCountPending, {guild, std::string("request")}, &rows);
    if (!s.ok()) return s;
    if (first_int(rows) >= max_pending) return (*err = GuildErr::kFull), s;
    s = c.query(kCountAccountPending, {me}, &rows);
    if (!s.ok()) return s;
    if (first_int(rows) >= max_per_account) return (*err = GuildErr::kMineFull), s;
    return c.exec(kAddPending, {guild, me, std::string("request"), now_ms});
  });
}

DbStatus GuildRepo::pending_of(StoreContext& ctx, int64_t account, std::vector<GuildPending>* out) {
  DbConnection* c = nullptr;
  DbStatus st = ctx.db(&c);
  if (!st.ok()) return st;
  Rows rows;
  st = c->query(kAccountPending, {account}, &rows);
  for (const auto& r : rows.rows) {
    out->push_back({store::as_int(r[0]), store::as_string(r[1]), store::as_string(r[2]),
                    store::as_string(r[3]) == "invite", store::as_int(r[4])});
  }
  return st;
}

DbStatus GuildRepo::withdraw(StoreContext& ctx, int64_t me, int64_t guild, GuildErr* err) {
  *err = GuildErr::kOk;
  return ctx.transaction([&](DbConnection& c) {
    Rows rows;
    DbStatus s = c.query(kHasPending, {guild, me, std::string("request")}, &rows);
    if (!s.ok()) return s;
    if (rows.empty()) return (*err = GuildErr::kNoPending), s;
    return c.exec(kDelPending, {guild, me, std::string("request")});
  });
}

DbStatus GuildRepo::answer_invite(StoreContext& ctx, int64_t me, int64_t guild, bool join_it,
                                  uint32_t max_members, int64_t now_ms, GuildErr* err) {
  *err = GuildErr::kOk;
  return ctx.transaction([&](DbConnection& c) {
    Rows rows;
    DbStatus s = c.query(kHasPending, {guild, me, std::string("invite")}, &rows);
    if (!s.ok()) return s;
    if (rows.empty()) return (*err = GuildErr::kNoPending), s;
    if (!join_it) return c.exec(kDelPending, {guild, me, std::string("invite")});
    int64_t mine = 0;
    Role r;
    s = member_of(c, me, &mine, &r);
    if (!s.ok()) return s;
    if (mine) return (*err = GuildErr::kInGuild), s;
    return join(c, guild, me, max_members, now_ms, err);
  });
}

DbStatus GuildRepo::answer_request(StoreContext& ctx, int64_t me, int64_t who, bool approve,
                                   uint32_t max_members, int64_t now_ms, int64_t* guild,
                                   GuildErr* err) {
  *err = GuildErr::kOk;
  return ctx.transaction([&](DbConnection& c) {
    Role role;
    DbStatus s;
    if (!caller(c, me, Role::kOfficer, guild, &role, err, &s)) return s;
    Rows rows;
    s = c.query(kHasPending, {*guild, who, std::string("request")}, &rows);
    if (!s.ok()) return s;
    if (rows.empty()) return (*err = GuildErr::kNoPending), s;
    if (!approve) return c.exec(kDelPending, {*guild, who, std::string("request")});
    int64_t theirs = 0;
    Role r;
    s = member_of(c, who, &theirs, &r);
    if (!s.ok()) return s;
    if (theirs) {
      *err = GuildErr::kInGuild;
      return c.exec(kDelPending, {*guild, who, std::string("request")});
    }
    return join(c, *guild, who, max_members, now_ms, err);
  });
}

DbStatus GuildRepo::leave(StoreContext& ctx, int64_t me, int64_t* guild, int64_t* new_leader,
                          bool* disbanded, GuildErr* err) {
  *err = GuildErr::kOk;
  *new_leader = 0;
  *disbanded = false;
  return ctx.transaction([&](DbConnection& c) {
    Role role;
    DbStatus s;
    if (!caller(c, me, Role::kMember, guild, &role, err, &s)) return s;
    s = c.exec(kDelMember, {me});
    if (!s.ok() || role != Role::kLeader) return s;
    Rows rows;
    s = c.query(kSuccessor, {*guild, me}, &rows);
    if (!s.ok()) return s;
    if (rows.empty()) {
      *disbanded = true;
      s = c.exec(kDelGuildPending, {*guild});
      if (s.ok()) s = c.exec(kDelGuild, {*guild});
      return s;
    }
    *new_leader = first_int(rows);
    return c.exec(kSetRole, {std::string("leader"), *new_leader});
  });
}

DbStatus GuildRepo::kick(StoreContext& ctx, int64_t me, int64_t who, int64_t* guild,
                         GuildErr* err) {
  *err = GuildErr::kOk;
  return ctx.transaction([&](DbConnection& c) {
    Role role;
    DbStatus s;
    if (!caller(c, me, Role::kMember, guild, &role, err, &s)) return s;
    Role their_role;
    if (!other_member(c, me, who, *guild, &their_role, err, &s)) return s;
    if (role < Role::kOfficer || their_role >= role) return (*err = GuildErr::kForbidden), s;
    return c.exec(kDelMember, {who});
  });
}

DbStatus GuildRepo::set_role(StoreContext& ctx, int64_t me, int64_t who, Role new_role,
                             int64_t* guild, GuildErr* err) {
  *err = GuildErr::kOk;
  return ctx.transaction([&](DbConnection& c) {
    Role role;
    DbStatus s;
    if (!caller(c, me, Role::kMember, guild, &role, err, &s)) return s;
    Role their_role;
    if (!other_member(c, me, who, *guild, &their_role, err, &s)) return s;
    if (role != Role::kLeader) return (*err = GuildErr::kForbidden), s;
    s = c.exec(kSetRole, {std::string(role_name(new_role)), who});
    if (s.ok() && new_role == Role::kLeader) s = c.exec(kSetRole, {std::string("officer"), me});
    return s;
  });
}

DbStatus GuildRepo::set_motd(StoreContext& ctx, int64_t me, const std::string& motd, int64_t* guild,
                             GuildErr* err) {
  *err = GuildErr::kOk;
  return ctx.transaction([&](DbConnection& c) {
    Role role;
    DbStatus s;
    if (!caller(c, me, Role::kOfficer, guild, &role, err, &s)) return s;
    return c.exec(kSetMotd, {motd, *guild});
  });
}

namespace {

// Deletes `guild` with its members and pending entries; *members: who was in it.
DbStatus drop_guild(DbConnection& c, int64_t guild, std::vector<int64_t>* members) {
  members->clear();
  Rows rows;
  DbStatus s = c.query(kMembers, {guild}, &rows);
  if (!s.ok()) return s;
  for (const auto& r : rows.rows) members->push_back(store::as_int(r[0]));
  s = c.exec(kDelGuildPending, {guild});
  if (s.ok()) s = c.exec(kDelGuildMembers, {guild});
  if (s.ok()) s = c.exec(kDelGuild, {guild});
  return s;
}

}  // namespace

DbStatus GuildRepo::disband(StoreContext& ctx, int64_t me, int64_t* guild,
                            std::vector<int64_t>* members, GuildErr* err) {
  *err = GuildErr::kOk;
  return ctx.transaction([&](DbConnection& c) {
    members->clear();
    Role role;
    DbStatus s;
    if (!caller(c, me, Role::kMember, guild, &role, err, &s)) return s;
    if (role != Role::kLeader) return (*err = GuildErr::kForbidden), s;
    return drop_guild(c, *guild, members);
  });
}

DbStatus GuildRepo::admin_disband(StoreContext& ctx, int64_t guild, std::vector<int64_t>* members,
                                  bool* found) {
  return ctx.transaction([&](DbConnection& c) {
    members->clear();
    Rows rows;
    DbStatus s = c.query(kInfo, {guild}, &rows);
    *found = s.ok() && !rows.empty();
    if (!*found) return s;
    return drop_guild(c, guild, members);
  });
}

DbStatus GuildRepo::admin_set_motd(StoreContext& ctx, int64_t guild, const std::string& motd,
                                   bool* found) {
  return ctx.transaction([&](DbConnection& c) {
    Rows rows;
    DbStatus s = c.query(kInfo, {guild}, &rows);
    *found = s.ok() && !rows.empty();
    if (!*found) return s;
    return c.exec(kSetMotd, {motd, guild});
  });
}

}  // namespace shardd::social
