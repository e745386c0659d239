#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <unordered_map>
#include <unordered_set>

#include "account_config.h"
#include "account_repo.h"
#include "errors.h"
#include "migrations.h"
#include "names.h"
#include "password.h"
#include "shardd/core/crypto.h"
#include "shardd/core/log.h"
#include "shardd/core/utf8.h"
#include "shardd/services/account.h"
#include "shardd/services/actor.h"
#include "throttle.h"

namespace shardd::account {

namespace asio = boost::asio;
using json = nlohmann::json;
using gateway::Request;
using store::DbErr;
using store::DbStatus;
using store::StoreContext;

namespace {

spdlog::logger& lg() {
  static spdlog::logger& l = log::get("account");
  return l;
}

std::string lower(std::string s) {
  for (char& ch : s) {
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  }
  return s;
}

constexpr const char* kDummyPassword = "not-a-real-password-used-for-timing";
constexpr int64_t kMaxCryptoPending = 256;
// zone.update pushes for one burst of changes are sent together, this long
// after the first change (a zone whose population swings around a band
// boundary is announced at most this often).
constexpr auto kZoneUpdateDelay = std::chrono::milliseconds(250);

// The population band of a zone, as players see it (exact counts are in
// zone.list): low < 50 % of capacity <= medium < 80 % <= high < full.
const char* band_of(uint32_t population, uint32_t capacity) {
  if (population >= capacity) return "full";
  uint64_t pct = uint64_t{population} * 100 / capacity;
  return pct < 50 ? "low" : pct < 80 ? "medium" : "high";
}

}  // namespace

// The account service's state, on one strand: who is online where, zone
// populations, login throttles, and the queue of writes per account.
class Impl final : public services::Actor<Impl>, public gateway::SessionListener, public Accounts {
 public:
  explicit Impl(services::ServiceContext& ctx)
      : Actor(ctx),
        auth_(auth_section().of(ctx.config())),
        clock_(ctx.clock()),
        crypto_("crypto", auth_.crypto_threads, kMaxCryptoPending, ctx.metrics()),
        zone_timer_(strand()),
        registrations_ok_(ctx.metrics().counter("shardd_registrations_total",
                                                "auth.register outcomes.", {{"result", "ok"}})),
        registrations_failed_(ctx.metrics().counter(
            "shardd_registrations_total", "auth.register outcomes.", {{"result", "refused"}})),
        last_login_(
            ctx.store().write_behind("accounts.last_login", &AccountRepo::write_last_logins)) {
    auto& m = ctx.metrics();
    for (const auto& z : zones_section().of(ctx.config()).zones) add_zone(z);
    for (const char* r : {"ok", "bad_credentials", "banned", "rate_limited", "unavailable"}) {
      logins_[r] = &m.counter("shardd_logins_total",
                              "Login attempts (password and token), by result.", {{"result", r}});
    }
    for (const char* op : {"set_display_name", "change_password", "delete"}) {
      account_changes_[op] = &m.counter("shardd_account_changes_total",
                                        "Successful account changes, by kind.", {{"op", op}});
    }
    zone_updates_ = &m.counter("shardd_zone_updates_total", "zone.update pushes broadcast.");
    zones_json();  // /admin/status shows the zones from the start
  }

  Status start() {
    Status st = hash_password(kDummyPassword, auth_, &dummy_hash_);
    if (!st.ok()) return st;
    auto& gw = ctx().gateway();
    // A state refresh: not replayed on resume (zone.list after a resync
    // gives the current picture).
    zone_update_ =
        &gw.push_op("zone.update", gateway::PushOptions{false, gateway::OutputClass::kNormal});
    gw.add_listener(shared_from_this());
    // Login names and passwords are checked by the handlers (INVALID_USERNAME,
    // WEAK_PASSWORD); the schemas only bound their size.
    const args::Schema credentials = {args::str("username", 0, 64), args::str("password", 0, 1024)};
    st = route_all({
        {"auth.register", &Impl::on_register, credentials, false},
        {"auth.login", &Impl::on_login, credentials, false},
        {"auth.token", &Impl::on_token, {args::str("token", 1, 128)}, false},
        {"auth.logout", &Impl::on_logout},
        {"auth.change_password",
         &Impl::on_change_password,
         {args::str("old", 0, 1024), args::str("new", 0, 1024)}},
        {"account.set_display_name", &Impl::on_set_display_name, {args::str("name", 0, 64)}},
        {"account.delete", &Impl::on_delete, {args::str("password", 0, 1024)}},
        {"zone.list", &Impl::on_zone_list},
        {"zone.select", &Impl::on_zone_select, {args::str("zone", 1, 64)}},
    });
    if (!st.ok()) return st;
    add_admin_routes(ctx().admin());
    return ctx().directory().provide<Accounts>(shared_from_this());
  }

  // Accounts (control thread, before serving)
  void subscribe(std::shared_ptr<PresenceListener> listener) override {
    presence_listeners_.push_back(std::move(listener));
  }

  void reload(const Config& c) {
    AuthConfig a = auth_section().of(c);
    std::vector<ZoneConfig> zones = zones_section().of(c).zones;
    std::string dummy;
    Status st = hash_password(kDummyPassword, a, &dummy);
    if (!st.ok()) {
      // Config validation refuses such parameters; keep the running ones
      // (the zones still apply).
      lg().error("reload: auth parameters not applied: {}", st.message());
    }
    post(
        [this, ok = st.ok(), a = std::move(a), dummy = std::move(dummy), zones = std::move(zones)] {
          if (ok) {
            auth_ = a;
            dummy_hash_ = dummy;
          }
          apply_zones(zones);
        });
  }

  // GET /admin/status: the zones.
  json status() const {
    std::lock_guard lock(snapshot_mu_);
    return {{"zones", zones_snapshot_}};
  }

  void stop() { crypto_.join(); }

  // gateway::SessionListener (session's thread)
  void on_session_ended(const std::shared_ptr<gateway::Session>& session,
                        gateway::EndReason reason) override {
    post([this, sid = session->id(), account = session->account_id(), reason] {
      forget_session(sid, account, reason);
    });
  }

 private:
  struct Zone {
    ZoneConfig config;
    uint32_t population;  // includes slots reserved by a zone.select being written
    metrics::Gauge* gauge;
    bool removed = false;   // gone from the configuration: closed until restart
    std::string announced;  // status/band last told to players
  };
  struct Online {
    int64_t account_id;
    std::string username_lc;
    std::string name;  // display name
    std::string zone;
    std::string pending_zone;  // reserved while its last_zone write runs
    std::string token_hash;
    std::weak_ptr<gateway::Session> session;
    bool announced = false;  // presence listeners were told it is online
    int64_t created_ms = 0;
  };
  using StoreWork = std::function<DbStatus(StoreContext&)>;
  using StoreDone = std::function<void(DbStatus)>;

  // ---- zones (strand)

  Zone* find_zone(const std::string& id) {
    for (auto& z : zones_) {
      if (z.config.id == id) return &z;
    }
    return nullptr;
  }

  void add_zone(const ZoneConfig& z) {
    zones_.push_back(Zone{
        z, 0,
        &ctx().metrics().gauge("shardd_zone_population", "Players in each zone.", {{"zone", z.id}}),
        false, ""});
    zones_.back().announced = zone_state(zones_.back());
  }

  static std::string status_of(const Zone& z) {
    if (z.removed) return "closed";
    if (z.config.maintenance) return "maintenance";
    return z.population >= z.config.capacity ? "full" : "open";
  }
  static json zone_json(const Zone& z) {
    return {{"id", z.config.id},
            {"name", z.config.name},
            {"map", z.config.map},
            {"population", z.population},
            {"capacity", z.config.capacity},
            {"band", band_of(z.population, z.config.capacity)},
            {"status", status_of(z)}};
  }
  // What zone.update announces a change of.
  static std::string zone_state(const Zone& z) {
    return status_of(z) + "/" + band_of(z.population, z.config.capacity) + "/" + z.config.name;
  }

  json zones_json() {
    json arr = json::array();
    for (const auto& z : zones_) arr.push_back(zone_json(z));
    std::lock_guard lock(snapshot_mu_);
    zones_snapshot_ = arr;
    return arr;
  }

  // After a population or configuration change: refresh the snapshot and,
  // if a zone's status or band moved, schedule zone.update.
  void zones_changed() {
    zones_json();
    bool any = false;
    for (const auto& z : zones_) any = any || zone_state(z) != z.announced;
    if (!any || zone_update_armed_) return;
    zone_update_armed_ = true;
    zone_timer_.expires_after(kZoneUpdateDelay);
    // A weak reference: a pending wait must not keep the service alive past
    // the server's shutdown (the timer is cancelled with it).
    zone_timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
      auto self = weak.lock();
      if (!self) return;
      self->zone_update_armed_ = false;
      if (!ec) self->announce_zones();
    });
  }

  // zone.update {zone:{id,name,map,population,capacity,band,status}} to
  // every logged-in player, once per changed zone (encoded once each).
  void announce_zones() {
    for (auto& z : zones_) {
      std::string now = zone_state(z);
      if (now == z.announced) continue;
      z.announced = now;
      zone_updates_->inc();  // before sending: whoever sees the push sees the count
      ctx().gateway().broadcast(*zone_update_, {{"zone", zone_json(z)}}, true);
    }
  }

  // SIGHUP: capacity, maintenance, names and maps change in place; new zones
  // open; a zone no longer configured is closed to new players (players in
  // it stay) until restart.
  void apply_zones(const std::vector<ZoneConfig>& fresh) {
    for (auto& z : zones_) {
      auto it = std::find_if(fresh.begin(), fresh.end(),
                             [&](const ZoneConfig& f) { return f.id == z.config.id; });
      if (it == fresh.end()) {
        if (!z.removed) lg().warn("reload: zone {} removed: closed to new players", z.config.id);
        z.removed = true;
      } else {
        z.config = *it;
        z.removed = false;
      }
    }
    for (const auto& f : fresh) {
      if (!find_zone(f.id)) {
        lg().info("reload: zone {} added", f.id);
        add_zone(f);
        zones_.back().announced.clear();  // announce it
      }
    }
    zones_changed();
  }

  void add_population(const std::string& zone, int delta) {
    if (Zone* z = find_zone(zone)) {
      if (delta < 0 && z->population == 0) return;
      z->population = static_cast<uint32_t>(static_cast<int64_t>(z->population) + delta);
      z->gauge->set(z->population);
    }
  }

  void leave_zone(Online& o) {
    if (o.pending_zone.empty() && o.zone.empty()) return;
    if (!o.pending_zone.empty()) {
      add_population(o.pending_zone, -1);
      o.pending_zone.clear();
    }
    if (!o.zone.empty()) {
      add_population(o.zone, -1);
      o.zone.clear();
    }
    zones_changed();
  }

  // ---- sessions (strand)

  void forget_session(uint64_t sid, int64_t account, gateway::EndReason reason) {
    auto it = sessions_.find(sid);
    if (it == sessions_.end()) return;
    leave_zone(it->second);
    auto on = online_.find(account);
    if (on != online_.end() && on->second == sid) {
      online_.erase(on);
      if (it->second.announced) publish(Presence::Kind::kOffline, it->second);
    }
    lg().debug("account {} session {} ended ({})", account, sid, gateway::end_reason_name(reason));
    sessions_.erase(it);
  }

  // Tells the presence listeners (strand).
  void publish(Presence::Kind kind, const Online& o) {
    if (presence_listeners_.empty()) return;
    Presence p{kind,      o.account_id,    o.name,       o.zone,
               o.session, clock_.now_ms(), o.created_ms, o.username_lc};
    for (const auto& l : presence_listeners_) l->on_presence(p);
  }

  Online* online(const Request& req) {
    auto it = sessions_.find(req.session_id());
    return it == sessions_.end() ? nullptr : &it->second;
  }

  std::shared_ptr<gateway::Session> online_session(int64_t account) {
    auto it = online_.find(account);
    if (it == online_.end()) return nullptr;
    auto o = sessions_.find(it->second);
    return o == sessions_.end() ? nullptr : o->second.session.lock();
  }

  // ---- storage helpers (strand)

  // Writes to one account row run one at a time, in order, so the last
  // write-through to the cache always carries the newest row (see
  // account_repo.h). The queue of an account holds what its own session and
  // the admin API issue, bounded by the session's in-flight cap.
  template <class Done>
  void account_write(int64_t id, StoreWork work, Done done) {
    auto& q = writes_[id];
    // The queue holds copyable functions; `done` may be move-only (it holds
    // the Request), so it is kept behind a shared pointer until it runs.
    q.emplace_back(std::move(work), [p = std::make_shared<Done>(std::move(done))](DbStatus st) {
      (*p)(std::move(st));
    });
    if (q.size() == 1) start_write(id);
  }
  void start_write(int64_t id) {
    store(writes_[id].front().first, [this, id](DbStatus st) {
      auto it = writes_.find(id);
      StoreDone done = std::move(it->second.front().second);
      it->second.pop_front();
      if (it->second.empty()) {
        writes_.erase(it);
      } else {
        start_write(id);
      }
      done(std::move(st));
    });
  }

  void storage_failed(Request& req, const DbStatus& st) { services::fail_storage(req, st, lg()); }

  // ---- auth.register

  void on_register(Request req) {
    const json& d = req.d();
    std::string username = args::str(d, "username");
    std::string password = args::str(d, "password");
    if (!valid_username(username)) {
      registrations_failed_.inc();
      return req.fail(kInvalidUsername,
                      "username must be 3-24 characters of letters, digits and _");
    }
    if (!valid_password(password)) {
      registrations_failed_.inc();
      return req.fail(kWeakPassword, "password must be 8-128 characters");
    }
    auto now = clock_.steady();
    if (int64_t wait =
            register_ip_.blocked_ms(req.remote_ip(), auth_.register_per_ip_per_min, now)) {
      registrations_failed_.inc();
      lg().info("registration refused (rate limit) from {}", req.remote_ip());
      json extra = {{"retry_after_ms", wait}};
      return req.fail(ErrorCode::kRateLimited, "too many registrations from this address", &extra);
    }
    register_ip_.add(req.remote_ip(), now);
    struct Hashed {
      Status st;
      std::string hash;
    };
    offload(
        crypto_,
        [password, a = auth_] {
          Hashed h;
          h.st = hash_password(password, a, &h.hash);
          return h;
        },
        [this, req = std::move(req), username](Status busy, Hashed h) mutable {
          if (!busy.ok()) return req.fail(busy);
          if (!h.st.ok()) {
            lg().error("auth.register: password hash failed: {}", h.st.message());
            return req.fail(
                h.st.code() == ErrorCode::kUnavailable ? h.st : Status::Internal("internal error"));
          }
          create_account(std::move(req), username, std::move(h.hash));
        });
  }

  void create_account(Request req, const std::string& username, std::string hash) {
    const Clock* clock = &clock_;
    store_value<int64_t>(
        [username, hash = std::move(hash), clock](StoreContext& ctx, int64_t* id) {
          return AccountRepo::create(ctx, username, hash, clock->now_ms(), id);
        },
        [this, req = std::move(req), username](DbStatus st, int64_t id) mutable {
          if (st.err() == DbErr::kDuplicate) {
            registrations_failed_.inc();
            return req.fail(kUsernameTaken, "username '" + username + "' is taken");
          }
          if (!st.ok()) return storage_failed(req, st);
          registrations_ok_.inc();
          lg().info("account {} registered: {}", id, username);
          req.ok({{"account_id", id}, {"username", username}});
        });
  }

  // ---- auth.login / auth.token

  int64_t throttled(const Request& req, const std::string& account_key) {
    auto now = clock_.steady();
    int64_t wait = ip_fail_.blocked_ms(req.remote_ip(), auth_.ip_attempts_per_min, now);
    if (!account_key.empty()) {
      wait = std::max(wait,
                      account_fail_.blocked_ms(account_key, auth_.account_attempts_per_min, now));
    }
    return wait;
  }

  void record_failure(const Request& req, const std::string& account_key) {
    auto now = clock_.steady();
    ip_fail_.add(req.remote_ip(), now);
    if (!account_key.empty()) account_fail_.add(account_key, now);
  }

  void refuse_throttled(Request& req, int64_t wait) {
    logins_["rate_limited"]->inc();
    json extra = {{"retry_after_ms", wait}};
    req.fail(ErrorCode::kRateLimited, "too many failed attempts; wait before trying again", &extra);
  }

  void bad_credentials(Request& req, const std::string& account_key) {
    record_failure(req, account_key);
    logins_["bad_credentials"]->inc();
    req.fail(kBadCredentials, "wrong username or password");
  }

  bool refuse_banned(Request& req, const Account& a) {
    if (a.banned_until_ms <= clock_.now_ms()) return false;
    logins_["banned"]->inc();
    json extra = {{"until_ms", a.banned_until_ms}, {"reason", a.ban_reason}};
    req.fail(kBanned, "account banned", &extra);
    return true;
  }

  // A login in progress on a session: refuses a second one (pipelined
  // logins) until the first is answered. Destroyed with the last callback of
  // the login, whatever path it took.
  class LoginGuard {
   public:
    LoginGuard(std::shared_ptr<Impl> impl, uint64_t sid) : impl_(std::move(impl)), sid_(sid) {}
    ~LoginGuard() {
      if (impl_->on_strand()) {
        impl_->logging_in_.erase(sid_);
      } else {
        impl_->post([impl = impl_.get(), sid = sid_] { impl->logging_in_.erase(sid); });
      }
    }
    LoginGuard(const LoginGuard&) = delete;
    LoginGuard& operator=(const LoginGuard&) = delete;

   private:
    std::shared_ptr<Impl> impl_;
    uint64_t sid_;
  };
  using Guard = std::shared_ptr<LoginGuard>;

  // Null (and the request answered) when this session may not log in now.
  Guard begin_login(Request& req) {
    uint64_t sid = req.session_id();
    if (sessions_.count(sid) || req.account_id() != 0) {
      req.fail(ErrorCode::kBadRequest, "already logged in");
      return nullptr;
    }
    if (!logging_in_.insert(sid).second) {
      req.fail(ErrorCode::kBadRequest, "a login is already in progress on this connection");
      return nullptr;
    }
    return std::make_shared<LoginGuard>(shared_from_this(), sid);
  }

  void on_login(Request req) {
    std::string key = lower(args::str(req.d(), "username"));
    std::string password = args::str(req.d(), "password");
    Guard guard = begin_login(req);
    if (!guard) return;
    if (int64_t wait = throttled(req, key)) return refuse_throttled(req, wait);
    store_value<std::optional<Account>>(
        [key](StoreContext& ctx, std::optional<Account>* acct) {
          return AccountRepo::find_by_name(ctx, key, acct);
        },
        [this, req = std::move(req), key, password, guard](DbStatus st,
                                                           std::optional<Account> acct) mutable {
          if (!st.ok()) {
            logins_["unavailable"]->inc();
            return storage_failed(req, st);
          }
          // Unknown users are checked against a dummy hash so that both
          // failures cost the same time.
          std::string hash = acct ? acct->pw_hash : dummy_hash_;
          struct Verdict {
            bool ok = false;
            std::string rehash;
          };
          offload(
              crypto_,
              [password, hash, a = auth_] {
                Verdict v;
                bool needs_rehash = false;
                v.ok = verify_password(password, hash, a, &needs_rehash);
                if (v.ok && needs_rehash) {
                  // Never store a hash that does not verify (bad parameters
                  // would lock the player out).
                  Status hs = hash_password_checked(password, a, &v.rehash);
                  if (!hs.ok()) lg().error("rehash skipped: {}", hs.message());
                }
                return v;
              },
              [this, req = std::move(req), key, acct = std::move(acct), guard](Status busy,
                                                                               Verdict v) mutable {
                if (!busy.ok()) return req.fail(busy);
                if (!acct || !v.ok) return bad_credentials(req, key);
                if (refuse_banned(req, *acct)) return;
                account_fail_.clear(key);
                if (!v.rehash.empty()) {
                  int64_t id = acct->id;
                  account_write(
                      id,
                      [id, h = v.rehash](StoreContext& ctx) {
                        return AccountRepo::set_password(ctx, id, h);
                      },
                      [id](DbStatus ws) {
                        if (!ws.ok())
                          lg().warn("rehash of account {} not saved: {}", id, ws.to_string());
                      });
                }
                issue_token(std::move(req), *acct, guard);
              });
        });
  }

  void issue_token(Request req, const Account& acct, Guard guard) {
    std::string token;
    if (Status st = random_token(&token); !st.ok()) {
      lg().error("auth.login: {}", st.message());
      logins_["unavailable"]->inc();
      return req.fail(st);
    }
    std::string token_hash = sha256_hex(token);
    int64_t ttl_ms = int64_t{auth_.token_ttl_s} * 1000;
    uint32_t max_live = auth_.max_tokens_per_account;
    const Clock* clock = &clock_;
    store(
        [id = acct.id, token_hash, ttl_ms, max_live, clock](StoreContext& ctx) {
          int64_t now = clock->now_ms();
          return AccountRepo::add_token(ctx, token_hash, id, now, now + ttl_ms, max_live);
        },
        [this, req = std::move(req), acct, token, token_hash, guard](DbStatus st) mutable {
          if (!st.ok()) {
            logins_["unavailable"]->inc();
            return storage_failed(req, st);
          }
          complete_login(std::move(req), acct, token, token_hash, guard);
        });
  }

  void on_token(Request req) {
    Guard guard = begin_login(req);
    if (!guard) return;
    if (int64_t wait = throttled(req, "")) return refuse_throttled(req, wait);
    std::string token = args::str(req.d(), "token");
    std::string token_hash = sha256_hex(token);
    const Clock* clock = &clock_;
    store_value<std::optional<Account>>(
        [token_hash, clock](StoreContext& ctx, std::optional<Account>* acct) {
          std::optional<int64_t> id;
          DbStatus st = AccountRepo::find_token(ctx, token_hash, clock->now_ms(), &id);
          if (!st.ok() || !id) return st;
          return AccountRepo::find_by_id(ctx, *id, acct);
        },
        [this, req = std::move(req), token, token_hash, guard](
            DbStatus st, std::optional<Account> acct) mutable {
          if (!st.ok()) {
            logins_["unavailable"]->inc();
            return storage_failed(req, st);
          }
          if (!acct || acct->deleted) return bad_credentials(req, "");
          if (refuse_banned(req, *acct)) return;
          complete_login(std::move(req), *acct, token, token_hash, guard);
        });
  }

  // Binds the session to the account (kicking an older session of the same
  // account) and answers the login.
  void complete_login(Request req, const Account& acct, const std::string& token,
                      const std::string& token_hash, Guard guard) {
    uint64_t sid = req.session_id();
    if (auto it = online_.find(acct.id); it != online_.end() && it->second != sid) {
      if (auto s = online_session(acct.id)) {
        lg().info("account {} logged in again: kicking session {}", acct.id, it->second);
        s->post_end(gateway::EndReason::kKicked, "logged_in_elsewhere");
      }
    }
    online_[acct.id] = sid;
    Online& o = sessions_[sid];
    o = Online{acct.id, lower(acct.username), acct.display_name, "",
               "",      token_hash,           req.session_ptr()};
    o.created_ms = acct.created_ms;
    // Listeners hear of the login before the client can act on the answer,
    // so a request right after the login finds the account known everywhere.
    // (If the session ends meanwhile, forget_session announces it offline.)
    o.announced = true;
    publish(Presence::Kind::kOnline, o);
    logins_["ok"]->inc();
    last_login_.mark(std::to_string(acct.id), std::to_string(clock_.now_ms()));
    json reply = {{"account_id", acct.id},
                  {"username", acct.username},
                  {"display_name", acct.display_name},
                  {"token", token},
                  {"zones", zones_json()},
                  {"last_zone", acct.last_zone.empty() ? json() : json(acct.last_zone)}};
    auto session = req.session_ptr();
    asio::post(session->executor(), [self = shared_from_this(), req = std::move(req), session, acct,
                                     reply = std::move(reply), sid, guard]() mutable {
      std::string resume = session->login(acct.id, acct.username);
      if (resume.empty()) {  // the session ended while we were busy
        self->post([impl = self.get(), sid, id = acct.id] {
          impl->forget_session(sid, id, gateway::EndReason::kClosed);
        });
        return req.fail(ErrorCode::kUnavailable, "session closed");
      }
      reply["resume_token"] = resume;
      lg().info("account {} ({}) logged in on session {}", acct.id, acct.username, sid);
      req.ok(reply);
    });
  }

  // Answers `req` on its session's thread, then ends the logged-in part of
  // the session (auth.logout, account.delete).
  void answer_and_log_out(Request req, const char* why) {
    // The account is offline for every listener before the client hears
    // the answer; the session's own end later finds nothing left to do.
    forget_session(req.session_id(), req.account_id(), gateway::EndReason::kLogout);
    auto session = req.session_ptr();
    asio::post(session->executor(), [req = std::move(req), session, why]() mutable {
      req.ok();
      session->end(gateway::EndReason::kLogout, why);
    });
  }

  // ---- auth.logout

  void on_logout(Request req) {
    Online* o = online(req);
    std::string token_hash = o ? o->token_hash : "";
    store(
        [token_hash](StoreContext& ctx) {
          return token_hash.empty() ? DbStatus::Ok() : AccountRepo::revoke_token(ctx, token_hash);
        },
        [this, req = std::move(req)](DbStatus st) mutable {
          if (!st.ok()) return storage_failed(req, st);
          // Free the zone slot before answering (we are on the strand), so a
          // client that saw the logout succeed finds the slot free already;
          // forget_session later finds nothing left to leave.
          if (Online* own = online(req)) leave_zone(*own);
          answer_and_log_out(std::move(req), "logout");
        });
  }

  // ---- account changes that need the password

  // Loads the caller's account, checks `password` on the crypto pool (with
  // the login throttles), then runs `then(std::move(req), account)` on the
  // strand.
  template <class Then>
  void with_verified_password(Request req, const std::string& password, Then then) {
    Online* o = online(req);
    if (!o) return req.fail(ErrorCode::kUnauthorized, "log in first");
    std::string key = o->username_lc;
    if (int64_t wait = throttled(req, key)) return refuse_throttled(req, wait);
    int64_t id = o->account_id;
    store_value<std::optional<Account>>(
        [id](StoreContext& ctx, std::optional<Account>* acct) {
          return AccountRepo::find_by_id(ctx, id, acct);
        },
        [this, req = std::move(req), key, password, then = std::move(then)](
            DbStatus st, std::optional<Account> acct) mutable {
          if (!st.ok()) return storage_failed(req, st);
          if (!acct) return req.fail(kBadCredentials, "wrong password");
          std::string hash = acct->pw_hash;
          offload(
              crypto_,
              [password, hash, a = auth_] {
                bool ignored = false;
                return verify_password(password, hash, a, &ignored);
              },
              [this, req = std::move(req), key, acct = std::move(*acct), then = std::move(then)](
                  Status busy, bool ok) mutable {
                if (!busy.ok()) return req.fail(busy);
                if (!ok) {
                  record_failure(req, key);
                  return req.fail(kBadCredentials, "wrong password");
                }
                account_fail_.clear(key);
                then(std::move(req), acct);
              });
        });
  }

  // auth.change_password {old, new}: the other login tokens of the account
  // are revoked (this session's stays).
  void on_change_password(Request incoming) {
    std::string old_pw = args::str(incoming.d(), "old");
    std::string new_pw = args::str(incoming.d(), "new");
    if (!valid_password(new_pw)) {
      return incoming.fail(kWeakPassword, "password must be 8-128 characters");
    }
    with_verified_password(
        std::move(incoming), old_pw, [this, new_pw](Request req, const Account& a) {
          struct Hashed {
            Status st;
            std::string hash;
          };
          offload(
              crypto_,
              [new_pw, cfg = auth_] {
                Hashed h;
                h.st = hash_password_checked(new_pw, cfg, &h.hash);
                return h;
              },
              [this, req = std::move(req), id = a.id](Status busy, Hashed h) mutable {
                if (!busy.ok()) return req.fail(busy);
                if (!h.st.ok()) {
                  lg().error("auth.change_password: {}", h.st.message());
                  return req.fail(h.st.code() == ErrorCode::kUnavailable
                                      ? h.st
                                      : Status::Internal("internal error"));
                }
                Online* o = online(req);
                std::string keep = o ? o->token_hash : "";
                const Clock* clock = &clock_;
                account_write(
                    id,
                    [id, hash = std::move(h.hash), keep, clock](StoreContext& ctx) {
                      DbStatus st = AccountRepo::set_password(ctx, id, hash);
                      if (st.ok()) st = AccountRepo::revoke_tokens(ctx, id, clock->now_ms(), keep);
                      return st;
                    },
                    [this, req = std::move(req), id](DbStatus st) mutable {
                      if (!st.ok()) return storage_failed(req, st);
                      account_changes_["change_password"]->inc();
                      lg().info("account {} changed its password; other tokens revoked", id);
                      req.ok();
                    });
              });
        });
  }

  // account.delete {password}: anonymized (see AccountRepo::remove); the
  // session is logged out, the connection stays.
  void on_delete(Request incoming) {
    std::string password = args::str(incoming.d(), "password");
    with_verified_password(std::move(incoming), password, [this](Request req, const Account& a) {
      int64_t id = a.id;
      std::string lc = lower(a.username);
      const Clock* clock = &clock_;
      account_write(
          id,
          [id, lc, clock](StoreContext& ctx) {
            return AccountRepo::remove(ctx, id, clock->now_ms(), lc);
          },
          [this, req = std::move(req), id, lc](DbStatus st) mutable {
            if (!st.ok()) return storage_failed(req, st);
            account_changes_["delete"]->inc();
            lg().warn("account {} ({}) deleted by its owner", id, lc);
            if (Online* own = online(req)) leave_zone(*own);
            answer_and_log_out(std::move(req), "account deleted");
          });
    });
  }

  // account.set_display_name {name}
  void on_set_display_name(Request req) {
    Online* o = online(req);
    if (!o) return req.fail(ErrorCode::kUnauthorized, "log in first");
    std::string name = args::str(req.d(), "name");
    std::string key;
    if (Status st = check_display_name(name, auth_.name_blocklist, &key); !st.ok()) {
      return req.fail(st);
    }
    int64_t id = o->account_id;
    store_value<std::optional<Account>>(
        [id](StoreContext& ctx, std::optional<Account>* acct) {
          return AccountRepo::find_by_id(ctx, id, acct);
        },
        [this, req = std::move(req), id, name, key](DbStatus st,
                                                    std::optional<Account> acct) mutable {
          if (!st.ok()) return storage_failed(req, st);
          if (!acct) return req.fail(ErrorCode::kUnauthorized, "log in first");
          int64_t cooldown = int64_t{auth_.display_name_cooldown_s} * 1000;
          int64_t since = clock_.now_ms() - acct->display_name_changed_ms;
          if (acct->display_name_changed_ms != 0 && since < cooldown) {
            json extra = {{"retry_after_ms", cooldown - since}};
            return req.fail(ErrorCode::kRateLimited, "the display name was changed recently",
                            &extra);
          }
          const Clock* clock = &clock_;
          account_write(
              id,
              [id, name, key, clock](StoreContext& ctx) {
                return AccountRepo::set_display_name(ctx, id, name, key, clock->now_ms());
              },
              [this, req = std::move(req), id, name](DbStatus ws) mutable {
                if (ws.err() == DbErr::kDuplicate) {
                  return req.fail(kNameTaken, "display name '" + utf8::quote(name) + "' is taken");
                }
                if (!ws.ok()) return storage_failed(req, ws);
                account_changes_["set_display_name"]->inc();
                if (auto on = online_.find(id); on != online_.end()) {
                  if (auto it = sessions_.find(on->second); it != sessions_.end()) {
                    it->second.name = name;
                    if (it->second.announced) publish(Presence::Kind::kName, it->second);
                  }
                }
                lg().info("account {} is now shown as '{}'", id, utf8::quote(name));
                req.ok({{"display_name", name}});
              });
        });
  }

  // ---- zones

  void on_zone_list(Request req) { req.ok({{"zones", zones_json()}}); }

  // The player's zone changes only once last_zone is durable: the slot is
  // reserved (it counts against the capacity), the write runs, and then the
  // player moves, or the reservation is released and the answer is
  // UNAVAILABLE. A select never reports success for a write that was lost.
  void on_zone_select(Request req) {
    Online* o = online(req);
    if (!o) return req.fail(ErrorCode::kUnauthorized, "log in first");
    const std::string& wanted = args::str(req.d(), "zone");
    Zone* z = find_zone(wanted);
    if (!z) return req.fail(ErrorCode::kNotFound, "no zone '" + utf8::quote(wanted) + "'");
    if (o->zone == z->config.id) {
      return req.ok({{"zone", z->config.id}, {"population", z->population}});
    }
    if (!o->pending_zone.empty()) {
      return req.fail(ErrorCode::kBadRequest, "a zone change is already in progress");
    }
    if (z->removed) {
      return req.fail(ErrorCode::kNotFound, "zone '" + z->config.id + "' is closed");
    }
    if (z->config.maintenance) {
      return req.fail(kMaintenance, "zone '" + z->config.id + "' is in maintenance");
    }
    if (z->population >= z->config.capacity) {
      json extra = {{"capacity", z->config.capacity}};
      return req.fail(ErrorCode::kFull, "zone '" + z->config.id + "' is full", &extra);
    }
    std::string zone = z->config.id;
    o->pending_zone = zone;
    add_population(zone, +1);
    zones_changed();
    int64_t id = o->account_id;
    uint64_t sid = req.session_id();
    account_write(
        id, [id, zone](StoreContext& ctx) { return AccountRepo::set_last_zone(ctx, id, zone); },
        [this, req = std::move(req), sid, zone](DbStatus st) mutable {
          auto it = sessions_.find(sid);
          bool mine = it != sessions_.end() && it->second.pending_zone == zone;
          if (!st.ok()) {
            if (mine) {
              it->second.pending_zone.clear();
              add_population(zone, -1);
              zones_changed();
            }
            lg().warn("zone.select {} for account {} refused: last_zone not saved: {}", zone,
                      req.account_id(), st.to_string());
            return storage_failed(req, st);
          }
          if (!mine) {
            return req.fail(ErrorCode::kUnauthorized, "log in first");  // logged out meanwhile
          }
          Online& who = it->second;
          who.pending_zone.clear();
          if (!who.zone.empty()) add_population(who.zone, -1);
          who.zone = zone;
          if (who.announced) publish(Presence::Kind::kZone, who);
          Zone* now = find_zone(zone);
          zones_changed();
          req.ok({{"zone", zone}, {"population", now ? now->population : 0}});
        });
  }

  // ---- admin

  void add_admin_routes(admin::Routes& admin) {
    auto self = shared_from_this();
    const int64_t kMaxMs = int64_t{253402300799000};  // 9999-12-31
    admin.add_route("POST", "/admin/accounts/ban",
                    {args::optional(args::integer("account_id", 1, INT64_MAX)),
                     args::optional(args::str("username", 1, 64)),
                     args::optional(args::integer("duration_s", 1, int64_t{100} * 365 * 86400)),
                     args::optional(args::integer("until_ms", 1, kMaxMs)),
                     args::optional(args::str("reason", 0, 255))},
                    [self](const json& body, admin::Respond respond) {
                      self->post([impl = self.get(), body, respond = std::move(respond)] {
                        impl->admin_ban(body, respond, true);
                      });
                    });
    admin.add_route("POST", "/admin/accounts/unban",
                    {args::optional(args::integer("account_id", 1, INT64_MAX)),
                     args::optional(args::str("username", 1, 64))},
                    [self](const json& body, admin::Respond respond) {
                      self->post([impl = self.get(), body, respond = std::move(respond)] {
                        impl->admin_ban(body, respond, false);
                      });
                    });
    admin.add_route("GET", "/admin/accounts/bans",
                    {args::optional(args::integer("after_id", 0, INT64_MAX)),
                     args::optional(args::integer("limit", 1, 1000))},
                    [self](const json& q, admin::Respond respond) {
                      self->post([impl = self.get(), q, respond = std::move(respond)] {
                        impl->admin_list_bans(q, respond);
                      });
                    });
  }

  void admin_ban(const json& body, const admin::Respond& respond, bool ban) {
    int64_t id = args::int_or(body, "account_id", 0);
    std::string username = args::str_or(body, "username", "");
    if ((id == 0) == username.empty()) {
      return respond(400, {{"error", "give one of account_id or username"}});
    }
    int64_t until = 0;
    std::string reason = args::str_or(body, "reason", "");
    int64_t now = clock_.now_ms();
    if (ban) {
      bool has_until = args::has(body, "until_ms");
      bool has_duration = args::has(body, "duration_s");
      if (has_until == has_duration) {
        return respond(400, {{"error", "give one of duration_s or until_ms"}});
      }
      until = has_until ? args::int_of(body, "until_ms")
                        : now + args::int_of(body, "duration_s") * 1000;
      if (until <= now) return respond(400, {{"error", "until_ms is in the past"}});
    }
    auto run = [this, until, reason, ban, respond](int64_t account) {
      auto found = std::make_shared<bool>(false);
      account_write(
          account,
          [account, until, reason, found](StoreContext& ctx) {
            return AccountRepo::set_ban(ctx, account, until, reason, found.get());
          },
          [this, respond, account, until, reason, ban, found](DbStatus st) {
            if (!st.ok()) return respond(503, {{"error", "storage unavailable, retry later"}});
            if (!*found) return respond(404, {{"error", "no such account"}});
            bool kicked = false;
            if (ban) {
              if (auto s = online_session(account)) {
                s->post_end(gateway::EndReason::kBanned, "banned");
                kicked = true;
              }
              lg().warn("account {} banned until {} ({})", account, until, reason);
            } else {
              lg().info("account {} unbanned", account);
            }
            respond(200, {{"account_id", account}, {"banned_until_ms", until}, {"kicked", kicked}});
          });
    };
    if (id != 0) return run(id);
    // By name: find the id first (cached), then the serialized write.
    std::string lc = lower(username);
    store_value<std::optional<Account>>(
        [lc](StoreContext& ctx, std::optional<Account>* acct) {
          return AccountRepo::find_by_name(ctx, lc, acct);
        },
        [run, respond](DbStatus st, std::optional<Account> acct) {
          if (!st.ok()) return respond(503, {{"error", "storage unavailable, retry later"}});
          if (!acct) return respond(404, {{"error", "no such account"}});
          run(acct->id);
        });
  }

  // GET /admin/accounts/bans?after_id=&limit=: accounts banned now, by id.
  void admin_list_bans(const json& q, const admin::Respond& respond) {
    int64_t after = args::int_or(q, "after_id", 0);
    int64_t limit = args::int_or(q, "limit", 100);
    int64_t now = clock_.now_ms();
    store_value<std::vector<Account>>(
        [after, limit, now](StoreContext& ctx, std::vector<Account>* list) {
          return AccountRepo::list_bans(ctx, now, after, limit, list);
        },
        [respond, limit](DbStatus st, std::vector<Account> list) {
          if (!st.ok()) return respond(503, {{"error", "storage unavailable, retry later"}});
          json bans = json::array();
          for (const auto& a : list) {
            bans.push_back({{"account_id", a.id},
                            {"username", a.username},
                            {"banned_until_ms", a.banned_until_ms},
                            {"reason", a.ban_reason}});
          }
          json next = static_cast<int64_t>(list.size()) == limit && !list.empty()
                          ? json(list.back().id)
                          : json();
          respond(200, {{"bans", std::move(bans)}, {"next_after_id", next}});
        });
  }

  AuthConfig auth_;  // strand
  std::string dummy_hash_;
  const Clock& clock_;
  services::BlockingPool crypto_;
  asio::steady_timer zone_timer_;
  bool zone_update_armed_ = false;
  const gateway::PushOp* zone_update_ = nullptr;
  metrics::Counter* zone_updates_ = nullptr;
  metrics::Counter& registrations_ok_;
  metrics::Counter& registrations_failed_;
  store::WriteBehind& last_login_;
  std::unordered_map<std::string, metrics::Counter*> logins_;           // fixed after construction
  std::unordered_map<std::string, metrics::Counter*> account_changes_;  // fixed after construction

  // Strand state:
  std::vector<Zone> zones_;
  std::unordered_map<int64_t, uint64_t> online_;   // account -> session id
  std::unordered_map<uint64_t, Online> sessions_;  // session id -> who and where
  std::unordered_set<uint64_t> logging_in_;        // sessions with a login in progress
  std::vector<std::shared_ptr<PresenceListener>> presence_listeners_;  // fixed before serving
  std::unordered_map<int64_t, std::deque<std::pair<StoreWork, StoreDone>>> writes_;
  Throttle account_fail_;
  Throttle ip_fail_;
  Throttle register_ip_;

  mutable std::mutex snapshot_mu_;
  json zones_snapshot_ = json::array();  // guarded by snapshot_mu_
};

services::ServiceDef service_def() {
  return services::ServiceDef{"account",
                              {&auth_section(), &zones_section()},
                              migrations(),
                              {kUsernameTaken, kInvalidUsername, kWeakPassword, kBadCredentials,
                               kBanned, kNameTaken, kInvalidName, kMaintenance},
                              &services::ActorService<Impl>::create};
}

}  // namespace shardd::account
