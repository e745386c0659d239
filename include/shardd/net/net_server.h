#pragma once

#include <memory>
#include <string>

#include "shardd/core/config.h"
#include "shardd/core/io_pool.h"
#include "shardd/core/metrics.h"
#include "shardd/core/status.h"
#include "shardd/net/connection.h"

namespace shardd::net {

// The client-facing listeners: WebSocket (ws/wss, which also answers plain
// HTTP GET /healthz on the same port) and framed TCP (tcp/tls), per config.
// Accepts on io context 0 and spreads connections over the io pool. Each
// accepted socket passes the connection limits (max_connections,
// max_connections_per_ip) or is refused politely (HTTP 503 / a sys.close
// frame with TOO_MANY_CONNECTIONS).
//
// Thread-safety: open()/start() before the io pool runs or on any thread
// before connections arrive; stop_accepting() and reload() from any thread.
class NetServer {
 public:
  NetServer(const Config& config, LiveLimits& limits, IoPool& io, metrics::Registry& metrics,
            HandlerFactory factory);
  ~NetServer();
  NetServer(const NetServer&) = delete;
  NetServer& operator=(const NetServer&) = delete;

  // Loads TLS material and binds every enabled listener. Fails with the
  // address and the OS error (port in use, permission) or the TLS problem.
  Status open();
  void start();
  // Closes the listening sockets; open connections are untouched.
  void stop_accepting();
  // Applies live settings: allowed origins, TLS certificate/key (new
  // connections use them; open ones keep theirs). On error keeps the old ones.
  Status reload(const Config& config);

  uint16_t ws_port() const;   // 0 if disabled
  uint16_t tcp_port() const;  // 0 if disabled
  // Connection objects alive (including those closing).
  int64_t live_connections() const;
  // Calls `cb` once, from whichever thread ends the last connection, when no
  // connection is left (immediately, on the caller's thread, if none is).
  void when_drained(std::function<void()> cb);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shardd::net
