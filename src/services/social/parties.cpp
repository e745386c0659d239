#include "parties.h"

#include <algorithm>
#include <unordered_map>

#include "refusals.h"
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

// Every party on one strand, so invites, accepts, leaves and kicks that race
// are applied one after another: a party never exceeds party_max_size and
// always has a leader while it has members. Parties live in memory (a
// restart disbands them). A member whose session ends (logout, grace
// expired) stays in the party, shown offline; the leader role passes to a
// member who is online when the leader leaves or goes offline, and a party
// with nobody online left is disbanded.
class PartiesImpl final : public services::Actor<PartiesImpl>, public account::PresenceListener {
 public:
  PartiesImpl(services::ServiceContext& ctx, std::shared_ptr<GroupFeed> feed)
      : Actor(ctx),
        feed_(std::move(feed)),
        cfg_(social_section().of(ctx.config())),
        clock_(ctx.clock()),
        parties_gauge_(ctx.metrics().gauge("shardd_parties", "Parties.")),
        members_gauge_(ctx.metrics().gauge("shardd_party_members", "Accounts in a party.")),
        refusals_(ctx.metrics()) {}

  Status start() {
    auto accounts = ctx().directory().find<account::Accounts>();
    if (!accounts) return Status::Internal("needs the account service (list it first)");
    accounts->subscribe(shared_from_this());
    // Ids stay unique across restarts (chat keeps a party's history by id).
    next_id_ = clock_.now_ms() * 1024;
    auto& gw = ctx().gateway();
    invite_op_ = &gw.push_op("party.invite");
    // The whole party each time: after a resync, party.info gives it.
    update_op_ =
        &gw.push_op("party.update", gateway::PushOptions{false, gateway::OutputClass::kNormal});
    const args::Field account = args::integer("account", 1, INT64_MAX);
    const args::Field party = args::integer("party", 1, INT64_MAX);
    Status st = route_all({
        {"party.create", &PartiesImpl::on_create, {args::optional(args::boolean("open"))}},
        {"party.invite", &PartiesImpl::on_invite, {account}},
        {"party.accept", &PartiesImpl::on_accept, {party}},
        {"party.decline", &PartiesImpl::on_decline, {party}},
        {"party.leave", &PartiesImpl::on_leave},
        {"party.kick", &PartiesImpl::on_kick, {account}},
        {"party.promote", &PartiesImpl::on_promote, {account}},
        {"party.ready", &PartiesImpl::on_ready, {args::boolean("ready")}},
        {"party.info", &PartiesImpl::on_info},
    });
    return st;
  }

  void reload(const Config& c) {
    post([this, fresh = social_section().of(c)] { cfg_ = fresh; });
  }

  json status() const { return {{"parties", parties_gauge_.value()}}; }

  // account::PresenceListener (the account service's strand)
  void on_presence(const Presence& p) override {
    post([this, p] { apply_presence(p); });
  }

 private:
  struct Member {
    int64_t id = 0;
    bool ready = false;
    std::string name;  // kept while the member is offline
  };
  struct Party {
    int64_t id = 0;
    int64_t leader = 0;
    bool open = false;
    std::vector<Member> members;                         // in joining order
    std::unordered_map<int64_t, Clock::Steady> invites;  // account -> expiry
  };
  struct Player {
    std::string name;
    std::weak_ptr<gateway::Session> session;
  };

  // ---- helpers (strand)

  bool online(int64_t id) const { return players_.count(id) > 0; }
  std::string name_of(int64_t id) const {
    auto it = players_.find(id);
    return it == players_.end() ? "#" + std::to_string(id) : it->second.name;
  }

  Party* party_of(int64_t account) {
    auto it = party_of_.find(account);
    if (it == party_of_.end()) return nullptr;
    auto p = parties_.find(it->second);
    return p == parties_.end() ? nullptr : &p->second;
  }

  json party_json(const Party& p) const {
    json members = json::array();
    for (const auto& m : p.members) {
      members.push_back({{"account", m.id},
                         {"name", m.name},
                         {"online", online(m.id)},
                         {"ready", m.ready},
                         {"leader", m.id == p.leader}});
    }
    return {{"id", p.id},
            {"leader", p.leader},
            {"open", p.open},
            {"max", cfg_.party_max_size},
            {"members", std::move(members)}};
  }

  void tell(const GroupChange& c) { feed_->tell(c); }

  // Sends party.update with the party to every online member.
  void broadcast(const Party& p) {
    services::Fanout out(
        *update_op_, std::make_shared<const gateway::SharedBody>(json{{"party", party_json(p)}}));
    for (const auto& m : p.members) {
      auto it = players_.find(m.id);
      if (it != players_.end()) out.add(it->second.session.lock());
    }
    out.send();
  }
  void tell_gone(int64_t account, const char* reason) {
    auto it = players_.find(account);
    if (it == players_.end()) return;
    if (auto s = it->second.session.lock()) {
      s->post_push(*update_op_, {{"party", nullptr}, {"reason", reason}});
    }
  }

  // The first online member (joining order), or 0.
  int64_t first_online(const Party& p, int64_t except) const {
    for (const auto& m : p.members) {
      if (m.id != except && online(m.id)) return m.id;
    }
    return 0;
  }

  void drop_expired_invites(Party& p) {
    auto now = clock_.steady();
    for (auto it = p.invites.begin(); it != p.invites.end();) {
      it = it->second <= now ? p.invites.erase(it) : std::next(it);
    }
  }

  // Removes `account` from its party: passes the lead, disbands a party
  // with nobody online, tells everyone. (strand)
  void remove(int64_t account, const char* reason) {
    auto pit = party_of_.find(account);
    if (pit == party_of_.end()) return;
    int64_t pid = pit->second;
    party_of_.erase(pit);
    Party& p = parties_.at(pid);
    p.members.erase(std::remove_if(p.members.begin(), p.members.end(),
                                   [&](const Member& m) { return m.id == account; }),
                    p.members.end());
    tell({GroupChange::Kind::kLeft, "party:" + std::to_string(pid), account});
    tell_gone(account, reason);
    lg().info("account {} left party {} ({})", account, pid, reason);
    settle(p);
    members_gauge_.set(static_cast<int64_t>(party_of_.size()));
  }

  // After a change: a leader who is online if anyone is; disbanded when
  // nobody is online. Tells the members. (strand)
  void settle(Party& p) {
    int64_t pid = p.id;
    if (first_online(p, 0) == 0) {
      // Nobody online is left: the party ends.
      for (const auto& m : p.members) {
        party_of_.erase(m.id);
        tell({GroupChange::Kind::kLeft, "party:" + std::to_string(pid), m.id});
      }
      lg().info("party {} disbanded", pid);
      parties_.erase(pid);
      parties_gauge_.set(static_cast<int64_t>(parties_.size()));
      members_gauge_.set(static_cast<int64_t>(party_of_.size()));
      return;
    }
    bool leader_here = std::any_of(p.members.begin(), p.members.end(),
                                   [&](const Member& m) { return m.id == p.leader; });
    if (!leader_here || !online(p.leader)) {
      int64_t next = first_online(p, p.leader);
      lg().info("party {}: leader {} -> {}", pid, p.leader, next);
      p.leader = next;
    }
    broadcast(p);
  }

  void apply_presence(const Presence& p) {
    switch (p.kind) {
      case Presence::Kind::kOnline:
      case Presence::Kind::kName:
      case Presence::Kind::kZone: {
        bool fresh = !players_.count(p.account_id);
        Player& pl = players_[p.account_id];
        pl.name = p.name;
        pl.session = p.session;
        if (p.kind == Presence::Kind::kZone) return;
        Party* party = party_of(p.account_id);
        if (!party || (!fresh && p.kind != Presence::Kind::kName)) return;
        for (auto& m : party->members) {
          if (m.id == p.account_id) m.name = p.name;
        }
        if (fresh)
          tell({GroupChange::Kind::kJoined, "party:" + std::to_string(party->id), p.account_id});
        broadcast(*party);  // back online, or a new name
        return;
      }
      case Presence::Kind::kOffline: {
        players_.erase(p.account_id);
        if (Party* party = party_of(p.account_id)) {
          for (auto& m : party->members) {
            if (m.id == p.account_id) m.ready = false;
          }
          settle(*party);
        }
        return;
      }
    }
  }

  // ---- ops (strand)

  void on_create(Request req) {
    int64_t me = req.account_id();
    if (party_of(me)) return req.fail(ErrorCode::kBadRequest, "you are in a party already");
    if (parties_.size() >= cfg_.max_parties) {
      json extra = {{"limit", cfg_.max_parties}};
      return refusals_.refuse(req, "parties", ErrorCode::kFull, "too many parties", &extra);
    }
    Party p;
    p.id = ++next_id_;
    p.leader = me;
    p.open = req.d().value("open", false);
    p.members.push_back({me, false, name_of(me)});
    auto [it, _] = parties_.emplace(p.id, std::move(p));
    party_of_[me] = it->first;
    parties_gauge_.set(static_cast<int64_t>(parties_.size()));
    members_gauge_.set(static_cast<int64_t>(party_of_.size()));
    tell({GroupChange::Kind::kJoined, "party:" + std::to_string(it->first), me});
    lg().info("account {} created party {}", me, it->first);
    req.ok({{"party", party_json(it->second)}});
  }

  void on_invite(Request req) {
    int64_t me = req.account_id();
    int64_t who = args::int_of(req.d(), "account");
    Party* mine = party_of(me);
    if (!mine) return req.fail(ErrorCode::kNotFound, "you are in no party");
    if (mine->leader != me && !mine->open) {
      return refusals_.refuse(req, nullptr, ErrorCode::kForbidden,
                              "only the leader invites to this party");
    }
    if (who == me) return req.fail(ErrorCode::kBadRequest, "that is your own account");
    if (!online(who)) return req.fail(ErrorCode::kNotFound, "that player is not online");
    int64_t pid = mine->id;
    // The block check reads the database; the party is checked again after.
    auto blocked = std::make_shared<bool>(false);
    store([who, me, blocked](StoreContext& ctx) { return find_block(ctx, who, me, blocked.get()); },
          [this, req = std::move(req), me, who, pid, blocked](DbStatus st) mutable {
            if (!st.ok()) return services::fail_storage(req, st, lg());
            if (*blocked) {
              return refusals_.refuse(
                  req, nullptr, kBlocked,
                  "account " + std::to_string(who) + " does not accept your invites");
            }
            Party* p = party_of(me);
            if (!p || p->id != pid) return req.fail(ErrorCode::kNotFound, "you are in no party");
            if (party_of(who) == p) return req.fail(ErrorCode::kBadRequest, "already a member");
            if (!online(who)) return req.fail(ErrorCode::kNotFound, "that player is not online");
            drop_expired_invites(*p);
            if (!p->invites.count(who) &&
                p->members.size() + p->invites.size() >= cfg_.party_max_size) {
              json extra = {{"limit", cfg_.party_max_size}};
              return refusals_.refuse(req, "party_size", ErrorCode::kFull,
                                      "the party is full (invites count)", &extra);
            }
            auto ttl = std::chrono::seconds(cfg_.party_invite_ttl_s);
            p->invites[who] = clock_.steady() + ttl;
            auto it = players_.find(who);
            if (auto s = it->second.session.lock()) {
              s->post_push(*invite_op_, {{"party", pid},
                                         {"from", {{"account", me}, {"name", name_of(me)}}},
                                         {"expires_in_ms", ttl.count() * 1000}});
            }
            lg().info("account {} invited account {} to party {}", me, who, pid);
            req.ok({{"party", pid}, {"account", who}});
          });
  }

  void on_accept(Request req) {
    int64_t me = req.account_id();
    int64_t pid = args::int_of(req.d(), "party");
    auto it = parties_.find(pid);
    if (it == parties_.end())
      return req.fail(ErrorCode::kNotFound, "no party " + std::to_string(pid));
    Party& p = it->second;
    if (Party* mine = party_of(me)) {
      if (mine == &p) return req.ok({{"party", party_json(p)}});
      return req.fail(ErrorCode::kBadRequest, "leave your party first");
    }
    drop_expired_invites(p);
    bool invited = p.invites.erase(me) > 0;
    if (!invited && !p.open) {
      return refusals_.refuse(req, nullptr, ErrorCode::kForbidden,
                              "no invite to party " + std::to_string(pid) + " (or it expired)");
    }
    if (p.members.size() + p.invites.size() >= cfg_.party_max_size) {
      json extra = {{"limit", cfg_.party_max_size}};
      return refusals_.refuse(req, "party_size", ErrorCode::kFull, "the party is full", &extra);
    }
    p.members.push_back({me, false, name_of(me)});
    party_of_[me] = pid;
    members_gauge_.set(static_cast<int64_t>(party_of_.size()));
    tell({GroupChange::Kind::kJoined, "party:" + std::to_string(pid), me});
    lg().info("account {} joined party {}", me, pid);
    req.ok({{"party", party_json(p)}});
    broadcast(p);
  }

  void on_decline(Request req) {
    int64_t pid = args::int_of(req.d(), "party");
    auto it = parties_.find(pid);
    if (it == parties_.end() || it->second.invites.erase(req.account_id()) == 0) {
      return req.fail(ErrorCode::kNotFound, "no invite to party " + std::to_string(pid));
    }
    req.ok();
  }

  void on_leave(Request req) {
    if (!party_of(req.account_id())) return req.fail(ErrorCode::kNotFound, "you are in no party");
    req.ok();
    remove(req.account_id(), "left");
  }

  // The caller's party if they lead it and `who` is another member of it.
  Party* led_with(Request& req, int64_t who) {
    Party* p = party_of(req.account_id());
    if (!p) {
      req.fail(ErrorCode::kNotFound, "you are in no party");
      return nullptr;
    }
    if (p->leader != req.account_id()) {
      refusals_.refuse(req, nullptr, ErrorCode::kForbidden, "only the party leader can do that");
      return nullptr;
    }
    if (who == req.account_id() || party_of(who) != p) {
      req.fail(ErrorCode::kNotFound, "account " + std::to_string(who) + " is not another member");
      return nullptr;
    }
    return p;
  }

  void on_kick(Request req) {
    int64_t who = args::int_of(req.d(), "account");
    if (!led_with(req, who)) return;
    req.ok();
    remove(who, "kicked");
  }

  void on_promote(Request req) {
    int64_t who = args::int_of(req.d(), "account");
    Party* p = led_with(req, who);
    if (!p) return;
    if (!online(who)) return req.fail(ErrorCode::kBadRequest, "that member is offline");
    p->leader = who;
    lg().info("party {}: leader {} -> {} (promoted)", p->id, req.account_id(), who);
    req.ok();
    broadcast(*p);
  }

  void on_ready(Request req) {
    Party* p = party_of(req.account_id());
    if (!p) return req.fail(ErrorCode::kNotFound, "you are in no party");
    bool ready = req.d().value("ready", false);
    for (auto& m : p->members) {
      if (m.id == req.account_id()) m.ready = ready;
    }
    req.ok();
    broadcast(*p);
  }

  void on_info(Request req) {
    Party* p = party_of(req.account_id());
    req.ok({{"party", p ? party_json(*p) : json()}});
  }

  std::shared_ptr<GroupFeed> feed_;
  SocialConfig cfg_;  // strand
  const Clock& clock_;
  metrics::Gauge& parties_gauge_;
  metrics::Gauge& members_gauge_;
  Refusals refusals_;
  const gateway::PushOp* invite_op_ = nullptr;
  const gateway::PushOp* update_op_ = nullptr;

  // Strand state:
  std::unordered_map<int64_t, Party> parties_;
  std::unordered_map<int64_t, int64_t> party_of_;  // account -> party
  std::unordered_map<int64_t, Player> players_;    // online accounts
  int64_t next_id_ = 0;
};

Parties::Parties(services::ServiceContext& ctx, std::shared_ptr<GroupFeed> feed)
    : impl_(std::make_shared<PartiesImpl>(ctx, std::move(feed))) {}
Parties::~Parties() = default;
Status Parties::start() {
  return impl_->start();
}
void Parties::reload(const Config& config) {
  impl_->reload(config);
}
nlohmann::json Parties::status() const {
  return impl_->status();
}

}  // namespace shardd::social
