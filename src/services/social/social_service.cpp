#include <boost/asio/post.hpp>
#include <deque>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "guilds.h"
#include "migrations.h"
#include "parties.h"
#include "refusals.h"
#include "shardd/core/utf8.h"
#include "shardd/services/account.h"
#include "shardd/services/actor.h"
#include "shardd/services/fanout.h"
#include "shardd/services/social.h"
#include "social_config.h"
#include "social_log.h"
#include "social_repo.h"

namespace shardd::social {

namespace asio = boost::asio;
using json = nlohmann::json;
using account::AccountRef;
using account::Presence;
using gateway::Request;
using store::DbErr;
using store::DbStatus;
using store::StoreContext;

namespace {

// The two accounts of a pair op, resolved through the account service's cache.
struct Pair {
  std::optional<AccountRef> me;
  std::optional<AccountRef> other;
};

json ref_json(const AccountRef& a) {
  return {{"account", a.id}, {"name", a.display_name}};
}

}  // namespace

// The social graph's owner, on one strand: who is online (from the account
// service's presence) and, for each online account, its friends and blocks;
// the queue of graph changes. Friend and block changes run one at a time
// (graph_write), and so do the loads of an account's graph when it comes
// online, so an account's sets in memory always match what was committed
// before and after its load.
class Impl final : public services::Actor<Impl>, public account::PresenceListener {
 public:
  explicit Impl(services::ServiceContext& ctx)
      : Actor(ctx),
        cfg_(social_section().of(ctx.config())),
        clock_(ctx.clock()),
        feed_(std::make_shared<GroupFeed>()),
        parties_(ctx, feed_),
        guilds_(ctx, feed_),
        last_seen_(ctx.store().write_behind("social_repo.last_seen", &SocialRepo::write_last_seen)),
        online_gauge_(ctx.metrics().gauge("shardd_social_online",
                                          "Online accounts the social service tracks.")),
        queue_gauge_(ctx.metrics().gauge("shardd_social_queued_writes",
                                         "Friend and block changes waiting for the database.")),
        refusals_(ctx.metrics()) {
    presence_pushes_ =
        &ctx.metrics().counter("shardd_social_presence_pushes_total", "friend.update pushes sent.");
  }

  Status start() {
    auto accounts = ctx().directory().find<account::Accounts>();
    if (!accounts) return Status::Internal("needs the account service (list it first)");
    accounts->subscribe(shared_from_this());
    if (Status st = parties_.start(); !st.ok()) return st;
    if (Status st = guilds_.start(); !st.ok()) return st;
    if (Status st = ctx().directory().provide<Groups>(feed_); !st.ok()) return st;
    auto& gw = ctx().gateway();
    friend_request_ = &gw.push_op("friend.request");
    // Presence and relationship refreshes: friend.list after a resync gives
    // the whole picture, so they are not replayed.
    friend_update_ =
        &gw.push_op("friend.update", gateway::PushOptions{false, gateway::OutputClass::kNormal});
    const args::Field account = args::integer("account", 1, INT64_MAX);
    return route_all({
        {"friend.request",
         &Impl::on_request,
         {args::optional(account), args::optional(args::str("username", 1, 64))}},
        {"friend.accept", &Impl::on_accept, {account}},
        {"friend.decline", &Impl::on_decline, {account}},
        {"friend.remove", &Impl::on_remove, {account}},
        {"friend.list", &Impl::on_list},
        {"social.block", &Impl::on_block, {account}},
        {"social.unblock", &Impl::on_unblock, {account}},
        {"social.blocks", &Impl::on_blocks},
    });
  }

  void reload(const Config& c) {
    post([this, fresh = social_section().of(c)] { cfg_ = fresh; });
    parties_.reload(c);
    guilds_.reload(c);
  }

  // GET /admin/status: "social".
  json status() const {
    json d = {{"online", online_gauge_.value()}, {"queued_writes", queue_gauge_.value()}};
    d.update(parties_.status());
    d.update(guilds_.status());
    return {{"social", std::move(d)}};
  }
  void stop() {}

  // account::PresenceListener (the account service's strand)
  void on_presence(const Presence& p) override {
    post([this, p] { apply_presence(p); });
  }

 private:
  struct Member {
    std::string name;
    std::string zone;
    std::weak_ptr<gateway::Session> session;
    bool loaded = false;  // the sets below came from the database
    uint64_t generation = 0;
    std::unordered_set<int64_t> friends;
    std::unordered_set<int64_t> blocks;      // accounts it blocked
    std::unordered_set<int64_t> blocked_by;  // accounts that blocked it
  };
  using Work = std::function<DbStatus(StoreContext&)>;
  using Done = std::function<void(DbStatus)>;

  Limits limits() const {
    return Limits{cfg_.max_friends, cfg_.max_pending_requests, cfg_.max_blocks};
  }

  void storage_failed(Request& req, const DbStatus& st) { services::fail_storage(req, st, lg()); }

  void refuse(Request& req, const char* limit, ErrorCode code, const std::string& msg,
              const json* extra = nullptr) {
    refusals_.refuse(req, limit, code, msg, extra);
  }

  // ---- the queue of graph changes (strand)

  // Whether graph_write() may queue more (max_queued_writes).
  bool can_write() const { return writes_.size() < cfg_.max_queued_writes; }
  // Runs `work` after every graph change queued before it, then `done` on
  // the strand. REQUIRES: can_write() (checked first, so a refused request
  // is still in the caller's hands to answer).
  template <class D>
  void graph_write(Work work, D done) {
    // The queue holds copyable functions; `done` may hold a Request.
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
  void queue_full(Request& req) {
    json extra = {{"retry_after_ms", 1000}};
    refuse(req, "queued_writes", ErrorCode::kUnavailable, "server busy, retry shortly", &extra);
  }

  // ---- presence (strand)

  void apply_presence(const Presence& p) {
    switch (p.kind) {
      case Presence::Kind::kOnline: {
        auto [it, fresh] = online_.try_emplace(p.account_id);
        Member& m = it->second;
        m.name = p.name;
        m.zone = p.zone;
        m.session = p.session;  // a new login replaces the older session
        online_gauge_.set(static_cast<int64_t>(online_.size()));
        if (fresh) {
          m.generation = ++generation_;
          load_graph(p.account_id, m.generation);
        }
        return;
      }
      case Presence::Kind::kZone:
      case Presence::Kind::kName: {
        auto it = online_.find(p.account_id);
        if (it == online_.end()) return;
        it->second.zone = p.zone;
        it->second.name = p.name;
        tell_friends(p.account_id, it->second, true, 0);
        return;
      }
      case Presence::Kind::kOffline: {
        auto it = online_.find(p.account_id);
        if (it == online_.end()) return;
        last_seen_.mark(std::to_string(p.account_id), std::to_string(p.at_ms));
        tell_friends(p.account_id, it->second, false, p.at_ms);
        online_.erase(it);
        online_gauge_.set(static_cast<int64_t>(online_.size()));
        return;
      }
    }
  }

  void load_graph(int64_t id, uint64_t gen) {
    if (!can_write()) {
      lg().warn("account {}: friends not loaded: change queue full", id);
      return;
    }
    auto graph = std::make_shared<Graph>();
    graph_write(
        [id, graph](StoreContext& ctx) { return SocialRepo::load_graph(ctx, id, graph.get()); },
        [this, id, gen, graph](DbStatus st) {
          auto it = online_.find(id);
          if (it == online_.end() || it->second.generation != gen) return;  // gone meanwhile
          if (!st.ok()) {
            // Friends are not told this account is online; its own ops still
            // work (they read the database).
            lg().warn("account {}: friends and blocks not loaded: {}", id, st.to_string());
            return;
          }
          Member& m = it->second;
          m.friends.insert(graph->friends.begin(), graph->friends.end());
          m.blocks.insert(graph->blocks.begin(), graph->blocks.end());
          m.blocked_by.insert(graph->blocked_by.begin(), graph->blocked_by.end());
          m.loaded = true;
          tell_friends(id, m, true, 0);
        });
  }

  json presence_json(int64_t id, const Member* m, int64_t last_seen_ms) const {
    json d = {{"account", id}, {"state", "friend"}, {"online", m != nullptr}};
    if (m) {
      d["name"] = m->name;
      d["zone"] = m->zone.empty() ? json() : json(m->zone);
    } else {
      d["zone"] = nullptr;
    }
    d["last_seen_ms"] = last_seen_ms > 0 ? json(last_seen_ms) : json();
    return d;
  }

  // Sends friend.update about `id` to each online friend (one body for all).
  void tell_friends(int64_t id, const Member& m, bool online, int64_t last_seen_ms) {
    if (!m.loaded || m.friends.empty()) return;
    json d = presence_json(id, online ? &m : nullptr, last_seen_ms);
    if (!online) d["name"] = m.name;
    services::Fanout out(*friend_update_, std::make_shared<const gateway::SharedBody>(d));
    for (int64_t f : m.friends) {
      auto it = online_.find(f);
      if (it != online_.end()) out.add(it->second.session.lock());
    }
    presence_pushes_->inc(out.size());  // counted before anyone can see them
    out.send();
  }

  void push_to(int64_t account, const gateway::PushOp& op, json d) {
    auto it = online_.find(account);
    if (it == online_.end()) return;
    if (auto s = it->second.session.lock()) {
      if (&op == friend_update_) presence_pushes_->inc();
      s->post_push(op, std::move(d));
    }
  }

  Member* loaded(int64_t id) {
    auto it = online_.find(id);
    return it != online_.end() && it->second.loaded ? &it->second : nullptr;
  }

  // a and b became friends (committed): memory and pushes.
  void befriended(int64_t a, int64_t b) {
    Member* ma = loaded(a);
    Member* mb = loaded(b);
    if (ma) ma->friends.insert(b);
    if (mb) mb->friends.insert(a);
    auto it = online_.find(a);
    push_to(b, *friend_update_, presence_json(a, it == online_.end() ? nullptr : &it->second, 0));
  }
  void unfriended(int64_t a, int64_t b, bool tell_b) {
    if (Member* ma = loaded(a)) ma->friends.erase(b);
    if (Member* mb = loaded(b)) mb->friends.erase(a);
    if (tell_b) {
      push_to(b, *friend_update_,
              {{"account", a}, {"state", "removed"}, {"online", false}, {"zone", nullptr}});
    }
  }

  json friend_json(const AccountRef& a, int64_t since_ms, int64_t last_seen_ms) const {
    auto it = online_.find(a.id);
    json d = presence_json(a.id, it == online_.end() ? nullptr : &it->second, last_seen_ms);
    d["name"] = it == online_.end() ? a.display_name : it->second.name;
    d["since_ms"] = since_ms;
    return d;
  }

  // ---- resolving the other account

  // Resolves the caller and the target (by `account`, or `username` when
  // `by_name`), then runs then(req, me, other) on the strand. Answers
  // NOT_FOUND for an unknown or deleted target and BAD_REQUEST for oneself.
  template <class Then>
  void resolve(Request req, bool by_name, Then then) {
    int64_t me = req.account_id();
    int64_t other_id = by_name ? 0 : args::int_of(req.d(), "account");
    std::string name = by_name ? args::str(req.d(), "username") : "";
    store_value<Pair>(
        [me, other_id, name](StoreContext& ctx, Pair* p) {
          DbStatus st = account::find_account_by_id(ctx, me, &p->me);
          if (!st.ok()) return st;
          return other_id ? account::find_account_by_id(ctx, other_id, &p->other)
                          : account::find_account_by_name(ctx, name, &p->other);
        },
        [this, req = std::move(req), then = std::move(then), other_id, name](DbStatus st,
                                                                             Pair p) mutable {
          if (!st.ok()) return storage_failed(req, st);
          if (!p.me) return req.fail(ErrorCode::kUnauthorized, "log in first");
          if (!p.other || p.other->deleted) {
            return req.fail(ErrorCode::kNotFound,
                            other_id ? "no account " + std::to_string(other_id)
                                     : "no player named '" + utf8::quote(name) + "'");
          }
          if (p.other->id == p.me->id) {
            return req.fail(ErrorCode::kBadRequest, "that is your own account");
          }
          then(std::move(req), *p.me, *p.other);
        });
  }

  // ---- friend.request {account | username}

  void on_request(Request incoming) {
    bool by_id = args::has(incoming.d(), "account");
    if (by_id == args::has(incoming.d(), "username")) {
      return incoming.fail(ErrorCode::kBadRequest, "give one of account or username");
    }
    resolve(std::move(incoming), !by_id, [this](Request req, AccountRef me, AccountRef other) {
      auto outcome = std::make_shared<RequestOutcome>();
      Limits lim = limits();
      int64_t now = clock_.now_ms();
      if (!can_write()) return queue_full(req);
      graph_write(
          [me = me.id, other = other.id, lim, now, outcome](StoreContext& ctx) {
            return SocialRepo::request_friend(ctx, me, other, lim, now, outcome.get());
          },
          [this, req = std::move(req), me, other, outcome, now](DbStatus st) mutable {
            if (!st.ok()) return storage_failed(req, st);
            finish_request(req, me, other, *outcome, now);
          });
    });
  }

  void finish_request(Request& req, const AccountRef& me, const AccountRef& other,
                      RequestOutcome outcome, int64_t now) {
    json reply = ref_json(other);
    json limit = {{"limit", cfg_.max_friends}};
    json pending = {{"limit", cfg_.max_pending_requests}};
    switch (outcome) {
      case RequestOutcome::kSent:
        push_to(other.id, *friend_request_, {{"from", ref_json(me)}, {"ts", now}});
        lg().info("account {} asked account {} to be friends", me.id, other.id);
        reply["state"] = "pending";
        return req.ok(reply);
      case RequestOutcome::kAlreadyPending:
        reply["state"] = "pending";
        return req.ok(reply);
      case RequestOutcome::kAlreadyFriends:
        reply["state"] = "friends";
        return req.ok(reply);
      case RequestOutcome::kAccepted:
        befriended(me.id, other.id);
        lg().info("accounts {} and {} are friends", me.id, other.id);
        reply["state"] = "friends";
        return req.ok(reply);
      case RequestOutcome::kBlockedByThem:
        return refuse(req, nullptr, kBlocked,
                      "account " + std::to_string(other.id) + " does not accept your requests");
      case RequestOutcome::kYouBlocked:
        return refuse(req, nullptr, ErrorCode::kForbidden,
                      "you blocked account " + std::to_string(other.id) + ": unblock them first");
      case RequestOutcome::kYourFriendsFull:
        return refuse(req, "friends", ErrorCode::kFull, "your friend list is full", &limit);
      case RequestOutcome::kTheirFriendsFull:
        return refuse(req, "friends", ErrorCode::kFull, "their friend list is full", &limit);
      case RequestOutcome::kYourPendingFull:
        return refuse(req, "pending_requests", ErrorCode::kFull,
                      "too many of your friend requests are waiting", &pending);
      case RequestOutcome::kTheirPendingFull:
        return refuse(req, "pending_requests", ErrorCode::kFull,
                      "this player has too many friend requests waiting", &pending);
    }
  }

  // ---- friend.accept {account}

  void on_accept(Request incoming) {
    resolve(std::move(incoming), false, [this](Request req, AccountRef me, AccountRef other) {
      auto outcome = std::make_shared<AcceptOutcome>();
      Limits lim = limits();
      int64_t now = clock_.now_ms();
      if (!can_write()) return queue_full(req);
      graph_write(
          [me = me.id, other = other.id, lim, now, outcome](StoreContext& ctx) {
            return SocialRepo::accept(ctx, me, other, lim, now, outcome.get());
          },
          [this, req = std::move(req), me, other, outcome, now](DbStatus st) mutable {
            if (!st.ok()) return storage_failed(req, st);
            json limit = {{"limit", cfg_.max_friends}};
            switch (*outcome) {
              case AcceptOutcome::kNoRequest:
                return req.fail(ErrorCode::kNotFound,
                                "no friend request from account " + std::to_string(other.id));
              case AcceptOutcome::kYourFriendsFull:
                return refuse(req, "friends", ErrorCode::kFull, "your friend list is full", &limit);
              case AcceptOutcome::kTheirFriendsFull:
                return refuse(req, "friends", ErrorCode::kFull, "their friend list is full",
                              &limit);
              case AcceptOutcome::kAccepted:
                befriended(me.id, other.id);
                lg().info("accounts {} and {} are friends", me.id, other.id);
                req.ok({{"friend", friend_json(other, now, 0)}});
            }
          });
    });
  }

  // ---- friend.decline {account}, friend.remove {account}

  void on_decline(Request req) {
    int64_t me = req.account_id();
    int64_t other = args::int_of(req.d(), "account");
    auto found = std::make_shared<bool>(false);
    if (!can_write()) return queue_full(req);
    graph_write([me, other, found](
                    StoreContext& ctx) { return SocialRepo::decline(ctx, me, other, found.get()); },
                [this, req = std::move(req), other, found](DbStatus st) mutable {
                  if (!st.ok()) return storage_failed(req, st);
                  if (!*found) {
                    return req.fail(ErrorCode::kNotFound,
                                    "no friend request from account " + std::to_string(other));
                  }
                  req.ok();
                });
  }

  void on_remove(Request req) {
    int64_t me = req.account_id();
    int64_t other = args::int_of(req.d(), "account");
    auto outcome = std::make_shared<RemoveOutcome>(RemoveOutcome::kNothing);
    if (!can_write()) return queue_full(req);
    graph_write(
        [me, other, outcome](StoreContext& ctx) {
          return SocialRepo::remove(ctx, me, other, outcome.get());
        },
        [this, req = std::move(req), me, other, outcome](DbStatus st) mutable {
          if (!st.ok()) return storage_failed(req, st);
          switch (*outcome) {
            case RemoveOutcome::kNothing:
              return req.fail(ErrorCode::kNotFound, "account " + std::to_string(other) +
                                                        " is not a friend or asked by you");
            case RemoveOutcome::kRemovedFriend:
              unfriended(me, other, true);
              lg().info("account {} removed friend {}", me, other);
              return req.ok({{"removed", "friend"}});
            case RemoveOutcome::kCancelledRequest:
              return req.ok({{"removed", "request"}});
          }
        });
  }

  // ---- friend.list

  struct Listing {
    std::vector<FriendRow> friends;
    std::vector<Dated> incoming;
    std::vector<Dated> outgoing;
    std::unordered_map<int64_t, AccountRef> refs;
  };

  void on_list(Request req) {
    int64_t me = req.account_id();
    store_value<Listing>(
        [me](StoreContext& ctx, Listing* l) {
          DbStatus st = SocialRepo::list_friends(ctx, me, &l->friends, &l->incoming, &l->outgoing);
          std::vector<int64_t> ids;
          for (const auto& f : l->friends) ids.push_back(f.id);
          for (const auto& d : l->incoming) ids.push_back(d.id);
          for (const auto& d : l->outgoing) ids.push_back(d.id);
          for (size_t i = 0; st.ok() && i < ids.size(); ++i) {
            std::optional<AccountRef> a;
            st = account::find_account_by_id(ctx, ids[i], &a);
            if (a) l->refs[a->id] = *a;
          }
          return st;
        },
        [this, req = std::move(req)](DbStatus st, Listing l) mutable {
          if (!st.ok()) return storage_failed(req, st);
          auto ref = [&l](int64_t id) {
            auto it = l.refs.find(id);
            return it != l.refs.end() ? it->second : AccountRef{id, "", "", true};
          };
          json friends = json::array();
          for (const auto& f : l.friends)
            friends.push_back(friend_json(ref(f.id), f.since_ms, f.last_seen_ms));
          auto dated_json = [&](const std::vector<Dated>& v) {
            json out = json::array();
            for (const auto& d : v) {
              json j = ref_json(ref(d.id));
              j["ts"] = d.ms;
              out.push_back(std::move(j));
            }
            return out;
          };
          req.ok({{"friends", std::move(friends)},
                  {"incoming", dated_json(l.incoming)},
                  {"outgoing", dated_json(l.outgoing)}});
        });
  }

  // ---- social.block / social.unblock / social.blocks

  void on_block(Request incoming) {
    resolve(std::move(incoming), false, [this](Request req, AccountRef me, AccountRef other) {
      struct Out {
        BlockOutcome outcome = BlockOutcome::kNewlyBlocked;
        bool were_friends = false;
      };
      auto out = std::make_shared<Out>();
      Limits lim = limits();
      int64_t now = clock_.now_ms();
      if (!can_write()) return queue_full(req);
      graph_write(
          [me = me.id, other = other.id, lim, now, out](StoreContext& ctx) {
            return SocialRepo::block(ctx, me, other, lim, now, &out->outcome, &out->were_friends);
          },
          [this, req = std::move(req), me = me.id, other = other.id, out](DbStatus st) mutable {
            if (!st.ok()) return storage_failed(req, st);
            if (out->outcome == BlockOutcome::kFull) {
              json limit = {{"limit", cfg_.max_blocks}};
              return refuse(req, "blocks", ErrorCode::kFull, "your block list is full", &limit);
            }
            if (out->outcome == BlockOutcome::kNewlyBlocked) {
              if (Member* m = loaded(me)) m->blocks.insert(other);
              if (Member* m = loaded(other)) m->blocked_by.insert(me);
              if (out->were_friends) unfriended(me, other, true);
              lg().info("account {} blocked account {}", me, other);
            }
            req.ok();
          });
    });
  }

  void on_unblock(Request req) {
    int64_t me = req.account_id();
    int64_t other = args::int_of(req.d(), "account");
    auto found = std::make_shared<bool>(false);
    if (!can_write()) return queue_full(req);
    graph_write([me, other, found](
                    StoreContext& ctx) { return SocialRepo::unblock(ctx, me, other, found.get()); },
                [this, req = std::move(req), me, other, found](DbStatus st) mutable {
                  if (!st.ok()) return storage_failed(req, st);
                  if (!*found) {
                    return req.fail(ErrorCode::kNotFound,
                                    "account " + std::to_string(other) + " is not blocked");
                  }
                  if (Member* m = loaded(me)) m->blocks.erase(other);
                  if (Member* m = loaded(other)) m->blocked_by.erase(me);
                  req.ok();
                });
  }

  void on_blocks(Request req) {
    int64_t me = req.account_id();
    struct Out {
      std::vector<Dated> blocks;
      std::vector<AccountRef> refs;
    };
    store_value<Out>(
        [me](StoreContext& ctx, Out* o) {
          DbStatus st = SocialRepo::list_blocks(ctx, me, &o->blocks);
          for (size_t i = 0; st.ok() && i < o->blocks.size(); ++i) {
            std::optional<AccountRef> a;
            st = account::find_account_by_id(ctx, o->blocks[i].id, &a);
            o->refs.push_back(a ? *a : AccountRef{o->blocks[i].id, "", "", true});
          }
          return st;
        },
        [this, req = std::move(req)](DbStatus st, Out o) mutable {
          if (!st.ok()) return storage_failed(req, st);
          json out = json::array();
          for (size_t i = 0; i < o.blocks.size(); ++i) {
            json j = ref_json(o.refs[i]);
            j["since_ms"] = o.blocks[i].ms;
            out.push_back(std::move(j));
          }
          req.ok({{"blocks", std::move(out)}});
        });
  }

  SocialConfig cfg_;  // strand
  const Clock& clock_;
  std::shared_ptr<GroupFeed> feed_;
  Parties parties_;
  Guilds guilds_;
  store::WriteBehind& last_seen_;
  metrics::Gauge& online_gauge_;
  metrics::Gauge& queue_gauge_;
  Refusals refusals_;
  metrics::Counter* presence_pushes_ = nullptr;
  const gateway::PushOp* friend_request_ = nullptr;
  const gateway::PushOp* friend_update_ = nullptr;

  // Strand state:
  std::unordered_map<int64_t, Member> online_;
  uint64_t generation_ = 0;
  std::deque<std::pair<Work, Done>> writes_;
};

services::ServiceDef service_def() {
  return services::ServiceDef{"social",
                              {&social_section()},
                              migrations(),
                              {kBlocked, kGuildNameTaken},
                              &services::ActorService<Impl>::create};
}

}  // namespace shardd::social
