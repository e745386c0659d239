#include "gateway/session_impl.h"

#include <boost/asio/post.hpp>

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
}  // namespace

void Session::post_push(const PushOp& op, nlohmann::json d) {
  boost::asio::post(executor(), [s = self(), &op, d = std::move(d)] { s->push(op, d); });
}

void Session::post_close(ErrorCode code, std::string msg) {
  boost::asio::post(executor(), [s = self(), code, msg = std::move(msg)] { s->close(code, msg); });
}

SessionImpl::SessionImpl(std::shared_ptr<Gateway::Shared> shared,
                         std::shared_ptr<net::Connection> conn)
    : shared_(std::move(shared)),
      id_(shared_->next_session_id.fetch_add(1, std::memory_order_relaxed)),
      executor_(conn->executor()),
      transport_(conn->transport()),
      tls_(conn->tls()),
      remote_ip_(conn->remote_ip()),
      conn_(std::move(conn)) {}

SessionImpl::~SessionImpl() = default;

void SessionImpl::start() {
  {
    std::lock_guard lock(shared_->registry_mu);
    shared_->registry.emplace(id_, weak_from_this());
  }
  shared_->sessions.add(1);
  lg().debug("session {} opened ({} {}:{})", id_, net::transport_name(transport_, tls_),
             remote_ip_, conn_->remote_port());
  const auto& lim = shared_->limits;
  push(*shared_->hello,
       {{"server", shared_->server_name},
        {"version", kVersion},
        {"session", id_},
        {"transport", net::transport_name(transport_, tls_)},
        {"heartbeat_ms", lim.heartbeat_ms.load(std::memory_order_relaxed)},
        {"max_frame", lim.max_frame_bytes.load(std::memory_order_relaxed)}});
}

void SessionImpl::push(const PushOp& op, const nlohmann::json& d) {
  if (closing_ || !conn_) return;
  net::OutFrame f;
  net::encode_push(push_encoding_, op.op, ++push_seq_, d, &f);
  op.sent->inc();
  conn_->send(std::move(f));
}

void SessionImpl::close(ErrorCode code, std::string_view msg) {
  if (closing_ || !conn_) return;
  push(*shared_->close, {{"code", error_code_name(code)}, {"msg", msg}});
  closing_ = true;
  close_code_ = code;
  lg().debug("session {} closing: {} {}", id_, error_code_name(code), msg);
  conn_->close(net::ws_close_code(code), error_code_name(code));
}

void SessionImpl::reply_error(std::optional<uint64_t> rid, net::Encoding enc, ErrorCode code,
                              std::string_view msg, const nlohmann::json* extra) {
  net::OutFrame f;
  net::encode_error(enc, rid, code, msg, extra, &f);
  shared_->errors[static_cast<size_t>(code)]->inc();
  if (conn_) conn_->send(std::move(f));
}

void SessionImpl::bad_message(std::optional<uint64_t> rid, net::Encoding enc, const Status& st) {
  shared_->bad_messages.inc();
  reply_error(rid, enc, st.code(), st.message());
  if (bad_strikes_.add(Clock::now(), kBadWindow,
                       shared_->limits.bad_messages_to_close.load(std::memory_order_relaxed))) {
    close(ErrorCode::kProtocolError,
          "too many malformed messages (" + std::to_string(bad_strikes_.count()) + " in 60 s)");
  }
}

void SessionImpl::on_message(std::string_view body, net::Encoding enc) {
  if (closing_ || !conn_) return;
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
      close(ErrorCode::kRateLimited, "sustained message rate above the limit");
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
  if (route->options.requires_auth && !authenticated_) {
    reply_error(scratch_.rid, enc, ErrorCode::kUnauthorized, "log in first");
    return;
  }
  if (inflight_ >= kMaxInflight) {
    shared_->rate_limited.inc();
    nlohmann::json extra = {{"retry_after_ms", 100}};
    reply_error(scratch_.rid, enc, ErrorCode::kRateLimited,
                "too many requests in flight (max " + std::to_string(kMaxInflight) + ")", &extra);
    return;
  }
  ++inflight_;
  Request req(shared_from_this(), route, *scratch_.rid, enc, std::move(scratch_.d));
  if (!route->options.executor) {
    route->handler(std::move(req));
  } else {
    boost::asio::post(*route->options.executor,
                      [route, req = std::move(req)]() mutable { route->handler(std::move(req)); });
  }
}

void SessionImpl::deliver(net::OutFrame&& frame, const Route* route, ErrorCode code,
                          std::chrono::steady_clock::time_point start) {
  if (executor_.running_in_this_thread()) {
    deliver_here(std::move(frame), route, code, start);
  } else {
    boost::asio::post(executor_, [self = shared_from_this(), f = std::move(frame), route, code,
                                  start]() mutable {
      self->deliver_here(std::move(f), route, code, start);
    });
  }
}

void SessionImpl::deliver_here(net::OutFrame&& frame, const Route* route, ErrorCode code,
                               std::chrono::steady_clock::time_point start) {
  --inflight_;
  route->out->inc();
  route->latency->observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  if (code != ErrorCode::kOk) shared_->errors[static_cast<size_t>(code)]->inc();
  if (conn_ && !closing_) conn_->send(std::move(frame));
}

void SessionImpl::on_bad_frame(const Status& st, bool fatal) {
  if (fatal) {
    shared_->errors[static_cast<size_t>(st.code())]->inc();
    close(st.code(), st.message());
  } else {
    bad_message(std::nullopt, push_encoding_, st);
  }
}

void SessionImpl::on_idle() {
  close(ErrorCode::kHeartbeatTimeout,
        "nothing received for " + std::to_string(shared_->limits.idle_timeout().count()) + " ms");
}

void SessionImpl::on_closed(std::string_view why) {
  lg().debug("session {} closed: {}", id_, why);
  shared_->disconnects[static_cast<size_t>(close_code_)]->inc();
  closing_ = true;
  conn_.reset();
  shared_->sessions.add(-1);
  std::lock_guard lock(shared_->registry_mu);
  shared_->registry.erase(id_);
}

}  // namespace shardd::gateway
