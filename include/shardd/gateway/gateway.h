#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "shardd/core/config.h"
#include "shardd/core/metrics.h"
#include "shardd/gateway/router.h"
#include "shardd/gateway/session.h"
#include "shardd/net/connection.h"

namespace shardd::gateway {

// Sessions, routing, auth gate and per-session limits. Turns connections from
// the net layer into sessions (one per connection), decodes their requests,
// applies the rate limit and in-flight cap, and dispatches to the router.
// Registers the sys.* ops itself (sys.ping; sys.hello, sys.close and
// sys.shutdown pushes).
//
// Thread-safety: router()/push_op() while assembling the server (before
// connections); handler_factory() hands out a function called on io threads;
// drain() and session_count() from any thread.
class Gateway {
 public:
  Gateway(const Config& config, net::LiveLimits& limits, metrics::Registry& metrics);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  Router& router();
  // Registers (or returns) a push type. REQUIRES: valid op name.
  const PushOp& push_op(std::string_view op);
  net::HandlerFactory handler_factory();

  // Pushes sys.shutdown {reason, reconnect_after_ms} to every session and
  // closes each gracefully (WebSocket 1001). Returns the number of sessions told.
  size_t drain(std::string_view reason);
  size_t session_count() const;

  struct Shared;  // private state shared with sessions

 private:
  std::shared_ptr<Shared> shared_;
};

}  // namespace shardd::gateway
