#include "session_impl.h"

#include <boost/asio/post.hpp>

#include "shardd/core/barrier.h"
#include "shardd/core/crypto.h"
#include "shardd/core/log.h"
#include "shardd/version.h"

namespace shardd::gateway {

namespace {
spdlog::logger& lg() {
  static spdlog::logger& l = log::get("gateway");
  return l;
}
constexpr auto kRateWindow = std::chrono::seconds(10);
constexpr auto kBadWindow = std::chrono::seconds(60);

int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Runs a route's handler behind the exception barrier. If the handler throws
// before answering, the request is answered INTERNAL here; the exception is
// logged with the op, rid and account and counted.
void invoke(const Route* route, Request& req, metrics::Registry& metrics) noexcept {
  barrier::OpScope scope(route->op);
  try {
    route->handler(std::move(req));
  } catch (...) {
    std::string what = barrier::current_what();
    barrier::report(&metrics, route->op,
                    "rid " + std::to_string(req.rid()) + ", account " +
                        std::to_string(req.account_id()) + ", session " +
                        std::to_string(req.session_id()),
                    what);
    if (!req.answered()) req.fail(ErrorCode::kInternal, "internal error");
  }
}

}  // namespace

std::string_view end_reason_name(EndReason r) {
  switch (r) {
    case EndReason::kClosed:
      return "closed";
    case EndReason::kLogout:
      return "logout";
    case EndReason::kKicked:
      return "kicked";
    case EndReason::kBanned:
      return "banned";
    case EndReason::kGraceExpired:
      return "grace_expired";
    case EndReason::kShutdown:
      return "shutdown";
  }
  return "closed";
}

void Session::post_push(const PushOp& op, nlohmann::json d) {
  boost::asio::post(executor(), [s = self(), &op, d = std::move(d)] { s->push(op, d); });
}

void Session::post_close(ErrorCode code, std::string msg) {
  boost::asio::post(executor(), [s = self(), code, msg = std::move(msg)] { s->close(code, msg); });
}

void Session::post_end(EndReason reason, std::string detail) {
  boost::asio::post(executor(),
                    [s = self(), reason, detail = std::move(detail)] { s->end(reason, detail); });
}

// ---------------------------------------------------------------- Binding

Binding::Binding(std::shared_ptr<net::Connection> conn, std::shared_ptr<SessionImpl> session)
    : conn_(std::move(conn)), session_(std::move(session)) {
  same_executor_ = session_ && session_->executor() == conn_->executor();
}

template <class F>
void Binding::to_session(F&& f) {
  if (!session_) return;
  if (same_executor_) {
    f(session_);
  } else {
    boost::asio::post(session_->executor(),
                      [s = session_, f = std::forward<F>(f)]() mutable { f(s); });
  }
}

void Binding::on_message(std::string_view body, net::Encoding encoding) {
  if (!session_) return;
  if (same_executor_) {
    session_->on_message(this, body, encoding);  // the common case: no copy, no hop
    return;
  }
  boost::asio::post(session_->executor(),
                    [s = session_, self = shared_from_this(), copy = std::string(body), encoding] {
                      s->on_message(self.get(), copy, encoding);
                    });
}

void Binding::on_bad_frame(const Status& status, bool fatal) {
  to_session([self = shared_from_this(), status, fatal](const std::shared_ptr<SessionImpl>& s) {
    s->on_bad_frame(self.get(), status, fatal);
  });
}

void Binding::on_idle() {
  to_session([self = shared_from_this()](const std::shared_ptr<SessionImpl>& s) {
    s->on_idle(self.get());
  });
}

void Binding::on_closed(std::string_view why) {
  to_session([self = shared_from_this(), why = std::string(why),
              dropped = conn_->drop_code()](const std::shared_ptr<SessionImpl>& s) {
    s->on_closed(self.get(), why, dropped);
  });
  session_.reset();  // breaks the session <-> binding cycle
}

void Binding::send(net::OutFrame&& frame) {
  if (conn_->executor().running_in_this_thread()) {
    conn_->send(std::move(frame));
  } else {
    boost::asio::post(conn_->executor(),
                      [self = shared_from_this(), f = std::move(frame)]() mutable {
                        self->conn_->send(std::move(f));
                      });
  }
}

void Binding::close(uint16_t ws_code, std::string_view reason) {
  if (conn_->executor().running_in_this_thread()) {
    conn_->close(ws_code, reason);
  } else {
    boost::asio::post(conn_->executor(),
                      [self = shared_from_this(), ws_code, r = std::string(reason)] {
                        self->conn_->close(ws_code, r);
                      });
  }
}

void Binding::abort(std::string_view why) {
  if (conn_->executor().running_in_this_thread()) {
    conn_->abort(why);
  } else {
    boost::asio::post(conn_->executor(),
                      [self = shared_from_this(), w = std::string(why)] { self->conn_->abort(w); });
  }
}

void Binding::retarget(std::shared_ptr<SessionImpl> session) {
  session_ = std::move(session);
  same_executor_ = session_ && session_->executor() == conn_->executor();
}

// ---------------------------------------------------------------- SessionImpl

SessionImpl::SessionImpl(std::shared_ptr<Gateway::Shared> shared, const net::Connection& conn)
    : shared_(std::move(shared)),
      id_(shared_->next_session_id.fetch_add(1, std::memory_order_relaxed)),
      executor_(conn.executor()),
      transport_(conn.transport()),
      tls_(conn.tls()),
      remote_ip_(conn.remote_ip()) {}

SessionImpl::~SessionImpl() = default;

void SessionImpl::start(std::shared_ptr<Binding> binding) {
  binding_ = std::move(binding);
  {
    SessionInfo info;
    info.id = id_;
    info.transport = std::string(net::transport_name(transport_, tls_));
    info.remote_ip = remote_ip_;
    info.started_ms = unix_ms();
    std::lock_guard lock(shared_->registry_mu);
    shared_->registry.emplace(id_, Gateway::Shared::Entry{weak_from_this(), std::move(info)});
  }
  registered_ = true;
  shared_->sessions.add(1);
  lg().debug("session {} opened ({} {})", id_, net::transport_name(transport_, tls_), remote_ip_);
  const auto& lim = shared_->limits;
  push(*shared_->hello, {{"server", shared_->server_name},
                         {"version", kVersion},
                         {"session", id_},
                         {"transport", net::transport_name(transport_, tls_)},
                         {"heartbeat_ms", lim.heartbeat_ms.load(std::memory_order_relaxed)},
                         {"max_frame", lim.max_frame_bytes.load(std::memory_order_relaxed)}});
}

template <class Fn>
void SessionImpl::update_info(Fn&& fn) {
  std::lock_guard lock(shared_->registry_mu);
  auto it = shared_->registry.find(id_);
  if (it != shared_->registry.end()) fn(it->second.info);
}

void SessionImpl::send(net::OutFrame&& frame) {
  if (binding_ && state_ == State::kActive) binding_->send(std::move(frame));
}

void SessionImpl::keep_for_replay(uint64_t seq, const net::OutFrame& frame) {
  const auto& sl = shared_->session_limits;
  uint32_t max_n = sl.replay_pushes.load(std::memory_order_relaxed);
  size_t max_bytes = sl.replay_max_bytes.load(std::memory_order_relaxed);
  if (max_n == 0 || frame.size() > max_bytes) {
    evicted_seq_ = seq;
    return;
  }
  while (replay_.size() >= max_n) {  // make room (max_n may have been lowered by a reload)
    evicted_seq_ = replay_.front().seq;
    replay_bytes_ -= replay_.front().frame.size();
    replay_.pop_front();
  }
  if (replay_.full()) {
    replay_.set_capacity(std::min<size_t>(max_n, std::max<size_t>(8, replay_.capacity() * 2)));
  }
  replay_.push_back({seq, frame});
  replay_bytes_ += frame.size();
  while (replay_bytes_ > max_bytes) {
    evicted_seq_ = replay_.front().seq;
    replay_bytes_ -= replay_.front().frame.size();
    replay_.pop_front();
  }
}

SharedBody::SharedBody(const nlohmann::json& d) {
  auto j = std::make_shared<std::string>();
  net::encode_value(net::Encoding::kJson, d, j.get());
  auto m = std::make_shared<std::string>();
  net::encode_value(net::Encoding::kMsgpack, d, m.get());
  json = std::move(j);
  msgpack = std::move(m);
}

template <class Encode>
void SessionImpl::push_frame(const PushOp& op, Encode&& encode) {
  if (state_ == State::kEnded) return;
  // A logged-in session keeps pushes for replay while closing or detached;
  // anyone else's pushes are only worth sending now.
  bool keep = authenticated() && op.replayable;
  if ((closing_ || state_ == State::kDetached) && !keep) return;
  // Replayable pushes are numbered 1, 2, 3 ... per session without gaps;
  // the rest (connection notices, state refreshes) are never replayed and
  // carry seq 0, so a client's last_seq only ever counts what a resume can
  // give back.
  net::OutFrame f;
  uint64_t seq = op.replayable ? ++push_seq_ : 0;
  encode(seq, &f);
  f.cls = op.output;
  if (keep) keep_for_replay(seq, f);
  if (closing_ || state_ != State::kActive) return;
  op.sent->inc();
  send(std::move(f));
}

void SessionImpl::push(const PushOp& op, const nlohmann::json& d) {
  push_frame(op, [&](uint64_t seq, net::OutFrame* f) {
    net::encode_push(push_encoding_, op.op, seq, d, f);
  });
}

void SessionImpl::push(const PushOp& op, const std::shared_ptr<const SharedBody>& body) {
  push_frame(op, [&](uint64_t seq, net::OutFrame* f) {
    net::encode_push_shared(push_encoding_, op.op, seq,
                            push_encoding_ == net::Encoding::kJson ? body->json : body->msgpack, f);
  });
}

void SessionImpl::close(ErrorCode code, std::string_view msg) {
  if (closing_ || !binding_ || state_ != State::kActive) return;
  push(*shared_->close, {{"code", error_code_name(code)}, {"msg", msg}});
  closing_ = true;
  close_code_ = code;
  if (code != ErrorCode::kOk) shared_->error_counter(code).inc();
  lg().debug("session {} closing: {} {}", id_, error_code_name(code), msg);
  binding_->close(net::ws_close_code(code), error_code_name(code));
}

std::string SessionImpl::login(int64_t account_id, const std::string& username) {
  if (state_ != State::kActive || closing_ || account_id == 0) return {};
  std::string token;
  if (!random_token(&token).ok()) return {};
  if (account_id_ == 0) shared_->sessions_authenticated.add(1);
  account_id_ = account_id;
  username_ = username;
  // Pushes from before the login are not held for a resume.
  evicted_seq_ = push_seq_;
  forget_resume_token();
  resume_hash_ = sha256_hex(token);
  std::lock_guard lock(shared_->registry_mu);
  shared_->by_resume_hash[resume_hash_] = weak_from_this();
  if (auto it = shared_->registry.find(id_); it != shared_->registry.end()) {
    it->second.info.account_id = account_id;
    it->second.info.username = username;
  }
  return token;
}

void SessionImpl::forget_resume_token() {
  if (resume_hash_.empty()) return;
  std::lock_guard lock(shared_->registry_mu);
  auto it = shared_->by_resume_hash.find(resume_hash_);
  if (it != shared_->by_resume_hash.end() && it->second.lock().get() == this) {
    shared_->by_resume_hash.erase(it);
  }
  resume_hash_.clear();
}

void SessionImpl::unregister() {
  if (!registered_) return;
  registered_ = false;
  shared_->sessions.add(-1);
  std::lock_guard lock(shared_->registry_mu);
  shared_->registry.erase(id_);
}

void SessionImpl::finish(EndReason reason) {
  forget_resume_token();
  replay_.clear();
  replay_bytes_ = 0;
  evicted_seq_ = 0;
  if (account_id_ == 0) return;
  shared_->ends[static_cast<size_t>(reason)]->inc();
  shared_->sessions_authenticated.add(-1);
  lg().debug("session {} (account {}) ended: {}", id_, account_id_, end_reason_name(reason));
  auto self = shared_from_this();
  for (const auto& l : shared_->listeners) l->on_session_ended(self, reason);
  account_id_ = 0;
  username_.clear();
  update_info([](SessionInfo& i) {
    i.account_id = 0;
    i.username.clear();
  });
}

void SessionImpl::end(EndReason reason, std::string_view detail) {
  end_with(reason, detail, {});
}

void SessionImpl::kick(const std::string& msg) {
  end_with(EndReason::kKicked, "kicked_by_operator", msg);
}

void SessionImpl::end_with(EndReason reason, std::string_view detail, std::string_view msg) {
  if (state_ == State::kEnded) return;
  finish(reason);
  switch (reason) {
    case EndReason::kLogout:
      return;  // the connection stays, logged out
    case EndReason::kKicked:
    case EndReason::kBanned:
      if (state_ == State::kActive && binding_) {
        nlohmann::json d = {{"reason", detail}};
        if (!msg.empty()) d["msg"] = msg;
        push(*shared_->kicked, d);
        close(ErrorCode::kKicked, detail);
        return;  // on_closed unregisters
      }
      break;
    case EndReason::kShutdown:
    case EndReason::kClosed:
    case EndReason::kGraceExpired:
      if (state_ == State::kActive) return;  // the connection's close unregisters
      break;
  }
  if (state_ == State::kDetached) shared_->sessions_in_grace.add(-1);
  state_ = State::kEnded;
  if (grace_timer_) grace_timer_->cancel();
  unregister();
}

void SessionImpl::reply_error(std::optional<uint64_t> rid, net::Encoding enc, ErrorCode code,
                              std::string_view msg, const nlohmann::json* extra) {
  net::OutFrame f;
  net::encode_error(enc, rid, code, msg, extra, &f);
  shared_->error_counter(code).inc();
  send(std::move(f));
}

void SessionImpl::bad_message(std::optional<uint64_t> rid, net::Encoding enc, const Status& st) {
  shared_->bad_messages.inc();
  reply_error(rid, enc, st.code(), st.message());
  if (bad_strikes_.add(Clock::now(), kBadWindow,
                       shared_->limits.bad_messages_to_close.load(std::memory_order_relaxed))) {
    close(ErrorCode::kProtocolError, std::to_string(bad_strikes_.count()) +
                                         " malformed messages within 60 s "
                                         "(limits.bad_messages_to_close)");
  }
}

void SessionImpl::on_message(Binding* from, std::string_view body, net::Encoding enc) {
  if (from != binding_.get() || closing_ || state_ != State::kActive) return;
  const auto& lim = shared_->limits;
  const auto now = Clock::now();

  uint32_t retry_ms = 0;
  bool allowed = bucket_.try_take(lim.rate_per_sec.load(std::memory_order_relaxed),
                                  lim.rate_burst.load(std::memory_order_relaxed), now, &retry_ms);
  Status st = net::decode_request(body, enc, &scratch_);
  if (!allowed) {
    shared_->rate_limited.inc();
    nlohmann::json extra = {{"retry_after_ms", retry_ms}};
    reply_error(scratch_.rid, enc, ErrorCode::kRateLimited, "message rate limit exceeded", &extra);
    if (rate_strikes_.add(now, kRateWindow,
                          lim.rate_strikes_to_close.load(std::memory_order_relaxed))) {
      close(ErrorCode::kRateLimited, std::to_string(rate_strikes_.count()) +
                                         " messages refused by the rate limit within 10 s "
                                         "(limits.rate_strikes_to_close)");
    }
    return;
  }
  if (!st.ok()) return bad_message(scratch_.rid, enc, st);

  push_encoding_ = enc;
  const Route* route = shared_->router.find(scratch_.op);
  if (!route) {
    shared_->router.unknown().in->inc();
    reply_error(scratch_.rid, enc, ErrorCode::kUnknownOp, "unknown op '" + scratch_.op + "'");
    return;
  }
  route->in->inc();
  if (route->options.requires_auth && !authenticated()) {
    reply_error(scratch_.rid, enc, ErrorCode::kUnauthorized, "log in first");
    return;
  }
  if (!route->options.args.empty()) {
    Status ast = args::check(scratch_.d, route->options.args);
    if (!ast.ok()) {
      reply_error(scratch_.rid, enc, ast.code(), ast.message());
      return;
    }
  }
  if (inflight_ >= kMaxInflight) {
    shared_->rate_limited.inc();
    nlohmann::json extra = {{"retry_after_ms", 100}};
    reply_error(scratch_.rid, enc, ErrorCode::kRateLimited,
                "too many requests in flight (max " + std::to_string(kMaxInflight) + ")", &extra);
    return;
  }
  ++inflight_;
  Request req(shared_from_this(), route, *scratch_.rid, enc, std::move(scratch_.d), remote_ip_,
              account_id_, now);
  if (!route->options.executor) {
    invoke(route, req, shared_->metrics);
  } else {
    boost::asio::post(
        *route->options.executor,
        [route, req = std::move(req), m = &shared_->metrics]() mutable { invoke(route, req, *m); });
  }
}

void SessionImpl::deliver(net::OutFrame&& frame, const Route* route, ErrorCode code,
                          std::chrono::steady_clock::time_point start) {
  if (executor_.running_in_this_thread()) {
    deliver_here(std::move(frame), route, code, start);
  } else {
    boost::asio::post(
        executor_, [self = shared_from_this(), f = std::move(frame), route, code, start]() mutable {
          self->deliver_here(std::move(f), route, code, start);
        });
  }
}

void SessionImpl::deliver_here(net::OutFrame&& frame, const Route* route, ErrorCode code,
                               std::chrono::steady_clock::time_point start) {
  --inflight_;
  if (frame.size() == 0) return;  // handed over (sys.resume)
  route->out->inc();
  route->latency->observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  if (code != ErrorCode::kOk) shared_->error_counter(code).inc();
  if (!closing_) send(std::move(frame));
}

void SessionImpl::on_bad_frame(Binding* from, const Status& st, bool fatal) {
  if (from != binding_.get()) return;
  if (fatal) {
    close(st.code(), st.message());
  } else {
    bad_message(std::nullopt, push_encoding_, st);
  }
}

void SessionImpl::on_idle(Binding* from) {
  if (from != binding_.get()) return;
  close(ErrorCode::kHeartbeatTimeout,
        "nothing received for " + std::to_string(shared_->limits.idle_timeout().count()) + " ms");
}

void SessionImpl::on_closed(Binding* from, std::string_view why, ErrorCode dropped) {
  if (from != binding_.get()) return;  // a connection this session already left
  lg().debug("session {} connection closed: {}", id_, why);
  if (close_code_ == ErrorCode::kOk && dropped != ErrorCode::kOk) {
    close_code_ = dropped;  // the transport dropped it (slow consumer, too large)
    shared_->error_counter(dropped).inc();
  }
  shared_->disconnect_counter(close_code_).inc();
  binding_.reset();
  if (authenticated() && state_ == State::kActive) {
    detach(why);
  } else {
    if (state_ == State::kDetached) shared_->sessions_in_grace.add(-1);
    finish(EndReason::kClosed);
    state_ = State::kEnded;
    unregister();
  }
}

void SessionImpl::detach(std::string_view why) {
  uint32_t grace = shared_->session_limits.resume_grace_ms.load(std::memory_order_relaxed);
  state_ = State::kDetached;
  shared_->sessions_in_grace.add(1);
  update_info([](SessionInfo& i) { i.in_grace = true; });
  if (grace == 0) {
    end(EndReason::kGraceExpired, why);
    return;
  }
  if (!grace_timer_) grace_timer_ = std::make_unique<boost::asio::steady_timer>(executor_);
  grace_timer_->expires_after(std::chrono::milliseconds(grace));
  grace_timer_->async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (!ec && self->state_ == State::kDetached) {
      self->end(EndReason::kGraceExpired, "no resume within the grace period");
    }
  });
}

void SessionImpl::resume(std::shared_ptr<Binding> binding, std::shared_ptr<SessionImpl> fresh,
                         uint64_t rid, net::Encoding enc, uint64_t last_seq) {
  if (state_ == State::kEnded || resume_hash_.empty()) {
    shared_->resumes_expired.inc();
    boost::asio::post(fresh->executor(), [fresh, rid, enc] {
      fresh->reply_error(rid, enc, ErrorCode::kSessionExpired, "session expired; log in again");
    });
    return;
  }
  // The old connection may still be open (a half-dead network path the
  // server has not noticed yet, or a second device): the resume wins, and the
  // old connection is told why it lost the session before it is closed.
  if (binding_) {
    net::OutFrame kicked, bye;
    net::encode_push(push_encoding_, shared_->kicked->op, 0, {{"reason", "resumed_elsewhere"}},
                     &kicked);
    net::encode_push(push_encoding_, shared_->close->op, 0,
                     {{"code", error_code_name(ErrorCode::kKicked)}, {"msg", "resumed_elsewhere"}},
                     &bye);
    shared_->kicked->sent->inc();
    shared_->close->sent->inc();
    shared_->error_counter(ErrorCode::kKicked).inc();
    shared_->disconnect_counter(ErrorCode::kKicked).inc();
    binding_->send(std::move(kicked));
    binding_->send(std::move(bye));
    binding_->close(net::ws_close_code(ErrorCode::kKicked), error_code_name(ErrorCode::kKicked));
    lg().info("session {} resumed while its connection was open: old connection closed", id_);
  }
  if (state_ == State::kDetached) shared_->sessions_in_grace.add(-1);
  if (grace_timer_) grace_timer_->cancel();
  binding_ = binding;
  state_ = State::kActive;
  closing_ = false;
  close_code_ = ErrorCode::kOk;
  push_encoding_ = enc;
  transport_ = binding->connection().transport();
  tls_ = binding->connection().tls();
  remote_ip_ = binding->connection().remote_ip();
  boost::asio::post(binding->connection().executor(), [binding, self = shared_from_this(), fresh] {
    binding->retarget(self);
    fresh->retire();
  });

  forget_resume_token();
  std::string token;
  if (Status rt = random_token(&token); !rt.ok()) {
    // The session is back on the new connection but has no resume token:
    // the client can go on, and must log in again after its next drop.
    lg().error("session {}: no resume token: {}", id_, rt.message());
  } else {
    resume_hash_ = sha256_hex(token);
    std::lock_guard lock(shared_->registry_mu);
    shared_->by_resume_hash[resume_hash_] = weak_from_this();
  }
  update_info([this](SessionInfo& i) {
    i.in_grace = false;
    i.transport = std::string(net::transport_name(transport_, tls_));
    i.remote_ip = remote_ip_;
  });

  // Replay what the client missed, or ask it to resync when part of it is gone
  // (evicted from the bounded buffer) or the client claims pushes never sent.
  bool resync = last_seq > push_seq_ || last_seq < evicted_seq_;
  std::vector<const Replay*> missed;
  if (!resync) {
    for (const auto& r : replay_) {
      if (r.seq > last_seq) missed.push_back(&r);
    }
  }
  (resync ? shared_->resumes_resync : shared_->resumes_ok).inc();
  net::OutFrame ok;
  net::encode_ok(enc, rid,
                 {{"session", id_},
                  {"resume_token", token.empty() ? nlohmann::json() : nlohmann::json(token)},
                  {"resync", resync},
                  {"replayed", missed.size()},
                  {"last_seq", push_seq_}},
                 &ok);
  send(std::move(ok));
  for (const Replay* r : missed) {
    net::OutFrame f = r->frame;
    if (f.encoding != enc) {  // the client changed encoding: re-encode the envelope
      nlohmann::json j = net::decode_any(f.flat(), f.encoding);
      net::encode_push(enc, j.value("op", ""), r->seq, j["d"], &f);
    }
    send(std::move(f));
  }
  lg().debug("session {} resumed on {} {} (last_seq {}, replayed {}, resync {})", id_,
             net::transport_name(transport_, tls_), remote_ip_, last_seq, missed.size(), resync);
}

void SessionImpl::retire() {
  state_ = State::kEnded;
  binding_.reset();
  unregister();
}

void SessionImpl::drain(const std::string& reason, uint32_t reconnect_after_ms) {
  if (state_ == State::kDetached) {
    end(EndReason::kShutdown, reason);
    return;
  }
  if (state_ != State::kActive) return;
  finish(EndReason::kShutdown);
  push(*shared_->shutdown, {{"reason", reason}, {"reconnect_after_ms", reconnect_after_ms}});
  close(ErrorCode::kShuttingDown, reason);
}

}  // namespace shardd::gateway
