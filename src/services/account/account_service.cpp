#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <deque>
#include <unordered_map>
#include <unordered_set>

#include "services/account/account_repo.h"
#include "services/account/names.h"
#include "services/account/password.h"
#include "shardd/core/crypto.h"
#include "shardd/core/log.h"
#include "shardd/core/utf8.h"
#include "shardd/core/worker_pool.h"
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
  for (char& ch : s) {
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
  }
  return s;
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

constexpr const char* kDummyPassword = "not-a-real-password-used-for-timing";

}  // namespace

class AccountService::Impl : public gateway::SessionListener,
                             public std::enable_shared_from_this<AccountService::Impl> {
 public:
  using Strand = asio::strand<asio::io_context::executor_type>;

  Impl(const Config& config, gateway::Gateway& gw, store::Store& store, asio::io_context& logic,
       metrics::Registry& m)
      : auth_(config.auth),
        gateway_(gw),
        store_(store),
        metrics_(m),
        strand_(asio::make_strand(logic)),
        crypto_("crypto", config.auth.crypto_threads, &m),
        registrations_ok_(
            m.counter("shardd_registrations_total", "auth.register outcomes.", {{"result", "ok"}})),
        registrations_failed_(m.counter("shardd_registrations_total", "auth.register outcomes.",
                                        {{"result", "refused"}})),
        crypto_pending_(m.gauge("shardd_crypto_pending", "Password hashes queued or running.")),
        last_login_(store.write_behind("accounts.last_login", &AccountRepo::write_last_logins)) {
    for (const auto& z : config.effective_zones()) {
      zones_.push_back(Zone{
          z, 0, &m.gauge("shardd_zone_population", "Players in each zone.", {{"zone", z.id}})});
    }
    for (const char* r : {"ok", "bad_credentials", "banned", "rate_limited", "unavailable"}) {
      logins_[r] = &m.counter("shardd_logins_total",
                              "Login attempts (password and token), by result.", {{"result", r}});
    }
    for (const char* op : {"set_display_name", "change_password", "delete"}) {
      account_changes_[op] = &m.counter("shardd_account_changes_total",
                                        "Successful account changes, by kind.", {{"op", op}});
    }
    zones_json();  // /admin/status shows the zones from the start
  }

  Status install(admin::AdminServer* admin) {
    Status st = hash_password(kDummyPassword, auth_, &dummy_hash_);
    if (!st.ok()) return st;
    notice_ = &gateway_.push_op("sys.notice");
    gateway_.add_listener(shared_from_this());
    gateway::RouteOptions open;
    open.requires_auth = false;
    open.executor = strand_;
    gateway::RouteOptions authed;
    authed.executor = strand_;
    // Login names and passwords are checked by the handlers (INVALID_USERNAME,
    // WEAK_PASSWORD); the schemas only bound their size.
    const args::Schema credentials = {args::str("username", 0, 64), args::str("password", 0, 1024)};
    struct R {
      const char* op;
      gateway::RouteOptions opts;
      void (Impl::*fn)(RequestPtr);
    };
    auto with = [](gateway::RouteOptions o, args::Schema s) {
      o.args = std::move(s);
      return o;
    };
    const R routes[] = {
        {"auth.register", with(open, credentials), &Impl::on_register},
        {"auth.login", with(open, credentials), &Impl::on_login},
        {"auth.token", with(open, {args::str("token", 1, 128)}), &Impl::on_token},
        {"auth.logout", authed, &Impl::on_logout},
        {"auth.change_password",
         with(authed, {args::str("old", 0, 1024), args::str("new", 0, 1024)}),
         &Impl::on_change_password},
        {"account.set_display_name", with(authed, {args::str("name", 0, 64)}),
         &Impl::on_set_display_name},
        {"account.delete", with(authed, {args::str("password", 0, 1024)}), &Impl::on_delete},
        {"zone.list", authed, &Impl::on_zone_list},
        {"zone.select", with(authed, {args::str("zone", 1, 64)}), &Impl::on_zone_select}};
    auto self = shared_from_this();
    for (const auto& r : routes) {
      auto fn = r.fn;
      st = gateway_.router().add(r.op, r.opts, [self, fn](Request&& req) {
        ((*self).*fn)(std::make_shared<Request>(std::move(req)));
      });
      if (!st.ok()) return st;
    }
    if (admin) add_admin_routes(*admin);
    return Status::Ok();
  }

  void reload(const Config& c) {
    AuthConfig a = c.auth;
    std::string dummy;
    Status st = hash_password(kDummyPassword, a, &dummy);
    if (!st.ok()) {
      // Config validation refuses such parameters; keep the running ones.
      lg().error("reload: auth parameters not applied: {}", st.message());
      return;
    }
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
    uint32_t population;  // includes slots reserved by a zone.select being written
    metrics::Gauge* gauge;
  };
  struct Online {
    int64_t account_id;
    std::string username_lc;
    std::string zone;
    std::string pending_zone;  // reserved while its last_zone write runs
    std::string token_hash;
    std::weak_ptr<gateway::Session> session;
  };
  using StoreWork = std::function<DbStatus(StoreContext&)>;
  using StoreDone = std::function<void(DbStatus)>;

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

  void add_population(const std::string& zone, int delta) {
    if (Zone* z = find_zone(zone)) {
      if (delta < 0 && z->population == 0) return;
      z->population = static_cast<uint32_t>(static_cast<int64_t>(z->population) + delta);
      z->gauge->set(z->population);
    }
  }

  void leave_zone(Online& o) {
    if (!o.pending_zone.empty()) {
      add_population(o.pending_zone, -1);
      o.pending_zone.clear();
    }
    if (o.zone.empty()) return;
    add_population(o.zone, -1);
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

  Online* online(const RequestPtr& req) {
    auto it = sessions_.find(req->session_id());
    return it == sessions_.end() ? nullptr : &it->second;
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
    json extra = {{"retry_after_ms", 1000}};
    req->fail(ErrorCode::kUnavailable, "server busy, retry shortly", &extra);
  }

  // Storage work whose result is only a status.
  void store_run(StoreWork work, StoreDone done) {
    store_.run<int>(
        strand_, [work = std::move(work)](StoreContext& ctx, int*) { return work(ctx); },
        [done = std::move(done)](DbStatus st, int) { done(std::move(st)); });
  }

  // Writes to one account row run one at a time, in order, so the last
  // write-through to the cache always carries the newest row (see
  // account_repo.h). The queue of an account holds what its own session and
  // the admin API issue, bounded by the session's in-flight cap.
  void account_write(int64_t id, StoreWork work, StoreDone done) {
    auto& q = writes_[id];
    q.emplace_back(std::move(work), std::move(done));
    if (q.size() == 1) start_write(id);
  }
  void start_write(int64_t id) {
    store_run(writes_[id].front().first, [self = shared_from_this(), id](DbStatus st) {
      auto it = self->writes_.find(id);
      StoreDone done = std::move(it->second.front().second);
      it->second.pop_front();
      if (it->second.empty()) {
        self->writes_.erase(it);
      } else {
        self->start_write(id);
      }
      done(std::move(st));
    });
  }

  void storage_failed(const RequestPtr& req, const DbStatus& st) {
    if (st.err() != DbErr::kUnavailable && st.err() != DbErr::kRetry) {
      lg().error("storage error in {} (account {}): {}", req->op(), req->account_id(),
                 st.to_string());
    }
    req->fail(st.to_status());
  }

  // ---- auth.register

  void on_register(RequestPtr req) {
    const json& d = req->d();
    const std::string& username = args::str(d, "username");
    const std::string& password = args::str(d, "password");
    if (!valid_username(username)) {
      registrations_failed_.inc();
      return req->fail(ErrorCode::kInvalidUsername,
                       "username must be 3-24 characters of letters, digits and _");
    }
    if (!valid_password(password)) {
      registrations_failed_.inc();
      return req->fail(ErrorCode::kWeakPassword, "password must be 8-128 characters");
    }
    auto now = Throttle::Clock::now();
    if (int64_t wait =
            register_ip_.blocked_ms(req->remote_ip(), auth_.register_per_ip_per_min, now)) {
      registrations_failed_.inc();
      lg().info("registration refused (rate limit) from {}", req->remote_ip());
      json extra = {{"retry_after_ms", wait}};
      return req->fail(ErrorCode::kRateLimited, "too many registrations from this address", &extra);
    }
    register_ip_.add(req->remote_ip(), now);
    struct Hashed {
      Status st;
      std::string hash;
    };
    AuthConfig a = auth_;
    bool queued = crypto(
        [password, a] {
          Hashed h;
          h.st = hash_password(password, a, &h.hash);
          return h;
        },
        [self = shared_from_this(), req, username](Hashed h) {
          if (!h.st.ok()) {
            lg().error("auth.register: password hash failed: {}", h.st.message());
            return req->fail(
                h.st.code() == ErrorCode::kUnavailable ? h.st : Status::Internal("internal error"));
          }
          self->create_account(req, username, std::move(h.hash));
        });
    if (!queued) fail_busy(req);
  }

  void create_account(const RequestPtr& req, const std::string& username, std::string hash) {
    auto id = std::make_shared<int64_t>(0);
    store_run(
        [username, hash = std::move(hash), id](StoreContext& ctx) {
          return AccountRepo::create(ctx, username, hash, now_ms(), id.get());
        },
        [self = shared_from_this(), req, username, id](DbStatus st) {
          if (st.err() == DbErr::kDuplicate) {
            self->registrations_failed_.inc();
            return req->fail(ErrorCode::kUsernameTaken, "username '" + username + "' is taken");
          }
          if (!st.ok()) return self->storage_failed(req, st);
          self->registrations_ok_.inc();
          lg().info("account {} registered: {}", *id, username);
          req->ok({{"account_id", *id}, {"username", username}});
        });
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
    req->fail(ErrorCode::kRateLimited, "too many failed attempts; wait before trying again",
              &extra);
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

  // A login in progress on a session: refuses a second one (pipelined
  // logins) until the first is answered. Destroyed with the last callback of
  // the login, whatever path it took.
  class LoginGuard {
   public:
    LoginGuard(std::shared_ptr<Impl> impl, uint64_t sid) : impl_(std::move(impl)), sid_(sid) {}
    ~LoginGuard() {
      if (impl_->strand_.running_in_this_thread()) {
        impl_->logging_in_.erase(sid_);
      } else {
        asio::post(impl_->strand_, [impl = impl_, sid = sid_] { impl->logging_in_.erase(sid); });
      }
    }
    LoginGuard(const LoginGuard&) = delete;
    LoginGuard& operator=(const LoginGuard&) = delete;

   private:
    std::shared_ptr<Impl> impl_;
    uint64_t sid_;
  };

  // Null (and the request answered) when this session may not log in now.
  std::shared_ptr<LoginGuard> begin_login(const RequestPtr& req) {
    uint64_t sid = req->session_id();
    if (sessions_.count(sid) || req->account_id() != 0) {
      req->fail(ErrorCode::kBadRequest, "already logged in");
      return nullptr;
    }
    if (!logging_in_.insert(sid).second) {
      req->fail(ErrorCode::kBadRequest, "a login is already in progress on this connection");
      return nullptr;
    }
    return std::make_shared<LoginGuard>(shared_from_this(), sid);
  }

  void on_login(RequestPtr req) {
    const json& d = req->d();
    std::string key = lower(args::str(d, "username"));
    std::string password = args::str(d, "password");
    auto guard = begin_login(req);
    if (!guard) return;
    if (int64_t wait = throttled(req, key)) return refuse_throttled(req, wait);
    auto acct = std::make_shared<std::optional<Account>>();
    store_run(
        [key, acct](StoreContext& ctx) { return AccountRepo::find_by_name(ctx, key, acct.get()); },
        [self = shared_from_this(), req, key, password, acct, guard](DbStatus st) {
          if (!st.ok()) {
            self->logins_["unavailable"]->inc();
            return self->storage_failed(req, st);
          }
          // Unknown users are checked against a dummy hash so that both
          // failures cost the same time.
          std::string hash = *acct ? (*acct)->pw_hash : self->dummy_hash_;
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
                if (v.ok && needs_rehash) {
                  // Never store a hash that does not verify (bad parameters
                  // would lock the player out).
                  Status hs = hash_password_checked(password, a, &v.rehash);
                  if (!hs.ok()) lg().error("rehash skipped: {}", hs.message());
                }
                return v;
              },
              [self, req, key, acct, guard](Verdict v) {
                if (!*acct || !v.ok) return self->bad_credentials(req, key);
                if (self->refuse_banned(req, **acct)) return;
                self->account_fail_.clear(key);
                if (!v.rehash.empty()) {
                  int64_t id = (*acct)->id;
                  self->account_write(
                      id,
                      [id, h = v.rehash](StoreContext& ctx) {
                        return AccountRepo::set_password(ctx, id, h);
                      },
                      [id](DbStatus ws) {
                        if (!ws.ok())
                          lg().warn("rehash of account {} not saved: {}", id, ws.to_string());
                      });
                }
                self->issue_token(req, **acct, guard);
              });
          if (!queued) self->fail_busy(req);
        });
  }

  void issue_token(const RequestPtr& req, const Account& acct,
                   const std::shared_ptr<LoginGuard>& guard) {
    std::string token;
    if (Status st = random_token(&token); !st.ok()) {
      lg().error("auth.login: {}", st.message());
      logins_["unavailable"]->inc();
      return req->fail(st);
    }
    std::string token_hash = sha256_hex(token);
    int64_t ttl_ms = int64_t{auth_.token_ttl_s} * 1000;
    uint32_t max_live = auth_.max_tokens_per_account;
    store_run(
        [id = acct.id, token_hash, ttl_ms, max_live](StoreContext& ctx) {
          int64_t now = now_ms();
          return AccountRepo::add_token(ctx, token_hash, id, now, now + ttl_ms, max_live);
        },
        [self = shared_from_this(), req, acct, token, token_hash, guard](DbStatus st) {
          if (!st.ok()) {
            self->logins_["unavailable"]->inc();
            return self->storage_failed(req, st);
          }
          self->complete_login(req, acct, token, token_hash, guard);
        });
  }

  void on_token(RequestPtr req) {
    auto guard = begin_login(req);
    if (!guard) return;
    if (int64_t wait = throttled(req, "")) return refuse_throttled(req, wait);
    std::string token = args::str(req->d(), "token");
    std::string token_hash = sha256_hex(token);
    auto acct = std::make_shared<std::optional<Account>>();
    store_run(
        [token_hash, acct](StoreContext& ctx) {
          std::optional<int64_t> id;
          DbStatus st = AccountRepo::find_token(ctx, token_hash, now_ms(), &id);
          if (!st.ok() || !id) return st;
          return AccountRepo::find_by_id(ctx, *id, acct.get());
        },
        [self = shared_from_this(), req, token, token_hash, acct, guard](DbStatus st) {
          if (!st.ok()) {
            self->logins_["unavailable"]->inc();
            return self->storage_failed(req, st);
          }
          if (!*acct || (*acct)->deleted) return self->bad_credentials(req, "");
          if (self->refuse_banned(req, **acct)) return;
          self->complete_login(req, **acct, token, token_hash, guard);
        });
  }

  // Binds the session to the account (kicking an older session of the same
  // account) and answers the login.
  void complete_login(const RequestPtr& req, const Account& acct, const std::string& token,
                      const std::string& token_hash, const std::shared_ptr<LoginGuard>& guard) {
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
    sessions_[sid] = Online{acct.id, lower(acct.username), "", "", token_hash, req->session_ptr()};
    logins_["ok"]->inc();
    last_login_.mark(std::to_string(acct.id), std::to_string(now_ms()));
    json reply = {{"account_id", acct.id},
                  {"username", acct.username},
                  {"display_name", acct.display_name},
                  {"token", token},
                  {"zones", zones_json()},
                  {"last_zone", acct.last_zone.empty() ? json() : json(acct.last_zone)}};
    auto session = req->session_ptr();
    asio::post(session->executor(), [self = shared_from_this(), req, session, acct,
                                     reply = std::move(reply), sid, guard]() mutable {
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
    Online* o = online(req);
    std::string token_hash = o ? o->token_hash : "";
    store_run(
        [token_hash](StoreContext& ctx) {
          return token_hash.empty() ? DbStatus::Ok() : AccountRepo::revoke_token(ctx, token_hash);
        },
        [self = shared_from_this(), req](DbStatus st) {
          if (!st.ok()) return self->storage_failed(req, st);
          // Free the zone slot before answering (we are on the strand), so a
          // client that saw the logout succeed finds the slot free already;
          // forget_session later finds nothing left to leave.
          if (Online* own = self->online(req)) self->leave_zone(*own);
          auto session = req->session_ptr();
          asio::post(session->executor(), [req, session] {
            req->ok();
            session->end(gateway::EndReason::kLogout, "logout");
          });
        });
  }

  // ---- account changes that need the password

  // Loads the caller's account, checks `password` on the crypto pool (with
  // the login throttles), then runs `then(account)` on the strand.
  void with_verified_password(const RequestPtr& req, const std::string& password,
                              std::function<void(const Account&)> then) {
    Online* o = online(req);
    if (!o) return req->fail(ErrorCode::kUnauthorized, "log in first");
    std::string key = o->username_lc;
    if (int64_t wait = throttled(req, key)) return refuse_throttled(req, wait);
    int64_t id = o->account_id;
    auto acct = std::make_shared<std::optional<Account>>();
    store_run(
        [id, acct](StoreContext& ctx) { return AccountRepo::find_by_id(ctx, id, acct.get()); },
        [self = shared_from_this(), req, key, password, acct,
         then = std::move(then)](DbStatus st) mutable {
          if (!st.ok()) return self->storage_failed(req, st);
          if (!*acct) return req->fail(ErrorCode::kBadCredentials, "wrong password");
          AuthConfig a = self->auth_;
          bool queued = self->crypto(
              [password, hash = (*acct)->pw_hash, a] {
                bool ignored = false;
                return verify_password(password, hash, a, &ignored);
              },
              [self, req, key, acct, then = std::move(then)](bool ok) {
                if (!ok) {
                  self->record_failure(req, key);
                  return req->fail(ErrorCode::kBadCredentials, "wrong password");
                }
                self->account_fail_.clear(key);
                then(**acct);
              });
          if (!queued) self->fail_busy(req);
        });
  }

  // auth.change_password {old, new}: the other login tokens of the account
  // are revoked (this session's stays).
  void on_change_password(RequestPtr req) {
    std::string old_pw = args::str(req->d(), "old");
    std::string new_pw = args::str(req->d(), "new");
    if (!valid_password(new_pw)) {
      return req->fail(ErrorCode::kWeakPassword, "password must be 8-128 characters");
    }
    with_verified_password(req, old_pw, [self = shared_from_this(), req, new_pw](const Account& a) {
      AuthConfig cfg = self->auth_;
      struct Hashed {
        Status st;
        std::string hash;
      };
      bool queued = self->crypto(
          [new_pw, cfg] {
            Hashed h;
            h.st = hash_password_checked(new_pw, cfg, &h.hash);
            return h;
          },
          [self, req, id = a.id](Hashed h) {
            if (!h.st.ok()) {
              lg().error("auth.change_password: {}", h.st.message());
              return req->fail(h.st.code() == ErrorCode::kUnavailable
                                   ? h.st
                                   : Status::Internal("internal error"));
            }
            Online* o = self->online(req);
            std::string keep = o ? o->token_hash : "";
            self->account_write(
                id,
                [id, hash = std::move(h.hash), keep](StoreContext& ctx) {
                  DbStatus st = AccountRepo::set_password(ctx, id, hash);
                  if (st.ok()) st = AccountRepo::revoke_tokens(ctx, id, now_ms(), keep);
                  return st;
                },
                [self, req, id](DbStatus st) {
                  if (!st.ok()) return self->storage_failed(req, st);
                  self->account_changes_["change_password"]->inc();
                  lg().info("account {} changed its password; other tokens revoked", id);
                  req->ok();
                });
          });
      if (!queued) self->fail_busy(req);
    });
  }

  // account.delete {password}: anonymized (see AccountRepo::remove); the
  // session is logged out, the connection stays.
  void on_delete(RequestPtr req) {
    std::string password = args::str(req->d(), "password");
    with_verified_password(req, password, [self = shared_from_this(), req](const Account& a) {
      int64_t id = a.id;
      std::string lc = lower(a.username);
      self->account_write(
          id, [id, lc](StoreContext& ctx) { return AccountRepo::remove(ctx, id, now_ms(), lc); },
          [self, req, id, lc](DbStatus st) {
            if (!st.ok()) return self->storage_failed(req, st);
            self->account_changes_["delete"]->inc();
            lg().warn("account {} ({}) deleted by its owner", id, lc);
            if (Online* own = self->online(req)) self->leave_zone(*own);
            auto session = req->session_ptr();
            asio::post(session->executor(), [req, session] {
              req->ok();
              session->end(gateway::EndReason::kLogout, "account deleted");
            });
          });
    });
  }

  // account.set_display_name {name}
  void on_set_display_name(RequestPtr req) {
    Online* o = online(req);
    if (!o) return req->fail(ErrorCode::kUnauthorized, "log in first");
    std::string name = args::str(req->d(), "name");
    std::string key;
    if (Status st = check_display_name(name, auth_.name_blocklist, &key); !st.ok()) {
      return req->fail(st);
    }
    int64_t id = o->account_id;
    auto acct = std::make_shared<std::optional<Account>>();
    store_run(
        [id, acct](StoreContext& ctx) { return AccountRepo::find_by_id(ctx, id, acct.get()); },
        [self = shared_from_this(), req, id, name, key, acct](DbStatus st) {
          if (!st.ok()) return self->storage_failed(req, st);
          if (!*acct) return req->fail(ErrorCode::kUnauthorized, "log in first");
          int64_t cooldown = int64_t{self->auth_.display_name_cooldown_s} * 1000;
          int64_t since = now_ms() - (*acct)->display_name_changed_ms;
          if ((*acct)->display_name_changed_ms != 0 && since < cooldown) {
            json extra = {{"retry_after_ms", cooldown - since}};
            return req->fail(ErrorCode::kRateLimited, "the display name was changed recently",
                             &extra);
          }
          self->account_write(
              id,
              [id, name, key](StoreContext& ctx) {
                return AccountRepo::set_display_name(ctx, id, name, key, now_ms());
              },
              [self, req, id, name](DbStatus ws) {
                if (ws.err() == DbErr::kDuplicate) {
                  return req->fail(ErrorCode::kNameTaken,
                                   "display name '" + utf8::quote(name) + "' is taken");
                }
                if (!ws.ok()) return self->storage_failed(req, ws);
                self->account_changes_["set_display_name"]->inc();
                lg().info("account {} is now shown as '{}'", id, utf8::quote(name));
                req->ok({{"display_name", name}});
              });
        });
  }

  // ---- zones

  void on_zone_list(RequestPtr req) { req->ok({{"zones", zones_json()}}); }

  // The player's zone changes only once last_zone is durable: the slot is
  // reserved (it counts against the capacity), the write runs, and then the
  // player moves, or the reservation is released and the answer is
  // UNAVAILABLE. A select never reports success for a write that was lost.
  void on_zone_select(RequestPtr req) {
    Online* o = online(req);
    if (!o) return req->fail(ErrorCode::kUnauthorized, "log in first");
    const std::string& wanted = args::str(req->d(), "zone");
    Zone* z = find_zone(wanted);
    if (!z) return req->fail(ErrorCode::kNotFound, "no zone '" + utf8::quote(wanted) + "'");
    if (o->zone == z->config.id) {
      return req->ok({{"zone", z->config.id}, {"population", z->population}});
    }
    if (!o->pending_zone.empty()) {
      return req->fail(ErrorCode::kBadRequest, "a zone change is already in progress");
    }
    if (z->config.maintenance) {
      return req->fail(ErrorCode::kMaintenance, "zone '" + z->config.id + "' is in maintenance");
    }
    if (z->population >= z->config.capacity) {
      json extra = {{"capacity", z->config.capacity}};
      return req->fail(ErrorCode::kFull, "zone '" + z->config.id + "' is full", &extra);
    }
    std::string zone = z->config.id;
    o->pending_zone = zone;
    add_population(zone, +1);
    zones_json();
    int64_t id = o->account_id;
    uint64_t sid = req->session_id();
    account_write(
        id, [id, zone](StoreContext& ctx) { return AccountRepo::set_last_zone(ctx, id, zone); },
        [self = shared_from_this(), req, sid, zone](DbStatus st) {
          auto it = self->sessions_.find(sid);
          bool mine = it != self->sessions_.end() && it->second.pending_zone == zone;
          if (!st.ok()) {
            if (mine) {
              it->second.pending_zone.clear();
              self->add_population(zone, -1);
              self->zones_json();
            }
            lg().warn("zone.select {} for account {} refused: last_zone not saved: {}", zone,
                      req->account_id(), st.to_string());
            return self->storage_failed(req, st);
          }
          if (!mine)
            return req->fail(ErrorCode::kUnauthorized, "log in first");  // logged out meanwhile
          Online& who = it->second;
          who.pending_zone.clear();
          if (!who.zone.empty()) self->add_population(who.zone, -1);
          who.zone = zone;
          Zone* now = self->find_zone(zone);
          self->zones_json();
          req->ok({{"zone", zone}, {"population", now ? now->population : 0}});
        });
  }

  // ---- admin

  void add_admin_routes(admin::AdminServer& admin) {
    auto self = shared_from_this();
    const int64_t kMaxMs = int64_t{253402300799000};  // 9999-12-31
    admin.add_route("POST", "/admin/accounts/ban",
                    {args::optional(args::integer("account_id", 1, INT64_MAX)),
                     args::optional(args::str("username", 1, 64)),
                     args::optional(args::integer("duration_s", 1, int64_t{100} * 365 * 86400)),
                     args::optional(args::integer("until_ms", 1, kMaxMs)),
                     args::optional(args::str("reason", 0, 255))},
                    [self](const json& body, admin::AdminServer::Respond respond) {
                      asio::post(self->strand_, [self, body, respond = std::move(respond)] {
                        self->admin_ban(body, respond, true);
                      });
                    });
    admin.add_route("POST", "/admin/accounts/unban",
                    {args::optional(args::integer("account_id", 1, INT64_MAX)),
                     args::optional(args::str("username", 1, 64))},
                    [self](const json& body, admin::AdminServer::Respond respond) {
                      asio::post(self->strand_, [self, body, respond = std::move(respond)] {
                        self->admin_ban(body, respond, false);
                      });
                    });
    admin.add_route("GET", "/admin/accounts/bans",
                    {args::optional(args::integer("after_id", 0, INT64_MAX)),
                     args::optional(args::integer("limit", 1, 1000))},
                    [self](const json& q, admin::AdminServer::Respond respond) {
                      self->admin_list_bans(q, std::move(respond));
                    });
    admin.add_route(
        "POST", "/admin/announce",
        {args::str("text", 1, 4096), args::optional(args::integer("account_id", 1, INT64_MAX))},
        [self](const json& body, admin::AdminServer::Respond respond) {
          self->admin_announce(body, std::move(respond));
        });
  }

  // POST /admin/announce {text, account_id?}: sys.notice {text, from} to one
  // logged-in player or to every session.
  void admin_announce(const json& body, admin::AdminServer::Respond respond) {
    json d = {{"text", args::str(body, "text")}, {"from", "server"}};
    int64_t account = args::int_or(body, "account_id", 0);
    if (account == 0) {
      size_t n = gateway_.broadcast(*notice_, d, false);
      return respond(200, {{"sent", n}});
    }
    asio::post(strand_, [self = shared_from_this(), account, d, respond] {
      auto it = self->online_.find(account);
      std::shared_ptr<gateway::Session> s;
      if (it != self->online_.end()) {
        if (auto o = self->sessions_.find(it->second); o != self->sessions_.end()) {
          s = o->second.session.lock();
        }
      }
      if (!s) return respond(404, {{"error", "account not online"}});
      s->post_push(*self->notice_, d);
      respond(200, {{"sent", 1}, {"session", s->id()}});
    });
  }

  void admin_ban(const json& body, const admin::AdminServer::Respond& respond, bool ban) {
    int64_t id = args::int_or(body, "account_id", 0);
    std::string username = args::str_or(body, "username", "");
    if ((id == 0) == username.empty()) {
      return respond(400, {{"error", "give one of account_id or username"}});
    }
    int64_t until = 0;
    std::string reason = args::str_or(body, "reason", "");
    if (ban) {
      bool has_until = args::has(body, "until_ms");
      bool has_duration = args::has(body, "duration_s");
      if (has_until == has_duration) {
        return respond(400, {{"error", "give one of duration_s or until_ms"}});
      }
      until = has_until ? args::int_of(body, "until_ms")
                        : now_ms() + args::int_of(body, "duration_s") * 1000;
      if (until <= now_ms()) return respond(400, {{"error", "until_ms is in the past"}});
    }
    auto found = std::make_shared<bool>(false);
    auto run = [self = shared_from_this(), found, until, reason, ban, respond](int64_t account) {
      self->account_write(
          account,
          [account, until, reason, found](StoreContext& ctx) {
            return AccountRepo::set_ban(ctx, account, until, reason, found.get());
          },
          [self, respond, account, until, reason, ban, found](DbStatus st) {
            if (!st.ok()) return respond(503, {{"error", "storage unavailable, retry later"}});
            if (!*found) return respond(404, {{"error", "no such account"}});
            bool kicked = false;
            if (ban) {
              if (auto it = self->online_.find(account); it != self->online_.end()) {
                if (auto o = self->sessions_.find(it->second); o != self->sessions_.end()) {
                  if (auto s = o->second.session.lock()) {
                    s->post_end(gateway::EndReason::kBanned, "banned");
                    kicked = true;
                  }
                }
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
    auto acct = std::make_shared<std::optional<Account>>();
    std::string lc = lower(username);
    store_run(
        [lc, acct](StoreContext& ctx) { return AccountRepo::find_by_name(ctx, lc, acct.get()); },
        [run, respond, acct](DbStatus st) {
          if (!st.ok()) return respond(503, {{"error", "storage unavailable, retry later"}});
          if (!*acct) return respond(404, {{"error", "no such account"}});
          run((*acct)->id);
        });
  }

  // GET /admin/accounts/bans?after_id=&limit=: accounts banned now, by id.
  void admin_list_bans(const json& q, admin::AdminServer::Respond respond) {
    int64_t after = args::int_or(q, "after_id", 0);
    int64_t limit = args::int_or(q, "limit", 100);
    auto list = std::make_shared<std::vector<Account>>();
    store_run(
        [after, limit, list](StoreContext& ctx) {
          return AccountRepo::list_bans(ctx, now_ms(), after, limit, list.get());
        },
        [respond, list, limit](DbStatus st) {
          if (!st.ok()) return respond(503, {{"error", "storage unavailable, retry later"}});
          json bans = json::array();
          for (const auto& a : *list) {
            bans.push_back({{"account_id", a.id},
                            {"username", a.username},
                            {"banned_until_ms", a.banned_until_ms},
                            {"reason", a.ban_reason}});
          }
          json next = static_cast<int64_t>(list->size()) == limit && !list->empty()
                          ? json(list->back().id)
                          : json();
          respond(200, {{"bans", std::move(bans)}, {"next_after_id", next}});
        });
  }

  static constexpr int64_t kMaxCryptoPending = 256;

  AuthConfig auth_;  // strand
  std::string dummy_hash_;
  gateway::Gateway& gateway_;
  store::Store& store_;
  metrics::Registry& metrics_;
  Strand strand_;
  WorkerPool crypto_;
  const gateway::PushOp* notice_ = nullptr;
  metrics::Counter& registrations_ok_;
  metrics::Counter& registrations_failed_;
  metrics::Gauge& crypto_pending_;
  store::WriteBehind& last_login_;
  std::unordered_map<std::string, metrics::Counter*> logins_;           // fixed after construction
  std::unordered_map<std::string, metrics::Counter*> account_changes_;  // fixed after construction

  // Strand state:
  std::vector<Zone> zones_;
  std::unordered_map<int64_t, uint64_t> online_;   // account -> session id
  std::unordered_map<uint64_t, Online> sessions_;  // session id -> who and where
  std::unordered_set<uint64_t> logging_in_;        // sessions with a login in progress
  std::unordered_map<int64_t, std::deque<std::pair<StoreWork, StoreDone>>> writes_;
  Throttle account_fail_;
  Throttle ip_fail_;
  Throttle register_ip_;

  mutable std::mutex snapshot_mu_;
  json zones_snapshot_ = json::array();  // guarded by snapshot_mu_
};

AccountService::AccountService(const Config& config, gateway::Gateway& gateway, store::Store& store,
                               asio::io_context& logic, metrics::Registry& metrics)
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
