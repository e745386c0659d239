#include "guilds.h"

#include <deque>
#include <unordered_map>
#include <unordered_set>

#include "guild_repo.h"
#include "refusals.h"
#include "shardd/core/names.h"
#include "shardd/core/utf8.h"
#include "shardd/services/account.h"
#include "shardd/services/actor.h"
#include "shardd/services/fanout.h"
#include "shardd/services/social.h"
#include "social_config.h"
#include "social_log.h"

namespace shardd::social {

using json = nlohmann::json;
using account::Presence;
using gateway::Request;
using store::DbStatus;
using store::StoreContext;

namespace {

// Tags: 2-5 of A-Z a-z 0-9, unique ignoring case.
bool valid_tag(const std::string& t) {
  if (t.size() < 2 || t.size() > 5) return false;
  for (char c : t) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return false;
  }
  return true;
}

}  // namespace

// The guilds' owner, on one strand. Guilds are stored; every change runs in
// one transaction (guild_repo.h) and the changes run one at a time, in order,
// so caps and roles hold under any interleaving. In memory: the guild of
// each online account (read at login) and who of each guild is online, for
// the pushes and for chat's guild channel (social::Groups).
class GuildsImpl final : public services::Actor<GuildsImpl>, public account::PresenceListener {
 public:
  GuildsImpl(services::ServiceContext& ctx, std::shared_ptr<GroupFeed> feed)
      : Actor(ctx),
        cfg_(social_section().of(ctx.config())),
        clock_(ctx.clock()),
        feed_(std::move(feed)),
        guilds_gauge_(
            ctx.metrics().gauge("shardd_guilds_online", "Guilds with at least one member online.")),
        queue_gauge_(ctx.metrics().gauge("shardd_guild_queued_writes",
                                         "Guild changes waiting for the database.")),
        refusals_(ctx.metrics()) {}

  Status start() {
    auto accounts = ctx().directory().find<account::Accounts>();
    if (!accounts) return Status::Internal("needs the account service (list it first)");
    accounts->subscribe(shared_from_this());
    auto& gw = ctx().gateway();
    invite_op_ = &gw.push_op("guild.invite");
    request_op_ = &gw.push_op("guild.request");
    update_op_ =
        &gw.push_op("guild.update", gateway::PushOptions{false, gateway::OutputClass::kNormal});
    const args::Field account = args::integer("account", 1, INT64_MAX);
    const args::Field guild = args::integer("guild", 1, INT64_MAX);
    add_admin_routes(ctx().admin());
    return route_all({
        {"guild.create",
         &GuildsImpl::on_create,
         {args::str("name", 1, 64), args::str("tag", 1, 8)}},
        {"guild.invite", &GuildsImpl::on_invite, {account}},
        {"guild.accept", &GuildsImpl::on_accept, {guild}},
        {"guild.decline", &GuildsImpl::on_decline, {guild}},
        {"guild.join_request", &GuildsImpl::on_join_request, {guild}},
        {"guild.approve", &GuildsImpl::on_approve, {account}},
        {"guild.reject", &GuildsImpl::on_reject, {account}},
        {"guild.leave", &GuildsImpl::on_leave},
        {"guild.kick", &GuildsImpl::on_kick, {account}},
        {"guild.set_role",
         &GuildsImpl::on_set_role,
         {account, args::one_of("role", {"leader", "officer", "member"})}},
        {"guild.disband", &GuildsImpl::on_disband},
        {"guild.info", &GuildsImpl::on_info, {args::optional(guild)}},
        {"guild.members", &GuildsImpl::on_members},
        {"guild.motd", &GuildsImpl::on_motd, {args::str("text", 0, 500)}},
        {"guild.pending", &GuildsImpl::on_pending},
        {"guild.withdraw", &GuildsImpl::on_withdraw, {guild}},
    });
  }

  // Moderator routes (docs/operations.md); each change is logged as
  // "audit: guild <action> guild:<id> <detail>".
  void add_admin_routes(admin::Routes& admin) {
    auto self = shared_from_this();
    auto on = [self](void (GuildsImpl::*fn)(const json&, const admin::Respond&)) {
      return [self, fn](const json& body, admin::Respond respond) {
        self->post([impl = self.get(), fn, body, respond = std::move(respond)] {
          (impl->*fn)(body, respond);
        });
      };
    };
    const args::Field id = args::integer("guild_id", 1, INT64_MAX);
    admin.add_route("GET", "/admin/guilds/info", {id}, on(&GuildsImpl::admin_info));
    admin.add_route("POST", "/admin/guilds/motd", {id, args::str("text", 0, 500)},
                    on(&GuildsImpl::admin_motd));
    admin.add_route("POST", "/admin/guilds/disband",
                    {id, args::optional(args::str("reason", 0, 255))},
                    on(&GuildsImpl::admin_disband));
  }

  void reload(const Config& c) {
    post([this, fresh = social_section().of(c)] { cfg_ = fresh; });
  }

  json status() const {
    return {{"guilds_online", guilds_gauge_.value()},
            {"guild_queued_writes", queue_gauge_.value()}};
  }

  // account::PresenceListener (the account service's strand)
  void on_presence(const Presence& p) override {
    post([this, p] { apply_presence(p); });
  }

 private:
  struct Player {
    std::string name;
    std::weak_ptr<gateway::Session> session;
    int64_t guild = 0;
    uint64_t generation = 0;
  };
  using Work = std::function<DbStatus(StoreContext&)>;
  using Done = std::function<void(DbStatus)>;

  // ---- the queue of guild changes (strand)

  // Guild changes waiting for the database, bounded like the friend and
  // block queue (social.max_queued_writes, a restart-only key).
  bool can_write() const { return writes_.size() < cfg_.max_queued_writes; }
  template <class D>
  void guild_write(Work work, D done) {
    writes_.emplace_back(std::move(work), [p = std::make_shared<D>(std::move(done))](DbStatus st) {
      (*p)(std::move(st));
    });
    queue_gauge_.set(static_cast<int64_t>(writes_.size()));
    if (writes_.size() == 1) next_write();
  }
  void next_write() {
    store(writes_.front().first, [this](DbStatus st) {
      Done done = std::move(writes_.front().second);
      writes_.pop_front();
      queue_gauge_.set(static_cast<int64_t>(writes_.size()));
      if (!writes_.empty()) next_write();
      done(std::move(st));
    });
  }
  void busy(Request& req) {
    json extra = {{"retry_after_ms", 1000}};
    refusals_.refuse(req, "guild_queued_writes", ErrorCode::kUnavailable,
                     "server busy, retry shortly", &extra);
  }

  // Answers a refused change. True if `err` was a refusal.
  bool refused(Request& req, GuildErr err) {
    json limit;
    switch (err) {
      case GuildErr::kOk:
        return false;
      case GuildErr::kInGuild:
        req.fail(ErrorCode::kBadRequest, "already in a guild");
        break;
      case GuildErr::kNoGuild:
        req.fail(ErrorCode::kNotFound, "you are in no guild");
        break;
      case GuildErr::kNotFound:
        req.fail(ErrorCode::kNotFound, "no such guild or member");
        break;
      case GuildErr::kTaken:
        refusals_.refuse(req, nullptr, kGuildNameTaken, "another guild has that name or tag");
        break;
      case GuildErr::kForbidden:
        refusals_.refuse(req, nullptr, ErrorCode::kForbidden, "your guild role may not do that");
        break;
      case GuildErr::kFull:
        limit = {{"max_members", cfg_.guild_max_members}, {"max_pending", cfg_.guild_max_pending}};
        refusals_.refuse(req, "guild_size", ErrorCode::kFull,
                         "the guild is full (members or pending)", &limit);
        break;
      case GuildErr::kTheirsFull:
      case GuildErr::kMineFull:
        limit = {{"limit", cfg_.guild_max_pending_per_account}};
        refusals_.refuse(req, "guild_pending_per_account", ErrorCode::kFull,
                         err == GuildErr::kMineFull
                             ? "too many of your guild invites and join requests are waiting"
                             : "this player has too many guild invites and requests waiting",
                         &limit);
        break;
      case GuildErr::kNoPending:
        req.fail(ErrorCode::kNotFound, "nothing pending to answer");
        break;
    }
    return true;
  }

  // ---- presence and membership (strand)

  void set_guild(int64_t account, int64_t guild) {
    auto it = players_.find(account);
    if (it == players_.end()) return;
    int64_t old = it->second.guild;
    if (old == guild) return;
    if (old) {
      auto& set = online_[old];
      set.erase(account);
      if (set.empty()) online_.erase(old);
      feed_->tell({GroupChange::Kind::kLeft, "guild:" + std::to_string(old), account});
    }
    it->second.guild = guild;
    if (guild) {
      online_[guild].insert(account);
      feed_->tell({GroupChange::Kind::kJoined, "guild:" + std::to_string(guild), account});
    }
    guilds_gauge_.set(static_cast<int64_t>(online_.size()));
  }

  void apply_presence(const Presence& p) {
    switch (p.kind) {
      case Presence::Kind::kOnline: {
        auto [it, fresh] = players_.try_emplace(p.account_id);
        it->second.name = p.name;
        it->second.session = p.session;
        if (!fresh) return;
        uint64_t gen = it->second.generation = ++generation_;
        int64_t id = p.account_id;
        auto g = std::make_shared<int64_t>(0);
        store_value<Role>(
            [id, g](StoreContext& ctx, Role* role) {
              return GuildRepo::membership(ctx, id, g.get(), role);
            },
            [this, id, gen, g](DbStatus st, Role) {
              auto pit = players_.find(id);
              if (pit == players_.end() || pit->second.generation != gen) return;
              if (!st.ok()) {
                lg().warn("account {}: guild not loaded: {}", id, st.to_string());
                return;
              }
              set_guild(id, *g);
            });
        return;
      }
      case Presence::Kind::kName: {
        if (auto it = players_.find(p.account_id); it != players_.end()) it->second.name = p.name;
        return;
      }
      case Presence::Kind::kZone:
        return;
      case Presence::Kind::kOffline: {
        set_guild(p.account_id, 0);
        players_.erase(p.account_id);
        return;
      }
    }
  }

  // ---- admin routes (strand)

  void admin_info(const json& q, const admin::Respond& respond) {
    int64_t guild = args::int_of(q, "guild_id");
    struct Out {
      GuildInfo info;
      bool found = false;
      std::vector<GuildMember> members;
    };
    auto out = std::make_shared<Out>();
    store(
        [guild, out](StoreContext& ctx) {
          DbStatus st = GuildRepo::info(ctx, guild, &out->info, &out->found);
          if (st.ok() && out->found) st = GuildRepo::members(ctx, guild, &out->members);
          return st;
        },
        [this, guild, out, respond](DbStatus st) {
          if (!st.ok()) return respond(503, {{"error", st.to_string()}});
          if (!out->found) return respond(404, {{"error", "no guild " + std::to_string(guild)}});
          json members = json::array();
          for (const auto& m : out->members) {
            members.push_back({{"account", m.account},
                               {"role", role_name(m.role)},
                               {"online", players_.count(m.account) > 0},
                               {"joined_ms", m.joined_ms}});
          }
          respond(200, {{"guild", info_json(out->info, true)}, {"members", std::move(members)}});
        });
  }

  void admin_motd(const json& body, const admin::Respond& respond) {
    int64_t guild = args::int_of(body, "guild_id");
    std::string text = args::str(body, "text");
    if (!can_write()) return respond(503, {{"error", "server busy, retry shortly"}});
    auto found = std::make_shared<bool>(false);
    guild_write(
        [guild, text, found](StoreContext& ctx) {
          return GuildRepo::admin_set_motd(ctx, guild, text, found.get());
        },
        [this, guild, text, found, respond](DbStatus st) {
          if (!st.ok()) return respond(503, {{"error", st.to_string()}});
          if (!*found) return respond(404, {{"error", "no guild " + std::to_string(guild)}});
          lg().info("audit: guild motd guild:{} {}", guild, json{{"text", text}}.dump());
          announce(guild);
          respond(200, {{"guild_id", guild}, {"motd", text}});
        });
  }

  void admin_disband(const json& body, const admin::Respond& respond) {
    int64_t guild = args::int_of(body, "guild_id");
    std::string reason = args::str_or(body, "reason", "");
    if (!can_write()) return respond(503, {{"error", "server busy, retry shortly"}});
    auto found = std::make_shared<bool>(false);
    auto members = std::make_shared<std::vector<int64_t>>();
    guild_write(
        [guild, members, found](StoreContext& ctx) {
          return GuildRepo::admin_disband(ctx, guild, members.get(), found.get());
        },
        [this, guild, reason, members, found, respond](DbStatus st) {
          if (!st.ok()) return respond(503, {{"error", st.to_string()}});
          if (!*found) return respond(404, {{"error", "no guild " + std::to_string(guild)}});
          for (int64_t a : *members) {
            set_guild(a, 0);
            tell_gone(a, "disbanded");
          }
          lg().info("audit: guild disband guild:{} {}", guild,
                    json{{"reason", reason}, {"members", members->size()}}.dump());
          respond(200, {{"guild_id", guild}, {"members", members->size()}});
        });
  }

  // Sends guild.update (the guild, as guild.info shows it) to its online
  // members, after reading it again.
  void announce(int64_t guild) {
    auto info = std::make_shared<GuildInfo>();
    auto found = std::make_shared<bool>(false);
    store([guild, info, found](
              StoreContext& ctx) { return GuildRepo::info(ctx, guild, info.get(), found.get()); },
          [this, guild, info, found](DbStatus st) {
            if (!st.ok() || !*found) return;
            auto it = online_.find(guild);
            if (it == online_.end()) return;
            services::Fanout out(*update_op_, std::make_shared<const gateway::SharedBody>(
                                                  json{{"guild", info_json(*info, true)}}));
            for (int64_t a : it->second) out.add(session_of(a));
            out.send();
          });
  }
  void tell_gone(int64_t account, const char* reason) {
    if (auto s = session_of(account))
      s->post_push(*update_op_, {{"guild", nullptr}, {"reason", reason}});
  }
  std::shared_ptr<gateway::Session> session_of(int64_t account) const {
    auto it = players_.find(account);
    return it == players_.end() ? nullptr : it->second.session.lock();
  }
  json info_json(const GuildInfo& g, bool member) const {
    json d = {{"id", g.id},
              {"name", g.name},
              {"tag", g.tag},
              {"members", g.members},
              {"leader", g.leader},
              {"created_ms", g.created_ms},
              {"max_members", cfg_.guild_max_members}};
    if (member) d["motd"] = g.motd;
    return d;
  }

  // Runs a guild change: `work` -> (DbStatus, GuildErr, guild id) and then
  // `then(req, guild)` when it was done.
  template <class Then>
  void change(Request req, std::function<DbStatus(StoreContext&, int64_t*, GuildErr*)> work,
              Then then) {
    if (!can_write()) return busy(req);
    struct Out {
      int64_t guild = 0;
      GuildErr err = GuildErr::kOk;
    };
    auto out = std::make_shared<Out>();
    guild_write([work = std::move(work),
                 out](StoreContext& ctx) { return work(ctx, &out->guild, &out->err); },
                [this, req = std::move(req), out, then = std::move(then)](DbStatus st) mutable {
                  if (!st.ok()) return services::fail_storage(req, st, lg());
                  if (refused(req, out->err)) return;
                  then(std::move(req), out->guild);
                });
  }

  // ---- ops (strand)

  void on_create(Request req) {
    std::string name = args::str(req.d(), "name");
    std::string tag = args::str(req.d(), "tag");
    std::string key;
    std::string why;
    if (!names::check(name, 3, 24, cfg_.guild_name_blocklist, &key, &why)) {
      return req.fail(ErrorCode::kBadRequest, "name: guild name " + why);
    }
    if (!valid_tag(tag)) return req.fail(ErrorCode::kBadRequest, "tag: 2-5 of A-Z a-z 0-9");
    std::string tag_key = names::fold_case(tag);
    int64_t me = req.account_id();
    int64_t now = clock_.now_ms();
    change(
        std::move(req),
        [me, name, key, tag, tag_key, now](StoreContext& ctx, int64_t* g, GuildErr* err) {
          return GuildRepo::create(ctx, me, name, key, tag, tag_key, now, g, err);
        },
        [this, me, name](Request r, int64_t guild) {
          lg().info("account {} created guild {} '{}'", me, guild, utf8::quote(name));
          set_guild(me, guild);
          info_reply(std::move(r), guild);
        });
  }

  // Answers {guild: info} for a guild the caller is in.
  void info_reply(Request req, int64_t guild) {
    auto info = std::make_shared<GuildInfo>();
    auto found = std::make_shared<bool>(false);
    store([guild, info, found](
              StoreContext& ctx) { return GuildRepo::info(ctx, guild, info.get(), found.get()); },
          [this, req = std::move(req), info, found](DbStatus st) mutable {
            if (!st.ok()) return services::fail_storage(req, st, lg());
            if (!*found) return req.fail(ErrorCode::kNotFound, "no such guild");
            req.ok({{"guild", info_json(*info, true)}});
          });
  }

  void on_invite(Request req) {
    int64_t me = req.account_id();
    int64_t who = args::int_of(req.d(), "account");
    if (who == me) return req.fail(ErrorCode::kBadRequest, "that is your own account");
    // The other player must not have blocked the inviter.
    auto blocked = std::make_shared<bool>(false);
    store([who, me, blocked](StoreContext& ctx) { return find_block(ctx, who, me, blocked.get()); },
          [this, req = std::move(req), me, who, blocked](DbStatus st) mutable {
            if (!st.ok()) return services::fail_storage(req, st, lg());
            if (*blocked) {
              return refusals_.refuse(
                  req, nullptr, kBlocked,
                  "account " + std::to_string(who) + " does not accept your invites");
            }
            uint32_t max = cfg_.guild_max_pending;
            uint32_t max_each = cfg_.guild_max_pending_per_account;
            int64_t now = clock_.now_ms();
            change(
                std::move(req),
                [me, who, max, max_each, now](StoreContext& ctx, int64_t* g, GuildErr* err) {
                  return GuildRepo::invite(ctx, me, who, max, max_each, now, g, err);
                },
                [this, me, who](Request r, int64_t guild) {
                  if (auto s = session_of(who)) {
                    s->post_push(*invite_op_, {{"guild", guild},
                                               {"from", {{"account", me}, {"name", name_of(me)}}}});
                  }
                  lg().info("account {} invited account {} to guild {}", me, who, guild);
                  r.ok({{"guild", guild}, {"account", who}});
                });
          });
  }

  std::string name_of(int64_t id) const {
    auto it = players_.find(id);
    return it == players_.end() ? "" : it->second.name;
  }

  void answer_invite(Request req, bool join) {
    int64_t me = req.account_id();
    int64_t guild = args::int_of(req.d(), "guild");
    uint32_t max = cfg_.guild_max_members;
    int64_t now = clock_.now_ms();
    change(
        std::move(req),
        [me, guild, join, max, now](StoreContext& ctx, int64_t* g, GuildErr* err) {
          *g = guild;
          return GuildRepo::answer_invite(ctx, me, guild, join, max, now, err);
        },
        [this, me, join](Request r, int64_t g) {
          if (!join) return r.ok();
          lg().info("account {} joined guild {}", me, g);
          set_guild(me, g);
          announce(g);
          info_reply(std::move(r), g);
        });
  }
  void on_accept(Request req) { answer_invite(std::move(req), true); }
  void on_decline(Request req) { answer_invite(std::move(req), false); }

  void on_join_request(Request req) {
    int64_t me = req.account_id();
    int64_t guild = args::int_of(req.d(), "guild");
    uint32_t max = cfg_.guild_max_pending;
    uint32_t max_each = cfg_.guild_max_pending_per_account;
    int64_t now = clock_.now_ms();
    change(
        std::move(req),
        [me, guild, max, max_each, now](StoreContext& ctx, int64_t* g, GuildErr* err) {
          *g = guild;
          return GuildRepo::request(ctx, me, guild, max, max_each, now, err);
        },
        [this, me](Request r, int64_t g) {
          tell_officers(g, me);
          r.ok({{"guild", g}});
        });
  }

  // Pushes guild.request to the guild's online officers and leader.
  void tell_officers(int64_t guild, int64_t from) {
    auto members = std::make_shared<std::vector<GuildMember>>();
    store([guild,
           members](StoreContext& ctx) { return GuildRepo::members(ctx, guild, members.get()); },
          [this, guild, from, members](DbStatus st) {
            if (!st.ok()) return;
            json d = {{"guild", guild}, {"from", {{"account", from}, {"name", name_of(from)}}}};
            for (const auto& m : *members) {
              if (m.role < Role::kOfficer) continue;
              if (auto s = session_of(m.account)) s->post_push(*request_op_, d);
            }
          });
  }

  void answer_request(Request req, bool approve) {
    int64_t me = req.account_id();
    int64_t who = args::int_of(req.d(), "account");
    uint32_t max = cfg_.guild_max_members;
    int64_t now = clock_.now_ms();
    change(
        std::move(req),
        [me, who, approve, max, now](StoreContext& ctx, int64_t* g, GuildErr* err) {
          return GuildRepo::answer_request(ctx, me, who, approve, max, now, g, err);
        },
        [this, who, approve](Request r, int64_t g) {
          if (approve) {
            lg().info("account {} joined guild {} (request approved)", who, g);
            set_guild(who, g);
            announce(g);
          }
          r.ok({{"guild", g}, {"account", who}});
        });
  }
  void on_approve(Request req) { answer_request(std::move(req), true); }
  void on_reject(Request req) { answer_request(std::move(req), false); }

  void on_leave(Request req) {
    int64_t me = req.account_id();
    auto next = std::make_shared<int64_t>(0);
    auto disbanded = std::make_shared<bool>(false);
    change(
        std::move(req),
        [me, next, disbanded](StoreContext& ctx, int64_t* g, GuildErr* err) {
          return GuildRepo::leave(ctx, me, g, next.get(), disbanded.get(), err);
        },
        [this, me, next, disbanded](Request r, int64_t g) {
          set_guild(me, 0);
          lg().info("account {} left guild {}{}", me, g, *disbanded ? " (disbanded)" : "");
          r.ok({{"disbanded", *disbanded}});
          if (!*disbanded) announce(g);
        });
  }

  void on_kick(Request req) {
    int64_t me = req.account_id();
    int64_t who = args::int_of(req.d(), "account");
    change(
        std::move(req),
        [me, who](StoreContext& ctx, int64_t* g, GuildErr* err) {
          return GuildRepo::kick(ctx, me, who, g, err);
        },
        [this, me, who](Request r, int64_t g) {
          set_guild(who, 0);
          tell_gone(who, "kicked");
          lg().info("account {} kicked account {} from guild {}", me, who, g);
          r.ok();
          announce(g);
        });
  }

  void on_set_role(Request req) {
    int64_t me = req.account_id();
    int64_t who = args::int_of(req.d(), "account");
    Role role = Role::kMember;
    parse_role(args::str(req.d(), "role"), &role);
    change(
        std::move(req),
        [me, who, role](StoreContext& ctx, int64_t* g, GuildErr* err) {
          return GuildRepo::set_role(ctx, me, who, role, g, err);
        },
        [this, me, who, role](Request r, int64_t g) {
          lg().info("guild {}: account {} made account {} {}", g, me, who, role_name(role));
          r.ok();
          announce(g);
        });
  }

  void on_disband(Request req) {
    int64_t me = req.account_id();
    auto members = std::make_shared<std::vector<int64_t>>();
    change(
        std::move(req),
        [me, members](StoreContext& ctx, int64_t* g, GuildErr* err) {
          return GuildRepo::disband(ctx, me, g, members.get(), err);
        },
        [this, me, members](Request r, int64_t g) {
          for (int64_t a : *members) {
            set_guild(a, 0);
            if (a != me) tell_gone(a, "disbanded");
          }
          lg().info("account {} disbanded guild {}", me, g);
          r.ok();
        });
  }

  void on_motd(Request req) {
    int64_t me = req.account_id();
    std::string text = args::str(req.d(), "text");
    change(
        std::move(req),
        [me, text](StoreContext& ctx, int64_t* g, GuildErr* err) {
          return GuildRepo::set_motd(ctx, me, text, g, err);
        },
        [this](Request r, int64_t g) {
          r.ok();
          announce(g);
        });
  }

  void on_info(Request req) {
    int64_t me = req.account_id();
    int64_t asked = args::int_or(req.d(), "guild", 0);
    struct Out {
      int64_t mine = 0;
      GuildInfo info;
      bool found = false;
    };
    store_value<Out>(
        [me, asked](StoreContext& ctx, Out* o) {
          Role role;
          DbStatus st = GuildRepo::membership(ctx, me, &o->mine, &role);
          int64_t g = asked ? asked : o->mine;
          if (!st.ok() || !g) return st;
          return GuildRepo::info(ctx, g, &o->info, &o->found);
        },
        [this, req = std::move(req), asked](DbStatus st, Out o) mutable {
          if (!st.ok()) return services::fail_storage(req, st, lg());
          if (!asked && !o.mine) return req.ok({{"guild", nullptr}});
          if (!o.found) return req.fail(ErrorCode::kNotFound, "no such guild");
          req.ok({{"guild", info_json(o.info, o.info.id == o.mine)}});
        });
  }

  // The caller's invites and join requests: what counts against
  // social.guild_max_pending_per_account, and what guild.decline and
  // guild.withdraw answer.
  void on_pending(Request req) {
    int64_t me = req.account_id();
    store_value<std::vector<GuildPending>>(
        [me](StoreContext& ctx, std::vector<GuildPending>* out) {
          return GuildRepo::pending_of(ctx, me, out);
        },
        [this, req = std::move(req)](DbStatus st, std::vector<GuildPending> list) mutable {
          if (!st.ok()) return services::fail_storage(req, st, lg());
          json invites = json::array(), requests = json::array();
          for (const auto& p : list) {
            (p.invite ? invites : requests)
                .push_back({{"guild", p.guild},
                            {"name", p.name},
                            {"tag", p.tag},
                            {"created_ms", p.created_ms}});
          }
          req.ok({{"invites", std::move(invites)},
                  {"requests", std::move(requests)},
                  {"max", cfg_.guild_max_pending_per_account}});
        });
  }

  void on_withdraw(Request req) {
    int64_t me = req.account_id();
    int64_t guild = args::int_of(req.d(), "guild");
    change(
        std::move(req),
        [me, guild](StoreContext& ctx, int64_t* g, GuildErr* err) {
          *g = guild;
          return GuildRepo::withdraw(ctx, me, guild, err);
        },
        [](Request r, int64_t) { r.ok(); });
  }

  void on_members(Request req) {
    int64_t me = req.account_id();
    struct Out {
      int64_t guild = 0;
      std::vector<GuildMember> members;
      std::unordered_map<int64_t, std::string> names;
    };
    store_value<Out>(
        [me](StoreContext& ctx, Out* o) {
          Role role;
          DbStatus st = GuildRepo::membership(ctx, me, &o->guild, &role);
          if (!st.ok() || !o->guild) return st;
          st = GuildRepo::members(ctx, o->guild, &o->members);
          for (size_t i = 0; st.ok() && i < o->members.size(); ++i) {
            std::optional<account::AccountRef> a;
            st = account::find_account_by_id(ctx, o->members[i].account, &a);
            if (a) o->names[a->id] = a->display_name;
          }
          return st;
        },
        [this, req = std::move(req)](DbStatus st, Out o) mutable {
          if (!st.ok()) return services::fail_storage(req, st, lg());
          if (!o.guild) return req.fail(ErrorCode::kNotFound, "you are in no guild");
          json list = json::array();
          auto online = online_.find(o.guild);
          for (const auto& m : o.members) {
            list.push_back({{"account", m.account},
                            {"name", o.names[m.account]},
                            {"role", role_name(m.role)},
                            {"online", online != online_.end() && online->second.count(m.account)},
                            {"joined_ms", m.joined_ms}});
          }
          req.ok({{"guild", o.guild}, {"members", std::move(list)}});
        });
  }

  SocialConfig cfg_;  // strand
  const Clock& clock_;
  std::shared_ptr<GroupFeed> feed_;
  metrics::Gauge& guilds_gauge_;
  metrics::Gauge& queue_gauge_;
  Refusals refusals_;
  const gateway::PushOp* invite_op_ = nullptr;
  const gateway::PushOp* request_op_ = nullptr;
  const gateway::PushOp* update_op_ = nullptr;

  // Strand state:
  std::unordered_map<int64_t, Player> players_;                      // online accounts
  std::unordered_map<int64_t, std::unordered_set<int64_t>> online_;  // guild -> online members
  std::deque<std::pair<Work, Done>> writes_;
  uint64_t generation_ = 0;
};

Guilds::Guilds(services::ServiceContext& ctx, std::shared_ptr<GroupFeed> feed)
    : impl_(std::make_shared<GuildsImpl>(ctx, std::move(feed))) {}
Guilds::~Guilds() = default;
Status Guilds::start() {
  return impl_->start();
}
void Guilds::reload(const Config& config) {
  impl_->reload(config);
}
nlohmann::json Guilds::status() const {
  return impl_->status();
}

}  // namespace shardd::social
