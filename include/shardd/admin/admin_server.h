#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "shardd/core/args.h"
#include "shardd/core/config.h"
#include "shardd/core/io_pool.h"
#include "shardd/core/metrics.h"
#include "shardd/core/status.h"

namespace shardd::admin {

class AdminConnection;

// The operators' HTTP endpoint (default 127.0.0.1:7180):
//   GET /healthz       200 while the process serves requests (liveness)
//   GET /readyz        200 while accepting players, 503 otherwise (starting, draining)
//   GET /metrics       Prometheus text format (token only if admin.metrics_require_token)
//   GET /admin/status  JSON summary; needs "Authorization: Bearer <admin.token>"
//   GET /admin/ops     every client op and admin route with its declared fields
//   <method> /admin/... routes added by services (add_route), same token
// HTTP/1.1 keep-alive, 10 s per request, 64 KiB bodies (413 beyond), 8 KiB
// of headers (431 beyond), at most 64 admin connections. HEAD is answered
// like GET without the body.
//
// Thread-safety: open()/start() before traffic; stop()/reload() from any thread.
class AdminServer {
 public:
  struct Hooks {
    std::function<bool()> ready;             // any thread
    std::function<nlohmann::json()> status;  // any thread
  };

  AdminServer(const Config& config, IoPool& io, metrics::Registry& metrics, Hooks hooks);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Answers a route: HTTP status and a JSON body. Call it once, from any
  // thread; if it is never called (the handler dropped it, or threw), the
  // request is answered 500.
  using Respond = std::function<void(int status, nlohmann::json body)>;
  // `body` is the request's arguments: the parsed JSON body ({} when empty)
  // with the query string's parameters added (a value of digits only is an
  // integer, anything else a string). A body that is not a JSON object, or
  // arguments that break `schema`, are answered 400 before the handler runs.
  // A handler that throws is answered 500, logged and counted by the
  // exception barrier.
  using RouteHandler = std::function<void(const nlohmann::json& body, Respond respond)>;
  // Adds a token-protected route. REQUIRES: before start(); path starts with /admin/.
  void add_route(std::string method, std::string path, args::Schema schema, RouteHandler handler);
  // Supplies the client ops for GET /admin/ops (the gateway's Router::describe).
  // REQUIRES: before start().
  void set_ops_source(std::function<nlohmann::json()> ops);

  Status open();
  void start();
  void stop();
  void reload(const Config& config);  // token, metrics_require_token
  uint16_t port() const;

 private:
  friend class AdminConnection;
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace shardd::admin
