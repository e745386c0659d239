#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <cctype>
#include <unordered_map>

#include "services/account/account_repo.h"
#include "services/account/password.h"
#include "shardd/core/crypto.h"
#include "shardd/core/log.h"
#include "shardd/services/account.h"

namespace shardd::account {

namespace asio = boost::asio;
using json = nlohmann::json;
using gateway::Request;
using RequestPtr = std::shared_ptr<Request>;
using store::DbErr;
using store::DbStatus;
using store::StoreContext;

namespace {

spdlog::logger& lg() {
  static spdlog::logger& l = log::get("account");
  return l;
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool valid_username(const std::string& u) {
  if (u.size() < 3 || u.size() > 24) return false;
  return std::all_of(u.begin(), u.end(),
                     [](unsigned char c) { return std::isalnum(c) || c == '_'; });
}

// Counts events per key in fixed one-minute windows (login failures per
// account name and per IP, registrations per IP). Bounded: at most kMaxKeys
// keys; expired windows are swept by prune().
class Throttle {
 public:
  static constexpr size_t kMaxKeys = 100000;
  using Clock = std::chrono::steady_clock;

  // Milliseconds until `key` may try again, 0 if it may now.
  int64_t blocked_ms(const std::string& key, uint32_t limit, Clock::time_point now) const {
    auto it = map_.find(key);
    if (it == map_.end() || now - it->second.start >= kWindow || it->second.count < limit) return 0;
    return std::chrono::duration_cast<std::chrono::milliseconds>(it->second.start + kWindow - now)
               .count() +
           1;
  }
  void add(const std::string& key, Clock::time_point now) {
    auto it = map_.find(key);
    if (it == map_.end()) {
      if (map_.size() >= kMaxKeys) prune(now);
      if (map_.size() >= kMaxKeys) return;  // full of live windows: stop counting new keys
      map_.emplace(key, Window{now, 1});
      return;
    }
    if (now - it->second.start >= kWindow) it->second = Window{now, 0};
    ++it->second.count;
  }
  void clear(const std::string& key) { map_.erase(key); }
  void prune(Clock::time_point now) {
    std::erase_if(map_, [now](const auto& kv) { return now - kv.second.start >= kWindow; });
  }

 private:
  static constexpr auto kWindow = std::chrono::minutes(1);
  struct Window {
    Clock::time_point start;
    uint32_t count;
  };
  std::unordered_map<std::string, Window> map_;
};

}  // namespace

class AccountService::Impl : public gateway::SessionListener,
                             public std::enable_shared_from_this<AccountService::Impl> {
 public:
  using Strand = asio::strand<asio::thread_pool::executor_type>;

  Impl(const Config& config, gateway::Gateway& gw, store::Store& store, asio::thread_pool& logic,
       metrics::Registry& m)
      : auth_(config.auth),
        gateway_(gw),
        store_(store),
        strand_(asio::make_strand(logic)),
        crypto_(config.auth.crypto_threads),
        registrations_ok_(
            m.counter("shardd_registrations_total", "auth.register outcomes.", {{"result", "ok"}})),
        registrations_failed_(m.counter("shardd_registrations_total", "auth.register outcomes.",
                                        {{"result", "refused"}})),
        crypto_pending_(m.gauge("shardd_crypto_pending", "Password hashes queued or running.")) {
    for (const auto& z : config.effective_zones()) {
      zones_.push_back(Zone{
          z, 0, &m.gauge("shardd_zone_population", "Players in each zone.", {{"zone", z.id}})});
    }
    for (const char* r : {"ok", "bad_credentials", "banned", "rate_limited", "unavailable"}) {
      logins_[r] = &m.counter("shardd_logins_total",
                              "Login attempts (password and token), by result.", {{"result", r}});
    }
  }

  Status install(admin::AdminServer* admin) {
    dummy_hash_ = hash_password("not-a-real-password-used-for-timing", auth_);
    notice_ = &gateway_.push_op("sys.notice");
    gateway_.add_listener(shared_from_this());
    gateway::RouteOptions open;
    open.requires_auth = false;
    open.executor = strand_;
    gateway::RouteOptions authed;
    authed.executor = strand_;
    auto self = shared_from_this();
    struct R {
      const char* op;
      const gateway::RouteOptions& opts;
      void (Impl::*fn)(RequestPtr);
    };
    const R routes[] = {{"auth.register", open, &Impl::on_register},
                        {"auth.login", open, &Impl::on_login},
                        {"auth.token", open, &Impl::on_token},
                        {"auth.logout", authed, &Impl::on_logout},
                        {"zone.list", authed, &Impl::on_zone_list},
                        {"zone.select", authed, &Impl::on_zone_select}};
    for (const auto& r : routes) {
      auto fn = r.fn;
      Status st = gateway_.router().add(r.op, r.opts, [self, fn](Request&& req) {
        ((*self).*fn)(std::make_shared<Request>(std::move(req)));
      });
      if (!st.ok()) return st;
    }
    if (admin) {
      admin->add_route("POST", "/admin/accounts/ban",
                       [self](const json& body, admin::AdminServer::Respond respond) {
                         self->admin_ban(body, std::move(respond), true);
                       });
      admin->add_route("POST", "/admin/accounts/unban",
                       [self](const json& body, admin::AdminServer::Respond respond) {
                         self->admin_ban(body, std::move(respond), false);
                       });
      admin->add_route("POST", "/admin/announce",
                       [self](const json& body, admin::AdminServer::Respond respond) {
                         self->admin_announce(body, std::move(respond));
                       });
    }
    return Status::Ok();
  }

  void reload(const Config& c) {
    AuthConfig a = c.auth;
    std::string dummy = hash_password("not-a-real-password-used-for-timing", a);
    asio::post(strand_, [self = shared_from_this(), a, dummy] {
      self->auth_ = a;
      self->dummy_hash_ = dummy;
    });
  }

  json zones_status() const {
    std::lock_guard lock(snapshot_mu_);
    return zones_snapshot_;
  }

  void stop() { crypto_.join(); }

  // gateway::SessionListener (session's thread)
  void on_session_ended(const std::shared_ptr<gateway::Session>& session,
                        gateway::EndReason reason) override {
    asio::post(strand_,
               [self = shared_from_this(), sid = session->id(), account = session->account_id(),
                reason] { self->forget_session(sid, account, reason); });
  }

 private:
  struct Zone {
    ZoneConfig config;
    uint32_t population;
    metrics::Gauge* gauge;
  };
  struct Online {
    int64_t account_id;
    std::string zone;
    std::string token_hash;
    std::weak_ptr<gateway::Session> session;
  };

  // ---- helpers (strand)

  Zone* find_zone(const std::string& id) {
    for (auto& z : zones_) {
      if (z.config.id == id) return &z;
    }
    return nullptr;
  }

  json zones_json() {
    json arr = json::array();
    for (const auto& z : zones_) {
      std::string status = z.config.maintenance                ? "maintenance"
                           : z.population >= z.config.capacity ? "full"
                                                               : "open";
      arr.push_back({{"id", z.config.id},
                     {"name", z.config.name},
                     {"map", z.config.map},
                     {"population", z.population},
                     {"capacity", z.config.capacity},
                     {"status", status}});
    }
    std::lock_guard lock(snapshot_mu_);
    zones_snapshot_ = arr;
    return arr;
  }

  void leave_zone(Online& o) {
    if (o.zone.empty()) return;
    if (Zone* z = find_zone(o.zone)) {
      if (z->population > 0) --z->population;
      z->gauge->set(z->population);
    }
    o.zone.clear();
    zones_json();
  }

  void forget_session(uint64_t sid, int64_t account, gateway::EndReason reason) {
    auto it = sessions_.find(sid);
    if (it == sessions_.end()) return;
    leave_zone(it->second);
    auto on = online_.find(account);
    if (on != online_.end() && on->second == sid) online_.erase(on);
    lg().debug("account {} session {} ended ({})", account, sid, gateway::end_reason_name(reason));
    sessions_.erase(it);
  }

  // Runs `fn` on the crypto pool (bounded) and its result back on the strand.
  template <class Fn, class Then>
  bool crypto(Fn fn, Then then) {
    if (crypto_pending_.value() >= kMaxCryptoPending) return false;
    crypto_pending_.add(1);
    asio::post(
        crypto_, [self = shared_from_this(), fn = std::move(fn), then = std::move(then)]() mutable {
          auto result = fn();
          self->crypto_pending_.add(-1);
          asio::post(self->strand_, [then = std::move(then), result = std::move(result)]() mutable {
            then(std::move(result));
          });
        });
    return true;
  }

  void fail_busy(const RequestPtr& req) {
    req->fail(ErrorCode::kUnavailable, "server busy, retry shortly");
  }

  // ---- auth.register

  void on_register(RequestPtr req) {
    const json& d = req->d();
    auto u = d.find("username");
    auto p = d.find("password");
    if (u == d.end() || !u->is_string() || p == d.end() || !p->is_string()) {
      return req->fail(ErrorCode::kBadRequest, "username and password (strings) required");
    }
    std::string username = u->get<std::string>();
    std::string password = p->get<std::string>();
    if (!valid_username(username)) {
      registrations_failed_.inc();
      return req->fail(ErrorCode::kInvalidUsername,
                       "username must be 3-24 characters of letters, digits and _");
    }
    if (password.size() < 8 || password.size() > 128) {
      registrations_failed_.inc();
      return req->fail(ErrorCode::kWeakPassword, "password must be 8-128 characters");
    }
    auto now = Throttle::Clock::now();
    if (int64_t wait =
            register_ip_.blocked_ms(req->remote_ip(), auth_.register_per_ip_per_min, now)) {
      json extra = {{"retry_after_ms", wait}};
      return req->fail(ErrorCode::kRateLimited, "too many registrations from this address", &extra);
    }
    register_ip_.add(req->remote_ip(), now);
    AuthConfig a = auth_;
    bool queued = crypto([password, a] { return hash_password(password, a); },
                         [self = shared_from_this(), req, username](std::string hash) {
                           self->create_account(req, username, std::move(hash));
                         });
    if (!queued) fail_busy(req);
  }

  void create_account(const RequestPtr& req, const std::string& username, std::string hash) {
    store_.run<int64_t>(
        strand_,
        [username, hash = std::move(hash)](StoreContext& ctx, int64_t* id) {
          return AccountRepo::create(ctx, username, hash, now_ms(), id);
        },
        [self = shared_from_this(), req, username](DbStatus st, int64_t id) {
          if (st.err() == DbErr::kDuplicate) {
            self->registrations_failed_.inc();
            return req->fail(ErrorCode::kUsernameTaken, "username '" + username + "' is taken");
          }
          if (!st.ok()) return self->storage_failed(req, st);
          self->registrations_ok_.inc();
          lg().info("account {} registered: {}", id, username);
          req->ok({{"account_id", id}, {"username", username}});
        });
  }

  void storage_failed(const RequestPtr& req, const DbStatus& st) {
    if (st.err() != DbErr::kUnavailable && st.err() != DbErr::kRetry) {
      lg().error("storage error in {}: {}", req->op(), st.to_string());
    }
    Status s = st.to_status();
    req->fail(s.code(), s.message());
  }

  // ---- auth.login / auth.token

  int64_t throttled(const RequestPtr& req, const std::string& account_key) {
    auto now = Throttle::Clock::now();
    int64_t wait = ip_fail_.blocked_ms(req->remote_ip(), auth_.ip_attempts_per_min, now);
    if (!account_key.empty()) {
      wait = std::max(wait,
                      account_fail_.blocked_ms(account_key, auth_.account_attempts_per_min, now));
    }
    return wait;
  }

  void record_failure(const RequestPtr& req, const std::string& account_key) {
    auto now = Throttle::Clock::now();
    ip_fail_.add(req->remote_ip(), now);
    if (!account_key.empty()) account_fail_.add(account_key, now);
  }

  void refuse_throttled(const RequestPtr& req, int64_t wait) {
    logins_["rate_limited"]->inc();
    json extra = {{"retry_after_ms", wait}};
    req->fail(ErrorCode::kRateLimited, "too many failed logins; wait before trying again", &extra);
  }

  void bad_credentials(const RequestPtr& req, const std::string& account_key) {
    record_failure(req, account_key);
    logins_["bad_credentials"]->inc();
    req->fail(ErrorCode::kBadCredentials, "wrong username or password");
  }

  bool refuse_banned(const RequestPtr& req, const Account& a) {
    if (a.banned_until_ms <= now_ms()) return false;
    logins_["banned"]->inc();
    json extra = {{"until_ms", a.banned_until_ms}, {"reason", a.ban_reason}};
    req->fail(ErrorCode::kBanned, "account banned", &extra);
    return true;
  }

  void on_login(RequestPtr req) {
    const json& d = req->d();
    auto u = d.find("username");
    auto p = d.find("password");
    if (u == d.end() || !u->is_string() || p == d.end() || !p->is_string() ||
        u->get_ref<const std::string&>().size() > 64 ||
        p->get_ref<const std::string&>().size() > 1024) {
      return req->fail(ErrorCode::kBadRequest, "username and password (strings) required");
    }
    if (req->account_id() != 0) return req->fail(ErrorCode::kBadRequest, "already logged in");
    std::string key = lower(u->get<std::string>());
    std::string password = p->get<std::string>();
    if (int64_t wait = throttled(req, key)) return refuse_throttled(req, wait);
    store_.run<std::optional<Account>>(
        strand_,
        [key](StoreContext& ctx, std::optional<Account>* out) {
          return AccountRepo::find_by_name(ctx, key, out);
        },
        [self = shared_from_this(), req, key, password](DbStatus st, std::optional<Account> acct) {
          if (!st.ok()) {
            self->logins_["unavailable"]->inc();
            return self->storage_failed(req, st);
          }
          // Unknown users are checked against a dummy hash so that both
          // failures cost the same time.
          std::string hash = acct ? acct->pw_hash : self->dummy_hash_;
          AuthConfig a = self->auth_;
          struct Verdict {
            bool ok = false;
            std::string rehash;
          };
          bool queued = self->crypto(
              [password, hash, a] {
                Verdict v;
                bool needs_rehash = false;
                v.ok = verify_password(password, hash, a, &needs_rehash);
                if (v.ok && needs_rehash) v.rehash = hash_password(password, a);
                return v;
              },
              [self, req, key, acct](Verdict v) {
                if (!acct || !v.ok) return self->bad_credentials(req, key);
                if (self->refuse_banned(req, *acct)) return;
                self->account_fail_.clear(key);
                self->issue_token(req, *acct, v.rehash);
              });
          if (!queued) self->fail_busy(req);
        });
  }

  void issue_token(const RequestPtr& req, const Account& acct, const std::string& rehash) {
    std::string token = random_token();
    std::string token_hash = sha256_hex(token);
    int64_t ttl_ms = int64_t{auth_.token_ttl_s} * 1000;
    store_.run<int>(
        strand_,
        [id = acct.id, token_hash, ttl_ms, rehash](StoreContext& ctx, int*) {
          int64_t now = now_ms();
          DbStatus st = AccountRepo::add_token(ctx, token_hash, id, now, now + ttl_ms);
          if (st.ok())
            st = AccountRepo::record_login(ctx, id, now, rehash.empty() ? nullptr : &rehash);
          return st;
        },
        [self = shared_from_this(), req, acct, token, token_hash](DbStatus st, int) {
          if (!st.ok()) {
            self->logins_["unavailable"]->inc();
            return self->storage_failed(req, st);
          }
          self->complete_login(req, acct, token, token_hash);
        });
  }

  void on_token(RequestPtr req) {
    const json& d = req->d();
    auto t = d.find("token");
    if (t == d.end() || !t->is_string() || t->get_ref<const std::string&>().empty() ||
        t->get_ref<const std::string&>().size() > 128) {
      return req->fail(ErrorCode::kBadRequest, "token (string) required");
    }
    if (req->account_id() != 0) return req->fail(ErrorCode::kBadRequest, "already logged in");
    if (int64_t wait = throttled(req, "")) return refuse_throttled(req, wait);
    std::string token = t->get<std::string>();
    std::string token_hash = sha256_hex(token);
    store_.run<std::optional<Account>>(
        strand_,
        [token_hash](StoreContext& ctx, std::optional<Account>* out) {
          std::optional<int64_t> id;
          DbStatus st = AccountRepo::find_token(ctx, token_hash, now_ms(), &id);
          if (!st.ok() || !id) return st;
          st = AccountRepo::find_by_id(ctx, *id, out);
          if (st.ok() && *out) st = AccountRepo::record_login(ctx, *id, now_ms(), nullptr);
          return st;
        },
        [self = shared_from_this(), req, token, token_hash](DbStatus st,
                                                            std::optional<Account> acct) {
          if (!st.ok()) {
            self->logins_["unavailable"]->inc();
            return self->storage_failed(req, st);
          }
          if (!acct) return self->bad_credentials(req, "");
          if (self->refuse_banned(req, *acct)) return;
          self->complete_login(req, *acct, token, token_hash);
        });
  }

  // Binds the session to the account (kicking an older session of the same
  // account) and answers the login.
  void complete_login(const RequestPtr& req, const Account& acct, const std::string& token,
                      const std::string& token_hash) {
    uint64_t sid = req->session_id();
    if (auto it = online_.find(acct.id); it != online_.end() && it->second != sid) {
      if (auto old = sessions_.find(it->second); old != sessions_.end()) {
        if (auto s = old->second.session.lock()) {
          lg().info("account {} logged in again: kicking session {}", acct.id, it->second);
          s->post_end(gateway::EndReason::kKicked, "logged_in_elsewhere");
        }
      }
    }
    online_[acct.id] = sid;
    sessions_[sid] = Online{acct.id, "", token_hash, req->session_ptr()};
    logins_["ok"]->inc();
    json reply = {{"account_id", acct.id},
                  {"username", acct.username},
                  {"token", token},
                  {"zones", zones_json()},
                  {"last_zone", acct.last_zone.empty() ? json() : json(acct.last_zone)}};
    auto session = req->session_ptr();
    asio::post(session->executor(), [self = shared_from_this(), req, session, acct,
                                     reply = std::move(reply), sid]() mutable {
      std::string resume = session->login(acct.id, acct.username);
      if (resume.empty()) {  // the session ended while we were busy
        asio::post(self->strand_, [self, sid, id = acct.id] {
          self->forget_session(sid, id, gateway::EndReason::kClosed);
        });
        return req->fail(ErrorCode::kUnavailable, "session closed");
      }
      reply["resume_token"] = resume;
      lg().info("account {} ({}) logged in on session {}", acct.id, acct.username, sid);
      req->ok(reply);
    });
  }

  // ---- auth.logout

  void on_logout(RequestPtr req) {
    auto it = sessions_.find(req->session_id());
    std::string token_hash = it == sessions_.end() ? "" : it->second.token_hash;
    store_.run<int>(
        strand_,
        [token_hash](StoreContext& ctx, int*) {
          return token_hash.empty() ? DbStatus::Ok() : AccountRepo::revoke_token(ctx, token_hash);
        },
        [self = shared_from_this(), req](DbStatus st, int) {
          if (!st.ok()) {
            Status s = st.to_status();
            return req->fail(s.code(), s.message());
          }
          // Free the zone slot before answering (we are on the strand), so a
          // client that saw the logout succeed finds the slot free already;
          // forget_session later finds nothing left to leave.
          if (auto own = self->sessions_.find(req->session_id()); own != self->sessions_.end()) {
            self->leave_zone(own->second);
          }
          auto session = req->session_ptr();
          asio::post(session->executor(), [req, session] {
            req->ok();
            session->end(gateway::EndReason::kLogout, "logout");
          });
        });
  }

  // ---- zones

  void on_zone_list(RequestPtr req) { req->ok({{"zones", zones_json()}}); }

  void on_zone_select(RequestPtr req) {
    const json& d = req->d();
    auto zid = d.find("zone");
    if (zid == d.end() || !zid->is_string()) {
      return req->fail(ErrorCode::kBadRequest, "zone (string) required");
    }
    auto it = sessions_.find(req->session_id());
    if (it == sessions_.end()) return req->fail(ErrorCode::kUnauthorized, "log in first");
    Online& o = it->second;
    Zone* z = find_zone(zid->get<std::string>());
    if (!z) return req->fail(ErrorCode::kNotFound, "no zone '" + zid->get<std::string>() + "'");
    if (o.zone != z->config.id) {
      if (z->config.maintenance) {
        return req->fail(ErrorCode::kMaintenance, "zone '" + z->config.id + "' is in maintenance");
      }
      if (z->population >= z->config.capacity) {
        json extra = {{"capacity", z->config.capacity}};
        return req->fail(ErrorCode::kFull, "zone '" + z->config.id + "' is full", &extra);
      }
      leave_zone(o);
      o.zone = z->config.id;
      ++z->population;
      z->gauge->set(z->population);
      zones_json();
      store_.run<int>(
          strand_,
          [id = o.account_id, zone = o.zone](StoreContext& ctx, int*) {
            return AccountRepo::set_last_zone(ctx, id, zone);
          },
          [id = o.account_id](DbStatus st, int) {
            if (!st.ok()) lg().warn("last_zone of account {} not saved: {}", id, st.to_string());
          });
    }
    req->ok({{"zone", z->config.id}, {"population", z->population}});
  }

  // ---- admin

  // POST /admin/announce {text, account_id?}: sys.notice {text, from} to one
  // logged-in player or to every session.
  void admin_announce(const json& body, admin::AdminServer::Respond respond) {
    auto text = body.find("text");
    if (text == body.end() || !text->is_string() || text->get_ref<const std::string&>().empty() ||
        text->get_ref<const std::string&>().size() > 4096) {
      return respond(400, {{"error", "text (1-4096 characters) required"}});
    }
    json d = {{"text", *text}, {"from", "server"}};
    int64_t account = body.value("account_id", int64_t{0});
    if (account == 0) {
      size_t n = gateway_.broadcast(*notice_, d, false);
      return respond(200, {{"sent", n}});
    }
    asio::post(strand_, [self = shared_from_this(), account, d, respond] {
      auto it = self->online_.find(account);
      std::shared_ptr<gateway::Session> s;
      if (it != self->online_.end()) s = self->sessions_[it->second].session.lock();
      if (!s) return respond(404, {{"error", "account not online"}});
      s->post_push(*self->notice_, d);
      respond(200, {{"sent", 1}, {"session", s->id()}});
    });
  }

  void admin_ban(const json& body, admin::AdminServer::Respond respond, bool ban) {
    asio::post(strand_, [self = shared_from_this(), body, respond = std::move(respond), ban] {
      self->do_admin_ban(body, respond, ban);
    });
  }

  void do_admin_ban(const json& body, const admin::AdminServer::Respond& respond, bool ban) {
    int64_t id = body.value("account_id", int64_t{0});
    std::string username = body.value("username", "");
    int64_t until = 0;
    std::string reason = body.value("reason", "");
    if (ban) {
      if (body.contains("until_ms")) {
        until = body.value("until_ms", int64_t{0});
      } else if (body.contains("duration_s")) {
        until = now_ms() + body.value("duration_s", int64_t{0}) * 1000;
      }
      if (until <= now_ms()) {
        return respond(400, {{"error", "until_ms (future) or duration_s (> 0) required"}});
      }
    }
    if (id == 0 && username.empty()) {
      return respond(400, {{"error", "account_id or username required"}});
    }
    struct Result {
      bool found = false;
      int64_t id = 0;
    };
    store_.run<Result>(
        strand_,
        [id, username, until, reason](StoreContext& ctx, Result* r) {
          r->id = id;
          if (r->id == 0) {
            std::optional<Account> a;
            DbStatus st = AccountRepo::find_by_name(ctx, lower(username), &a);
            if (!st.ok() || !a) return st;
            r->id = a->id;
          }
          return AccountRepo::set_ban(ctx, r->id, until, reason, &r->found);
        },
        [self = shared_from_this(), respond, until, reason, ban](DbStatus st, Result r) {
          if (!st.ok()) return respond(503, {{"error", st.to_string()}});
          if (!r.found) return respond(404, {{"error", "no such account"}});
          bool kicked = false;
          if (ban) {
            if (auto it = self->online_.find(r.id); it != self->online_.end()) {
              if (auto s = self->sessions_[it->second].session.lock()) {
                s->post_end(gateway::EndReason::kBanned, "banned");
                kicked = true;
              }
            }
            lg().warn("account {} banned until {} ({})", r.id, until, reason);
          } else {
            lg().info("account {} unbanned", r.id);
          }
          respond(200, {{"account_id", r.id}, {"banned_until_ms", until}, {"kicked", kicked}});
        });
  }

  static constexpr int64_t kMaxCryptoPending = 256;

  AuthConfig auth_;  // strand
  std::string dummy_hash_;
  gateway::Gateway& gateway_;
  store::Store& store_;
  Strand strand_;
  asio::thread_pool crypto_;
  const gateway::PushOp* notice_ = nullptr;
  metrics::Counter& registrations_ok_;
  metrics::Counter& registrations_failed_;
  metrics::Gauge& crypto_pending_;
  std::unordered_map<std::string, metrics::Counter*> logins_;  // fixed after construction

  // Strand state:
  std::vector<Zone> zones_;
  std::unordered_map<int64_t, uint64_t> online_;   // account -> session id
  std::unordered_map<uint64_t, Online> sessions_;  // session id -> who and where
  Throttle account_fail_;
  Throttle ip_fail_;
  Throttle register_ip_;

  mutable std::mutex snapshot_mu_;
  json zones_snapshot_ = json::array();  // guarded by snapshot_mu_
};

AccountService::AccountService(const Config& config, gateway::Gateway& gateway, store::Store& store,
                               asio::thread_pool& logic, metrics::Registry& metrics)
    : impl_(std::make_shared<Impl>(config, gateway, store, logic, metrics)) {}
AccountService::~AccountService() = default;
Status AccountService::install(admin::AdminServer* admin) {
  return impl_->install(admin);
}
void AccountService::reload(const Config& config) {
  impl_->reload(config);
}
nlohmann::json AccountService::zones_status() const {
  return impl_->zones_status();
}
void AccountService::stop() {
  impl_->stop();
}

}  // namespace shardd::account
