#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "shardd/core/config.h"
#include "shardd/core/metrics.h"
#include "shardd/gateway/router.h"
#include "shardd/gateway/session.h"
#include "shardd/net/connection.h"

namespace shardd::gateway {

class SessionImpl;

// Sessions, routing, auth gate and per-session limits. Turns connections from
// the net layer into sessions (one per connection), decodes their requests,
// applies the rate limit and in-flight cap, and dispatches to the router.
// Registers the sys.* ops itself (sys.ping, sys.resume; sys.hello, sys.close,
// sys.kicked and sys.shutdown pushes) and owns session resumption.
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
  // Adds a module's error codes to the table of codes on the wire (and their
  // metric series). BAD_REQUEST if a name is taken by a different code.
  // REQUIRES: before serving.
  Status add_error_codes(std::string_view module, const std::vector<ErrorCode>& codes);
  // Every code that can appear on the wire (GET /admin/errors).
  const ErrorTable& error_table() const;
  // Registers (or returns) a push type. REQUIRES: valid op name.
  // Registering an op again returns the first registration. If the options
  // differ from the first ones, that is logged as an error (a programming
  // mistake) and the first options stay: a push type has one delivery policy.
  // kState with replayable = true is logged as an error too and registered
  // as not replayable (a dropped state push would leave a gap in the seq
  // numbers that no resume could fill).
  const PushOp& push_op(std::string_view op, PushOptions options);
  const PushOp& push_op(std::string_view op);  // default PushOptions
  net::HandlerFactory handler_factory();
  // REQUIRES: before serving. The listener must outlive the Gateway's sessions.
  void add_listener(std::shared_ptr<SessionListener> listener);
  // Live lookup by id (null if gone). Thread-safe.
  std::shared_ptr<Session> find_session(uint64_t id) const;

  // Pushes sys.shutdown {reason, reconnect_after_ms} to every session and
  // closes each gracefully (WebSocket 1001); sessions waiting for a resume are
  // ended (kShutdown). Returns the number of sessions told.
  size_t drain(std::string_view reason);
  // Drops the connection of every session still registered (no close
  // handshake): the end of a drain whose deadline passed. Thread-safe.
  // Returns the number of sessions addressed.
  size_t abort_all(std::string_view why);
  size_t session_count() const;
  // Sessions matching `filter`, at most `limit`, in id order. Thread-safe.
  std::vector<SessionInfo> sessions(const SessionFilter& filter, size_t limit) const;
  // An operator ends a session: a logged-in one is told
  // sys.kicked {reason:"kicked_by_operator", msg} and closed (4004), one in
  // its resume grace just ends, any other is closed with KICKED. False if no
  // such session. Thread-safe.
  bool kick(uint64_t session_id, std::string msg);
  // Pushes `d` to every connected session (logged in only, if `authenticated_only`);
  // the body is encoded once. Returns the number of sessions addressed. Thread-safe.
  size_t broadcast(const PushOp& op, const nlohmann::json& d, bool authenticated_only);
  // Applies live settings (resume grace, replay sizes). Thread-safe.
  void reload(const Config& config);

  struct Shared;  // private state shared with sessions

 private:
  std::vector<std::shared_ptr<SessionImpl>> registered_sessions() const;

  std::shared_ptr<Shared> shared_;
};

}  // namespace shardd::gateway
