#include "shardd/gateway/gateway.h"

#include <boost/asio/post.hpp>

#include "gateway/session_impl.h"
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
  for (size_t i = 0; i < static_cast<size_t>(ErrorCode::kCount_); ++i) {
    auto code = static_cast<ErrorCode>(i);
    errors.push_back(&m.counter("shardd_errors_total", "Error answers and closes, by code.",
                                {{"code", std::string(error_code_name(code))}}));
    disconnects.push_back(&m.counter(
        "shardd_disconnects_total",
        "Connections ended, by the code the server closed with (OK: closed by the peer or a "
        "network error).",
        {{"reason", std::string(error_code_name(code))}}));
  }
  for (auto r : {EndReason::kClosed, EndReason::kLogout, EndReason::kKicked, EndReason::kBanned,
                 EndReason::kGraceExpired, EndReason::kShutdown}) {
    ends.push_back(&m.counter("shardd_session_ends_total", "Logged-in sessions ended, by reason.",
                              {{"reason", std::string(end_reason_name(r))}}));
  }
}

namespace {

// sys.resume {resume_token, last_seq}: re-binds a logged-in session that lost
// its connection to this connection. Runs on the fresh session's thread; the
// resumed session finishes the job on its own thread (SessionImpl::resume).
void handle_resume(Gateway::Shared* shared, Request&& r) {
  auto fresh = std::static_pointer_cast<SessionImpl>(r.session_ptr());
  const auto& d = r.d();
  auto token = d.find("resume_token");
  if (token == d.end() || !token->is_string() || token->get_ref<const std::string&>().empty() ||
      token->get_ref<const std::string&>().size() > 128) {
    return r.fail(ErrorCode::kBadRequest, "resume_token (string) required");
  }
  uint64_t last_seq = 0;
  if (auto ls = d.find("last_seq"); ls != d.end()) {
    if (!ls->is_number_unsigned()) return r.fail(ErrorCode::kBadRequest, "last_seq must be >= 0");
    last_seq = ls->get<uint64_t>();
  }
  if (fresh->authenticated()) return r.fail(ErrorCode::kBadRequest, "already logged in");
  std::shared_ptr<SessionImpl> target;
  {
    std::lock_guard lock(shared->registry_mu);
    auto it = shared->by_resume_hash.find(sha256_hex(token->get_ref<const std::string&>()));
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
    auto* p = const_cast<PushOp*>(&push_op(op));
    p->replayable = false;
    return p;
  };
  shared_->hello = notice("sys.hello");
  shared_->close = notice("sys.close");
  shared_->shutdown = notice("sys.shutdown");
  shared_->kicked = notice("sys.kicked");
  RouteOptions open;
  open.requires_auth = false;
  Status st = shared_->router.add("sys.ping", open, [](Request&& r) {
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
    st = shared_->router.add("sys.resume", open, [shared = shared_.get()](Request&& r) {
      handle_resume(shared, std::move(r));
    });
  }
  if (!st.ok()) log::get("gateway").critical("gateway: {}", st.message());
}

Gateway::~Gateway() = default;

Router& Gateway::router() {
  return shared_->router;
}

const PushOp& Gateway::push_op(std::string_view op) {
  std::lock_guard lock(shared_->push_mu);
  auto it = shared_->push_ops.find(std::string(op));
  if (it != shared_->push_ops.end()) return *it->second;
  auto p = std::make_unique<PushOp>();
  p->op = std::string(op);
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
  return it == shared_->registry.end() ? nullptr : it->second.lock();
}

std::vector<std::shared_ptr<SessionImpl>> Gateway::registered_sessions() const {
  std::vector<std::shared_ptr<SessionImpl>> all;
  std::lock_guard lock(shared_->registry_mu);
  all.reserve(shared_->registry.size());
  for (auto& [id, weak] : shared_->registry) {
    if (auto s = weak.lock()) all.push_back(std::move(s));
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

void Gateway::reload(const Config& config) {
  shared_->session_limits.resume_grace_ms = config.session.resume_grace_ms;
  shared_->session_limits.replay_pushes = config.session.replay_pushes;
  shared_->session_limits.replay_max_bytes = config.session.replay_max_bytes;
}

}  // namespace shardd::gateway
