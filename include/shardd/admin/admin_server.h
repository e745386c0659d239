#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

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
// HTTP/1.1 keep-alive, 10 s per request, at most 64 admin connections.
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
