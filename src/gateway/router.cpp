#include "shardd/gateway/router.h"

#include <boost/asio/post.hpp>
#include <map>

#include "session_impl.h"

namespace shardd::gateway {

Router::Router(metrics::Registry& metrics) : metrics_(metrics) {
  unknown_.op = "_unknown";
  bind_metrics(unknown_);
}

void Router::bind_metrics(Route& r) {
  metrics::Labels l = {{"op", r.op}};
  r.in = &metrics_.counter("shardd_messages_in_total", "Requests received, by op.", l);
  r.out = &metrics_.counter("shardd_messages_out_total", "Responses and pushes sent, by op.", l);
  r.latency = &metrics_.histogram("shardd_handler_seconds",
                                  "Time from receiving a request to its response, by op.",
                                  metrics::latency_buckets(), l);
}

Status Router::add(std::string op, RouteOptions options, Handler handler) {
  if (!net::valid_op_name(op)) return Status::BadRequest("invalid op name '" + op + "'");
  if (routes_.count(op)) return Status::BadRequest("op '" + op + "' registered twice");
  auto r = std::make_unique<Route>();
  r->op = op;
  r->options = std::move(options);
  r->handler = std::move(handler);
  bind_metrics(*r);
  routes_.emplace(std::move(op), std::move(r));
  return Status::Ok();
}

const Route* Router::find(std::string_view op) const {
  auto it = routes_.find(op);
  return it == routes_.end() ? nullptr : it->second.get();
}

nlohmann::json Router::describe() const {
  std::map<std::string, const Route*> sorted;
  for (const auto& [op, r] : routes_) sorted.emplace(op, r.get());
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [op, r] : sorted) {
    out.push_back({{"op", op},
                   {"auth", r->options.requires_auth},
                   {"args", args::describe(r->options.args)}});
  }
  return out;
}

Request::Request(std::shared_ptr<SessionImpl> session, const Route* route, uint64_t rid,
                 net::Encoding encoding, nlohmann::json d, std::string remote_ip,
                 int64_t account_id, std::chrono::steady_clock::time_point received)
    : session_(std::move(session)),
      route_(route),
      rid_(rid),
      encoding_(encoding),
      d_(std::move(d)),
      remote_ip_(std::move(remote_ip)),
      account_id_(account_id),
      session_id_(session_ ? session_->id() : 0),
      start_(received) {}

Request::Request(Request&& o) noexcept
    : session_(std::move(o.session_)),
      route_(o.route_),
      rid_(o.rid_),
      encoding_(o.encoding_),
      d_(std::move(o.d_)),
      remote_ip_(std::move(o.remote_ip_)),
      account_id_(o.account_id_),
      session_id_(o.session_id_),
      start_(o.start_) {}

Request::~Request() {
  if (session_) fail(ErrorCode::kInternal, "handler did not reply");
}

const std::string& Request::op() const { return route_->op; }
Session& Request::session() { return *session_; }
std::shared_ptr<Session> Request::session_ptr() { return session_; }

void Request::ok(const nlohmann::json& d) {
  if (!session_) return;
  net::OutFrame f;
  net::encode_ok(encoding_, rid_, d, &f);
  send(std::move(f), ErrorCode::kOk);
}

void Request::fail(ErrorCode code, std::string_view msg, const nlohmann::json* extra) {
  if (!session_) return;
  net::OutFrame f;
  if (code == ErrorCode::kUnavailable && !(extra && extra->contains("retry_after_ms"))) {
    nlohmann::json with = extra && extra->is_object() ? *extra : nlohmann::json::object();
    with["retry_after_ms"] = 1000;
    net::encode_error(encoding_, rid_, code, msg, &with, &f);
  } else {
    net::encode_error(encoding_, rid_, code, msg, extra, &f);
  }
  send(std::move(f), code);
}

void Request::fail(const Status& status) {
  if (status.retry_after_ms() == 0) return fail(status.code(), status.message());
  nlohmann::json extra = {{"retry_after_ms", status.retry_after_ms()}};
  fail(status.code(), status.message(), &extra);
}

void Request::hand_over() {
  if (!session_) return;
  send(net::OutFrame{}, ErrorCode::kOk);  // an empty frame is not sent, only accounted
}

void Request::send(net::OutFrame&& frame, ErrorCode code) {
  auto s = std::move(session_);
  s->deliver(std::move(frame), route_, code, start_);
}

}  // namespace shardd::gateway
