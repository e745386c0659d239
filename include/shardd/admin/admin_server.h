#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "shardd/admin/routes.h"
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
class AdminServer final : public Routes {
 public:
  struct Hooks {
    std::function<bool()> ready;             // any thread
    std::function<nlohmann::json()> status;  // any thread
  };

  AdminServer(const Config& config, IoPool& io, metrics::Registry& metrics, Hooks hooks);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  using Respond = admin::Respond;
  using RouteHandler = admin::RouteHandler;
  // Adds a token-protected route (see Routes). Query parameters of digits
  // only are integers, anything else strings. REQUIRES: before start().
  void add_route(std::string method, std::string path, args::Schema schema,
                 RouteHandler handler) override;
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
