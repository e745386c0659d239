#include "shardd/gateway/gateway.h"

#include <boost/asio/post.hpp>

#include "gateway/session_impl.h"
#include "shardd/core/log.h"

namespace shardd::gateway {

Gateway::Shared::Shared(const Config& config, net::LiveLimits& lim, metrics::Registry& m)
    : server_name(config.server.name),
      limits(lim),
      metrics(m),
      router(m),
      sessions(m.gauge("shardd_sessions", "Live sessions.")),
      rate_limited(m.counter("shardd_rate_limited_total",
                             "Requests refused by the per-session rate limit or in-flight cap.")),
      bad_messages(m.counter("shardd_bad_messages_total",
                             "Malformed requests (answered BAD_REQUEST or TOO_LARGE).")) {
  for (size_t i = 0; i < static_cast<size_t>(ErrorCode::kCount_); ++i) {
    auto code = static_cast<ErrorCode>(i);
    errors.push_back(&m.counter("shardd_errors_total", "Error answers and closes, by code.",
                                {{"code", std::string(error_code_name(code))}}));
    disconnects.push_back(&m.counter(
        "shardd_disconnects_total",
        "Sessions ended, by the code the server closed with (OK: closed by the peer or a "
        "network error).",
        {{"reason", std::string(error_code_name(code))}}));
  }
}

Gateway::Gateway(const Config& config, net::LiveLimits& limits, metrics::Registry& metrics)
    : shared_(std::make_shared<Shared>(config, limits, metrics)) {
  shared_->hello = &push_op("sys.hello");
  shared_->close = &push_op("sys.close");
  shared_->shutdown = &push_op("sys.shutdown");
  RouteOptions open;
  open.requires_auth = false;
  Status st = shared_->router.add("sys.ping", open, [](Request&& r) {
    auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
    auto t = r.d().find("t");
    r.ok({{"t", t == r.d().end() ? nlohmann::json() : std::move(*t)}, {"server_time_ms", now}});
  });
  (void)st;
}

Gateway::~Gateway() = default;

Router& Gateway::router() { return shared_->router; }

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
    auto s = std::make_shared<SessionImpl>(shared, conn);
    s->start();
    return std::shared_ptr<net::ConnectionHandler>(s);
  };
}

size_t Gateway::drain(std::string_view reason) {
  std::vector<std::shared_ptr<SessionImpl>> all;
  {
    std::lock_guard lock(shared_->registry_mu);
    for (auto& [id, weak] : shared_->registry) {
      if (auto s = weak.lock()) all.push_back(std::move(s));
    }
  }
  uint32_t after = shared_->limits.reconnect_after_ms.load(std::memory_order_relaxed);
  for (auto& s : all) {
    boost::asio::post(s->executor(), [s, reason = std::string(reason), after, sh = shared_] {
      s->push(*sh->shutdown, {{"reason", reason}, {"reconnect_after_ms", after}});
      s->close(ErrorCode::kShuttingDown, reason);
    });
  }
  return all.size();
}

size_t Gateway::session_count() const {
  std::lock_guard lock(shared_->registry_mu);
  return shared_->registry.size();
}

}  // namespace shardd::gateway
