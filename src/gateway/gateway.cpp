#include "shardd/gateway/gateway.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cctype>

#include "session_impl.h"
#include "shardd/core/crypto.h"
#include "shardd/core/log.h"

namespace shardd::gateway {

Gateway::Shared::Shared(const Config& config, net::LiveLimits& lim, metrics::Registry& m)
    : server_name(config.server.name),
      limits(lim),
      metrics(m),
      router(m),
      sessions(m.gauge("shardd_sessions", "Live sessions (connected or waiting for a resume).")),
      sessions_authenticated(m.gauge("shardd_sessions_authenticated", "Logged-in sessions.")),
      sessions_in_grace(m.gauge("shardd_sessions_in_grace",
                                "Logged-in sessions whose connection dropped, waiting for "
                                "sys.resume.")),
      rate_limited(m.counter("shardd_rate_limited_total",
                             "Requests refused by the per-session rate limit or in-flight cap.")),
      bad_messages(m.counter("shardd_bad_messages_total",
                             "Malformed requests (answered BAD_REQUEST or TOO_LARGE).")),
      resumes_ok(m.counter("shardd_resumes_total", "sys.resume outcomes.", {{"result", "ok"}})),
      resumes_resync(
          m.counter("shardd_resumes_total", "sys.resume outcomes.", {{"result", "resync"}})),
      resumes_expired(
          m.counter("shardd_resumes_total", "sys.resume outcomes.", {{"result", "expired"}})) {
  session_limits.resume_grace_ms = config.session.resume_grace_ms;
  session_limits.replay_pushes = config.session.replay_pushes;
  session_limits.replay_max_bytes = config.session.replay_max_bytes;
  for (const auto& e : error_table.entries()) add_error_counters(e.code);
  for (auto r : {EndReason::kClosed, EndReason::kLogout, EndReason::kKicked, EndReason::kBanned,
                 EndReason::kGraceExpired, EndReason::kShutdown}) {
    ends.push_back(&m.counter("shardd_session_ends_total", "Logged-in sessions ended, by reason.",
                              {{"reason", std::string(end_reason_name(r))}}));
  }
}

void Gateway::Shared::add_error_counters(ErrorCode code) {
  // OK is not an error: no series for it.
  if (code != ErrorCode::kOk) {
    errors[code.def()] = &metrics.counter("shardd_errors_total",
                                          "Error answers and closes, by code.",
                                          {{"code", std::string(code.name())}});
  }
  disconnects[code.def()] = &metrics.counter(
      "shardd_disconnects_total",
      "Connections ended, by the code the server closed with (OK: closed by the peer or a "
      "network error).",
      {{"reason", std::string(code.name())}});
}

metrics::Counter& Gateway::Shared::error_counter(ErrorCode code) {
  auto it = errors.find(code.def());
  if (it != errors.end()) return *it->second;
  return metrics.counter("shardd_errors_total", "Error answers and closes, by code.",
                         {{"code", std::string(code.name())}});
}

metrics::Counter& Gateway::Shared::disconnect_counter(ErrorCode code) {
  auto it = disconnects.find(code.def());
  if (it != disconnects.end()) return *it->second;
  return metrics.counter("shardd_disconnects_total",
                         "Connections ended, by the code the server closed with (OK: closed by "
                         "the peer or a network error).",
                         {{"reason", std::string(code.name())}});
}

namespace {

// sys.resume {resume_token, last_seq}: re-binds a logged-in session that lost
// its connection to this connection. Runs on the fresh session's thread; the
// resumed session finishes the job on its own thread (SessionImpl::resume).
void handle_resume(Gateway::Shared* shared, Request&& r) {
  auto fresh = std::static_pointer_cast<SessionImpl>(r.session_ptr());
  const auto& d = r.d();  // checked against kResumeArgs
  const std::string& token = args::str(d, "resume_token");
  auto last_seq = static_cast<uint64_t>(args::int_or(d, "last_seq", 0));
  if (fresh->authenticated()) return r.fail(ErrorCode::kBadRequest, "already logged in");
  std::shared_ptr<SessionImpl> target;
  {
    std::lock_guard lock(shared->registry_mu);
    auto it = shared->by_resume_hash.find(sha256_hex(token));
    if (it != shared->by_resume_hash.end()) target = it->second.lock();
  }
  if (!target || target.get() == fresh.get()) {
    shared->resumes_expired.inc();
    return r.fail(ErrorCode::kSessionExpired, "unknown or expired resume token; log in again");
  }
  std::shared_ptr<Binding> binding = fresh->current_binding();
  if (!binding) return r.fail(ErrorCode::kBadRequest, "connection closing");
  uint64_t rid = r.rid();
  net::Encoding enc = r.encoding();
  r.hand_over();  // the resumed session answers this rid on the same connection
  boost::asio::post(target->executor(), [target, binding, fresh, rid, enc, last_seq] {
    target->resume(binding, fresh, rid, enc, last_seq);
  });
}

}  // namespace

Gateway::Gateway(const Config& config, net::LiveLimits& limits, metrics::Registry& metrics)
    : shared_(std::make_shared<Shared>(config, limits, metrics)) {
  auto notice = [this](std::string_view op) {
    PushOptions o;
    o.replayable = false;
    return &push_op(op, o);
  };
  shared_->hello = notice("sys.hello");
  shared_->close = notice("sys.close");
  shared_->shutdown = notice("sys.shutdown");
  shared_->kicked = notice("sys.kicked");
  RouteOptions open;
  open.requires_auth = false;
  RouteOptions ping = open;
  ping.args = {args::optional(args::any("t"))};
  Status st = shared_->router.add("sys.ping", ping, [](Request&& r) {
    auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
    // The heartbeat, so its answer reuses the request's object (which
    // normally holds just "t") instead of building a new one.
    nlohmann::json& d = r.d();
    auto t = d.find("t");
    if (d.size() != (t == d.end() ? 0u : 1u)) {  // other members: drop them
      nlohmann::json keep = t == d.end() ? nlohmann::json() : std::move(*t);
      d = nlohmann::json::object();
      d["t"] = std::move(keep);
    } else if (t == d.end()) {
      d["t"] = nullptr;
    }
    d["server_time_ms"] = now;
    r.ok(d);
  });
  if (st.ok()) {
    // The route lives in shared_->router, so it cannot outlive *shared_; a
    // shared_ptr captured here would be a reference cycle (Shared never freed).
    RouteOptions resume = open;
    resume.args = {args::str("resume_token", 1, 128),
                   args::optional(args::integer("last_seq", 0, int64_t{1} << 53))};
    st = shared_->router.add("sys.resume", resume, [shared = shared_.get()](Request&& r) {
      handle_resume(shared, std::move(r));
    });
  }
  if (!st.ok()) log::get("gateway").critical("gateway: {}", st.message());
}

Gateway::~Gateway() = default;

Status Gateway::add_error_codes(std::string_view module, const std::vector<ErrorCode>& codes) {
  for (ErrorCode c : codes) {
    if (!shared_->error_table.add(module, c)) {
      return Status::BadRequest("error code " + std::string(c.name()) + " of " +
                                std::string(module) + " is already defined by another module");
    }
    shared_->add_error_counters(c);
  }
  return Status::Ok();
}

const ErrorTable& Gateway::error_table() const { return shared_->error_table; }

Router& Gateway::router() {
  return shared_->router;
}

const PushOp& Gateway::push_op(std::string_view op) {
  return push_op(op, PushOptions{});
}

const PushOp& Gateway::push_op(std::string_view op, PushOptions options) {
  auto& lg = log::get("gateway");
  if (options.output == OutputClass::kState && options.replayable) {
    lg.error(
        "push op {}: kState pushes cannot be replayable (they may be dropped); "
        "registered as not replayable",
        op);
    options.replayable = false;
  }
  std::lock_guard lock(shared_->push_mu);
  auto it = shared_->push_ops.find(std::string(op));
  if (it != shared_->push_ops.end()) {
    const PushOp& existing = *it->second;
    if (existing.replayable != options.replayable || existing.output != options.output) {
      lg.error(
          "push op {} registered again with other options (replayable {}, output {}); "
          "keeping the first (replayable {}, output {})",
          op, options.replayable, net::output_class_name(options.output), existing.replayable,
          net::output_class_name(existing.output));
    }
    return existing;
  }
  auto p = std::make_unique<PushOp>();
  p->op = std::string(op);
  p->replayable = options.replayable;
  p->output = options.output;
  p->sent = &shared_->metrics.counter("shardd_messages_out_total",
                                      "Responses and pushes sent, by op.", {{"op", p->op}});
  const PushOp& ref = *p;
  shared_->push_ops.emplace(std::string(op), std::move(p));
  return ref;
}

net::HandlerFactory Gateway::handler_factory() {
  return [shared = shared_](const std::shared_ptr<net::Connection>& conn) {
    auto s = std::make_shared<SessionImpl>(shared, *conn);
    auto binding = std::make_shared<Binding>(conn, s);
    s->start(binding);
    return std::shared_ptr<net::ConnectionHandler>(binding);
  };
}

void Gateway::add_listener(std::shared_ptr<SessionListener> listener) {
  shared_->listeners.push_back(std::move(listener));
}

std::shared_ptr<Session> Gateway::find_session(uint64_t id) const {
  std::lock_guard lock(shared_->registry_mu);
  auto it = shared_->registry.find(id);
  return it == shared_->registry.end() ? nullptr : it->second.session.lock();
}

std::vector<std::shared_ptr<SessionImpl>> Gateway::registered_sessions() const {
  std::vector<std::shared_ptr<SessionImpl>> all;
  std::lock_guard lock(shared_->registry_mu);
  all.reserve(shared_->registry.size());
  for (auto& [id, entry] : shared_->registry) {
    if (auto s = entry.session.lock()) all.push_back(std::move(s));
  }
  return all;
}

size_t Gateway::drain(std::string_view reason) {
  auto all = registered_sessions();
  uint32_t after = shared_->limits.reconnect_after_ms.load(std::memory_order_relaxed);
  for (auto& s : all) {
    boost::asio::post(s->executor(),
                      [s, reason = std::string(reason), after] { s->drain(reason, after); });
  }
  return all.size();
}

size_t Gateway::abort_all(std::string_view why) {
  auto all = registered_sessions();
  for (auto& s : all) {
    boost::asio::post(s->executor(), [s, why = std::string(why)] {
      if (auto b = s->current_binding()) b->abort(why);
    });
  }
  return all.size();
}

size_t Gateway::broadcast(const PushOp& op, const nlohmann::json& d, bool authenticated_only) {
  auto body = std::make_shared<const SharedBody>(d);
  auto all = registered_sessions();
  for (auto& s : all) {
    boost::asio::post(s->executor(), [s, &op, body, authenticated_only] {
      if (!authenticated_only || s->authenticated()) s->push(op, body);
    });
  }
  return all.size();
}

size_t Gateway::session_count() const {
  std::lock_guard lock(shared_->registry_mu);
  return shared_->registry.size();
}

std::vector<SessionInfo> Gateway::sessions(const SessionFilter& filter, size_t limit) const {
  auto lower = [](std::string_view v) {
    std::string out(v);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
  };
  const std::string name = lower(filter.username);
  std::vector<SessionInfo> out;
  {
    std::lock_guard lock(shared_->registry_mu);
    for (const auto& [id, entry] : shared_->registry) {
      const SessionInfo& i = entry.info;
      if (filter.account_id != 0 && i.account_id != filter.account_id) continue;
      if (!name.empty() && lower(i.username) != name) continue;
      if (!filter.remote_ip.empty() && i.remote_ip != filter.remote_ip) continue;
      out.push_back(i);
    }
  }
  std::sort(out.begin(), out.end(),
            [](const SessionInfo& a, const SessionInfo& b) { return a.id < b.id; });
  if (out.size() > limit) out.resize(limit);
  return out;
}

bool Gateway::kick(uint64_t session_id, std::string msg) {
  std::shared_ptr<SessionImpl> s;
  {
    std::lock_guard lock(shared_->registry_mu);
    auto it = shared_->registry.find(session_id);
    if (it != shared_->registry.end()) s = it->second.session.lock();
  }
  if (!s) return false;
  boost::asio::post(s->executor(), [s, msg = std::move(msg)] { s->kick(msg); });
  return true;
}

void Gateway::reload(const Config& config) {
  shared_->session_limits.resume_grace_ms = config.session.resume_grace_ms;
  shared_->session_limits.replay_pushes = config.session.replay_pushes;
  shared_->session_limits.replay_max_bytes = config.session.replay_max_bytes;
}

}  // namespace shardd::gateway
